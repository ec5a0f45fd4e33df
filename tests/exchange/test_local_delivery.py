"""Which outbox rows a gateway hands to itself, and in what order it handles them."""

from __future__ import annotations

from types import SimpleNamespace

from services.exchange.metrics import ExchangeMetrics
from services.exchange.transport.local import LocalDelivery
from services.exchange.transport.models import OutboxMessage

HOSTED = {"mx-sndif", "mx-pfpnna"}


def delivery(process):  # type: ignore[no-untyped-def]
    gateway = SimpleNamespace(country="MX", hosts=lambda institution: institution in HOSTED,
                              metrics=ExchangeMetrics())
    return LocalDelivery(gateway, process)  # type: ignore[arg-type]


def row(seq: int, subject: str) -> OutboxMessage:
    return OutboxMessage(seq=seq, msg_id=f"m-{seq}", subject=subject, headers={},
                         payload=f"token-{seq}")


def test_only_messages_for_a_hosted_institution_of_the_own_country_stay_here():
    local = delivery(lambda *args: "stored")
    assert local.takes(row(1, "enlace.msg.MX.mx-pfpnna.referral"))
    assert not local.takes(row(2, "enlace.msg.HN.hn-senaf.referral"))
    assert not local.takes(row(3, "enlace.msg.MX.mx-inm.referral"))  # not hosted here
    assert not local.takes(row(4, "enlace.audit.MX"))
    assert not local.takes(row(5, "enlace.msg.MX.mx-pfpnna.referral.extra"))


def test_rows_are_handled_in_order_up_to_the_first_failure_which_counts_its_attempts():
    calls: list[tuple[bytes, int, int]] = []

    def process(raw: bytes, subject: str, sequence: int, attempt: int) -> str:
        calls.append((raw, sequence, attempt))
        if raw == b"token-2" and attempt < 3:
            raise RuntimeError("the registry is slow")
        return "stored"

    local = delivery(process)
    rows = [row(n, "enlace.msg.MX.mx-pfpnna.referral") for n in (1, 2, 3)]
    assert local.deliver(rows) == [1]
    assert local.deliver(rows[1:]) == []
    assert local.deliver(rows[1:]) == [2, 3]
    # Minus the outbox sequence stands for the stream sequence (quarantine is unique on it).
    assert calls == [(b"token-1", -1, 1), (b"token-2", -2, 1), (b"token-2", -2, 2),
                     (b"token-2", -2, 3), (b"token-3", -3, 1)]
    assert local.attempts == {}
    # Each attempt counted once, by the type and outcome; the later attempts as redeliveries.
    value = local.gateway.metrics.service.registry.get_sample_value
    assert value("enlace_messages_received_total", {"type": "referral", "outcome": "stored"}) == 3
    assert value("enlace_messages_received_total", {"type": "referral", "outcome": "retry"}) == 2
    assert value("enlace_messages_redelivered_total", {"type": "referral"}) == 2
