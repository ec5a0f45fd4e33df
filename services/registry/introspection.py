"""Gateway tokens the registry does not hold itself: asked of the directory, which issues them.

`POST <directory>/v1/tokens/introspect` (RFC 7662 style) with the registry's own
`regional_service` token. Answers, active or not, are kept `cache_seconds`: a token revoked
at the directory is refused here within that bound (docs/directory.md, "Joining the network").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from services.registry.directory import DirectoryUnavailable
from shared.kit.http import SERVICE_CALL_TIMEOUT_SECONDS
from shared.protocol.auth import Principal, Role, hash_token

MAX_CACHED = 10_000  # answers kept at most; the oldest go first


class TokenIntrospector:
    def __init__(self, base_url: str, service_token: str, cache_seconds: float,
                 client: httpx.Client | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.http = client or httpx.Client(base_url=base_url,
                                             timeout=SERVICE_CALL_TIMEOUT_SECONDS)
        self.service_token = service_token
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._answers: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, token: str) -> Principal | None:
        """The gateway the token belongs to, or None when the directory says it is not an
        active gateway token. The directory being unreachable is a 503, not a 401."""
        key = hash_token(token)
        now = self.clock()
        with self._lock:
            hit = self._answers.get(key)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        principal = self._ask(token)
        with self._lock:
            if len(self._answers) >= MAX_CACHED:
                for old in sorted(self._answers, key=lambda k: self._answers[k][0])[
                        :MAX_CACHED // 10]:
                    del self._answers[old]
            self._answers[key] = (now, principal)
        return principal

    def _ask(self, token: str) -> Principal | None:
        try:
            response = self.http.post(
                "/v1/tokens/introspect", json={"token": token},
                headers={"Authorization": f"Bearer {self.service_token}"})
        except httpx.HTTPError as exc:
            raise DirectoryUnavailable("The directory cannot be reached.") from exc
        if response.status_code != 200:
            raise DirectoryUnavailable(f"The directory answered {response.status_code} to "
                                       "a token introspection.")
        answer = response.json()
        if answer.get("active") is not True or answer.get("role") != Role.gateway.value:
            return None
        return Principal(str(answer["institution_id"]), str(answer["country"]), Role.gateway)

    def close(self) -> None:
        self.http.close()
