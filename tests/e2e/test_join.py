"""Issue #8, point 3, on the real running system: a new country joins through the API and the
`enlace directory` command (nobody opens a database), a gateway started with only the
issued credentials (a token and a .creds file) connects to NATS and registers its keys, the
directory and the registry accept its token, and refuse it once revoked (the registry within
its introspection cache bound)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.protocol.settings import Settings
from tests.conftest import SQLITE_ONLY, RunningStack
from tests.helpers import wait_until

# On SQLite only: a gateway that runs on issued credentials; the directory's storage of a join
# is tested on both databases in tests/directory/test_join.py.
pytestmark = SQLITE_ONLY

INSTITUTION = "br-conanda"
INSTITUTION_BODY = {
    "id": INSTITUTION, "country": "BR", "name": "Conselho Nacional dos Direitos da Criança e "
    "do Adolescente", "name_language": "pt", "acronym": "CONANDA",
    "type": "child-protection-authority", "competences": ["reception", "family-tracing"],
    "languages": ["pt", "es"], "gateway_country": "BR",
}
# Beyond the registry's introspection cache: slack for a loaded machine.
REVOCATION_BOUND = Settings(_env_file=None).token_introspection_cache_seconds + 15


def enlace(stack: RunningStack, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "services.cli", "directory", *args,
                             "--data-dir", str(stack.data_dir)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def joined(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Brazil joins: country, institution, credentials, and its gateway running on them."""
    folder = tmp_path_factory.mktemp("gateway-BR")
    enlace(stack, "add-country", "BR", "--name", "Brazil", "--name-es", "Brasil", "--observer")
    body = folder / "institution.json"
    body.write_text(json.dumps(INSTITUTION_BODY))
    enlace(stack, "add-institution", str(body))
    token_file, creds_file = folder / "token", folder / "gateway-BR.creds"
    issued = enlace(stack, "issue-credentials", INSTITUTION, "--token-file", str(token_file),
                    "--creds-file", str(creds_file))
    assert "token" not in issued and "nats_credentials" not in issued
    for secret in (token_file, creds_file):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    token = token_file.read_text().strip()

    port = free_port()
    info = stack.info
    env = {**os.environ, **{f"ENLACE_{k.upper()}": v for k, v in {
        "gateway_country": "BR", "gateway_tokens": json.dumps({INSTITUTION: token}),
        "nats_url": info["nats_url"], "nats_credentials": str(creds_file),
        "directory_url": info["directory"]["url"], "registry_url": info["registry"]["url"],
        "directory_public_key": json.dumps(info["directory"]["public_key"]),
        "registry_public_key": json.dumps(info["registry"]["public_key"]),
        "data_dir": str(folder / "data"), "database_url": "",
    }.items()}}
    log = (folder / "gateway.log").open("wb")
    gateway = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "exchange", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def ready() -> bool:
            assert gateway.poll() is None, (folder / "gateway.log").read_text()[-3000:]
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=90, interval=0.5)
        yield {"token": token, "issued": issued, "url": f"http://127.0.0.1:{port}"}
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=20)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait()
        log.close()


def as_gateway(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=10,
                        headers={"Authorization": f"Bearer {token}"})


def decide(registry: httpx.Client, sender: str) -> httpx.Response:
    return registry.post("/v1/policy/decisions", json={
        "sender": sender, "recipient": "hn-senaf", "message_type": "referral",
        "purpose": "reception-and-care", "data_categories": ["identity"],
        "case_reference": "BR-CONANDA-2026-000001"})


def test_the_new_gateway_runs_on_the_issued_credentials_alone(stack: RunningStack, joined):
    directory = stack.info["directory"]["url"]
    with httpx.Client(base_url=directory, timeout=10) as anonymous:
        keys = anonymous.get(f"/v1/institutions/{INSTITUTION}/jwks").json()["keys"]
    assert sorted(k["use"] for k in keys) == ["enc", "sig"]  # registered by its gateway
    health = httpx.get(f"{joined['url']}/readyz", timeout=10).json()
    assert health["checks"]["nats"] is True and health["checks"]["keys_registered"] is True

    with as_gateway(directory, joined["token"]) as at_directory:
        assert at_directory.get("/v1/snapshot").status_code == 200
    with as_gateway(stack.info["registry"]["url"], joined["token"]) as at_registry:
        own = decide(at_registry, INSTITUTION)
        assert own.status_code == 200, own.text
        assert own.json()["decision"] == "deny"  # no agreement yet: known, and scoped
        assert decide(at_registry, "mx-sndif").json()["code"] == "not_your_institution"

    with stack.directory() as admin:
        history = admin.get(f"/v1/institutions/{INSTITUTION}/history").json()["items"]
    assert [(c["action"], c["actor_role"]) for c in history
            if c["action"].startswith("credentials")] == [("credentials-issued",
                                                           "regional_admin")]


def test_a_revoked_token_is_refused_at_the_directory_at_once_and_at_the_registry_in_bound(
        stack: RunningStack, joined):
    directory, registry = stack.info["directory"]["url"], stack.info["registry"]["url"]
    with as_gateway(registry, joined["token"]) as at_registry:
        assert decide(at_registry, INSTITUTION).status_code == 200  # cached as active
    revoked = enlace(stack, "revoke-credentials", INSTITUTION)
    assert revoked["revoked_token_ids"] == [joined["issued"]["token_id"]]
    revoked_at = time.monotonic()
    with as_gateway(directory, joined["token"]) as at_directory:
        assert at_directory.get("/v1/snapshot").json()["code"] == "invalid_token"
    with as_gateway(registry, joined["token"]) as at_registry:
        wait_until(lambda: decide(at_registry, INSTITUTION).status_code == 401,
                   timeout=REVOCATION_BOUND, interval=0.5)
        assert time.monotonic() - revoked_at <= REVOCATION_BOUND
        assert decide(at_registry, INSTITUTION).json()["code"] == "invalid_token"


def test_the_command_says_what_the_directory_refused(stack: RunningStack, tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "services.cli", "directory",
                             "issue-credentials", "no-such-institution", "--data-dir",
                             str(stack.data_dir)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "institution_not_found" in result.stderr and "Traceback" not in result.stderr
