"""`enlace up --countries`: which gateways run, and what each hosts."""

from __future__ import annotations

import argparse
import re

import pytest

from services.cli import gateway_countries
from services.demo_data import hosted_institutions


def test_the_demo_countries_and_a_third_with_its_authorities() -> None:
    assert gateway_countries("mx, HN,GT,MX") == ["MX", "HN", "GT"]
    assert hosted_institutions("GT") == ["gt-sbs", "gt-pgn"]  # protection, and alerts
    assert hosted_institutions("MX") == ["mx-sndif", "mx-pfpnna"]


@pytest.mark.parametrize(("value", "said"), [
    ("MX,HN,ZZ", "ZZ is not a member country"),
    ("MX,HN,CA", "CA is not a member country"),  # no child-protection authority in the seed
    ("MX,GT", "the demo needs MX and HN (missing: HN)"),
])
def test_countries_it_cannot_run_are_refused_with_the_reason(value: str, said: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(said)):
        gateway_countries(value)
