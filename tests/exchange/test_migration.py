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
