"""The problem details (RFC 9457) of every operation, as OpenAPI describes them: one `Problem`
schema, served as application/problem+json, with an example per status. A client generated
from a service's OpenAPI reads every 4xx and 5xx answer as a typed `Problem`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.kit.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX


class ProblemError(BaseModel):
    """One invalid field of a 422: where and what kind, never the value."""

    location: list[str | int]
    message: str
    kind: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is stable (for programs), `detail` is for people.
    A problem may carry extension fields (e.g. `errors`, `reasons`, `status_now`)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="`urn:enlace:problem:` and the code")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable and machine-readable, e.g. `policy_denied`")
    instance: str | None = Field(None, description="The path that answered")
    errors: list[ProblemError] | None = Field(None, description="422 `invalid_request`: the "
                                              "invalid fields")


def _example(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": PROBLEM_TYPE_PREFIX + code, "title": title, "status": status,
            "detail": detail, "code": code, **extra}


PROBLEM_EXAMPLES: dict[int, tuple[str, dict[str, Any]]] = {
    401: ("No valid bearer token (`missing_token`, `invalid_token`)",
          _example(401, "invalid_token", "Authentication required",
                   "The bearer token is not valid.")),
    403: ("Your role or institution may not do this",
          _example(403, "role_not_allowed", "Not permitted",
                   "This role may not do this.")),
    404: ("Nothing with this id is visible to you",
          _example(404, "referral_not_found", "Not found",
                   "No referral with this id is visible to your institution.")),
    409: ("The resource's current state does not allow this",
          _example(409, "illegal_transition", "Conflict",
                   "A referral that is closed cannot be accepted.", status_now="closed")),
    422: ("The request is not valid (`invalid_request` with `errors`, `invalid_cursor`, or a "
          "rule's code)",
          _example(422, "invalid_request", "Invalid request",
                   "The request has 1 invalid field(s).",
                   errors=[{"location": ["query", "limit"], "kind": "less_than_equal",
                            "message": "Input should be less than or equal to 500"}])),
    503: ("A service this one needs is not reachable; try again later",
          _example(503, "registry_unavailable", "Service unavailable",
                   "The registry is not reachable.")),
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a router or an operation: these statuses answer a `Problem`."""
    return {status: {
        "model": Problem, "description": PROBLEM_EXAMPLES[status][0],
        "content": {PROBLEM_MEDIA_TYPE: {"example": PROBLEM_EXAMPLES[status][1]}},
    } for status in statuses}
