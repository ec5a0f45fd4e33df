"""Issue 10, point 4: the gateway's directory client tells a refusal from the directory being
down, and `forget_keys` forgets the keys of the institution it names, not the whole view."""

from __future__ import annotations

import time
from contextlib import closing
from typing import Any

import pytest

from services.exchange.clients.directory import DirectoryClient
from services.exchange.clients.regional import RegionalServiceDown, RegionalServiceRefused
from tests.directory.conftest import RunningDirectory


class CountingDirectoryClient(DirectoryClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetches = 0

    def _fetch(self, held: Any, full: bool = False) -> Any:
        self.fetches += 1
        return super()._fetch(held, full)


def counting(directory: RunningDirectory, clock: dict[str, float],
             token: str | None = None) -> closing[CountingDirectoryClient]:
    tokens = {"hn-senaf": token or directory.tokens["gateway:hn-senaf"]}
    return closing(CountingDirectoryClient(
        directory.url, tokens, public_key=directory.public_key, refresh_seconds=3600,
        clock=lambda: clock["now"]))


def test_forget_keys_asks_again_only_about_the_institution_it_names(
        directory: RunningDirectory):
    clock = {"now": time.time()}
    with counting(directory, clock) as gateway:
        gateway.signing_keys("hn-senaf")
        gateway.signing_keys("mx-sndif")
        assert gateway.fetches == 1
        gateway.forget_keys("hn-senaf")
        clock["now"] += 1.5  # past the one-a-second limit
        gateway.signing_keys("mx-sndif")
        gateway.institution("mx-pfpnna")
        assert gateway.fetches == 1  # nothing was said about these
        gateway.signing_keys("hn-senaf")
        assert gateway.fetches == 2
        gateway.signing_keys("hn-senaf")
        assert gateway.fetches == 2  # asked once, then forgotten no more


def test_forget_keys_is_kept_until_a_refresh_is_allowed(directory: RunningDirectory):
    clock = {"now": time.time()}
    with counting(directory, clock) as gateway:
        gateway.signing_keys("hn-senaf")
        gateway.forget_keys("hn-senaf")
        gateway.signing_keys("hn-senaf")  # under a second since the last: not yet
        assert gateway.fetches == 1
        clock["now"] += 1.5
        gateway.signing_keys("hn-senaf")
        assert gateway.fetches == 2


def test_a_key_the_directory_refuses_is_a_refusal_not_the_directory_down(
        directory: RunningDirectory):
    clock = {"now": time.time()}
    with counting(directory, clock) as gateway, \
            pytest.raises(RegionalServiceRefused) as refused:
        gateway.register_signing_key("hn-senaf", {"kty": "OKP", "crv": "Ed25519",
                                                  "x": "not-a-key"})
    assert not isinstance(refused.value, RegionalServiceDown)
    assert 400 <= refused.value.upstream_status < 500


def test_a_snapshot_the_directory_refuses_leaves_the_gateway_without_one(
        directory: RunningDirectory):
    clock = {"now": time.time()}
    with counting(directory, clock, token="enl_not-a-token") as gateway:
        with pytest.raises(RegionalServiceDown, match="no snapshot"):
            gateway.institution("hn-senaf")
        assert gateway.reachable is False
