"""The referral state machine: legal paths, refusals, and convergence under crossing events."""

import itertools

import pytest

from services.exchange.referrals.lifecycle import (
    Action,
    Event,
    Side,
    Status,
    allowed,
    first_status,
    machine_status,
    refusal,
    replay,
    side_of,
)

R, S = Side.recipient, Side.sender


def ev(i, action, side, clock):
    return Event(id=f"e{i}", action=action, side=side, clock=clock)


def test_full_path_to_closure():
    events = [ev(1, Action.deliver, R, 1), ev(2, Action.accept, R, 2),
              ev(3, Action.note, S, 3), ev(4, Action.start, R, 4), ev(5, Action.close, R, 5)]
    assert replay(events) == Status.closed
    assert replay(events[:2]) == Status.accepted
    assert replay(events[:4]) == Status.in_progress


def test_rejection_is_final():
    events = [ev(1, Action.deliver, R, 1), ev(2, Action.reject, R, 2), ev(3, Action.accept, R, 3)]
    assert replay(events) == Status.rejected


@pytest.mark.parametrize(("status", "action", "side"), [
    (Status.sent, Action.accept, R),
    (Status.delivered, Action.close, R),
    (Status.closed, Action.withdraw, S),
    (Status.withdrawn, Action.note, S),
    (Status.delivered, Action.accept, S),
    (Status.accepted, Action.withdraw, R),
])
def test_illegal_transitions_are_refused_with_a_reason(status, action, side):
    assert not allowed(status, action, side)
    assert refusal(status, action, side)


def test_order_of_arrival_does_not_matter():
    events = [ev(1, Action.deliver, R, 1), ev(2, Action.accept, R, 2),
              ev(3, Action.start, R, 3), ev(4, Action.note, R, 4)]
    assert {replay(list(p)) for p in itertools.permutations(events)} == {Status.in_progress}


def test_withdrawal_crossing_a_closure_converges_on_both_sides():
    common = [ev(1, Action.deliver, R, 1), ev(2, Action.accept, R, 2)]
    close, withdraw = ev("c", Action.close, R, 3), ev("w", Action.withdraw, S, 3)
    # Each side first sees its own action, later the other's: both end in the same state.
    recipient_view = replay([*common, close, withdraw])
    sender_view = replay([*common, withdraw, close])
    assert recipient_view == sender_view == Status.closed  # same clock: "c" sorts before "w"


def test_events_before_delivery_wait_for_the_receipt():
    accept = ev(2, Action.accept, R, 2)
    assert replay([accept]) == Status.sent
    assert replay([accept, ev(1, Action.deliver, R, 1)]) == Status.accepted


def test_a_referral_starts_queued_on_its_sender_side_and_sent_on_its_recipient_side():
    assert first_status("outbound") == Status.queued
    assert first_status("inbound") == Status.sent
    assert (side_of("outbound"), side_of("inbound")) == (S, R)


def test_a_queued_referral_counts_as_sent_for_the_rules():
    assert machine_status("queued") == Status.sent
    assert allowed(machine_status("queued"), Action.withdraw, S)
    assert machine_status("accepted") == Status.accepted
