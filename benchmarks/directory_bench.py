"""Directory benchmark: search and "who do I call" lookup on a directory of 10,000
institutions and 50,000 focal points, through the HTTP API.

    .venv/bin/python benchmarks/directory_bench.py                      # SQLite in a temp dir
    .venv/bin/python benchmarks/directory_bench.py --database-url postgresql+psycopg://...

The directory is built through the same import the administrators use (checked, indexed,
with history), served in its own process as `enlace up` serves it, and queried over HTTP on
127.0.0.1 with keep-alive, one request at a time. Prints the median and 95th percentile of
each kind of request. The target is a p95 under 20 ms; on a shared machine, quote medians.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from services.directory.schemas import Competence, InstitutionType
from services.directory.seed import COUNTRIES, SEED_ACTOR, provision_directory
from services.directory.service import EDITABLE, DirectoryService
from shared.kit.db import make_engine, session_scope
from shared.kit.logging import configure_logging
from shared.protocol.auth import new_token

INSTITUTIONS = 10_000
FOCAL_POINTS_EACH = 5
STATES, MUNICIPALITIES = 16, 8  # per country, per state
NATIONAL, STATE_LEVEL = 0.02, 0.30  # shares of institutions; the rest serve municipalities
BATCH = 2_000
WORDS = ["Secretaría", "Niñez", "Adolescencia", "Familia", "Protección", "Albergue", "Centro",
         "Atención", "Migración", "Consulado", "Procuraduría", "Defensoría", "Integral",
         "Desarrollo", "Social", "Derechos", "Humanos", "Refugio", "Casa", "Esperanza",
         "Retornado", "Acogida", "Municipal", "Regional", "Nacional", "Oficina", "Unidad"]
PLACES = ["Tapachula", "San Pedro Sula", "Quetzaltenango", "Houston", "Tegucigalpa", "León",
          "Santa Ana", "Colón", "Mérida", "Cancún", "Choluteca", "Petén", "Tijuana", "Juárez"]
TOPICS = [c.value for c in Competence]
TYPES = [t.value for t in InstitutionType]


def build_rows(rng: random.Random) -> tuple[list[dict[str, Any]], ...]:
    countries = [code for code, *_ in COUNTRIES]
    areas, institutions, focal_points = [], [], []
    for country in countries:
        for s in range(STATES):
            state = f"{country}-B{s:02d}"
            areas.append({"id": state, "country": country, "name": f"Estado {rng.choice(PLACES)}",
                          "kind": "state"})
            areas += [{"id": f"{state}-M{m}", "country": country, "kind": "municipality",
                       "name": f"{rng.choice(PLACES)} {m}", "parent_id": state}
                      for m in range(MUNICIPALITIES)]
    for n in range(INSTITUTIONS):
        country = countries[n % len(countries)]
        competences = rng.sample(TOPICS, rng.randint(1, 4))
        state = f"{country}-B{rng.randrange(STATES):02d}"
        kind = rng.random()  # few national bodies; most offices serve a state or municipality
        covered = ([] if kind < NATIONAL else [state] if kind < NATIONAL + STATE_LEVEL
                   else [f"{state}-M{m}" for m in rng.sample(range(MUNICIPALITIES), 2)])
        name = " ".join(rng.sample(WORDS, 3)) + f" de {rng.choice(PLACES)}"
        institution_id = f"{country.lower()}-b{n:05d}"
        institutions.append({
            "id": institution_id, "country": country, "name": name,
            "acronym": "".join(w[0] for w in name.split()[:4]).upper() + str(n % 97),
            "type": rng.choice(TYPES), "competences": competences, "areas": sorted(set(covered)),
            "languages": ["es"] + (["en"] if rng.random() < 0.2 else []),
            "channels": [{"kind": "phone", "value": f"+000 {n:08d}"}],
        })
        for f in range(FOCAL_POINTS_EACH):
            own = [] if rng.random() < 0.8 else [
                f"{country}-B{rng.randrange(STATES):02d}-M{rng.randrange(MUNICIPALITIES)}"]
            focal_points.append({
                "id": f"{institution_id}-fp{f}", "institution_id": institution_id,
                "kind": rng.choice(["person", "desk"]),
                "name": f"{rng.choice(['Mesa', 'Ana', 'Luis', 'Karla', 'José'])} Ejemplo {n}-{f}",
                "topics": rng.sample(competences, rng.randint(1, len(competences))),
                "areas": own, "languages": ["es"], "available_24_7": rng.random() < 0.2,
                "channels": [{"kind": "email", "value": f"fp{f}@b{n}.example.org"}],
            })
    return areas, institutions, focal_points


def build(url: str, rng: random.Random) -> None:
    provision_directory(url, {}, new_token())  # schema and the real seed first
    engine = make_engine(url)
    for kind_name, rows in zip(["areas", "institutions", "focal-points"], build_rows(rng),
                               strict=True):
        started = time.perf_counter()
        for start in range(0, len(rows), BATCH):
            with session_scope(engine) as session:
                lines = list(enumerate(rows[start:start + BATCH], start=1))
                DirectoryService(session).import_entries(SEED_ACTOR, EDITABLE[kind_name], lines)
        print(f"  imported {len(rows):>6} {kind_name:<13} in "
              f"{time.perf_counter() - started:6.1f} s", flush=True)
    # Fresh planner statistics, as PostgreSQL's autovacuum gathers soon after a bulk load.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    engine.dispose()


@contextmanager
def serve(database_url: str, data_dir: str) -> Iterator[tuple[str, int]]:
    """The directory in its own process, as `enlace up` runs it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "ENLACE_DATABASE_URL": database_url, "ENLACE_DATA_DIR": data_dir,
           "ENLACE_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", "directory",
                                "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(client: httpx.Client, server_pid: int, label: str,
            requests: Callable[[], tuple[str, dict]], n: int) -> None:
    for _ in range(20):  # warm-up: connections, caches, query plans
        path, params = requests()
        client.get(path, params=params)
    cpu_before = cpu_seconds(server_pid)
    timings = []
    for _ in range(n):
        path, params = requests()
        started = time.perf_counter()
        response = client.get(path, params=params)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    cpu = (cpu_seconds(server_pid) - cpu_before) * 1000 / n
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(f"  {label:<34} median {statistics.median(timings):6.1f} ms   p95 {p95:6.1f} ms   "
          f"server CPU {cpu:5.1f} ms/request", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--reuse", action="store_true",
                        help="query the directory already at --database-url (built by an "
                             "earlier run) instead of building it")
    args = parser.parse_args()
    configure_logging(level="WARNING")
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/directory.db"
        if not (args.reuse and args.database_url):
            print(f"Building {INSTITUTIONS} institutions and "
                  f"{INSTITUTIONS * FOCAL_POINTS_EACH} focal points on {url.split(':')[0]} ...",
                  flush=True)
            build(url, rng)
        token = new_token()
        provision_directory(url, {}, token)
        countries = [code for code, *_ in COUNTRIES]

        def area() -> str:
            return f"{rng.choice(countries)}-B{rng.randrange(STATES):02d}-M{rng.randrange(8)}"

        def text_search() -> tuple[str, dict]:
            return "/v1/institutions", {"q": rng.choice(["ninez", "albergue tapachula",
                                                         "PROTECCION", "casa esperanza",
                                                         "migracion", "secretaria familia"])}

        def filtered_search() -> tuple[str, dict]:
            return "/v1/institutions", {"country": rng.choice(countries),
                                        "competence": rng.choice(TOPICS), "area": area()}

        def text_and_filters() -> tuple[str, dict]:
            return "/v1/institutions", {"q": rng.choice(WORDS), "country": rng.choice(countries),
                                        "type": rng.choice(TYPES), "limit": rng.choice([5, 20, 99])}

        def lookup() -> tuple[str, dict]:
            where = area()
            return "/v1/focal-points/lookup", {"country": where[:2], "topic": rng.choice(TOPICS),
                                               "area": where}

        with serve(url, tmp) as (base_url, pid), httpx.Client(
                base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                timeout=30) as client:
            print(f"Requests over HTTP ({args.requests} of each; load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs):", flush=True)
            for label, requests in [("search: free text", text_search),
                                    ("search: country+competence+area", filtered_search),
                                    ("search: text+country+type, page sizes", text_and_filters),
                                    ("lookup: country+topic+area", lookup)]:
                measure(client, pid, label, requests, args.requests)


if __name__ == "__main__":
    main()
