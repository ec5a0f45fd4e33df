"""NATS JWTs, .creds files and the permissions of each wire identity (shared/protocol/nats_auth.py).

The real server accepting them is tested in tests/e2e/test_nats_trust.py; here the
encoding, the signatures and the permission lists themselves.
"""

from __future__ import annotations

import base64
import json
import stat
import subprocess
from pathlib import Path

import nkeys
import pytest

from services.cli import main
from services.registry.messaging import AUDIT_CONSUMER
from services.stack import nats_server_binary
from shared.protocol.nats_auth import (
    ACCOUNT_NAME,
    Permissions,
    account_jwt,
    creds_inbox_prefix,
    creds_jwt,
    decode_jwt,
    gateway_credentials,
    gateway_permissions,
    issue_credentials,
    load_or_create_trust,
    new_seed,
    public_key,
    registry_permissions,
    trust_config,
    user_jwt,
    write_server_include,
)


def segments(token: str) -> list[dict]:
    return [json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            for part in token.split(".")[:2]]


@pytest.fixture
def account() -> tuple[str, str]:
    """(signing seed, account public key)."""
    return new_seed(nkeys.PREFIX_BYTE_ACCOUNT), public_key(new_seed(nkeys.PREFIX_BYTE_ACCOUNT))


def test_gateway_creds_hold_a_user_jwt_signed_by_the_account_signing_key(account):
    signing_seed, account_public = account
    creds = gateway_credentials(signing_seed, account_public, "GT")

    token = creds_jwt(creds)
    header, claims = segments(token)
    assert header == {"typ": "JWT", "alg": "ed25519-nkey"}
    assert claims["iss"] == public_key(signing_seed)
    assert claims["name"] == "gateway-GT"
    assert claims["sub"].startswith("U")
    assert claims["nats"]["type"] == "user" and claims["nats"]["version"] == 2
    assert claims["nats"]["issuer_account"] == account_public
    assert decode_jwt(token) == claims

    # The seed in the file is the user's: its public key is the JWT's subject.
    seed = creds.split("-----BEGIN USER NKEY SEED-----\n")[1].split("\n")[0]
    assert seed.startswith("SU") and public_key(seed) == claims["sub"]
    assert "------END NATS USER JWT------" in creds and "------END USER NKEY SEED------" in creds


def test_signature_is_ed25519_over_header_and_claims_by_the_issuer(account):
    signing_seed, account_public = account
    token = creds_jwt(gateway_credentials(signing_seed, account_public, "GT"))
    signed, signature = token.rsplit(".", 1)
    issuer = nkeys.from_seed(signing_seed.encode())
    assert issuer.verify(signed.encode(), base64.urlsafe_b64decode(signature + "=="))


def test_a_changed_claim_or_another_issuer_does_not_decode(account):
    signing_seed, account_public = account
    token = creds_jwt(gateway_credentials(signing_seed, account_public, "GT"))
    header, _claims, signature = token.split(".")
    widened = segments(token)[1]
    widened["nats"]["pub"]["allow"].append(">")
    forged_claims = base64.urlsafe_b64encode(json.dumps(widened).encode()).rstrip(b"=").decode()
    with pytest.raises(ValueError):
        decode_jwt(f"{header}.{forged_claims}.{signature}")

    other = segments(token)[1]
    other["iss"] = public_key(new_seed(nkeys.PREFIX_BYTE_ACCOUNT))
    other_claims = base64.urlsafe_b64encode(json.dumps(other).encode()).rstrip(b"=").decode()
    with pytest.raises(ValueError):
        decode_jwt(f"{header}.{other_claims}.{signature}")


def test_gateway_permissions_are_its_own_consumer_and_other_countries_only(account):
    signing_seed, account_public = account
    claims = decode_jwt(creds_jwt(gateway_credentials(signing_seed, account_public, "MX")))
    assert claims["nats"]["pub"] == {
        "allow": [
            "enlace.msg.>",
            "enlace.audit.MX",
            "enlace.stats.MX",
            "$JS.API.CONSUMER.INFO.ENLACE_MESSAGES.gateway-MX",
            "$JS.API.CONSUMER.CREATE.ENLACE_MESSAGES.gateway-MX.enlace.msg.MX.>",
            "$JS.API.CONSUMER.MSG.NEXT.ENLACE_MESSAGES.gateway-MX",
            # The same calls through a leaf node, in the hub's JetStream domain.
            "$JS.hub.API.CONSUMER.INFO.ENLACE_MESSAGES.gateway-MX",
            "$JS.hub.API.CONSUMER.CREATE.ENLACE_MESSAGES.gateway-MX.enlace.msg.MX.>",
            "$JS.hub.API.CONSUMER.MSG.NEXT.ENLACE_MESSAGES.gateway-MX",
            "$JS.ACK.ENLACE_MESSAGES.gateway-MX.>",
        ],
        "deny": ["enlace.msg.MX.>", "enlace.msg.MX"],
    }
    # Its own replies, and the registry's policy change notices: nothing else.
    assert claims["nats"]["sub"] == {"allow": ["_INBOX_gateway-MX.>", "enlace.policy.changed"]}
    everything = " ".join(claims["nats"]["pub"]["allow"])
    for forbidden in ("STREAM.", "DIRECT.", "DELETE", "PURGE", "enlace.audit.>", "gateway-HN",
                      "enlace.stats.>", "ENLACE_STATISTICS"):
        assert forbidden not in everything


def test_a_gateway_publishes_its_own_statistics_subject_only_and_reads_none(account):
    signing_seed, account_public = account
    for country in ("MX", "HN"):
        nats = decode_jwt(creds_jwt(gateway_credentials(signing_seed, account_public,
                                                        country)))["nats"]
        stats = [p for p in nats["pub"]["allow"] if p.startswith("enlace.stats")]
        assert stats == [f"enlace.stats.{country}"]
        assert not any("stats" in s or "STATISTICS" in s for s in nats["sub"]["allow"])


@pytest.mark.parametrize("country", ["mx", "M", "MEX", "*", ">", "M.", "M*", ""])
def test_a_country_that_is_not_two_capital_letters_is_refused(country: str):
    with pytest.raises(ValueError):
        gateway_permissions(country)


def test_registry_reaches_the_streams_and_its_own_audit_consumer_only():
    permissions = registry_permissions()
    assert isinstance(permissions, Permissions)
    # Of the enlace subjects, only the policy change notice (no stream takes it).
    assert [p for p in permissions.publish if p.startswith("enlace.")] == [
        "enlace.policy.changed"]
    assert "$JS.API.CONSUMER.INFO.ENLACE_AUDIT.registry-audit" in permissions.publish
    assert not any("DELETE" in p or "PURGE" in p or "MSG.GET" in p or "ENLACE_MESSAGES.gateway"
                   in p for p in permissions.publish)
    assert permissions.subscribe == ["_INBOX_registry.>"]
    # The statistics stream: created and read by the registry, through its own consumer only.
    statistics = [p for p in permissions.publish if "ENLACE_STATISTICS" in p]
    assert statistics == [
        "$JS.API.STREAM.INFO.ENLACE_STATISTICS", "$JS.API.STREAM.CREATE.ENLACE_STATISTICS",
        "$JS.API.STREAM.UPDATE.ENLACE_STATISTICS",
        "$JS.API.CONSUMER.INFO.ENLACE_STATISTICS.registry-statistics",
        "$JS.API.CONSUMER.CREATE.ENLACE_STATISTICS.registry-statistics",
        "$JS.API.CONSUMER.CREATE.ENLACE_STATISTICS.registry-statistics.>",
        "$JS.API.CONSUMER.MSG.NEXT.ENLACE_STATISTICS.registry-statistics",
        "$JS.ACK.ENLACE_STATISTICS.registry-statistics.>"]
    # The consumer the registry binds is the one its permissions name.
    assert f"$JS.API.CONSUMER.MSG.NEXT.ENLACE_AUDIT.{AUDIT_CONSUMER}" in permissions.publish


def test_account_jwt_enables_jetstream_and_lists_the_signing_key():
    operator = new_seed(nkeys.PREFIX_BYTE_OPERATOR)
    account = public_key(new_seed(nkeys.PREFIX_BYTE_ACCOUNT))
    signing = public_key(new_seed(nkeys.PREFIX_BYTE_ACCOUNT))
    claims = decode_jwt(account_jwt(operator, account, ACCOUNT_NAME, [signing], jetstream=True))
    assert claims["iss"] == public_key(operator) and claims["sub"] == account
    assert claims["nats"]["type"] == "account"
    assert claims["nats"]["signing_keys"] == [signing]
    limits = claims["nats"]["limits"]
    assert all(limits[k] == -1 for k in ("mem_storage", "disk_storage", "streams", "consumer"))


def test_admin_user_has_no_restrictions(account):
    signing_seed, account_public = account
    seed = new_seed(nkeys.PREFIX_BYTE_USER)
    claims = decode_jwt(user_jwt(signing_seed, account_public, public_key(seed), "admin", None))
    assert "pub" not in claims["nats"] and "sub" not in claims["nats"]


def test_trust_directory_is_private_reused_and_valid_for_the_real_server(tmp_path: Path):
    folder = tmp_path / "trust"
    trust = load_or_create_trust(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "account-signing.nk").stat().st_mode) == 0o600
    assert load_or_create_trust(folder) == trust

    creds = trust.ensure_creds("gateway-HN")
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert creds_inbox_prefix(creds) == "_INBOX_gateway-HN"
    assert trust.ensure_creds("gateway-HN").read_text() == creds.read_text()

    # Only the signing key is needed to issue; the server holds no seed at all.
    config = trust_config(trust)
    assert "resolver: MEMORY" in config and "no_auth_user" not in config
    assert trust.operator_seed not in config and trust.account_signing_seed not in config
    issued = decode_jwt(creds_jwt(issue_credentials(folder, "gateway-GT")))
    assert issued["nats"]["issuer_account"] == trust.account_public_key

    include = write_server_include(trust)
    server = tmp_path / "server.conf"
    server.write_text(f'include "{include.relative_to(tmp_path)}"\n'
                      f'jetstream {{ store_dir: "{tmp_path / "js"}" }}\n')
    checked = subprocess.run([nats_server_binary(), "-c", str(server), "-t"],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


def test_a_partial_trust_directory_is_not_completed_with_new_keys(tmp_path: Path):
    load_or_create_trust(tmp_path / "trust")
    (tmp_path / "trust" / "operator.nk").unlink()
    with pytest.raises(FileNotFoundError):
        load_or_create_trust(tmp_path / "trust")
    assert not (tmp_path / "trust" / "operator.nk").exists()


def test_operator_commands_write_private_creds_and_refuse_bad_input(tmp_path: Path, capsys):
    folder = tmp_path / "trust"
    assert main(["nats", "init", "--dir", str(folder)]) == 0
    assert "ENLACE_NATS_ACCOUNT_SIGNING_KEY_FILE=" in capsys.readouterr().out
    out = tmp_path / "etc" / "gateway-GT.creds"
    out.parent.mkdir(mode=0o755)
    assert main(["nats", "credentials", "--dir", str(folder), "--country", "GT",
                 "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o755  # an existing folder is left alone
    assert decode_jwt(creds_jwt(out.read_text()))["name"] == "gateway-GT"

    assert main(["nats", "credentials", "--dir", str(folder), "--country", "G>"]) == 2
    assert main(["nats", "credentials", "--dir", str(tmp_path / "none"), "--admin"]) == 2
    (folder / "operator.nk").unlink()  # kept offline: init must not make a new operator
    assert main(["nats", "init", "--dir", str(folder)]) == 2
    assert main(["nats", "credentials", "--dir", str(folder), "--regional"]) == 0


def test_deploy_nats_configs_are_valid_with_a_generated_trust_include(tmp_path: Path):
    deploy = Path(__file__).resolve().parents[2] / "deploy" / "nats"
    configs = sorted([*deploy.glob("*.conf"), *deploy.glob("cluster/*.conf")])
    assert {c.name for c in configs} >= {"single-node.conf", "node-a.conf", "leaf-MX.conf"}
    (tmp_path / "nats-auth.conf").write_text(trust_config(load_or_create_trust(
        tmp_path / "trust")))
    for config in configs:
        copy = tmp_path / config.name
        copy.write_text(config.read_text())
        checked = subprocess.run([nats_server_binary(), "-c", str(copy), "-t"],
                                 capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, (config.name, checked.stderr)
