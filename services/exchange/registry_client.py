"""The gateway's client of the registry: the policy decision, with the registry's signed
policy snapshot to decide from while the registry is unreachable; agreements and consents."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from services.exchange.directory_client import DirectoryClient
from services.exchange.regional_client import RegionalClient, RegionalProblem, RegionalServiceDown
from shared.db import utcnow
from shared.envelope import EnvelopeError, verify
from shared.logging import get_logger
from shared.policy import DecisionRequest, PolicySnapshot, evaluate
from shared.settings import Settings

log = get_logger(__name__)


class PolicyQuestionRefused(Exception):
    """The registry found the question itself invalid (e.g. a purpose outside the vocabulary)."""


class RegistryClient(RegionalClient):
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
        self._snapshots: dict[str, tuple[float, PolicySnapshot]] = {}
        self._lock = threading.Lock()

    # Policy decision ------------------------------------------------------------------

    def decide(self, acting_for: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.request("POST", "/v1/policy/decisions", acting_for, json=request)
        except RegionalServiceDown:
            return self._decide_locally(acting_for, request)
        if response.status_code == 422:
            raise PolicyQuestionRefused(response.json().get("detail", ""))
        if response.status_code >= 500:
            return self._decide_locally(acting_for, request)
        if response.status_code != 200:
            raise RegionalServiceDown(f"The registry answered {response.status_code}.")
        self._refresh_snapshot(acting_for)
        return dict(response.json())

    def _decide_locally(self, acting_for: str, request: dict[str, Any]) -> dict[str, Any]:
        snapshot = self._valid_snapshot(acting_for)
        if snapshot is None or self.country_of is None:
            raise RegionalServiceDown("The registry cannot be reached and no valid policy "
                                      "snapshot is at hand.")
        try:
            question = DecisionRequest.model_validate(request)
        except ValidationError as exc:
            raise PolicyQuestionRefused("the question is outside the vocabulary") from exc
        decision = evaluate(snapshot.agreements, snapshot.bases, question, utcnow(),
                            self.country_of)
        log.warning("policy_decided_from_snapshot", institution_id=acting_for,
                    decision=decision.decision, expires_at=snapshot.expires_at)
        return {**decision.model_dump(mode="json"), "source": "snapshot"}

    # Policy snapshot ------------------------------------------------------------------

    def _snapshot_file(self, acting_for: str) -> Path | None:
        return self.snapshot_dir / f"{acting_for}.jws" if self.snapshot_dir else None

    def _refresh_snapshot(self, acting_for: str) -> None:
        if self.public_key is None:
            return
        with self._lock:
            held = self._snapshots.get(acting_for)
        if held and time.monotonic() - held[0] < self.refresh_seconds:
            return
        try:
            response = self.request("GET", "/v1/policy/snapshot", acting_for)
            response.raise_for_status()
            token = str(response.json()["jws"])
            snapshot = self._verified(token, acting_for)
        except (httpx.HTTPError, RegionalServiceDown, ValueError, KeyError) as exc:
            log.warning("policy_snapshot_not_refreshed", institution_id=acting_for,
                        error=type(exc).__name__)
            return
        path = self._snapshot_file(acting_for)
        with self._lock:  # concurrent requests may refresh at once: one writer at a time
            self._snapshots[acting_for] = (time.monotonic(), snapshot)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(token)
                tmp.replace(path)

    def _valid_snapshot(self, acting_for: str) -> PolicySnapshot | None:
        """The last verified snapshot (from memory, else from disk), if it has not expired."""
        with self._lock:
            held = self._snapshots.get(acting_for)
        snapshot = held[1] if held else None
        path = self._snapshot_file(acting_for)
        if snapshot is None and path is not None and path.exists():
            try:
                snapshot = self._verified(path.read_text(), acting_for)
            except ValueError:
                log.warning("policy_snapshot_on_disk_rejected", institution_id=acting_for)
        if snapshot is None or snapshot.expires_at <= int(time.time()):
            return None
        return snapshot

    def _verified(self, token: str, acting_for: str) -> PolicySnapshot:
        """Trust only what the registry's key signed, for this institution."""
        if self.public_key is None:
            raise ValueError("no registry public key configured")
        try:
            _, payload = verify(token, [self.public_key])
            snapshot = PolicySnapshot.model_validate(payload)
        except (EnvelopeError, ValidationError) as exc:
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
        return response.json()

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
