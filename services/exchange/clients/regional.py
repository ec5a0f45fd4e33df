"""What the gateway's clients of the regional services (directory, registry) share."""

from __future__ import annotations

from typing import Any

import httpx

from shared.kit.errors import Problem, Unavailable
from shared.kit.http import SERVICE_CALL_TIMEOUT_SECONDS
from shared.kit.logging import CORRELATION_HEADER, current_correlation_id


class RegionalServiceDown(Unavailable):
    """The regional service cannot be reached (or answers 5xx): worth trying again later."""

    code = "regional_service_unavailable"


class RegionalServiceRefused(Problem):
    """The regional service answered, and refused what the gateway itself asked (4xx: its
    token, its scope, its request): trying again will not help until someone fixes it, so
    this is not `RegionalServiceDown` (an inbound message is not retried as if it were)."""

    status, code, title = 502, "regional_service_refused", "Refused by a regional service"

    def __init__(self, service: str, status: int) -> None:
        super().__init__(f"The {service} refused this gateway's request ({status}).",
                         upstream_status=status)
        self.service = service
        self.upstream_status = status


class RegionalProblem(Problem):
    """A problem a regional service answered with, passed on to the gateway's caller as it is
    (code, field, errors)."""

    def __init__(self, service: str, response: httpx.Response) -> None:
        try:
            body = dict(response.json())
        except ValueError:
            body = {}
        extra = {k: v for k, v in body.items()
                 if k not in ("type", "title", "status", "detail", "code", "instance")}
        super().__init__(str(body.get("detail", f"The {service} refused the request.")),
                         code=str(body.get("code", f"{service}_error")), **extra)
        self.status = response.status_code
        self.title = str(body.get("title", f"Refused by the {service}"))


class RegionalClient:
    name = "service"

    def __init__(self, base_url: str, tokens: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=SERVICE_CALL_TIMEOUT_SECONDS)
        self.tokens = tokens

    def _headers(self, acting_for: str | None) -> dict[str, str]:
        headers = {}
        if acting_for:
            headers["Authorization"] = f"Bearer {self.tokens[acting_for]}"
        cid = current_correlation_id()
        if cid:
            headers[CORRELATION_HEADER] = cid
        return headers

    def request(
        self, method: str, path: str, acting_for: str | None = None,
        headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        try:
            return self.http.request(method, path,
                                     headers={**self._headers(acting_for), **(headers or {})},
                                     **kwargs)
        except httpx.HTTPError as exc:
            raise RegionalServiceDown(f"The {self.name} cannot be reached.") from exc

    def close(self) -> None:
        self.http.close()
