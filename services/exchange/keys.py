"""The private keys of the institutions a gateway hosts, kept under its data directory."""

from __future__ import annotations

from pathlib import Path

from joserfc.jwk import OKPKey

from shared.protocol.envelope import load_or_create_private_key
from shared.protocol.sealing import CURVE


def signing_key_path(data_dir: Path, institution_id: str) -> Path:
    return data_dir / "keys" / f"{institution_id}.sig.jwk.json"


def encryption_key_path(data_dir: Path, institution_id: str) -> Path:
    return data_dir / "keys" / f"{institution_id}.enc.jwk.json"


def load_signing_keys(data_dir: Path, institution_ids: list[str]) -> dict[str, OKPKey]:
    return {i: load_or_create_private_key(signing_key_path(data_dir, i)) for i in institution_ids}


def load_encryption_keys(data_dir: Path, institution_ids: list[str]) -> dict[str, OKPKey]:
    return {i: load_or_create_private_key(encryption_key_path(data_dir, i), CURVE)
            for i in institution_ids}
