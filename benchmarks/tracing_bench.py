"""Benchmark of the tracing scorer (issue 12): one tracing request against a country's
records, all of them scored, or only those a cheap blocking step lets through.

    .venv/bin/python benchmarks/tracing_bench.py [--candidates 100000] [--runs 3]

The candidates are synthetic (seeded: the same on every run), drawn from common given names,
nicknames, surnames and spelling variants of the region, with dates of birth or estimated
ages. Prints the median wall and CPU time of `--runs` runs of each way, the scorer's word caches
emptied before each run ("cold") and kept ("warm"), the candidates the blocking step keeps,
how many matches each way finds, and os.getloadavg(). It asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, timedelta

from services.exchange.tracing import matching
from services.exchange.tracing.matching import (
    AgeEstimate,
    Band,
    PersonDescription,
    Relative,
    blocking_keys,
    score,
)

TODAY = date(2026, 12, 1)
GIVEN_F = ["María", "Ana", "Guadalupe", "Lupe", "Rosa", "Xóchitl", "Itzel", "Sofía", "Valeria",
           "Ximena", "Jimena", "Dolores", "Lola", "Carmen", "Daniela", "Fernanda", "Yolanda",
           "Concepción", "Rosario", "Nayeli", "Citlali", "María José", "Ana Lucía",
           "María Guadalupe", "Karla", "Carla", "Lucía", "Elena", "Isabel", "Sandra"]
GIVEN_M = ["José", "Juan", "Luis", "Carlos", "Francisco", "Pancho", "Jesús", "Chucho", "Manuel",
           "Miguel", "José María", "Chema", "Ignacio", "Enrique", "Alejandro", "Pedro",
           "Héctor", "Éctor", "Kevin", "Brayan", "Josué", "Ángel", "Daniel", "Mario",
           "Juan Carlos", "José Luis", "Gerardo", "Jerardo", "Refugio", "Cuauhtémoc"]
SURNAMES = ["García", "Hernández", "Ernández", "López", "Martínez", "González", "Gonzáles",
            "Pérez", "Rodríguez", "Sánchez", "Ramírez", "Cruz", "de la Cruz", "Flores", "Gómez",
            "Morales", "Vázquez", "Bázquez", "Reyes", "Jiménez", "Torres", "Díaz", "Gutiérrez",
            "Ruiz", "Mendoza", "Aguilar", "Ortiz", "Castillo", "Castiyo", "Chávez", "Xol",
            "Tzul", "Tsul", "Pop", "Caal", "Ixcoy", "Us", "Coc", "Choc", "Velásquez",
            "Villalobos", "Mejía", "Méjia", "Alvarado", "Juárez", "Suárez", "Rivera", "Ayala",
            "Orellana", "Zelaya"]
SOUGHT = PersonDescription(
    given_names="María Guadalupe", family_names="Hernández Xol", sex="female",
    estimated_age=AgeEstimate(9, 10, on=date(2024, 3, 1)),
    relatives=(Relative("mother", "Rosa Xol Caal"),))


def candidates(count: int, seed: int = 12) -> list[PersonDescription]:
    rng = random.Random(seed)
    people = []
    for _ in range(count):
        sex = rng.choice(["female", "male"])
        given = rng.choice(GIVEN_F if sex == "female" else GIVEN_M)
        family = " ".join(rng.sample(SURNAMES, rng.choice([1, 2, 2, 2])))
        born = TODAY - timedelta(days=rng.randrange(0, 18 * 365))
        if rng.random() < 0.2:
            years = (TODAY - born).days // 365
            age = AgeEstimate(years, years, on=TODAY)
            dob = None
        else:
            age, dob = None, born
        mother = f"{rng.choice(GIVEN_F)} {rng.choice(SURNAMES)} {rng.choice(SURNAMES)}"
        people.append(PersonDescription(
            given_names=given, family_names=family, sex=sex,  # type: ignore[arg-type]
            date_of_birth=dob, estimated_age=age,
            relatives=(Relative("mother", mother),) if rng.random() < 0.6 else ()))
    return people


def index(people: Sequence[PersonDescription]) -> dict[str, list[int]]:
    by_key: dict[str, list[int]] = defaultdict(list)
    for n, person in enumerate(people):
        for key in blocking_keys(person):
            by_key[key].append(n)
    return by_key


def clear_caches() -> None:
    for cached in (matching.phonetic_keys, matching._word_similarity, matching._words,
                   matching._tokens, matching._name_forms, matching._relative_name,
                   matching._given_names_similarity, matching._surnames_similarity):
        cached.cache_clear()


def timed(run: Callable[[], int], runs: int, cold: bool) -> tuple[float, float, int]:
    """Median wall and CPU seconds of `runs` runs (CPU: the machine may be shared)."""
    walls, cpus, found = [], [], 0
    for _ in range(runs):
        if cold:
            clear_caches()
        start, start_cpu = time.perf_counter(), time.process_time()
        found = run()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return statistics.median(walls), statistics.median(cpus), found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    people = candidates(args.candidates)

    def scan_all() -> int:
        return sum(score(SOUGHT, c, TODAY).band is not None for c in people)

    start = time.perf_counter()
    by_key = index(people)
    index_time = time.perf_counter() - start
    kept = sorted({n for key in blocking_keys(SOUGHT) for n in by_key.get(key, ())})

    def scan_blocked() -> int:
        return sum(score(SOUGHT, people[n], TODAY).band is not None for n in kept)

    likely_all = sum(score(SOUGHT, c, TODAY).band is Band.likely for c in people)
    likely_kept = sum(score(SOUGHT, people[n], TODAY).band is Band.likely for n in kept)
    for name, run in (("all candidates", scan_all), ("blocked", scan_blocked)):
        cold, cold_cpu, found = timed(run, args.runs, cold=True)
        warm, warm_cpu, _ = timed(run, args.runs, cold=False)
        print(f"{name:15} cold {cold:6.3f} s (CPU {cold_cpu:6.3f} s)  "
              f"warm {warm:6.3f} s (CPU {warm_cpu:6.3f} s)  "
              f"median of {args.runs}; {found} likely or possible")
    print(f"blocking index of {len(people)} candidates built in {index_time:.3f} s; "
          f"it keeps {len(kept)} ({len(kept) / len(people):.1%}); "
          f"likely: {likely_kept} of {likely_all} kept")
    print(f"os.getloadavg(): {os.getloadavg()}")


if __name__ == "__main__":
    main()
