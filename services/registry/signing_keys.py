"""The directory's signing keys, kept by the audit ingest from one batch to the next.

A key's record changes in the directory only when it is revoked (its validity is set when
it is registered), and a new key has a new kid. So the keys of an institution are read
again when an event names a kid they lack, and when the directory says one of them changed:
at the first key the batch needs, the registry asks what changed since the directory's
version it last saw. A revocation therefore counts from the next batch on, as it did when
keys were read afresh for every batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from nats.aio.msg import Msg

from services.registry.directory import Directory, DirectoryUnavailable
from shared.kit.logging import get_logger
from shared.protocol.audit_events import KeyRecord

log = get_logger(__name__)
V = TypeVar("V")
R = TypeVar("R", bound=Exception)


def verify_each(messages: list[Msg], verify: Callable[[Msg], V], refused: type[R],
                unverifiable: Callable[[], R], what: str) -> list[tuple[Msg, V | R | None]]:
    """Each message with what its verification gave: the verified thing, its refusal, or
    None while the directory cannot be reached (taken again later). Whatever else fails is
    refused as `unverifiable`: never retried without end."""
    results: list[tuple[Msg, V | R | None]] = []
    for msg in messages:
        try:
            results.append((msg, verify(msg)))
        except refused as refusal:
            results.append((msg, refusal))
        except DirectoryUnavailable:
            results.append((msg, None))
        except Exception:
            log.exception(f"{what}_unverifiable", size=len(msg.data))
            results.append((msg, unverifiable()))
    return results


class SigningKeyCache:
    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self._keys: dict[str, list[KeyRecord]] = {}
        self._version: int | None = None

    def batch(self) -> BatchKeys:
        return BatchKeys(self)

    def catch_up(self) -> None:
        """Forget the keys the directory changed since the version last seen."""
        changes = self.directory.key_changes(self._version)
        if changes.institutions is None:
            self._keys.clear()
        else:
            for institution_id in changes.institutions:
                self._keys.pop(institution_id, None)
        self._version = changes.version

    def cached(self, institution_id: str) -> list[KeyRecord] | None:
        return self._keys.get(institution_id)

    def read(self, institution_id: str) -> list[KeyRecord]:
        records = self.directory.signing_key_records(institution_id)
        self._keys[institution_id] = records
        return records


class BatchKeys:
    """The cache as one batch sees it: caught up with the directory once, and each
    institution read at most once (however many unknown kids its events name)."""

    def __init__(self, cache: SigningKeyCache) -> None:
        self.cache = cache
        self.caught_up = False
        self.read: set[str] = set()

    def of(self, institution_id: str, kid: object) -> list[KeyRecord]:
        if not self.caught_up:
            self.cache.catch_up()
            self.caught_up = True
        records = self.cache.cached(institution_id)
        known = records is not None and any(r.jwk.get("kid") == kid for r in records)
        if records is None or (not known and institution_id not in self.read):
            records = self.cache.read(institution_id)
            self.read.add(institution_id)
        return records
