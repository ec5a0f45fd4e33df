"""The one inbound dispatcher routes a verified message by type to the handlers of what it
carries (services/exchange/transport/dispatcher.py): a receipt is a referral's or an
alert's, and one that is neither is refused; a type nobody handles is refused."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from services.exchange.alerts.models import AlertTarget
from services.exchange.transport.arrivals import Arrival, Rejected
from services.exchange.transport.dispatcher import InboundDispatcher
from services.exchange.transport.outbox import Outbox
from shared.kit.db import make_engine, migrate, session_scope


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    migrate("services.exchange", url)
    return make_engine(url)


def route(engine: Engine, message_type: str, body: dict[str, Any]) -> str:
    gateway: Any = SimpleNamespace(engine=engine)  # these handlers sign and seal nothing
    envelope: Any = SimpleNamespace(id="m-2", type=message_type, sender="hn-senaf",
                                    recipients=["mx-sndif"], body=body)
    with session_scope(engine) as session:
        return InboundDispatcher(gateway)._route(
            Arrival(session, Outbox(session, gateway), envelope, "token"))


def test_a_receipt_of_an_alert_is_taken_by_the_alerts(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(AlertTarget(alert_id="a-1", country="HN", recipient_id="hn-senaf"))
    assert route(engine, "receipt", {"message_id": "m-1", "alert_id": "a-1"}) == "alert-receipt"
    with session_scope(engine) as session:
        target = session.exec(select(AlertTarget)).one()
    assert target.received_at is not None


def test_a_receipt_of_nothing_sent_here_is_refused(engine: Engine) -> None:
    with pytest.raises(Rejected) as refused:
        route(engine, "receipt", {"message_id": "m-1", "alert_id": "a-1"})
    assert refused.value.reason == "receipt_mismatch"


def test_a_type_nobody_handles_is_refused(engine: Engine) -> None:
    with pytest.raises(Rejected) as refused:
        route(engine, "gossip", {})
    assert refused.value.reason == "unsupported_type"
