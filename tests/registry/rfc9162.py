"""An RFC 9162 (section 2.1) verifier written for the tests, independent of the registry's code.

It follows the recursive definitions of the RFC (MTH, PATH, SUBPROOF) and rebuilds the
roots a proof implies, instead of the iterative algorithms the registry's own code uses.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaf_hashes: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    if not leaf_hashes:
        return sha256(b"")
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = split(len(leaf_hashes))
    return node(mth(leaf_hashes[:k]), mth(leaf_hashes[k:]))


def root_from_inclusion(index: int, size: int, leaf_hash: bytes, path: list[bytes]) -> bytes:
    """The root that PATH(index, D[size]) = path implies for this leaf."""
    if size == 1:
        if path:
            raise ValueError("path too long")
        return leaf_hash
    if not path:
        raise ValueError("path too short")
    k = split(size)
    *inner, sibling = path
    if index < k:
        return node(root_from_inclusion(index, k, leaf_hash, inner), sibling)
    return node(sibling, root_from_inclusion(index - k, size - k, leaf_hash, inner))


def verify_inclusion(index: int, size: int, leaf_hash: bytes, path: list[bytes],
                     root: bytes) -> bool:
    try:
        return 0 <= index < size and root_from_inclusion(index, size, leaf_hash, path) == root
    except ValueError:
        return False


def _subproof_roots(m: int, n: int, proof: list[bytes], complete: bool, first_root: bytes
                    ) -> tuple[bytes, bytes, list[bytes]]:
    """(hash of D[0:m], hash of D[0:n], proof left over) along SUBPROOF(m, D[n], complete)."""
    if m == n:
        if complete:
            return first_root, first_root, proof
        if not proof:
            raise ValueError("proof too short")
        return proof[-1], proof[-1], proof[:-1]
    if not proof:
        raise ValueError("proof too short")
    k = split(n)
    *rest, sibling = proof
    if m <= k:
        old, new, left = _subproof_roots(m, k, rest, complete, first_root)
        return old, node(new, sibling), left
    old, new, left = _subproof_roots(m - k, n - k, rest, False, first_root)
    return node(sibling, old), node(sibling, new), left


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: list[bytes]) -> bool:
    if not 0 < first <= second:
        return False
    try:
        old, new, left = _subproof_roots(first, second, proof, True, first_root)
    except ValueError:
        return False
    return not left and old == first_root and new == second_root


def canonical_entry(item: dict[str, Any]) -> bytes:
    """An entry as the API returns it, in the canonical bytes docs/registry.md defines."""
    fields = ("event_id", "event_type", "occurred_at", "recorded_at", "source",
              "institution_id", "counterpart_id", "message_id", "message_type",
              "case_reference", "agreement_id", "detail")
    document: dict[str, Any] = {"v": "1", **{name: item[name] for name in fields}}
    if item.get("jws") is not None:  # version 2 commits to the signed event too
        document.update(v="2", jws=item["jws"])
    for name in ("occurred_at", "recorded_at"):
        moment = datetime.fromisoformat(document[name].replace("Z", "+00:00")).astimezone(UTC)
        document[name] = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()
