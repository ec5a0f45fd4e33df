"""`enlace audit verify`: check the registry's audit log from outside, over its public API.

Trusts only the registry's public key. It checks the signature of the latest checkpoint,
that a checkpoint saved earlier is consistent with it (RFC 9162 consistency proof: no
history rewritten), and, with an auditor's token, that the entries reproduce its root.
When they do not, it walks down the tree from the signed root to say which entry differs.
With the directory, it checks each entry's signature: who asserted what.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from services.registry import merkle
from services.registry.audit_log import canonical_entry
from services.stack import StackError, load_stack
from shared.kit.files import write_atomically
from shared.kit.pagination import every
from shared.kit.signed import DocumentRejected, SignatureInvalid, verify_document
from shared.protocol.audit_events import AuditRejected, KeyRecord, verify_signature
from shared.protocol.documents import AUDIT_CHECKPOINT

PAGE = 1000


class VerificationFailed(Exception):
    """The log is not what the registry signed; the message says where."""


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: bytes
    issued_at: str
    jws: str


def read_checkpoint(jws: str, public_key: dict[str, Any]) -> Checkpoint:
    try:
        payload = verify_document(jws, public_key, AUDIT_CHECKPOINT, time.time())
    except SignatureInvalid as exc:
        raise VerificationFailed(f"the checkpoint's signature does not verify with the "
                                 f"registry's public key ({exc.code})") from exc
    except DocumentRejected as exc:
        raise VerificationFailed("the signed document is not an audit checkpoint") from exc
    return Checkpoint(int(payload["tree_size"]), bytes.fromhex(payload["root_hash"]),
                      str(payload["issued_at"]), jws)


class KeySource(Protocol):
    def of(self, institution_id: str) -> list[KeyRecord]: ...

    def country_of(self, institution_id: str) -> str | None: ...


class DirectoryKeys:
    """Institutions' signing keys from the directory: with a token, every key the institution
    has had, with validity and revocation; without, the public JWKS (keys valid now)."""

    def __init__(self, url: str, token: str | None = None,
                 client: httpx.Client | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = client or httpx.Client(base_url=url, timeout=30, headers=headers)
        self.with_history = bool(token)
        self._cache: dict[str, list[KeyRecord]] = {}

    def of(self, institution_id: str) -> list[KeyRecord]:
        if institution_id not in self._cache:
            self._cache[institution_id] = self._fetch(institution_id)
        return self._cache[institution_id]

    def _fetch(self, institution_id: str) -> list[KeyRecord]:
        path = quote(institution_id, safe="")
        if self.with_history:
            keys = self._every(f"/v1/institutions/{path}/keys?limit=500")
            if keys is not None:
                return [KeyRecord.model_validate(k) for k in keys if k.get("use") == "sig"]
        response = self.http.get(f"/v1/institutions/{path}/jwks")
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise VerificationFailed(f"the directory answered {response.status_code} for the "
                                     f"keys of {institution_id}")
        return [KeyRecord(jwk=k, valid_from=datetime.min.replace(tzinfo=UTC))
                for k in response.json()["keys"] if k.get("use") == "sig"]

    def _every(self, first: str) -> list[dict[str, Any]] | None:
        """Every item of a list, following `next`; None if its first page is refused."""
        items: list[dict[str, Any]] = []
        link: str | None = first
        while link is not None:
            response = self.http.get(link)
            if response.status_code != 200 and link == first:
                return None
            if response.status_code != 200:
                raise VerificationFailed(f"the directory answered {response.status_code} "
                                         "for a page of keys")
            page = response.json()
            items += page["items"]
            link = page["next"]
        return items

    def country_of(self, institution_id: str) -> str | None:
        """The institution's country (None without a token: the directory says it to users)."""
        if not self.with_history:
            return None
        response = self.http.get(f"/v1/institutions/{quote(institution_id, safe='')}")
        return str(response.json()["country"]) if response.status_code == 200 else ""


class AuditSource(Protocol):
    """What the checks read: the registry's audit API (`RegistryLog`, over HTTP), or the same
    answers in-process (the registry's console, services/registry/console/checkpoint.py)."""

    def get(self, path: str, **params: Any) -> Any: ...

    def entries(self) -> Iterator[dict[str, Any]]: ...


class RegistryLog:
    """The registry's audit API, read over HTTP."""

    def __init__(self, url: str, token: str | None = None,
                 client: httpx.Client | None = None) -> None:
        self.http = client or httpx.Client(base_url=url, timeout=30)
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        if response.status_code != 200:
            raise VerificationFailed(f"the registry answered {response.status_code} to "
                                     f"{path}: {response.text[:300]}")
        return response.json()

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry in log order, page after page (following `next`)."""
        yield from every(lambda link: dict(self.get(link)), f"/v1/audit/entries?limit={PAGE}")


def check_consistency(log: AuditSource, saved: Checkpoint, latest: Checkpoint) -> None:
    if saved.tree_size > latest.tree_size:
        raise VerificationFailed(
            f"the log shrank: a checkpoint saved earlier ({saved.issued_at}) has "
            f"{saved.tree_size} entries, the latest has {latest.tree_size}")
    if saved.tree_size == latest.tree_size:
        if saved.root_hash != latest.root_hash:
            raise VerificationFailed(f"history rewritten: two signed checkpoints of "
                                     f"{saved.tree_size} entries have different roots")
        return
    if saved.tree_size == 0:
        return
    proof = log.get("/v1/audit/proofs/consistency", first=saved.tree_size,
                    second=latest.tree_size)["consistency_path"]
    if not merkle.verify_consistency(saved.tree_size, latest.tree_size, saved.root_hash,
                                     latest.root_hash, [bytes.fromhex(h) for h in proof]):
        raise VerificationFailed(
            f"history rewritten: the latest checkpoint ({latest.tree_size} entries) does not "
            f"extend the one saved earlier ({saved.tree_size} entries, {saved.issued_at})")


def _describe(item: dict[str, Any]) -> str:
    return f"leaf index {item['leaf_index']} (seq {item['seq']}, event {item['event_id']})"


def check_entries(log: AuditSource, checkpoint: Checkpoint) -> list[dict[str, Any]]:
    """Recompute every leaf from its entry and the root from the leaves; return the entries
    in leaf order."""
    size = checkpoint.tree_size
    items = [i for i in log.entries() if i["leaf_index"] < size]
    by_index = {i["leaf_index"]: i for i in items}
    missing = [index for index in range(size) if index not in by_index]
    if missing:
        raise VerificationFailed(
            f"entry at leaf index {missing[0]} is missing (deleted?); the checkpoint covers "
            f"{size} entries, the registry lists {len(by_index)}")
    ordered = [by_index[index] for index in range(size)]
    leaves = [merkle.leaf_hash(canonical_entry(_as_stored(i))) for i in ordered]
    for item, leaf in zip(ordered, leaves, strict=True):
        if leaf.hex() != item["leaf_hash"]:
            raise VerificationFailed(f"{_describe(item)} was changed: its content does not "
                                     f"hash to the leaf hash recorded when it was appended")
    if _range_root(leaves) != checkpoint.root_hash:
        index = locate(log, checkpoint, lambda start, end: _range_root(leaves[start:end]))
        raise VerificationFailed(f"{_describe(ordered[index])} differs from the entry the "
                                 f"signed checkpoint commits to (changed with its hash?)")
    return ordered


SIGNED_FIELDS = ("event_id", "event_type", "institution_id", "counterpart_id", "message_id",
                 "message_type", "case_reference", "agreement_id", "detail")


def check_signatures(items: list[dict[str, Any]], registry_key: dict[str, Any],
                     keys: KeySource) -> tuple[int, int]:
    """Each entry's JWS verifies with its asserter's key (the registry's for its own entries,
    else the institution's, valid at occurred_at and not revoked when recorded) and says
    what the entry says. Returns (signed, unsigned from before events were signed)."""
    signed = unsigned = 0
    for item in items:
        if item.get("jws") is None:
            unsigned += 1
            continue
        stored = _as_stored(item)
        if item["source"] == "registry":
            records = [KeyRecord(jwk=registry_key, valid_from=datetime.min.replace(tzinfo=UTC))]
        else:
            records = keys.of(item["institution_id"])
            country = keys.country_of(item["institution_id"])
            if country is not None and item["source"] != f"gateway:{country}":
                raise VerificationFailed(f"{_describe(item)} came from {item['source']}, but "
                                         f"{item['institution_id']} is not of that country")
        try:
            payload = verify_signature(item["jws"], records, stored["occurred_at"],
                                       now=stored["recorded_at"])
        except AuditRejected as exc:
            raise VerificationFailed(f"{_describe(item)}: its signature does not verify with "
                                     f"the keys of {item['institution_id']} ({exc.code})") from exc
        occurred = datetime.fromisoformat(str(payload.get("occurred_at")).replace("Z", "+00:00"))
        if occurred != stored["occurred_at"] or any(
                payload.get(name) != item[name] for name in SIGNED_FIELDS):
            raise VerificationFailed(f"{_describe(item)} says something other than the event "
                                     f"its signature covers")
        signed += 1
    return signed, unsigned


def _as_stored(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, **{name: datetime.fromisoformat(item[name].replace("Z", "+00:00"))
                       for name in ("occurred_at", "recorded_at")}}


def _range_root(leaves: list[bytes]) -> bytes:
    frontier = merkle.Frontier(0, [])
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def locate(log: AuditSource, checkpoint: Checkpoint, local: Callable[[int, int], bytes]) -> int:
    """Walk down from the signed root: each step trusts a node's children only if they hash
    to it, and follows the child that differs from the entries. Returns the leaf index."""
    start, end, trusted = 0, checkpoint.tree_size, checkpoint.root_hash
    while True:
        node = log.get("/v1/audit/tree", start=start, end=end)
        if bytes.fromhex(node["hash"]) != trusted or (end - start > 1 and merkle.node_hash(
                bytes.fromhex(node["left_hash"]), bytes.fromhex(node["right_hash"])) != trusted):
            raise VerificationFailed(
                f"an entry at leaf index {start} to {end - 1} was changed, its recorded hash "
                f"too: the registry's stored tree there no longer matches the signed checkpoint")
        if end - start == 1:
            return start
        middle = start + merkle.split_point(end - start)
        left = bytes.fromhex(node["left_hash"])
        if local(start, middle) != left:
            start, end, trusted = start, middle, left
        else:
            start, end, trusted = middle, end, bytes.fromhex(node["right_hash"])


def verify_log(url: str, public_key: dict[str, Any], checkpoint_file: Path | None,
               token: str | None, say: Callable[[str], None] = print,
               keys: KeySource | None = None, client: httpx.Client | None = None) -> None:
    """Raises VerificationFailed (or httpx.HTTPError when the registry is unreachable)."""
    log = RegistryLog(url, token, client)
    latest = read_checkpoint(log.get("/v1/audit/checkpoint")["jws"], public_key)
    say(f"checkpoint: {latest.tree_size} entries, root {latest.root_hash.hex()}, "
        f"issued {latest.issued_at}: signature OK")
    if checkpoint_file is not None and checkpoint_file.exists():
        saved = read_checkpoint(json.loads(checkpoint_file.read_text())["jws"], public_key)
        check_consistency(log, saved, latest)
        say(f"consistent with the checkpoint saved earlier ({saved.tree_size} entries, "
            f"{saved.issued_at}): no history rewritten")
    if token:
        items = check_entries(log, latest)
        say(f"entries: all {latest.tree_size} reproduce the signed root")
        if keys is None:
            say("signatures: not checked (give --directory-url)")
        else:
            signed, unsigned = check_signatures(items, public_key, keys)
            say(f"signatures: all {signed} signed entries verify with their asserter's key"
                + (f" ({unsigned} made before events were signed)" if unsigned else ""))
    else:
        say("entries: not checked (give an auditor's token with --token)")
    if checkpoint_file is not None:
        write_atomically(checkpoint_file, json.dumps({"jws": latest.jws}) + "\n", mode=0o644)
        say(f"saved this checkpoint to {checkpoint_file} for the next run")


def run_verify(args: Any) -> int:
    """The command line: 0 verified, 1 verification failed, 2 could not check."""
    url, key, token = args.registry_url, args.public_key, args.token
    token = token or os.environ.get("ENLACE_AUDIT_TOKEN")
    directory_url = args.directory_url
    directory_token = args.directory_token or os.environ.get("ENLACE_DIRECTORY_TOKEN")
    if not (url and key):
        try:
            stack = load_stack(args.data_dir)
        except StackError as exc:
            print(f"enlace audit verify: {str(exc).rstrip('.')}, or give --registry-url and "
                  "--public-key.", file=sys.stderr)
            return 2
        url = url or stack["registry"]["url"]
        key = key or json.dumps(stack["registry"]["public_key"])
        token = token or stack["registry"]["tokens"]["auditor"]
        if not directory_url:
            directory_url = stack["directory"]["url"]
            directory_token = directory_token or stack["directory"]["tokens"]["regional_admin"]
    public_key = json.loads(key if key.lstrip().startswith("{") else Path(key).read_text())
    try:
        keys = DirectoryKeys(directory_url, directory_token) if directory_url else None
        verify_log(url, public_key, args.checkpoint, token, keys=keys)
    except VerificationFailed as exc:
        print(f"FAILED: {exc}")
        return 1
    except httpx.HTTPError as exc:
        print(f"enlace audit verify: the registry cannot be reached ({exc})", file=sys.stderr)
        return 2
    print("OK: the audit log verifies")
    return 0
