"""Audit events of an institution without webhooks cost no query; a new subscription is
seen by the next event once it commits (services/exchange/webhooks/service.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlmodel import select

from services.exchange.webhooks.models import WebhookDelivery
from services.exchange.webhooks.service import WebhookService, queue_webhooks
from shared.kit.db import make_engine, migrate, session_scope
from shared.protocol.auth import Principal, Role


def audit_event(n: int) -> dict[str, Any]:
    return {"event_id": f"00000000-0000-4000-8000-{n:012d}", "event_type": "referral.sent"}


def test_no_subscription_query_per_event_and_a_new_subscription_is_seen(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    migrate("services.exchange", url)
    engine = make_engine(url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: statements.append(statement))

    with session_scope(engine) as session:
        queue_webhooks(session, "mx-sndif", audit_event(1))
    statements.clear()
    with session_scope(engine) as session:
        queue_webhooks(session, "mx-sndif", audit_event(2))
        queue_webhooks(session, "mx-sndif", audit_event(3))
    assert not [s for s in statements if "webhook" in s.lower()]

    admin = Principal("mx-sndif", "MX", Role.country_admin)
    with session_scope(engine) as session:
        WebhookService(session).subscribe(admin, "https://example.org/hook")
    with session_scope(engine) as session:
        queue_webhooks(session, "mx-sndif", audit_event(4))
    with session_scope(engine) as session:
        queued = session.exec(select(WebhookDelivery)).all()
    assert [d.event_id for d in queued] == [audit_event(4)["event_id"]]
