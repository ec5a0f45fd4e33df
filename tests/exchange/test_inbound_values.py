"""What a peer sends, made safe to store: text any database holds, integers in range."""

import json

import pytest

from services.exchange.transport.arrivals import MAX_PEER_INT, Rejected, peer_int
from services.exchange.transport.quarantine import storable


@pytest.mark.parametrize(("json_text", "stored"), [
    ('"\\ud800"', "\\ud800"),
    ('"a\\u0000b"', "a\\u0000b"),
    ('"\\udfff\\udc00"', "\\udfff\\udc00"),
    ('"Peña \\ud83d\\ude00"', "Peña \U0001F600"),  # a valid pair is a character: kept
])
def test_text_no_database_holds_is_escaped_and_the_rest_kept(json_text, stored):
    value = storable(json.loads(json_text))
    assert value == stored
    value.encode("utf-8")  # now storable as UTF-8 (and PostgreSQL text: no NUL)
    assert "\x00" not in value


@pytest.mark.parametrize("value", [0, 1, MAX_PEER_INT])
def test_integers_in_range_are_taken(value):
    assert peer_int(value, "clock") == value


@pytest.mark.parametrize("value", [-1, MAX_PEER_INT + 1, 2**63, 1.0, 2.5, float("inf"),
                                   True, "3", None, [1]])
def test_anything_else_is_malformed_at_once(value):
    with pytest.raises(Rejected) as caught:
        peer_int(value, "clock")
    assert caught.value.reason == "malformed"
    assert caught.value.detail == "the body's clock is not an integer in range"  # no echo


def test_an_unreachable_directory_is_waited_for_until_the_message_is_too_old(tmp_path):
    from sqlmodel import select

    from services.exchange.clients.regional import RegionalServiceDown
    from services.exchange.gateway import Gateway
    from services.exchange.transport.arrivals import InboundLimits
    from services.exchange.transport.dispatcher import InboundDispatcher
    from services.exchange.transport.models import QuarantinedMessage
    from shared.kit.db import make_engine, migrate, session_scope
    from shared.protocol.envelope import generate_signing_key

    class DirectoryAway:
        def signing_keys(self, institution_id: str) -> list:
            raise RegionalServiceDown("The directory cannot be reached.")

    url = f"sqlite:///{tmp_path / 'exchange.db'}"
    migrate("services.exchange", url)
    gateway = Gateway(country="HN", engine=make_engine(url),
                      keys={"hn-senaf": generate_signing_key()}, encryption_keys={},
                      directory=DirectoryAway(), registry=None,  # type: ignore[arg-type]
                      message_ttl_seconds=3600)
    inbound = InboundDispatcher(gateway, InboundLimits(retry_seconds=3600))
    token = b"eyJhbGciOiJFZERTQSJ9.eyJzZW5kZXIiOiJteC1zbmRpZiJ9.AAAA"
    subject = "enlace.msg.HN.hn-senaf.referral"
    with pytest.raises(RegionalServiceDown):  # retried: redelivered later
        inbound.process(token, subject, 7, delivery=50, age_seconds=3599)
    assert inbound.process(token, subject, 7, delivery=51, age_seconds=3600) == "quarantined"
    with session_scope(gateway.engine) as session:
        row = session.exec(select(QuarantinedMessage)).one()
    assert (row.stream_sequence, row.reason) == (7, "service_unavailable")
