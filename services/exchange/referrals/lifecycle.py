"""The referral state machine, shared by both gateways of a referral: the one place where a
referral's status changes.

Each side keeps every event of a referral (its own and the other side's) and derives the
state by replaying them in one order both sides agree on: a Lamport clock carried by each
event, then the event id. Events the state does not allow at their turn are skipped. Two
gateways holding the same events therefore show the same state, whatever order the events
arrived in (for example a withdrawal crossing an acceptance in flight).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, update
from sqlmodel import Session, col

from services.exchange.figures.facts import follow_step, mark_published
from services.exchange.referrals.models import Referral, ReferralEvent
from services.exchange.referrals.repository import ReferralRepository


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


DELIVERY_CLOCK = 1  # the referral itself is step 0 of its life, its delivery step 1

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


def first_status(direction: str) -> Status:
    """A referral's status when its row is written: queued until its message is published
    (the sender's row), sent once it arrived (the recipient's)."""
    return Status.queued if direction == "outbound" else Status.sent


def machine_status(status: str) -> Status:
    """A referral's stored status as the rules read it: a queued referral counts as sent."""
    return Status.sent if status == Status.queued.value else Status(status)


def side_of(direction: str) -> Side:
    """Which side of its referrals a row of this direction is."""
    return Side.sender if direction == "outbound" else Side.recipient


def events_of(rows: list[ReferralEvent]) -> list[Event]:
    return [Event(r.id, Action(r.action), Side(r.side), r.clock) for r in rows]


def add_event(repo: ReferralRepository, referral: Referral, row: ReferralEvent,
              new_referral: bool = False) -> None:
    """Record a step (ours or the other side's) and derive the referral's state again.
    `new_referral`: the referral was added in this transaction, so the step is its only one
    and nobody else can hold its row yet."""
    row.direction = referral.direction
    if new_referral:
        repo.session.add(row)
        events = events_of([row])
    else:
        # Steps of one referral recorded at once (an action here, a message from the other
        # side) must each see the other: hold the referral's row while deriving its state.
        repo.session.flush()
        repo.session.refresh(referral, with_for_update=True)
        repo.insert(row)  # a step is written once, never changed
        events = events_of(repo.events(referral))
    status = replay(events)
    if status == Status.sent and referral.direction == "outbound" and referral.sent_at is None:
        status = Status.queued
    if status == Status.delivered and referral.delivered_at is None:
        referral.delivered_at = row.at
    referral.status = status.value
    repo.session.add(referral)
    follow_step(repo.session, referral, row)


def mark_sent(session: Session, referral_ids: Any, now: datetime) -> None:
    """The sender's rows of these referrals: their message is published, so a queued one is
    sent. `referral_ids`: a query of referral ids."""
    sent = and_(col(Referral.id).in_(referral_ids), col(Referral.direction) == "outbound")
    # Bulk updates of rows this session does not hold: no objects to bring in line (the
    # ORM would look for them, and select the rows changed to find them).
    unsynchronised = {"synchronize_session": False}
    session.execute(
        update(Referral).where(sent, col(Referral.sent_at).is_(None)).values(sent_at=now),
        execution_options=unsynchronised,
    )
    session.execute(
        update(Referral).where(sent, col(Referral.status) == Status.queued.value)
        .values(status=Status.sent.value), execution_options=unsynchronised,
    )
    mark_published(session, referral_ids)
