"""The gateway's directory client when a background task keeps it fresh: a request never
waits for the directory while the snapshot held answers it, and an unchanged snapshot is
not written to disk again (services/exchange/clients/directory.py)."""

from __future__ import annotations

import time
from pathlib import Path

from joserfc.jwk import OKPKey

from services.exchange.clients.directory import MIN_REFRESH_INTERVAL
from shared.protocol.sealing import encryption_jwk
from tests.directory.conftest import RunningDirectory
from tests.directory.test_snapshot import client


def test_lookups_answer_from_the_snapshot_and_the_background_refreshes_it(
        directory: RunningDirectory, tmp_path: Path) -> None:
    cache = tmp_path / "directory-snapshot.json"
    server = directory.serve_another()
    clock = {"now": time.time()}
    with client(server.url, directory, cache, refresh_seconds=10,
                clock=lambda: clock["now"]) as gateway:
        gateway.register_encryption_key(
            "hn-senaf", encryption_jwk(OKPKey.generate_key("X25519", private=True)))
        assert gateway.institution("mx-sndif")["country"] == "MX"  # the first look
        written = cache.stat().st_mtime_ns
        gateway.background = True
        looks = []
        fetch = gateway._fetch
        gateway._fetch = lambda *a, **k: looks.append(1) or fetch(*a, **k)  # type: ignore[method-assign]

        clock["now"] = time.time() + MIN_REFRESH_INTERVAL + 1  # the key is valid by now
        assert gateway.encryption_key("hn-senaf") is not None
        assert gateway.institution("hn-senaf")["country"] == "HN"
        assert looks == []  # no request waited for the directory

        gateway.refresh_if_due()  # the background's look
        assert looks == [1]
        assert cache.stat().st_mtime_ns == written  # the same version: not written again
        gateway.refresh_if_due()  # at most once a second
        assert looks == [1]
        clock["now"] += MIN_REFRESH_INTERVAL
        gateway.refresh_if_due()
        assert looks == [1, 1]
    server.stop()

