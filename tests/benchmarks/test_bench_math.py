"""The benchmarks' arithmetic: percentiles, CPU time from /proc, targets (no stack)."""

from __future__ import annotations

import math
import os

import pytest

from benchmarks.measure import (
    CLOCK_TICKS,
    Target,
    cpu_ms_per_item,
    cpu_seconds,
    cpu_seconds_of_stat,
    moment,
    percentile,
    schedule,
)


def test_percentile_is_a_measured_value_by_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 .. 1, unsorted on purpose
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7


def test_p99_of_few_values_is_their_maximum() -> None:
    assert percentile([1.0, 2.0, 3.0, 40.0], 0.99) == 40


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_cpu_time_is_utime_plus_stime_even_with_a_command_name_holding_spaces() -> None:
    # Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime ...
    stat = f"4242 (nats server) S 1 2 3 4 5 6 7 8 9 10 {3 * CLOCK_TICKS} {CLOCK_TICKS} 99 99 20"
    assert cpu_seconds_of_stat(stat) == 4.0


def test_cpu_time_of_this_process_reads_its_proc_stat() -> None:
    used = sum(os.times()[:2])
    assert cpu_seconds(os.getpid()) == pytest.approx(used, abs=0.05)


def test_cpu_per_item_is_the_delta_over_the_count_for_each_process() -> None:
    before = {"gateway-MX": 10.0, "gateway-HN": 4.0, "gone": 1.0}
    after = {"gateway-MX": 12.5, "gateway-HN": 4.5}
    assert cpu_ms_per_item(before, after, 500) == {"gateway-MX": 5.0, "gateway-HN": 1.0}


def test_cpu_per_item_of_no_items_is_an_error() -> None:
    with pytest.raises(ValueError):
        cpu_ms_per_item({"a": 1.0}, {"a": 2.0}, 0)


def test_open_loop_schedule_is_evenly_spaced() -> None:
    offsets = schedule(100, 2)
    assert len(offsets) == 200
    assert offsets[0] == 0
    assert offsets[1] == pytest.approx(0.01)
    assert offsets[-1] == pytest.approx(1.99)


def test_a_naive_api_timestamp_is_utc() -> None:
    assert moment("1970-01-01T00:01:00") == 60
    assert moment("1970-01-01T01:01:00+01:00") == 60


@pytest.mark.parametrize(("figure", "relation", "met"), [
    (200, ">=", True), (199.9, ">=", False),
    (99.9, "<", True), (100, "<", False),
    (10, "<=", True), (10.1, "<=", False),
])
def test_a_target_is_met_or_missed_at_its_limit(figure: float, relation: str, met: bool) -> None:
    target = Target("t", figure, relation, {">=": 200, "<": 100, "<=": 10}[relation], "x")
    assert target.met is met
    assert target.line().lstrip().startswith("PASS" if met else "MISS")


def test_what_never_arrived_counts_as_infinite_in_the_percentiles() -> None:
    values = [0.01] * 98 + [math.inf] * 2
    assert percentile(values, 0.5) == 0.01
    assert percentile(values, 0.99) == math.inf
