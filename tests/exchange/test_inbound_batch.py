"""Issue 10, point 3: a fetched batch is taken in one transaction; when one of its messages is
not taken, nothing of that transaction stays and each message is handled alone: the others
are stored once, the bad one quarantined."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from services.exchange.gateway import Gateway
from services.exchange.transport.arrivals import InboundLimits, Rejected
from services.exchange.transport.dispatcher import Delivered, InboundDispatcher
from services.exchange.transport.models import OutboxMessage, QuarantinedMessage
from services.exchange.transport.outbox import Outbox
from shared.kit.db import make_engine, migrate, session_scope
from shared.protocol.envelope import generate_signing_key

SUBJECT = "enlace.msg.HN.hn-senaf.referral"


class Taking(InboundDispatcher):
    """The dispatcher, with a message's verification and handling replaced by one outbox row
    per message (a real write), and `bad` messages refused."""

    def _take(self, session: Session, outbox: Outbox, token: str, subject: str) -> str:
        if token.startswith("bad"):
            raise Rejected("malformed", "not a JWS")
        session.add(OutboxMessage(msg_id=token, subject="enlace.msg.MX.mx-sndif.receipt",
                                  headers={}, payload=token))
        return "stored"


@pytest.fixture
def dispatcher(tmp_path: Path) -> Taking:
    url = f"sqlite:///{tmp_path / 'exchange.db'}"
    migrate("services.exchange", url)
    gateway = Gateway(country="HN", engine=make_engine(url),
                      keys={"hn-senaf": generate_signing_key()}, encryption_keys={},
                      directory=None, registry=None,  # type: ignore[arg-type]
                      message_ttl_seconds=3600)
    return Taking(gateway, InboundLimits())


def batch(*tokens: str) -> list[Delivered]:
    return [Delivered(raw=t.encode(), subject=SUBJECT, stream_sequence=i + 1)
            for i, t in enumerate(tokens)]


def commits_during(dispatcher: Taking, deliveries: list[Delivered]) -> tuple[list, int]:
    commits = []
    listener = lambda _conn: commits.append(1)  # noqa: E731
    event.listen(dispatcher.gateway.engine, "commit", listener)
    try:
        outcomes = dispatcher.process_batch(deliveries)
    finally:
        event.remove(dispatcher.gateway.engine, "commit", listener)
    return outcomes, len(commits)


def stored(dispatcher: Taking) -> tuple[list[str], list[tuple[int, str]]]:
    with session_scope(dispatcher.gateway.engine) as session:
        outbox = sorted(r.msg_id for r in session.exec(select(OutboxMessage))
                        if r.msg_id.startswith("m"))
        quarantined = [(r.stream_sequence, r.reason)
                       for r in session.exec(select(QuarantinedMessage))]
    return outbox, quarantined


def test_a_batch_every_message_of_which_is_taken_is_one_transaction(dispatcher: Taking) -> None:
    outcomes, commits = commits_during(dispatcher, batch("m1", "m2", "m3", "m4"))
    assert outcomes == ["stored"] * 4
    assert commits == 1
    assert stored(dispatcher) == (["m1", "m2", "m3", "m4"], [])


def test_one_bad_message_leaves_the_others_stored_once_and_itself_quarantined(
        dispatcher: Taking) -> None:
    outcomes, commits = commits_during(dispatcher, batch("m1", "bad", "m3"))
    assert outcomes == ["stored", "quarantined", "stored"]
    assert commits == 3  # the batch's own transaction rolled back, then one per message
    assert stored(dispatcher) == (["m1", "m3"], [(2, "malformed")])
