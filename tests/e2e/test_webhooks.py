"""Webhooks push each new message and state change, HMAC-signed, retried after failures."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.demo_data import SAMPLE_REFERRAL
from tests.conftest import RunningStack
from tests.helpers import wait_until


class Receiver:
    """A case system's webhook endpoint that fails its first call."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.failures_left = 1
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.failures_left > 0:
                    receiver.failures_left -= 1
                    self.send_response(503)
                else:
                    receiver.calls.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/enlace"

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.calls]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def subscribe(stack: RunningStack, country: str, institution: str, url: str) -> dict:
    with stack.gateway(country, institution, role="country_admin") as gateway:
        response = gateway.post("/v1/webhooks", json={"url": url})
    assert response.status_code == 201, response.text
    return response.json()


def test_new_referral_and_state_changes_are_pushed_signed(stack: RunningStack, receiver):
    hn_hook = subscribe(stack, "HN", "hn-senaf", receiver.url)
    with stack.gateway("MX", "mx-sndif") as mx:
        referral_id = mx.post("/v1/referrals", json=SAMPLE_REFERRAL).json()["id"]

    received = wait_until(lambda: next((e for e in receiver.events()
                                        if e["message_id"] == referral_id), None), timeout=60)
    assert received["event_type"] == "received"
    assert received["institution_id"] == "hn-senaf"
    assert receiver.failures_left == 0  # the first call failed and was retried

    with stack.gateway("HN", "hn-senaf") as hn:
        update = hn.post(f"/v1/referrals/{referral_id}/actions", json={"action": "accept"})
    update_id = update.json()["history"][-1]["id"]
    accepted = wait_until(lambda: next((e for e in receiver.events()
                                        if e["message_id"] == update_id), None))
    assert accepted["event_type"] == "accepted"

    for headers, body in receiver.calls:
        stamp, mac = dict(p.split("=", 1) for p in headers["Enlace-Signature"].split(","))\
            .values()
        expected = hmac.new(hn_hook["secret"].encode(), f"{stamp}.".encode() + body,
                            hashlib.sha256).hexdigest()
        assert hmac.compare_digest(mac, expected)
        assert headers["Enlace-Event"] == json.loads(body)["event_type"]
    # Identifiers only: the child's name never leaves the gateway in a webhook.
    assert all(b"Ana" not in body for _, body in receiver.calls)


def test_webhooks_are_managed_by_administrators_only(stack: RunningStack, receiver):
    with stack.gateway("HN", "hn-senaf") as caseworker:
        refused = caseworker.post("/v1/webhooks", json={"url": receiver.url})
    assert refused.status_code == 403
    hook = subscribe(stack, "HN", "hn-senaf", receiver.url)
    with stack.gateway("HN", "hn-senaf", role="country_admin") as admin:
        listed = admin.get("/v1/webhooks").json()["items"]
        assert hook["id"] in [h["id"] for h in listed]
        assert all("secret" not in h for h in listed)
        assert admin.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
        assert hook["id"] not in [h["id"] for h in admin.get("/v1/webhooks").json()["items"]]
        bad = admin.post("/v1/webhooks", json={"url": "ftp://example.org/x"})
    assert bad.status_code == 422
