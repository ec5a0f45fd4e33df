"""The figures' facts, taken from a record when it is written or its state changes, in the
same transaction (docs/figures.md, "How a gateway counts"): only closed codes, months and
moments; never the record's text."""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from typing import Any

from sqlalchemy import TextClause, func, select, text, update
from sqlmodel import Session, col

from services.exchange.figures.models import QuarantineTally, ReferralFacts, ReferralTally
from services.exchange.referrals.models import Referral, ReferralEvent
from shared.kit.db import insert_row
from shared.protocol.figures import UNKNOWN, Dimension, age_band
from shared.protocol.vocabulary import Purpose

# A bit per protection need: the record's flags, and any other risk written down.
NEED_BITS = {"asylum-intent": 1, "trafficking-indicators": 2, "violence": 4, "other-risks": 8}
NO_NEED = "none"
# A rejection's reason counts by code when the caseworker wrote one of these, else as other.
REJECTION_REASONS = frozenset({"outside-area", "no-capacity", "not-competent", "duplicate",
                               "insufficient-information", "child-not-found"})
OTHER = "other"
# A directory area's id of the first level is its ISO 3166-2 code (MX-CHP); finer ones add
# segments of their own (HN-CR-SPS), of which the figures keep the first level only.
AREA_CODE = re.compile(r"^([A-Z]{2}-[A-Z0-9]{1,3})(-[A-Z0-9-]+)?$")
ACCEPTED_STATES = frozenset({"accepted", "in_progress", "closed"})
ANSWERED_BY_STATE = {"rejected": "rejected", "withdrawn": "withdrawn",
                     "undeliverable": "undeliverable"}
PENDING = "pending"
# The closed values of the record's fields the figures count (anything else: unknown).
SEXES = frozenset({"female", "male", "other"})
ACCOMPANIMENTS = frozenset({"unaccompanied", "separated", "accompanied"})
URGENCIES = frozenset({"routine", "urgent", "immediate"})
PURPOSES = frozenset(p.value for p in Purpose)
D = Dimension
# The breakdowns fixed when a referral is sent, and those its steps change.
FIXED = (D.age_band, D.sex, D.accompaniment, D.urgency, D.purpose, D.detection_area)
CHANGING = (D.state, D.outcome)
TOTAL = ""  # the tally's dimension and value of a pair and month's total


def closed(value: Any, values: frozenset[str]) -> str:
    return value if value in values else UNKNOWN


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")  # the moments here are UTC (UTCDateTime)


def age_at(child: dict[str, Any], moment: datetime) -> int | None:
    """Whole years at `moment` from the date of birth, else the estimate given."""
    born = child.get("date_of_birth")
    if born:
        birth = born if isinstance(born, date) else date.fromisoformat(str(born))
        day = moment.date()
        return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
    estimate = child.get("estimated_age")
    return estimate if isinstance(estimate, int) else None


def needs_of(protection: dict[str, Any]) -> int:
    mask = 0
    for flag, need in (("asylum_intent", "asylum-intent"),
                       ("trafficking_indicators", "trafficking-indicators"),
                       ("violence", "violence")):
        if protection.get(flag):
            mask |= NEED_BITS[need]
    if protection.get("other_risks"):
        mask |= NEED_BITS["other-risks"]
    return mask


def needs_named(mask: int) -> list[str]:
    return [need for need, bit in NEED_BITS.items() if mask & bit] or [NO_NEED]


def detection_area(detection: dict[str, Any] | None) -> str:
    found = AREA_CODE.match(str((detection or {}).get("admin_area") or ""))
    return found.group(1).lower() if found else UNKNOWN


def rejection_reason(text: str | None) -> str:
    code = (text or "").strip().lower()
    return code if code in REJECTION_REASONS else OTHER


def facts_of(referral: Referral, origin: str, destination: str) -> ReferralFacts:
    """A referral being sent, from the record as it is sent (what the recipient may read)."""
    return closed_or_unknown_facts(referral.id, referral.sender_id, referral.purpose,
                                   referral.record, referral.created_at, origin, destination,
                                   referral.status)


def closed_or_unknown_facts(referral_id: str, sender_id: str, purpose: str,
                            record: dict[str, Any], sent_at: datetime, origin: str,
                            destination: str, state: str) -> ReferralFacts:
    """The facts of a referral from its record: each value one of its dimension's closed
    values, else unknown. Its answer and moments are left to its steps (follow_step)."""
    child = record.get("child") or {}
    protection = record.get("protection") or {}
    return ReferralFacts(
        referral_id=referral_id, institution_id=sender_id,
        origin=origin, destination=destination, month=month_of(sent_at),
        age_band=age_band(age_at(child, sent_at)),
        sex=closed(child.get("sex"), SEXES),
        accompaniment=closed((record.get("accompaniment") or {}).get("status"), ACCOMPANIMENTS),
        needs=needs_of(protection), urgency=closed(protection.get("urgency"), URGENCIES),
        purpose=closed(purpose, PURPOSES),
        detection_area=detection_area(record.get("detection")),
        state=state, outcome=PENDING, sent_at=sent_at,
    )


def record_sent(session: Session, referral: Referral, origin: str, destination: str) -> None:
    facts = facts_of(referral, origin, destination)
    insert_row(session, facts)
    tally(session, where_counted(facts), tallied(facts), 1)


def tallied(facts: ReferralFacts) -> list[tuple[str, str]]:
    """The (dimension, value) pairs under which a referral is counted."""
    pairs = [(TOTAL, TOTAL), *((d.value, getattr(facts, d.value)) for d in FIXED)]
    pairs += [(D.protection_need.value, need) for need in needs_named(facts.needs)]
    return pairs + changing(facts)


def changing(facts: ReferralFacts) -> list[tuple[str, str]]:
    pairs = [(d.value, getattr(facts, d.value)) for d in CHANGING]
    if facts.outcome == "rejected" and facts.reason:
        pairs.append((D.reason.value, facts.reason))
    return pairs


def where_counted(facts: ReferralFacts) -> tuple[str, str, str, str]:
    return facts.institution_id, facts.origin, facts.destination, facts.month


def tally(session: Session, counted: tuple[str, str, str, str], pairs: list[tuple[str, str]],
          delta: int) -> None:
    """Add `delta` to an institution's pair and month (`counted`) under each (dimension,
    value), in one order (concurrent transactions then wait for each other, no deadlock)."""
    key = dict(zip(("institution_id", "origin", "destination", "month"), counted, strict=True))
    _upsert(session, ReferralTally, [{**key, "dimension": dimension, "value": value}
                                     for dimension, value in sorted(set(pairs))], delta)


def _upsert(session: Session, table: Any, keys: list[dict[str, str]], delta: int) -> None:
    """Add `delta` to the count of each key's row (made if missing), as one statement run for
    every key: a step costs one compiled statement however many tallies it moves."""
    if keys:
        session.execute(_upsert_statement(table.__tablename__, tuple(keys[0])),
                        [{**key, "count": delta} for key in keys])


@functools.cache
def _upsert_statement(table: str, columns: tuple[str, ...]) -> TextClause:
    # SQLite (3.24+) and PostgreSQL read the same upsert. The names are this module's
    # constants, never a caller's values (those are bound).
    names = ", ".join(columns)
    return text(f"INSERT INTO {table} ({names}, count) "  # noqa: S608
                f"VALUES ({', '.join(':' + c for c in columns)}, :count) "
                f"ON CONFLICT ({names}) DO UPDATE SET count = {table}.count + excluded.count")


def _seconds(since: datetime, moment: datetime) -> int:
    return max(0, int((moment - since).total_seconds()))


def follow_step(session: Session, referral: Referral, step: ReferralEvent) -> None:
    """The sender's facts of a referral after a step: its state, its answer, its moments.
    Called where the state changes (referrals.lifecycle.add_event); a referral sent before
    the figures existed and not back-filled has no facts, and is left so."""
    if referral.direction != "outbound":
        return
    facts = session.get(ReferralFacts, referral.id)
    if facts is None:
        return
    before = changing(facts)
    facts.state = referral.status
    moment = step.at
    if referral.delivered_at is not None and facts.delivered_at is None:
        facts.delivered_at = referral.delivered_at
        facts.seconds_to_delivered = _seconds(facts.sent_at, referral.delivered_at)
    if referral.status in ACCEPTED_STATES and facts.accepted_at is None:
        facts.accepted_at = moment
        facts.seconds_to_accepted = _seconds(facts.sent_at, moment)
    if referral.status == "closed" and facts.closed_at is None:
        facts.closed_at = moment
        facts.seconds_to_closed = _seconds(facts.sent_at, moment)
    if facts.accepted_at is not None:
        facts.outcome = "accepted"
    else:
        facts.outcome = ANSWERED_BY_STATE.get(referral.status, PENDING)
    if referral.status == "rejected" and facts.reason is None:
        facts.reason = rejection_reason(step.reason if step.action == "reject"
                                        else _rejection_text(session, referral))
    session.add(facts)
    after = changing(facts)
    if after != before:
        tally(session, where_counted(facts), [p for p in before if p not in after], -1)
        tally(session, where_counted(facts), [p for p in after if p not in before], 1)


def _rejection_text(session: Session, referral: Referral) -> str | None:
    """The reason of the rejection a late step put back in force (events replay in order)."""
    E = ReferralEvent
    return session.execute(
        select(col(E.reason)).where(col(E.referral_id) == referral.id,
                                    col(E.direction) == referral.direction,
                                    col(E.action) == "reject")
        .order_by(col(E.clock), col(E.id)).limit(1)).scalar()


def count_quarantined(session: Session, institution_id: str, reason: str,
                      moment: datetime) -> None:
    """One more message quarantined for the institution (an upsert: concurrent consumers)."""
    _upsert(session, QuarantineTally,
            [{"institution_id": institution_id, "month": month_of(moment), "reason": reason}], 1)


def mark_published(session: Session, referral_ids: Any) -> None:
    """The facts of these referrals (a query of ids) follow their rows from queued to sent
    (referrals.lifecycle.mark_sent)."""
    F = ReferralFacts
    queued = (col(F.referral_id).in_(referral_ids), col(F.state) == "queued")
    groups = session.execute(
        select(col(F.institution_id), col(F.origin), col(F.destination), col(F.month),
               func.count())
        .where(*queued).group_by(col(F.institution_id), col(F.origin), col(F.destination),
                                 col(F.month))).all()
    for *counted, n in groups:
        where = (counted[0], counted[1], counted[2], counted[3])
        tally(session, where, [(D.state.value, "queued")], -n)
        tally(session, where, [(D.state.value, "sent")], n)
    session.execute(update(ReferralFacts)
                    .where(col(ReferralFacts.referral_id).in_(referral_ids),
                           col(ReferralFacts.state) == "queued")
                    .values(state="sent"), execution_options={"synchronize_session": False})
