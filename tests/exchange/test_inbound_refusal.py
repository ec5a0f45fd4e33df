"""Issue 10, point 4: an inbound message whose check a regional service refuses (4xx) is not
retried as if that service were down (for a day), but like any other failure: a bounded
number of deliveries, then quarantine."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from services.exchange.clients.regional import RegionalServiceDown, RegionalServiceRefused
from services.exchange.transport.arrivals import InboundLimits, Rejected
from services.exchange.transport.dispatcher import InboundDispatcher

LIMITS = InboundLimits(max_deliveries=3, retry_seconds=24 * 3600)


class Processing(InboundDispatcher):
    """The inbound dispatcher whose processing fails with `error`; quarantines are noted."""

    def __init__(self, error: Exception) -> None:
        super().__init__(SimpleNamespace(), LIMITS)  # type: ignore[arg-type]
        self.error = error
        self.quarantined: list[Rejected] = []

    def _process(self, *args: Any) -> str:
        raise self.error

    def _quarantine_alone(self, raw: bytes, subject: str, stream_sequence: int,
                          rejection: Rejected, delivery: int) -> str:
        self.quarantined.append(rejection)
        return "quarantined"


def process(service: InboundDispatcher, delivery: int) -> str:
    return service.process(b"token", "enlace.msg.HN.hn-senaf.referral", 7, delivery,
                           age_seconds=60)


def test_a_refusal_is_quarantined_after_the_last_delivery_not_retried_for_a_day():
    service = Processing(RegionalServiceRefused("registry", 403))
    with pytest.raises(RegionalServiceRefused):
        process(service, 1)  # retried, like any failure, within the bound
    assert process(service, LIMITS.max_deliveries) == "quarantined"
    [rejection] = service.quarantined
    assert rejection.reason == "processing_failed"
    assert "RegionalServiceRefused" in rejection.detail


def test_the_service_down_is_still_retried_until_the_message_is_too_old():
    service = Processing(RegionalServiceDown("The registry cannot be reached."))
    with pytest.raises(RegionalServiceDown):
        process(service, LIMITS.max_deliveries)
    assert service.quarantined == []
