"""Issue 10, point 1: the one atomic file write (shared/kit/files.py), on real files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from shared.kit import files
from shared.kit.files import write_atomically


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_written_whole_readable_by_its_owner_only(tmp_path: Path):
    path = tmp_path / "made" / "for" / "it" / "secret.txt"
    write_atomically(path, "seed\n")
    assert path.read_text() == "seed\n"
    assert mode_of(path) == 0o600
    assert os.listdir(path.parent) == ["secret.txt"]  # no temporary file left behind


def test_bytes_are_written_as_they_are(tmp_path: Path):
    path = tmp_path / "data.bin"
    write_atomically(path, b"\x00\xff\n")
    assert path.read_bytes() == b"\x00\xff\n"


def test_replacing_a_file_keeps_the_mode_asked_for_not_the_old_one(tmp_path: Path):
    path = tmp_path / "token"
    path.write_text("old, and world-readable")
    path.chmod(0o666)
    write_atomically(path, "new")
    assert path.read_text() == "new"
    assert mode_of(path) == 0o600


def test_the_mode_is_exact_whatever_the_umask(tmp_path: Path):
    path = tmp_path / "stack.json"
    previous = os.umask(0o077)
    try:
        write_atomically(path, "{}", mode=0o644)
    finally:
        os.umask(previous)
    assert mode_of(path) == 0o644


def test_a_failed_write_leaves_the_old_content_and_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "snapshot.jws"
    path.write_text("the old snapshot")

    def refuse(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, "the new snapshot")
    assert path.read_text() == "the old snapshot"
    assert os.listdir(tmp_path) == ["snapshot.jws"]


def test_the_temporary_file_is_beside_the_target_and_never_the_target(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    renamed: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src: Path, dst: Path) -> None:
        renamed.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", spy)
    path = tmp_path / "cache.json"
    write_atomically(path, "{}")
    [(source, target)] = renamed
    assert target == path
    assert source.parent == path.parent and source != path
