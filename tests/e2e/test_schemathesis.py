"""Issue 8, point 7: a bounded schemathesis run over each service's OpenAPI document, against
the real running stack (its own, so the generated writes stay there; on PostgreSQL where
reachable), fails on any 5xx (the `not_a_server_error` check). Each run authenticates as a
demo caller whose role reaches the operations' logic, and one more per service goes without
a token.

Bounded and reproducible: deterministic generation, the coverage phase (each parameter's
boundaries and wrong types) and at most EXAMPLES fuzzed cases per operation; no stateful
phase. The Honduran gateway runs the same code as the Mexican one and is not fuzzed again.
Then the regression tests of the 5xx the issue listed for the gateway."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningStack, running_stack
from tests.helpers import postgres_admin_url

EXAMPLES = 5

# Which operations each run covers, as the demo caller whose role reaches their logic (a key
# of the stack's secrets.json): every operation is in one authenticated run.
KEYS = "/keys"
REGISTRY_GATEWAY = "^/v1/(consents|policy)"
GATEWAY_ADMIN = "^/v1/(webhooks|agreements|quarantine)"
RUNS = [
    ("directory", "regional_admin", ["--exclude-path-regex", KEYS]),
    ("directory", "gateway:mx-sndif", ["--include-path-regex", KEYS]),
    ("registry", "regional_admin", ["--exclude-path-regex", REGISTRY_GATEWAY]),
    ("registry", "gateway:mx-sndif", ["--include-path-regex", REGISTRY_GATEWAY]),
    ("gateway-MX", "mx-sndif:caseworker", ["--exclude-path-regex", GATEWAY_ADMIN]),
    ("gateway-MX", "mx-sndif:country_admin", ["--include-path-regex", GATEWAY_ADMIN]),
]


@pytest.fixture(scope="module")
def fuzzed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """On PostgreSQL where reachable (it refuses more than SQLite: an integer beyond its
    column, a NUL in text), else on SQLite."""
    with running_stack(tmp_path_factory.mktemp("stack-schemathesis"),
                       postgres_admin_url()) as running:
        yield running


def url_of(stack: RunningStack, service: str) -> str:
    if service.startswith("gateway-"):
        return str(stack.info["gateways"][service.removeprefix("gateway-")]["url"])
    return str(stack.info[service]["url"])


def schemathesis(stack: RunningStack, service: str, token: str | None, phases: str,
                 examples: int, *options: str) -> None:
    # One worker: with two, a run once crashed inside hypothesis while it described a strategy
    # (its lazy descriptions are not safe across threads), which is no finding about Enlace.
    command = [sys.executable, "-m", "schemathesis.cli", "run",
               f"{url_of(stack, service)}/openapi.json", "--checks", "not_a_server_error",
               "--phases", phases, "--max-examples", str(examples),
               "--generation-deterministic",
               "--request-timeout", "30", "--workers", "1", "--no-color",
               "--warnings", "off", *options]
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600,
                         cwd=stack.data_dir)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]


@pytest.mark.parametrize("service, caller, operations", RUNS)
def test_no_operation_answers_a_server_error(fuzzed_stack: RunningStack, service: str,
                                              caller: str, operations: list[str]):
    secrets = json.loads((Path(fuzzed_stack.data_dir) / "secrets.json").read_text())
    schemathesis(fuzzed_stack, service, secrets[caller], "coverage,fuzzing", EXAMPLES,
                 *operations)


@pytest.mark.parametrize("service", ["directory", "registry", "gateway-MX"])
def test_no_operation_answers_a_server_error_without_a_token(fuzzed_stack: RunningStack,
                                                             service: str):
    schemathesis(fuzzed_stack, service, None, "fuzzing", 2)


# The gateway's 5xx of issue 8, point 6 (its registry client copied path values unencoded,
# and passed a version beyond its column on) ------------------------------------------------


def test_path_values_reach_the_registry_encoded(fuzzed_stack: RunningStack):
    with fuzzed_stack.gateway("MX", "mx-sndif", "country_admin") as admin:
        withdrawn = admin.post("/v1/consents/a%10b/withdrawal",
                               json={"withdrawn_by": "guardian", "reason": "other"})
        signed = admin.post("/v1/agreements/x%3F/signatures", json={"version": 1})
        dots = admin.post("/v1/agreements/%2E%2E/signatures", json={"version": 1})
    assert (withdrawn.status_code, withdrawn.json()["code"]) == (404, "consent_not_found")
    assert (signed.status_code, signed.json()["code"]) == (404, "agreement_not_found")
    assert dots.status_code == 404, dots.text


def test_a_version_beyond_its_column_is_refused_by_the_gateway(fuzzed_stack: RunningStack):
    with fuzzed_stack.registry() as auditor:
        agreement_id = auditor.get("/v1/agreements").json()["items"][0]["id"]
    with fuzzed_stack.gateway("MX", "mx-sndif", "country_admin") as admin:
        response = admin.post(f"/v1/agreements/{agreement_id}/signatures",
                              json={"version": 2**31})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_request")
