"""Arithmetic the benchmarks share: percentiles, CPU time of processes, targets.

Pure functions (no stack, no clock) so that tests/benchmarks can check them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1): a value that was measured, never interpolated."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def cpu_seconds_of_stat(stat: str) -> float:
    """utime + stime from the text of /proc/<pid>/stat, in seconds.

    The command name (field 2) is in parentheses and may hold spaces, so fields are counted
    after the last ')': state is field 3, utime field 14, stime field 15.
    """
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        return cpu_seconds_of_stat(stat.read())


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process (0 for one that is gone)."""
    snapshot = {}
    for name, pid in pids.items():
        try:
            snapshot[name] = cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            snapshot[name] = 0.0
    return snapshot


def cpu_ms_per_item(before: dict[str, float], after: dict[str, float],
                    count: int) -> dict[str, float]:
    """Milliseconds of CPU per item for each process present in both snapshots."""
    if count <= 0:
        raise ValueError("count must be positive")
    return {name: max(0.0, after[name] - before[name]) * 1000 / count
            for name in before if name in after}


def moment(value: str | datetime) -> float:
    """A timestamp from the API (ISO 8601; naive means UTC, as SQLite hands it back)."""
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def schedule(rate: float, seconds: float) -> list[float]:
    """Open loop: start offsets (seconds from the phase's start) of `rate` requests a second."""
    return [i / rate for i in range(round(rate * seconds))]


@dataclass(frozen=True)
class Target:
    """One target of issue 10 against the figure this run measured."""

    name: str
    figure: float
    relation: str  # ">=", "<" or "<="
    limit: float
    unit: str

    @property
    def met(self) -> bool:
        if self.relation == ">=":
            return self.figure >= self.limit
        if self.relation == "<":
            return self.figure < self.limit
        if self.relation == "<=":
            return self.figure <= self.limit
        raise ValueError(f"unknown relation {self.relation!r}")

    def line(self) -> str:
        verdict = "PASS" if self.met else "MISS"
        return (f"  {verdict}  {self.name:<46} {self.figure:10.1f} {self.unit:<14}"
                f"(target {self.relation} {self.limit:g})")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
