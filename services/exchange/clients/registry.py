"""The gateway's client of the registry: the policy decision, made in this process from the
registry's signed policy snapshot of each hosted institution; agreements and consents.

The snapshots are fetched at start-up and refreshed in the background (`PolicyRefresher`):
at once when the registry publishes a policy change notice on NATS
(`shared.kit.jetstream.POLICY_CHANGES_SUBJECT`), else every `refresh_seconds`. A decision asked
before a snapshot is held, or while the one held has not been refreshed for
`STALE_AFTER_PERIODS` periods, is asked of the registry; while the registry cannot be
reached, it is made from the last snapshot verified, until that expires.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nats.aio.msg import Msg
from pydantic import ValidationError

from services.exchange.clients.directory import DirectoryClient
from services.exchange.clients.regional import (
    RegionalClient,
    RegionalProblem,
    RegionalServiceDown,
    RegionalServiceRefused,
)
from shared.kit.db import utcnow
from shared.kit.files import write_atomically
from shared.kit.logging import get_logger
from shared.kit.loops import run_every
from shared.kit.signed import DocumentRejected, verify_document
from shared.protocol.documents import POLICY_SNAPSHOT
from shared.protocol.policy import DecisionRequest, PolicySnapshot, evaluate
from shared.protocol.settings import Settings

log = get_logger(__name__)


class PolicyQuestionRefused(Exception):
    """The registry found the question itself invalid (e.g. a purpose outside the vocabulary)."""


# A snapshot fetched longer ago than this many refresh periods is not trusted to be current
# while the registry answers: its refreshes are failing, so decisions go to the registry.
STALE_AFTER_PERIODS = 2
# Calls through which an institution changes the policy (agreements, signatures, consents).
POLICY_PATHS = ("/v1/agreements", "/v1/consents")
# A snapshot lists every consent of the institution: far beyond joserfc's default of 128 kB
# for a busy one (about 300 consents), yet bounded.
# After a failed refresh, try again this soon (or at the refresh period, if shorter).
RETRY_SECONDS = 5.0


class RegistryClient(RegionalClient):
    """Policy decisions made in this process from the registry's signed snapshot of each
    hosted institution, kept fresh by `PolicyRefresher` (docs/registry.md §3.1)."""

    name = "registry"

    def __init__(
        self,
        base_url: str,
        tokens: dict[str, str],
        public_key: dict[str, Any] | None = None,
        snapshot_dir: Path | None = None,
        country_of: Callable[[str], str] | None = None,
        refresh_seconds: float = 60.0,
    ) -> None:
        super().__init__(base_url, tokens)
        self.public_key = public_key
        self.snapshot_dir = snapshot_dir
        self.country_of = country_of
        self.refresh_seconds = refresh_seconds
        # Institution -> (time.monotonic() when fetched, the verified snapshot).
        self._snapshots: dict[str, tuple[float, PolicySnapshot]] = {}
        self._lock = threading.Lock()

    # Policy decision ------------------------------------------------------------------

    def decide(self, acting_for: str, request: dict[str, Any]) -> dict[str, Any]:
        """Allow or deny, as the registry's POST /v1/policy/decisions answers, with
        `source`: "snapshot" (decided here, no call) or "registry" (asked: this gateway holds
        no current snapshot for the institution, or the snapshot denies and the registry
        confirms or corrects that)."""
        held = self._held(acting_for)
        if held is None or time.monotonic() - held[0] > self._stale_after:
            return self._decide_at_registry(acting_for, request)
        decision = self._decide_from(held[1], request)
        if decision["decision"] == "allow":
            return decision
        # A deny may only mean the snapshot is behind an agreement just signed or a consent
        # just recorded: denials are rare, so the registry has the last word while it answers.
        try:
            return self._decide_at_registry(acting_for, request, on_failure=decision)
        except RegionalServiceRefused:
            return decision

    @property
    def _stale_after(self) -> float:
        return STALE_AFTER_PERIODS * self.refresh_seconds

    def _decide_at_registry(self, acting_for: str, request: dict[str, Any],
                            on_failure: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self.request("POST", "/v1/policy/decisions", acting_for, json=request)
        except RegionalServiceDown:
            return on_failure or self._decide_while_down(acting_for, request)
        if response.status_code == 422:
            raise PolicyQuestionRefused(response.json().get("detail", ""))
        if response.status_code >= 500:
            return on_failure or self._decide_while_down(acting_for, request)
        if response.status_code != 200:
            raise RegionalServiceRefused(self.name, response.status_code)
        return {**response.json(), "source": "registry"}

    def _decide_while_down(self, acting_for: str, request: dict[str, Any]) -> dict[str, Any]:
        snapshot = self._valid_snapshot(acting_for)
        if snapshot is None:
            raise RegionalServiceDown("The registry cannot be reached and no valid policy "
                                      "snapshot is at hand.")
        log.warning("policy_decided_from_snapshot", institution_id=acting_for,
                    expires_at=snapshot.expires_at)
        return self._decide_from(snapshot, request)

    def _decide_from(self, snapshot: PolicySnapshot, request: dict[str, Any]) -> dict[str, Any]:
        if self.country_of is None:
            raise RegionalServiceDown("This gateway cannot look countries up to decide from "
                                      "the policy snapshot.")
        try:
            question = DecisionRequest.model_validate(request)
        except ValidationError as exc:
            raise PolicyQuestionRefused("the question is outside the vocabulary") from exc
        decision = evaluate(snapshot.agreements, snapshot.bases, question, utcnow(),
                            self.country_of)
        return {**decision.model_dump(mode="json"), "source": "snapshot"}

    # Policy snapshot ------------------------------------------------------------------

    def _snapshot_file(self, acting_for: str) -> Path | None:
        return self.snapshot_dir / f"{acting_for}.jws" if self.snapshot_dir else None

    def _held(self, acting_for: str) -> tuple[float, PolicySnapshot] | None:
        """The snapshot in memory, if it has not expired."""
        with self._lock:
            held = self._snapshots.get(acting_for)
        if held is None or held[1].expires_at <= int(time.time()):
            return None
        return held

    def snapshot_times(self) -> list[tuple[float, float]]:
        """Issued-at and expiry (Unix times) of each policy snapshot in memory: for the
        metrics."""
        with self._lock:
            return [(float(s.issued_at), float(s.expires_at)) for _, s in self._snapshots.values()]

    def refresh_snapshot(self, acting_for: str) -> PolicySnapshot:
        """Fetch, verify and hold the institution's snapshot (in memory and on disk).
        Called by `PolicyRefresher`, never on a request's path. RegionalServiceDown,
        RegionalServiceRefused or ValueError (it does not verify) when it cannot."""
        response = self.request("GET", "/v1/policy/snapshot", acting_for)
        if response.status_code >= 500:
            raise RegionalServiceDown(f"The registry answered {response.status_code}.")
        if response.status_code != 200:
            raise RegionalServiceRefused(self.name, response.status_code)
        try:
            token = str(response.json()["jws"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError("the registry's answer holds no snapshot") from exc
        snapshot = self._verified(token, acting_for)
        path = self._snapshot_file(acting_for)
        with self._lock:  # one writer at a time; never replace a newer one with an older
            held = self._snapshots.get(acting_for)
            if held is not None and held[1].issued_at > snapshot.issued_at:
                return held[1]
            self._snapshots[acting_for] = (time.monotonic(), snapshot)
            if path is not None:
                write_atomically(path, token, mode=0o644)
        return snapshot

    def refresh_snapshots(self, institutions: Iterable[str]) -> list[str]:
        """Refresh each institution's snapshot; the institutions whose refresh failed."""
        failed = []
        for institution_id in institutions:
            try:
                self.refresh_snapshot(institution_id)
            except (RegionalServiceDown, RegionalServiceRefused, ValueError) as exc:
                failed.append(institution_id)
                log.warning("policy_snapshot_not_refreshed", institution_id=institution_id,
                            error=type(exc).__name__)
        return failed

    def _valid_snapshot(self, acting_for: str) -> PolicySnapshot | None:
        """The last verified snapshot (from memory, else from disk), if it has not expired."""
        held = self._held(acting_for)
        if held is not None:
            return held[1]
        path = self._snapshot_file(acting_for)
        if path is None or not path.exists():
            return None
        try:
            snapshot = self._verified(path.read_text(), acting_for)
        except ValueError:
            log.warning("policy_snapshot_on_disk_rejected", institution_id=acting_for)
            return None
        return snapshot if snapshot.expires_at > int(time.time()) else None

    def _verified(self, token: str, acting_for: str) -> PolicySnapshot:
        """Trust only what the registry's key signed, for this institution."""
        if self.public_key is None:
            raise ValueError("no registry public key configured")
        try:
            payload = verify_document(token, self.public_key, POLICY_SNAPSHOT, time.time())
            snapshot = PolicySnapshot.model_validate(payload)
        except (DocumentRejected, ValidationError) as exc:
            raise ValueError(f"the policy snapshot does not verify: {exc}") from exc
        if snapshot.institution_id != acting_for:
            raise ValueError("the policy snapshot is for another institution")
        return snapshot

    # Agreements and consents, on behalf of an institution's administrators --------------

    def call(self, acting_for: str, method: str, path: str, **kwargs: Any) -> Any:
        """The registry's answer, or its problem passed on (RegionalProblem)."""
        response = self.request(method, path, acting_for, **kwargs)
        if response.status_code >= 500:
            raise RegionalServiceDown(f"The registry answered {response.status_code}.")
        if response.status_code >= 400:
            raise RegionalProblem(self.name, response)
        if method.upper() != "GET" and path.startswith(POLICY_PATHS):
            self._refresh_after_own_change(acting_for)
        return response.json()

    def _refresh_after_own_change(self, acting_for: str) -> None:
        """This institution changed an agreement or consent through this gateway: its next
        decision must see the change (read your own writes), not wait for the notice."""
        if acting_for not in self._snapshots:
            return  # none held: decisions go to the registry anyway
        try:
            self.refresh_snapshot(acting_for)
        except (RegionalServiceDown, RegionalServiceRefused, ValueError) as exc:
            with self._lock:  # decide at the registry until the refresher succeeds
                self._snapshots.pop(acting_for, None)
            log.warning("policy_snapshot_not_refreshed", institution_id=acting_for,
                        error=type(exc).__name__)

    @classmethod
    def for_gateway(cls, settings: Settings, directory: DirectoryClient) -> RegistryClient:
        """Configured from the gateway's settings; countries come from its directory client."""
        return cls(
            settings.registry_url, settings.gateway_tokens,
            public_key=settings.registry_public_key,
            snapshot_dir=settings.data_dir / "policy-snapshots",
            country_of=lambda institution_id: str(directory.institution(institution_id)["country"]),
            refresh_seconds=settings.policy_snapshot_refresh_seconds,
        )


class PolicyRefresher:
    """Keeps the hosted institutions' policy snapshots fresh, off every request's path:
    fetched at start-up, again at once on each policy change notice (`notice`, the NATS
    callback), and every `refresh_seconds` in case a notice was lost (sooner after a
    failure). How stale a decision can be: docs/registry.md §3.1."""

    def __init__(self, registry: RegistryClient, institutions: Iterable[str]) -> None:
        self.registry = registry
        self.institutions = sorted(institutions)
        self._wake = asyncio.Event()
        self.rounds = 0  # refresh rounds completed (what a test awaits)

    async def notice(self, msg: Msg) -> None:
        """A policy change notice (its body is not needed: every notice means re-fetch)."""
        self._wake.set()

    async def reconnected(self) -> None:
        """NATS is back: notices published meanwhile were missed, so fetch now."""
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        async def refresh() -> None:
            try:
                failed = await asyncio.to_thread(self.registry.refresh_snapshots,
                                                 self.institutions)
            finally:
                self.rounds += 1
            if failed:  # each is logged by refresh_snapshots; retried sooner
                raise SnapshotsNotRefreshed(len(failed))

        retry = min(self.registry.refresh_seconds, RETRY_SECONDS)
        await run_every(self.registry.refresh_seconds, refresh, stop, wake=self._wake,
                        failure_event="policy_refresh_failed",
                        retry_first=retry, retry_cap=retry)


class SnapshotsNotRefreshed(Exception):
    """Some institutions' snapshots could not be refreshed this round."""
