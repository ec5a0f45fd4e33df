"""The figures' contract: closed values in every cell, the catalogue's granularity, age bands."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.protocol.figures import Cell, Dimension, Indicator, age_band


@pytest.mark.parametrize(("age", "band"), [
    (None, "unknown"), (-1, "unknown"), (0, "0-5"), (5, "0-5"), (6, "6-11"), (11, "6-11"),
    (12, "12-14"), (14, "12-14"), (15, "15-17"), (17, "15-17"), (18, "unknown"),
])
def test_ages_fall_in_the_catalogues_bands(age: int | None, band: str) -> None:
    assert age_band(age) == band


@pytest.mark.parametrize(("dimension", "value"), [
    (Dimension.month, "2026-11-03"),  # an exact date
    (Dimension.month, "2026-13"),
    (Dimension.origin, "Mexico"),
    (Dimension.sex, "María López"),  # a name where a code goes
    (Dimension.age_band, "7"),
    (Dimension.detection_area, "CASE/2026/0001 "),
])
def test_a_cell_takes_no_value_outside_its_dimensions_vocabulary(dimension: Dimension,
                                                                 value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Cell(indicator=Indicator.referrals, dims={dimension: value}, count=1)
    assert value not in str(caught.value.errors()[0]["msg"])


def pair_month(**extra: str) -> dict[Dimension, str]:
    return {Dimension.origin: "MX", Dimension.destination: "HN", Dimension.month: "2026-11",
            **{Dimension(k): v for k, v in extra.items()}}


def test_a_cell_fits_the_catalogue_with_at_most_one_of_its_breakdowns() -> None:
    assert Cell(indicator=Indicator.referrals, dims=pair_month(), count=3).fits_catalogue()
    assert Cell(indicator=Indicator.referrals, dims=pair_month(sex="female"),
                count=3).fits_catalogue()
    finer = Cell(indicator=Indicator.referrals, dims=pair_month(sex="female", urgency="urgent"),
                 count=3)
    assert not finer.fits_catalogue()
    no_month = Cell(indicator=Indicator.referrals,
                    dims={Dimension.origin: "MX", Dimension.destination: "HN"}, count=3)
    assert not no_month.fits_catalogue()


def test_a_duration_carries_its_median_and_90th_percentile_and_a_count_does_not() -> None:
    timed = Indicator.referral_time_to_delivered
    assert Cell(indicator=timed, dims=pair_month(), count=9, median_seconds=4,
                p90_seconds=30).fits_catalogue()
    assert not Cell(indicator=timed, dims=pair_month(), count=9).fits_catalogue()
    assert not Cell(indicator=Indicator.referrals, dims=pair_month(), count=9, median_seconds=4,
                    p90_seconds=30).fits_catalogue()
