"""The gateway's view of the directory: its signed snapshot, verified and kept up to date.

The gateway trusts only what the directory's key (settings.directory_public_key) signed.
It fetches the whole snapshot once, then every `refresh_seconds` only the changes since the
version it holds, and keeps the result on disk. While the directory is unreachable it answers
from what it holds, until that snapshot expires; a revoked key, and every key of a
deactivated institution, stops being returned as soon as it holds a snapshot that says so
(within `refresh_seconds` while the directory is reachable). See docs/directory.md,
"Signed snapshots".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from services.exchange.clients.regional import (
    RegionalClient,
    RegionalProblem,
    RegionalServiceDown,
    RegionalServiceRefused,
)
from shared.kit.files import write_atomically
from shared.kit.logging import get_logger
from shared.kit.signed import DocumentRejected, SignatureInvalid, verify_document
from shared.protocol.acting import acting_headers
from shared.protocol.auth import Role
from shared.protocol.documents import DIRECTORY_SNAPSHOT

# Each collection of the snapshot, and the field that identifies its records.
COLLECTIONS = {"countries": "code", "areas": "id", "institutions": "id", "focal_points": "id",
               "keys": "kid"}
# However stale: never ask the directory more than once a second.
MIN_REFRESH_INTERVAL = 1.0

Record = dict[str, Any]
log = get_logger(__name__)


class UnknownInstitution(Exception):
    pass


class SnapshotRejected(Exception):
    """A snapshot this gateway must not use (bad signature, expired, out of order)."""


@dataclass(frozen=True)
class DirectoryView:
    """The directory at one version, as verified snapshots said it is."""

    version: int
    expires_at: float
    records: dict[str, dict[str, Record]]
    issued_at: float = 0.0  # when the directory signed it: how old what it says may be

    @classmethod
    def of(cls, payload: dict[str, Any], base: DirectoryView | None = None) -> DirectoryView:
        """A full snapshot, or `base` with a delta's records replacing theirs."""
        records = {}
        for collection, key in COLLECTIONS.items():
            changed = {r[key]: r for r in payload.get(collection, [])}
            records[collection] = {**base.records[collection], **changed} if base else changed
        return cls(int(payload["version"]), float(payload["exp"]), records,
                   float(payload.get("iat", 0)))

    @cached_property
    def keys_by_institution(self) -> dict[str, list[Record]]:
        index: dict[str, list[Record]] = {}
        for key in self.records["keys"].values():
            index.setdefault(key["institution_id"], []).append(key)
        return index

    def valid_keys(self, institution_id: str, use: str, now: float) -> list[Record]:
        """Keys for `use` valid at `now` and not revoked, oldest first; none while the
        institution is deactivated (the same snapshot that says so stops its keys)."""
        def moment(value: str) -> float:
            return datetime.fromisoformat(value).timestamp()

        if not self.records["institutions"].get(institution_id, {}).get("active", True):
            return []
        keys = [k for k in self.keys_by_institution.get(institution_id, [])
                if k["use"] == use and k["revoked_at"] is None
                and moment(k["valid_from"]) <= now
                and (k["valid_to"] is None or moment(k["valid_to"]) > now)]
        return sorted(keys, key=lambda k: (k["valid_from"], k["kid"]))


def verify_snapshot(token: str, public_key: dict[str, Any], held: DirectoryView | None,
                    now: float) -> dict[str, Any]:
    """The payload of a snapshot the gateway may apply on top of what it holds."""
    try:
        payload = verify_document(token, public_key, DIRECTORY_SNAPSHOT, now,
                                  held.version if held is not None else None)
    except SignatureInvalid as exc:
        raise SnapshotRejected(f"the snapshot does not verify ({exc.code})") from exc
    except DocumentRejected as exc:
        raise SnapshotRejected(exc.detail) from exc
    since = payload.get("since")
    if since is not None and (held is None or since != held.version):
        raise SnapshotRejected("the changes are not relative to the version held")
    return payload


class DirectoryClient(RegionalClient):
    """Institutions, keys and endpoints from the directory's signed snapshot."""

    name = "directory"

    def __init__(
        self, base_url: str, tokens: dict[str, str], *, public_key: dict[str, Any] | None,
        cache_path: Path | None = None, refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not public_key:
            raise ValueError("The directory's public key is not configured "
                             "(ENLACE_DIRECTORY_PUBLIC_KEY): snapshots cannot be verified.")
        super().__init__(base_url, tokens)
        self.public_key = public_key
        self.cache_path = cache_path
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._view = self._load()
        self._checked_at = float("-inf")
        self._stale = False
        # Institutions that may have new keys: a question about their keys asks first.
        self._stale_keys: set[str] = set()
        self._refreshing = threading.Lock()
        self.reachable: bool | None = None  # did the directory answer the last time asked
        # Refreshed by a background task (exchange/gateway.py): lookups then never wait for
        # the directory, except for what the snapshot held cannot answer (a new institution,
        # keys said to be new).
        self.background = False
        self._saved: tuple[int, float] | None = None  # version and time last written

    # What the gateway asks -----------------------------------------------------------------

    def institution(self, institution_id: str) -> dict[str, Any]:
        """The institution (id, country, gateway_country, active ...)."""
        return dict(self._find("institutions", institution_id))

    def countries(self) -> list[dict[str, Any]]:
        return [dict(c) for c in self._current().records["countries"].values()]

    def institutions_of(self, country: str) -> list[dict[str, Any]]:
        """The active institutions of a country, from the snapshot held."""
        return [dict(i) for i in self._current().records["institutions"].values()
                if i["country"] == country and i.get("active", True)]

    def signing_keys(self, institution_id: str) -> list[dict[str, Any]]:
        """The institution's signing keys (JWK) valid now and not revoked."""
        self._find("institutions", institution_id)
        keys = self._current(force=institution_id in self._stale_keys).valid_keys(
            institution_id, "sig", self.clock())
        return [dict(k["jwk"]) for k in keys]

    def encryption_key(self, institution_id: str) -> dict[str, Any] | None:
        """The institution's newest encryption key (X25519 JWK) valid now, if any.

        Asks the directory for changes first (at most once a second; from the snapshot held
        when it cannot be reached): what is encrypted to a key the recipient has replaced
        cannot be opened, so a new key must be used as soon as it is registered."""
        self._find("institutions", institution_id)
        keys = self._current(force=not self.background).valid_keys(institution_id, "enc",
                                                                   self.clock())
        if not keys and self.background:  # perhaps registered since the last look: look again
            time.sleep(max(0.0, self._checked_at + MIN_REFRESH_INTERVAL - self.clock()))
            with self._refreshing:  # after a refresh under way, if any
                if self._due(True, inline=True):
                    self._refresh()
            keys = self._current().valid_keys(institution_id, "enc", self.clock())
        return dict(keys[-1]["jwk"]) if keys else None

    def is_revoked(self, institution_id: str, kid: str) -> bool:
        """Whether `kid` names a key of the institution that the snapshot held says is
        revoked (so a message signed with it is refused as `revoked_key`)."""
        key = self._current().records["keys"].get(kid)
        return bool(key and key["institution_id"] == institution_id
                    and key["revoked_at"] is not None)

    def held(self) -> DirectoryView:
        """The snapshot held, after asking the directory for changes (at most once a second);
        `reachable` then says whether it answered. RegionalServiceDown if there is none or
        it has expired."""
        return self._current(force=True)

    def snapshot_times(self) -> tuple[int, float, float] | None:
        """The version, issued-at and expiry (Unix times) of the snapshot held, asking
        nothing: for the metrics."""
        view = self._view
        return (view.version, view.issued_at, view.expires_at) if view is not None else None

    def forget_keys(self, institution_id: str) -> None:
        """The institution may have new keys: ask the directory at the next question about
        its keys (at most once a second); questions about others answer from the view held."""
        self._stale_keys.add(institution_id)

    def register_signing_key(self, institution_id: str, jwk: dict[str, Any]) -> None:
        self._register(institution_id, {**jwk, "use": "sig"})

    def register_encryption_key(self, institution_id: str, jwk: dict[str, Any]) -> None:
        self._register(institution_id, {**jwk, "use": "enc"})

    def _register(self, institution_id: str, jwk: dict[str, Any]) -> None:
        response = self.request(
            "POST", f"/v1/institutions/{institution_id}/keys", institution_id, json=jwk
        )
        if response.status_code >= 500:
            raise RegionalServiceDown(f"The directory answered {response.status_code}.")
        if response.status_code not in (200, 201):
            raise RegionalServiceRefused(self.name, response.status_code)
        self._stale = True

    # A country administrator's calls, made by the gateway for them ------------------------

    def act_for_admin(self, institution_id: str, person_id: str, person_name: str,
                      method: str, path: str, **kwargs: Any) -> Any:
        """The directory's live answer to a call the gateway makes, with the token of the
        person's institution, for a country administrator (shared/protocol/acting.py): the directory
        applies that scope for the institution's country and names the person in its history.
        Its problems are passed on (RegionalProblem)."""
        response = self.request(
            method, path, institution_id,
            headers=acting_headers(Role.country_admin, person_id, person_name), **kwargs)
        if response.status_code >= 500:
            raise RegionalServiceDown(f"The directory answered {response.status_code}.")
        if response.status_code >= 400:
            raise RegionalProblem(self.name, response)
        if method != "GET":
            self._stale = True  # the snapshot held is behind this change
        return response.json()

    # The snapshot held ---------------------------------------------------------------------

    def _find(self, collection: str, key: str) -> Record:
        record = self._current().records[collection].get(key)
        if record is None:  # perhaps new since our version
            record = self._current(force=True).records[collection].get(key)
        if record is None:
            raise UnknownInstitution(key)
        return record

    def refresh_if_due(self) -> None:
        """The background task's look, once a second: what a request used to do before each
        encryption (a key the recipient has replaced is used for about a second at most)."""
        self._current(force=True, inline=True)

    def _due(self, force: bool, inline: bool = False) -> bool:
        elapsed = self.clock() - self._checked_at
        urgent = force or self._stale or self._view is None
        if self.background and not inline and not (self._stale or self._view is None):
            return force and elapsed >= MIN_REFRESH_INTERVAL
        return elapsed >= self.refresh_seconds or (urgent and elapsed >= MIN_REFRESH_INTERVAL)

    def _current(self, force: bool = False, inline: bool = False) -> DirectoryView:
        # One refresh at a time; meanwhile the others answer from the view held, or, while
        # none is held yet, wait for the refresh under way.
        holding = self._view is not None
        if (self._due(force, inline) or not holding) and \
                self._refreshing.acquire(blocking=not holding):
            try:
                if self._due(force, inline):
                    self._refresh()
            finally:
                self._refreshing.release()
        view = self._view
        if view is None:
            raise RegionalServiceDown("The directory cannot be reached and this gateway holds "
                                      "no snapshot of it.")
        if view.expires_at <= self.clock():
            raise RegionalServiceDown("The directory cannot be reached and the snapshot this "
                                      "gateway holds has expired.")
        return view

    def _refresh(self) -> None:
        self._checked_at, self._stale = self.clock(), False
        self._stale_keys.clear()
        try:
            self._view = self._fetch(self._view)
            self.reachable = True
        except (RegionalServiceDown, RegionalServiceRefused, SnapshotRejected) as exc:
            self.reachable = False
            log.warning("directory_snapshot_not_refreshed", reason=str(exc),
                        held_version=self._view.version if self._view else None)
            return
        # Written again when it changed, else at most once a minute (for its new expiry):
        # the whole snapshot costs tens of milliseconds to write, and the refresh is
        # frequent.
        saved = self._saved
        if saved is None or saved[0] != self._view.version or self.clock() - saved[1] >= 60:
            self._saved = (self._view.version, self.clock())
            self._save(self._view)

    def _fetch(self, held: DirectoryView | None, full: bool = False) -> DirectoryView:
        params = {"since": held.version} if held and not full else {}
        response = self.request("GET", "/v1/snapshot", next(iter(self.tokens), None),
                                params=params)
        if response.status_code == 409 and not full:  # the directory lost our version
            return self._fetch(held, full=True)
        if response.status_code >= 500:
            raise RegionalServiceDown(f"The directory answered {response.status_code}.")
        if response.status_code != 200:
            raise RegionalServiceRefused(self.name, response.status_code)
        payload = verify_snapshot(response.text, self.public_key, held, self.clock())
        return DirectoryView.of(payload, base=held if payload.get("since") is not None else None)

    # On disk: what was verified when it arrived, in the gateway's own data directory -------

    def _load(self) -> DirectoryView | None:
        if self.cache_path is None or not self.cache_path.exists():
            return None
        try:
            data = json.loads(self.cache_path.read_text())
            # A file saved before issued_at was kept: it was verified when written.
            issued_at = data.get("issued_at") or self.cache_path.stat().st_mtime
            return DirectoryView(int(data["version"]), float(data["expires_at"]),
                                 data["records"], float(issued_at))
        except (ValueError, KeyError, TypeError):
            log.warning("directory_snapshot_cache_unreadable", path=str(self.cache_path))
            return None

    def _save(self, view: DirectoryView) -> None:
        if self.cache_path is None:
            return
        data = {"version": view.version, "expires_at": view.expires_at,
                "issued_at": view.issued_at, "records": view.records}
        try:
            write_atomically(self.cache_path, json.dumps(data, separators=(",", ":")))
        except OSError as exc:
            log.warning("directory_snapshot_cache_not_written", error=str(exc))

