"""A referral's life across both gateways: every step signed, audited, and seen alike."""

from __future__ import annotations

import os
import signal

import pytest

from services.demo_data import SAMPLE_REFERRAL
from tests.conftest import RunningStack
from tests.helpers import wait_until

pytestmark = pytest.mark.own_stack  # it pauses the nats-server


def new_delivered_referral(stack: RunningStack) -> str:
    with stack.gateway("MX", "mx-sndif") as mx:
        referral_id = mx.post("/v1/referrals", json=SAMPLE_REFERRAL).json()["id"]
        wait_until(lambda: mx.get(f"/v1/referrals/{referral_id}").json()["status"]
                   == "delivered")
    return referral_id


def act(stack: RunningStack, country: str, institution: str, referral_id: str, **body):
    with stack.gateway(country, institution) as gateway:
        return gateway.post(f"/v1/referrals/{referral_id}/actions", json=body)


def views(stack: RunningStack, referral_id: str) -> dict[str, dict]:
    with stack.gateway("MX", "mx-sndif") as mx, stack.gateway("HN", "hn-senaf") as hn:
        return {"MX": mx.get(f"/v1/referrals/{referral_id}").json(),
                "HN": hn.get(f"/v1/referrals/{referral_id}").json()}


def both_show(stack: RunningStack, referral_id: str, status: str, steps: int) -> dict:
    def same() -> dict | None:
        seen = views(stack, referral_id)
        histories = [[h["id"] for h in v["history"]] for v in seen.values()]
        if all(v["status"] == status for v in seen.values()) and \
                histories[0] == histories[1] and len(histories[0]) == steps:
            return seen
        return None
    return wait_until(same)


def test_from_delivery_to_closure_both_sides_agree(stack: RunningStack):
    referral_id = new_delivered_referral(stack)
    assert act(stack, "HN", "hn-senaf", referral_id, action="accept").status_code == 200
    both_show(stack, referral_id, "accepted", 2)
    act(stack, "MX", "mx-sndif", referral_id, action="note",
        note="The grandmother confirmed by phone.")
    both_show(stack, referral_id, "accepted", 3)  # HN has read the note before it starts
    act(stack, "HN", "hn-senaf", referral_id, action="start")
    act(stack, "HN", "hn-senaf", referral_id, action="note", note="Received at CAMR Belén.")
    closed = act(stack, "HN", "hn-senaf", referral_id, action="close",
                 outcome="Reunited with grandmother; follow-up by municipal office.")
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"

    seen = both_show(stack, referral_id, "closed", 6)
    history = seen["MX"]["history"]
    assert [h["action"] for h in history] == ["deliver", "accept", "note", "start", "note",
                                              "close"]
    assert [h["side"] for h in history] == ["recipient", "recipient", "sender", "recipient",
                                            "recipient", "recipient"]
    assert history[2]["note"] == "The grandmother confirmed by phone."
    assert history[-1]["outcome"].startswith("Reunited")
    assert seen["HN"]["history"] == history


def test_illegal_transitions_are_refused_with_409(stack: RunningStack):
    referral_id = new_delivered_referral(stack)
    early_close = act(stack, "HN", "hn-senaf", referral_id, action="close", outcome="x")
    assert early_close.status_code == 409
    assert early_close.json()["code"] == "illegal_transition"
    assert early_close.json()["status_now"] == "delivered"
    sender_accepts = act(stack, "MX", "mx-sndif", referral_id, action="accept")
    assert sender_accepts.status_code == 409
    assert sender_accepts.json()["detail"] == "Only the recipient of a referral can accept it."

    no_reason = act(stack, "HN", "hn-senaf", referral_id, action="reject")
    assert no_reason.status_code == 422
    assert no_reason.json()["code"] == "reason_required"

    assert act(stack, "HN", "hn-senaf", referral_id, action="reject",
               reason="The child is not of Honduran nationality.").status_code == 200
    both_show(stack, referral_id, "rejected", 2)
    after = act(stack, "MX", "mx-sndif", referral_id, action="note", note="too late")
    assert after.status_code == 409
    assert views(stack, referral_id)["MX"]["history"][-1]["reason"].startswith("The child")


def test_sender_withdraws_and_both_sides_show_it(stack: RunningStack):
    referral_id = new_delivered_referral(stack)
    act(stack, "HN", "hn-senaf", referral_id, action="accept")
    both_show(stack, referral_id, "accepted", 2)
    withdrawn = act(stack, "MX", "mx-sndif", referral_id, action="withdraw",
                    reason="The child was granted asylum in Mexico.")
    assert withdrawn.json()["status"] == "withdrawn"
    both_show(stack, referral_id, "withdrawn", 3)
    assert act(stack, "HN", "hn-senaf", referral_id, action="start").status_code == 409


def test_each_step_is_audited_on_both_sides(stack: RunningStack):
    referral_id = new_delivered_referral(stack)
    accepted = act(stack, "HN", "hn-senaf", referral_id, action="accept").json()
    update_id = accepted["history"][-1]["id"]

    def accepted_entries():
        with stack.registry("auditor") as registry:
            items = registry.get("/v1/audit/entries",
                                 params={"message_id": update_id}).json()["items"]
        return len(items) == 2 and items

    entries = wait_until(accepted_entries)
    assert {e["event_type"] for e in entries} == {"accepted"}
    assert {e["institution_id"] for e in entries} == {"hn-senaf", "mx-sndif"}


def test_inbox_and_outbox_filter_by_status(stack: RunningStack):
    referral_id = new_delivered_referral(stack)
    act(stack, "HN", "hn-senaf", referral_id, action="accept")
    both_show(stack, referral_id, "accepted", 2)
    with stack.gateway("HN", "hn-senaf") as hn:
        inbox = hn.get("/v1/referrals", params={"direction": "inbound",
                                                "status": "accepted"}).json()["items"]
    with stack.gateway("MX", "mx-sndif") as mx:
        outbox = mx.get("/v1/referrals", params={"direction": "outbound",
                                                 "status": "accepted"}).json()["items"]
        delivered = mx.get("/v1/referrals", params={"direction": "outbound",
                                                    "status": "delivered"}).json()["items"]
    assert referral_id in [r["id"] for r in inbox]
    assert referral_id in [r["id"] for r in outbox]
    assert referral_id not in [r["id"] for r in delivered]


def test_a_withdrawal_crossing_a_closure_ends_the_same_on_both_sides(stack: RunningStack):
    referral_id = new_delivered_referral(stack)
    act(stack, "HN", "hn-senaf", referral_id, action="accept")
    both_show(stack, referral_id, "accepted", 2)
    # NATS paused: both act before hearing of the other, each gateway accepts its own side's
    # action; then the two messages cross.
    nats_pid = stack.info["pids"]["nats"]
    os.kill(nats_pid, signal.SIGSTOP)
    try:
        closing = act(stack, "HN", "hn-senaf", referral_id, action="close",
                      outcome="Reunited.")
        withdrawing = act(stack, "MX", "mx-sndif", referral_id, action="withdraw",
                          reason="Asylum granted in Mexico.")
    finally:
        os.kill(nats_pid, signal.SIGCONT)
    assert closing.status_code == withdrawing.status_code == 200
    assert (closing.json()["status"], withdrawing.json()["status"]) == ("closed", "withdrawn")

    def settled() -> dict | None:
        seen = views(stack, referral_id)
        if [len(v["history"]) for v in seen.values()] == [4, 4] and \
                seen["MX"]["status"] == seen["HN"]["status"]:
            return seen
        return None

    seen = wait_until(settled, timeout=60)
    assert seen["MX"]["history"] == seen["HN"]["history"]
    assert seen["MX"]["status"] in ("closed", "withdrawn")
