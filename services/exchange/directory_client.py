"""The gateway's client of the directory: institutions and their keys."""

from __future__ import annotations

import threading
import time
from typing import Any

from services.exchange.regional_client import RegionalClient, RegionalServiceDown


class UnknownInstitution(Exception):
    pass


class DirectoryClient(RegionalClient):
    """Institutions and their keys, cached briefly: the directory is read on every message."""

    name = "directory"
    cache_seconds = 30.0

    def __init__(self, base_url: str, tokens: dict[str, str]) -> None:
        super().__init__(base_url, tokens)
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: str, path: str) -> Any:
        with self._lock:
            hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < self.cache_seconds:
            return hit[1]
        acting_for = next(iter(self.tokens), None)
        response = self.request("GET", path, acting_for)
        if response.status_code == 404:
            raise UnknownInstitution(path)
        if response.status_code != 200:
            raise RegionalServiceDown(f"The directory answered {response.status_code}.")
        value = response.json()
        with self._lock:
            self._cache[key] = (time.monotonic(), value)
        return value

    def institution(self, institution_id: str) -> dict[str, Any]:
        return dict(self._cached(f"inst:{institution_id}", f"/v1/institutions/{institution_id}"))

    def signing_keys(self, institution_id: str) -> list[dict[str, Any]]:
        return list(
            self._cached(f"jwks:{institution_id}", f"/v1/institutions/{institution_id}/jwks")[
                "keys"
            ]
        )

    def forget_keys(self, institution_id: str) -> None:
        with self._lock:
            self._cache.pop(f"jwks:{institution_id}", None)

    def register_signing_key(self, institution_id: str, jwk: dict[str, Any]) -> None:
        response = self.request(
            "POST", f"/v1/institutions/{institution_id}/keys", institution_id, json=jwk
        )
        if response.status_code not in (200, 201):
            raise RegionalServiceDown(
                f"The directory refused the key of {institution_id} ({response.status_code})."
            )
