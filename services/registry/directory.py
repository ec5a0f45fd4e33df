"""What the registry asks the directory: an institution's signing keys and its country, and
whose keys changed since a version of the directory."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import httpx

from shared.kit.errors import Unavailable
from shared.kit.http import SERVICE_CALL_TIMEOUT_SECONDS
from shared.kit.pagination import every as every_item
from shared.protocol.audit_events import KeyRecord
from shared.protocol.envelope import EnvelopeError, unverified_parts


class DirectoryUnavailable(Unavailable):
    code = "directory_unavailable"


@dataclass(frozen=True)
class KeyChanges:
    """The directory's version now, and the institutions whose keys changed after the
    version asked about; None when any may have (a first ask, or a version the directory
    no longer knows)."""

    version: int
    institutions: frozenset[str] | None


class Directory(Protocol):
    def signing_keys(self, institution_id: str) -> list[dict[str, Any]]: ...

    def signing_key_records(self, institution_id: str) -> list[KeyRecord]: ...

    def key_changes(self, since: int | None) -> KeyChanges: ...

    def country_of(self, institution_id: str) -> str: ...


class DirectoryLookup:
    """Over HTTP. Keys are read fresh (the audit ingest keeps them itself, as long as the
    directory says they did not change: services/registry/signing_keys.py); countries are
    cached."""

    country_cache_seconds = 300.0

    def __init__(self, base_url: str, token: str, client: httpx.Client | None = None) -> None:
        self.http = client or httpx.Client(base_url=base_url,
                                             timeout=SERVICE_CALL_TIMEOUT_SECONDS)
        self.token = token
        self._countries: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _get(self, path: str, authenticated: bool = False,
             also: tuple[int, ...] = ()) -> httpx.Response | None:
        """The answer if 200 (or a status in `also`), None if 404."""
        headers = {"Authorization": f"Bearer {self.token}"} if authenticated else {}
        try:
            response = self.http.get(path, headers=headers)
        except httpx.HTTPError as exc:
            raise DirectoryUnavailable("The directory cannot be reached.") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200 and response.status_code not in also:
            raise DirectoryUnavailable(f"The directory answered {response.status_code}.")
        return response

    def signing_keys(self, institution_id: str) -> list[dict[str, Any]]:
        response = self._get(f"/v1/institutions/{institution_id}/jwks")
        return list(response.json()["keys"]) if response is not None else []

    def signing_key_records(self, institution_id: str) -> list[KeyRecord]:
        """Every signing key the institution has had, with validity and revocation (read
        fresh: a revocation counts at once)."""
        keys = self.every(f"/v1/institutions/{quote(institution_id, safe='')}/keys")
        return [KeyRecord.model_validate(k) for k in keys if k.get("use") == "sig"]

    def key_changes(self, since: int | None) -> KeyChanges:
        """From the directory's snapshot of what changed after `since` (the whole snapshot
        when None, or when the directory answers 409: it no longer has that version). Read
        over the same authenticated channel as the keys themselves, so its signature, meant
        for gateways, is not checked here."""
        self._require_token()
        response = None
        if since is not None:
            response = self._get(f"/v1/snapshot?since={since}", authenticated=True, also=(409,))
            if response is not None and response.status_code == 409:
                since, response = None, None
        if response is None:
            response = self._get("/v1/snapshot", authenticated=True)
        if response is None:
            raise DirectoryUnavailable("The directory has no snapshot.")
        try:
            _, snapshot = unverified_parts(response.text)
            version = int(snapshot["version"])
            changed = frozenset(str(k["institution_id"]) for k in snapshot["keys"])
        except (EnvelopeError, KeyError, TypeError, ValueError) as exc:
            raise DirectoryUnavailable("The directory's snapshot cannot be read.") from exc
        return KeyChanges(version, changed if since is not None else None)

    def _require_token(self) -> None:
        if not self.token:
            raise DirectoryUnavailable("The registry has no token for the directory "
                                       "(ENLACE_DIRECTORY_TOKEN).")

    def country_of(self, institution_id: str) -> str:
        """The institution's country, or "" when the directory does not know it."""
        with self._lock:
            hit = self._countries.get(institution_id)
        if hit and time.monotonic() - hit[0] < self.country_cache_seconds:
            return hit[1]
        self._require_token()
        response = self._get(f"/v1/institutions/{institution_id}", authenticated=True)
        country = str(response.json()["country"]) if response is not None else ""
        with self._lock:
            self._countries[institution_id] = (time.monotonic(), country)
        return country

    # The whole directory, read-only, for the secretariat's console.

    def institution(self, institution_id: str) -> dict[str, Any] | None:
        response = self._get(f"/v1/institutions/{quote(institution_id, safe='')}",
                             authenticated=True)
        return dict(response.json()) if response is not None else None

    def countries(self) -> list[dict[str, Any]]:
        return self.every("/v1/countries")

    def every(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Every item of a list (`/v1/institutions`, `/v1/countries`, ...), following `next`;
        none when the directory knows no such list (404)."""
        query = urlencode({**params, "limit": 100})

        def page(link: str) -> dict[str, Any]:
            response = self._get(link, authenticated=True)
            return response.json() if response is not None else {"items": [], "next": None}

        return list(every_item(page, f"{path}?{query}"))

    def close(self) -> None:
        self.http.close()
