"""`enlace audit verify` against the real running registry: a clean log verifies, and
changing, deleting or rewriting rows of the registry's database is caught, saying where."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from services.demo_data import SAMPLE_REFERRAL
from tests.conftest import RunningStack
from tests.helpers import wait_until
from tests.registry import rfc9162

pytestmark = pytest.mark.own_stack  # it rewrites rows of the registry's audit log

ENTRY_COLUMNS = ("seq", "leaf_index", "leaf_hash", "source", "event_id", "event_type",
                 "occurred_at", "recorded_at", "institution_id", "counterpart_id", "message_id",
                 "message_type", "case_reference", "agreement_id", "detail", "jws")


def verify(stack: RunningStack, checkpoint: Path, *extra: str) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "audit", "verify", "--data-dir",
         str(stack.data_dir), "--checkpoint", str(checkpoint), *extra],
        capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout + result.stderr


def traffic(stack: RunningStack) -> None:
    """One referral, delivered and fully audited."""
    with stack.gateway("MX", "mx-sndif") as mx:
        referral_id = mx.post("/v1/referrals", json=SAMPLE_REFERRAL).json()["id"]
    with stack.registry("auditor") as registry:
        wait_until(lambda: {"sent", "received", "receipt"} <= {
            e["event_type"] for e in registry.get("/v1/audit/entries", params={
                "message_id": referral_id}).json()["items"]}, timeout=60)


def sql(stack: RunningStack, statement: str, **params: Any) -> list[Any]:
    engine = create_engine(stack.info["registry"]["database_url"])
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result.mappings()) if result.returns_rows else []
    finally:
        engine.dispose()


def entry(stack: RunningStack, leaf_index: int) -> dict[str, Any]:
    [row] = sql(stack, "SELECT * FROM audit_entries WHERE leaf_index = :i", i=leaf_index)
    return dict(row)


def api_entry(stack: RunningStack, leaf_index: int) -> dict[str, Any]:
    with stack.registry("auditor") as registry:
        items = registry.get("/v1/audit/entries", params={"limit": 1000}).json()["items"]
    return next(i for i in items if i["leaf_index"] == leaf_index)


@pytest.fixture(scope="module")
def saved(stack: RunningStack) -> Path:
    """Where an outside auditor keeps the checkpoint of its last run (one per stack)."""
    return stack.data_dir.parent / f"{stack.data_dir.name}-auditor" / "checkpoint.json"


def test_a_clean_log_verifies_and_stays_consistent(stack: RunningStack, saved: Path):
    traffic(stack)
    code, output = verify(stack, saved)
    assert code == 0, output
    assert "signature OK" in output and "reproduce the signed root" in output
    assert saved.exists()
    traffic(stack)
    code, output = verify(stack, saved)
    assert code == 0, output
    assert "consistent with the checkpoint saved earlier" in output


def test_with_only_the_url_and_public_key(stack: RunningStack, tmp_path: Path):
    key = tmp_path / "registry.jwk"
    key.write_text(json.dumps(stack.info["registry"]["public_key"]))
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "audit", "verify", "--data-dir",
         str(tmp_path / "nowhere"), "--registry-url", stack.info["registry"]["url"],
         "--public-key", str(key)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "signature OK" in result.stdout and "not checked" in result.stdout


def test_a_changed_row_is_caught_and_located(stack: RunningStack, saved: Path):
    row = entry(stack, 7)
    sql(stack, "UPDATE audit_entries SET institution_id = 'gt-sbs' WHERE leaf_index = 7")
    try:
        code, output = verify(stack, saved)
    finally:
        sql(stack, "UPDATE audit_entries SET institution_id = :v WHERE leaf_index = 7",
            v=row["institution_id"])
    assert code == 1, output
    assert "FAILED" in output and "leaf index 7 " in output and row["event_id"] in output
    assert verify(stack, saved)[0] == 0


def test_a_row_changed_with_its_hash_is_caught_and_located(stack: RunningStack, saved: Path):
    row = entry(stack, 4)
    forged = {**api_entry(stack, 4), "event_type": "record-read"}
    forged_hash = rfc9162.leaf(rfc9162.canonical_entry(forged))
    sql(stack, "UPDATE audit_entries SET event_type = 'record-read', leaf_hash = :h "
        "WHERE leaf_index = 4", h=forged_hash)
    try:
        code, output = verify(stack, saved)
    finally:
        sql(stack, "UPDATE audit_entries SET event_type = :t, leaf_hash = :h "
            "WHERE leaf_index = 4", t=row["event_type"], h=row["leaf_hash"])
    assert code == 1, output
    assert "leaf index 4 to 5" in output
    assert verify(stack, saved)[0] == 0


def test_a_deleted_row_is_caught_and_located(stack: RunningStack, saved: Path):
    row = entry(stack, 2)
    sql(stack, "DELETE FROM audit_entries WHERE leaf_index = 2")
    try:
        code, output = verify(stack, saved)
    finally:
        columns = ", ".join(ENTRY_COLUMNS)
        values = ", ".join(f":{c}" for c in ENTRY_COLUMNS)
        restored = {**row, "detail": json.dumps(row["detail"])
                    if isinstance(row["detail"], dict) else row["detail"]}
        sql(stack, f"INSERT INTO audit_entries ({columns}) VALUES ({values})", **restored)  # noqa: S608
    assert code == 1, output
    assert "leaf index 2 is missing" in output
    assert verify(stack, saved)[0] == 0


def test_rewritten_history_is_caught(stack: RunningStack, saved: Path):
    """Someone cuts the log back and lets it grow again with other entries: the checkpoint
    saved earlier is no longer a prefix of the log."""
    assert verify(stack, saved)[0] == 0
    [size] = [r["size"] for r in sql(stack, "SELECT size FROM audit_tree")]
    keep = size - 3
    sql(stack, "DELETE FROM audit_entries WHERE leaf_index >= :k", k=keep)
    sql(stack, "DELETE FROM audit_checkpoints WHERE tree_size > :k", k=keep)
    for node in sql(stack, "SELECT node_id FROM audit_nodes"):
        level, index = node["node_id"] & 63, node["node_id"] >> 6
        if (index + 1) << level > keep:
            sql(stack, "DELETE FROM audit_nodes WHERE node_id = :n", n=node["node_id"])
    sql(stack, "UPDATE audit_tree SET size = :k", k=keep)

    code, output = verify(stack, saved)
    assert code == 1, output
    assert "the log shrank" in output
    traffic(stack)  # the log grows past its old size, with other entries
    code, output = verify(stack, saved)
    assert code == 1, output
    assert "history rewritten" in output


def test_an_altered_signature_is_caught_and_named(stack: RunningStack, tmp_path: Path):
    traffic(stack)
    row = entry(stack, 3)
    header, payload, signature = row["jws"].split(".")
    other = ("A" if signature[0] != "A" else "B") + signature[1:]
    sql(stack, "UPDATE audit_entries SET jws = :j WHERE leaf_index = 3",
        j=f"{header}.{payload}.{other}")
    try:
        code, output = verify(stack, tmp_path / "checkpoint.json")
    finally:
        sql(stack, "UPDATE audit_entries SET jws = :j WHERE leaf_index = 3", j=row["jws"])
    assert code == 1, output
    assert "FAILED" in output and "leaf index 3 " in output and row["event_id"] in output
    code, output = verify(stack, tmp_path / "checkpoint.json")
    assert code == 0, output
    assert "signatures: all" in output
