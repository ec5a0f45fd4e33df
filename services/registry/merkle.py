"""RFC 9162 Merkle trees (section 2.1), pure: hashes, proofs as ranges, proof verification.

A tree's nodes are named by the range of leaves [start, end) they cover. Every range the
RFC's recursions use splits at the largest power of two smaller than its size, so it is a
run of full ("perfect") subtrees, each aligned on its own size; the registry stores the
hash of every full subtree and computes any range from O(log n) of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

Range = tuple[int, int]
NodeKey = tuple[int, int]  # (level, index): leaves [index * 2**level, (index + 1) * 2**level)

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def is_tree_range(start: int, end: int) -> bool:
    """Whether [start, end) is a node of some tree: its left parts are aligned full subtrees."""
    size = end - start
    return size >= 1 and start >= 0 and start % (1 << (size - 1).bit_length()) == 0


def full_subtrees(start: int, end: int) -> list[NodeKey]:
    """The full subtrees that make up the range, largest first."""
    keys = []
    while start < end:
        level = (end - start).bit_length() - 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def range_hash(start: int, end: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """MTH of leaves [start, end) from the hashes of its full subtrees (see `full_subtrees`)."""
    if end - start == 0:
        return EMPTY_ROOT
    parts = [nodes[key] for key in full_subtrees(start, end)]
    value = parts[-1]
    for part in reversed(parts[:-1]):
        value = node_hash(part, value)
    return value


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """RFC 9162 2.1.3.1 PATH(index, D[0:size]): the sibling ranges, leaf first."""
    path: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start += k
    return list(reversed(path))


def consistency_ranges(first: int, second: int) -> list[Range]:
    """RFC 9162 2.1.4.1 PROOF(first, D[0:second]) for 0 < first <= second, as ranges."""
    proof: list[Range] = []
    start, end, complete = 0, second, True
    m = first
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append((start + k, end))
            end = start + k
        else:
            proof.append((start, start + k))
            m -= k
            start += k
            complete = False
    if not complete:
        proof.append((start, end))
    return list(reversed(proof))


def needed_nodes(ranges: list[Range]) -> set[NodeKey]:
    return {key for start, end in ranges for key in full_subtrees(start, end)}


class Frontier:
    """The right edge of a growing tree: its full subtrees, largest first. Appending a leaf
    returns the full subtrees it completes, to be stored."""

    def __init__(self, size: int, hashes: list[bytes]) -> None:
        self.stack: list[tuple[int, int, bytes]] = [
            (level, index, h) for (level, index), h in zip(full_subtrees(0, size), hashes,
                                                           strict=True)
        ]
        self.size = size

    def append(self, leaf: bytes) -> list[tuple[NodeKey, bytes]]:
        completed = []
        self.stack.append((0, self.size, leaf))
        self.size += 1
        while len(self.stack) >= 2 and self.stack[-1][0] == self.stack[-2][0]:
            level, _, right = self.stack.pop()
            _, index, left = self.stack.pop()
            node = (level + 1, index >> 1, node_hash(left, right))
            self.stack.append(node)
            completed.append(((node[0], node[1]), node[2]))
        return completed

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        value = self.stack[-1][2]
        for _, _, part in reversed(self.stack[:-1]):
            value = node_hash(part, value)
        return value


# Verification, RFC 9162 2.1.3.2 and 2.1.4.2 ---------------------------------------------


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> bool:
    if first == second:
        return not proof and first_root == second_root
    if first == 0 or first > second or not proof:
        return False
    if first & (first - 1) == 0:  # a power of two: the first root starts the path
        proof = [first_root, *proof]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
