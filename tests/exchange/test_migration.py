"""The gateway's migrations keep what an earlier schema stored (on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from shared.kit.db import make_engine
from tests.inprocess import database_fixture

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "exchange" / "migrations"
REFERRAL_ROW = ("INSERT INTO referrals (id, direction, sender_id, recipient_id, status, "
                "case_reference, purpose, agreement_id, categories, record, envelope, "
                "envelope_digest, created_at) VALUES ('r-1', :direction, 'mx-sndif', "
                "'mx-pfpnna', 'delivered', 'C-1', 'follow-up', 'agr', '[]', '{}', 'jws', "
                "'d', CURRENT_TIMESTAMP)")


gateway_database = database_fixture("exchange")


def test_referrals_of_the_earlier_schema_keep_their_steps_after_the_upgrade(
        gateway_database: str):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", gateway_database)
    config.attributes["configure_logging"] = False
    command.upgrade(config, "0004")
    engine = make_engine(gateway_database)  # SQLite with foreign keys enforced
    with engine.begin() as conn:
        conn.execute(text(REFERRAL_ROW), {"direction": "outbound"})
        conn.execute(text("INSERT INTO referral_events (id, referral_id, action, side, "
                          "actor_id, clock, at) VALUES ('e-1', 'r-1', 'deliver', "
                          "'recipient', 'mx-pfpnna', 1, CURRENT_TIMESTAMP)"))
    command.upgrade(config, "head")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT direction FROM referral_events")).all() == [
            ("outbound",)]
        # The recipient's row and its copy of the step now fit beside the sender's.
        conn.execute(text(REFERRAL_ROW), {"direction": "inbound"})
        conn.execute(text("INSERT INTO referral_events (id, direction, referral_id, action, "
                          "side, actor_id, clock, at) VALUES ('e-1', 'inbound', 'r-1', "
                          "'deliver', 'recipient', 'mx-pfpnna', 1, CURRENT_TIMESTAMP)"))
    with pytest.raises(Exception, match=r"(?i)foreign key|violates"), engine.begin() as conn:
        conn.execute(text("INSERT INTO referral_events (id, direction, referral_id, action, "
                          "side, actor_id, clock, at) VALUES ('e-2', 'inbound', 'r-9', "
                          "'deliver', 'recipient', 'mx-pfpnna', 1, CURRENT_TIMESTAMP)"))
    engine.dispose()


def test_referrals_sent_before_the_figures_get_their_facts_and_tallies(gateway_database: str):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", gateway_database)
    config.attributes["configure_logging"] = False
    command.upgrade(config, "0007")
    engine = make_engine(gateway_database)
    record = ('{"child": {"sex": "female", "date_of_birth": "2014-03-01"}, '
              '"accompaniment": {"status": "separated"}, '
              '"detection": {"admin_area": "MX-CHP"}, '
              '"protection": {"urgency": "urgent", "violence": true}}')
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO referrals (id, direction, sender_id, recipient_id, status, "
            "case_reference, purpose, agreement_id, categories, record, envelope, "
            "envelope_digest, created_at, sent_at, delivered_at) VALUES ('r-1', 'outbound', "
            "'mx-sndif', 'hn-senaf', 'rejected', 'C-1', 'family-tracing', 'agr', '[]', "
            ":record, 'jws', 'd', '2026-11-10 08:00:00', '2026-11-10 08:00:01', "
            "'2026-11-10 08:10:00')"), {"record": record})
        for action, clock, at, reason in (("deliver", 1, "2026-11-10 08:10:00", None),
                                          ("reject", 2, "2026-11-11 08:00:00", "no-capacity")):
            conn.execute(text(
                "INSERT INTO referral_events (id, direction, referral_id, action, side, "
                "actor_id, clock, at, reason) VALUES (:id, 'outbound', 'r-1', :action, "
                "'recipient', 'hn-senaf', :clock, :at, :reason)"),
                {"id": f"e-{clock}", "action": action, "clock": clock, "at": at,
                 "reason": reason})
        for seq, subject, referral in ((1, "enlace.msg.HN.hn-senaf.referral", "r-1"),
                                       (2, "enlace.audit.MX", None)):
            conn.execute(text(
                "INSERT INTO outbox (seq, msg_id, subject, headers, payload, referral_id, "
                "created_at) VALUES (:seq, :msg, :subject, '{}', 'jws', :referral, "
                "CURRENT_TIMESTAMP)"),
                {"seq": seq, "msg": f"m-{seq}", "subject": subject, "referral": referral})
    command.upgrade(config, "head")
    with engine.begin() as conn:
        facts = conn.execute(text(
            "SELECT origin, destination, month, age_band, sex, accompaniment, needs, urgency, "
            "purpose, detection_area, state, outcome, reason, seconds_to_delivered, "
            "seconds_to_accepted FROM referral_facts")).all()
        tally = dict(((d, v), n) for d, v, n in conn.execute(text(
            "SELECT dimension, value, count FROM referral_tally WHERE origin = 'MX' AND "
            "destination = 'HN' AND month = '2026-11'")).all())
    engine.dispose()
    assert facts == [("MX", "HN", "2026-11", "12-14", "female", "separated", 4, "urgent",
                      "family-tracing", "mx-chp", "rejected", "rejected", "no-capacity", 600,
                      None)]
    assert tally == {("", ""): 1, ("age_band", "12-14"): 1, ("sex", "female"): 1,
                     ("accompaniment", "separated"): 1, ("urgency", "urgent"): 1,
                     ("purpose", "family-tracing"): 1, ("detection_area", "mx-chp"): 1,
                     ("state", "rejected"): 1, ("outcome", "rejected"): 1,
                     ("protection_need", "violence"): 1, ("reason", "no-capacity"): 1}
