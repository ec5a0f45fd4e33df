"""The benchmark (issue #3, point 6) builds the directory the issue names, of valid entries.
Its timings are printed by benchmarks/directory_bench.py, never asserted."""

from __future__ import annotations

import random

from benchmarks.directory_bench import build_rows
from services.directory.schemas import AreaData, FocalPointData, InstitutionData


def test_the_benchmark_builds_10000_institutions_and_50000_valid_focal_points():
    areas, institutions, focal_points = build_rows(random.Random(2026))
    assert (len(institutions), len(focal_points)) == (10_000, 50_000)
    for model, rows in ((AreaData, areas), (InstitutionData, institutions),
                        (FocalPointData, focal_points)):
        for row in rows:
            model.model_validate(row)
    area_ids = {a["id"] for a in areas}
    assert all(set(i["areas"]) <= area_ids for i in institutions)
    assert len({i["id"] for i in institutions}) == len(institutions)
