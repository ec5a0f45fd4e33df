"""The referral state machine, shared by both gateways of a referral.

Each side keeps every event of a referral (its own and the other side's) and derives the
state by replaying them in one order both sides agree on: a Lamport clock carried by each
event, then the event id. Events the state does not allow at their turn are skipped. Two
gateways holding the same events therefore show the same state, whatever order the events
arrived in (for example a withdrawal crossing an acceptance in flight).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    queued = "queued"
    sent = "sent"
    delivered = "delivered"
    accepted = "accepted"
    rejected = "rejected"
    in_progress = "in_progress"
    closed = "closed"
    withdrawn = "withdrawn"
    undeliverable = "undeliverable"


class Action(StrEnum):
    deliver = "deliver"
    accept = "accept"
    reject = "reject"
    start = "start"
    close = "close"
    withdraw = "withdraw"
    note = "note"
    refuse = "refuse"


class Side(StrEnum):
    sender = "sender"
    recipient = "recipient"


OPEN = frozenset({Status.sent, Status.delivered, Status.accepted, Status.in_progress})


@dataclass(frozen=True)
class Rule:
    side: Side | None  # None: either side
    from_states: frozenset[Status]
    to_state: Status | None  # None: the state does not change
    needs: str | None = None  # the field the action must carry


RULES: dict[Action, Rule] = {
    Action.deliver: Rule(Side.recipient, frozenset({Status.sent}), Status.delivered),
    Action.accept: Rule(Side.recipient, frozenset({Status.delivered}), Status.accepted),
    Action.reject: Rule(Side.recipient, frozenset({Status.delivered}), Status.rejected, "reason"),
    Action.start: Rule(Side.recipient, frozenset({Status.accepted}), Status.in_progress),
    Action.close: Rule(Side.recipient, frozenset({Status.accepted, Status.in_progress}),
                       Status.closed, "outcome"),
    Action.withdraw: Rule(Side.sender, OPEN, Status.withdrawn, "reason"),
    Action.note: Rule(None, OPEN, None, "note"),
    # The receiving gateway could not accept the message (its signed rejection notice).
    Action.refuse: Rule(Side.recipient, frozenset({Status.sent}), Status.undeliverable,
                        "reason"),
}


@dataclass(frozen=True)
class Event:
    id: str
    action: Action
    side: Side
    clock: int


def allowed(status: Status, action: Action, side: Side) -> bool:
    rule = RULES[action]
    return (rule.side is None or rule.side == side) and status in rule.from_states


def refusal(status: Status, action: Action, side: Side) -> str:
    """Why `action` cannot happen now, in words for the caseworker."""
    rule = RULES[action]
    if rule.side is not None and rule.side != side:
        return f"only the {rule.side.value} of a referral can {action.value} it"
    return f"a referral that is {status.value} cannot be {_past(action)}"


def _past(action: Action) -> str:
    return {"deliver": "delivered", "accept": "accepted", "reject": "rejected",
            "start": "started", "close": "closed", "withdraw": "withdrawn",
            "note": "annotated", "refuse": "refused"}[action.value]


def replay(events: list[Event]) -> Status:
    status = Status.sent
    for event in sorted(events, key=lambda e: (e.clock, e.id)):
        rule = RULES[event.action]
        if allowed(status, event.action, event.side) and rule.to_state is not None:
            status = rule.to_state
    return status


def next_clock(events: list[Event]) -> int:
    return max((e.clock for e in events), default=0) + 1
