"""The stack harness: the real system (`enlace up` in a subprocess, with its own nats-server,
on free ports and temporary folders), on SQLite and on PostgreSQL where reachable at
ENLACE_TEST_DATABASE_URL (default: the local server on 127.0.0.1:5432 as user postgres; set
it to "none" to run on SQLite only). Each stack gets fresh databases, dropped afterwards.

A module's `stack` is, by default, the stack its test worker shares with the other modules
that only read or add their own data (one per database and worker, started on first use).
A module that stops, kills or pauses a service, or needs other settings (it overrides
`stack_env`), gets a stack of its own: mark it `pytestmark = pytest.mark.own_stack`.
A module whose tests prove nothing about the database (what is on the wire, a service
stopped) runs on SQLite only: `pytestmark = SQLITE_ONLY`; the services' storage is tested
on both databases in tests/directory, tests/registry and tests/exchange.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client as NATS

from services.demo_data import GATEWAYS
from services.stack import database_names

# Re-exported: tests written before tests/helpers.py import them from here.
from tests.helpers import (  # noqa: F401
    BACKENDS,
    PostgresDatabases,
    empty_database,
    pid_alive,
    postgres_admin_url,
    require_postgres,
    wait_until,
)

SQLITE_ONLY = pytest.mark.sqlite_only


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module marked sqlite_only gets its `stack` on SQLite alone (this parametrization
    replaces the fixture's)."""
    if "stack" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
            "sqlite_only"):
        # As a mark, so that the fixture's own parametrization gives way to it.
        metafunc.definition.add_marker(pytest.mark.parametrize(
            "stack", ["sqlite"], indirect=True, scope="module"))


class RunningStack:
    """`enlace up` as a newcomer runs it, driven through stack.json."""

    def __init__(self, data_dir: Path, extra_args: list[str],
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--data-dir", str(data_dir),
             *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})},
        )
        self.info = self._wait_for_stack_file()

    @staticmethod
    def read_info(data_dir: Path) -> dict[str, Any]:
        return dict(json.loads((data_dir / "stack.json").read_text()))

    def _wait_for_stack_file(self, timeout: float = 120) -> dict[str, Any]:
        path = self.data_dir / "stack.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists():
                return dict(json.loads(path.read_text()))
            if self.process.poll() is not None:
                output = self.process.stdout.read() if self.process.stdout else ""
                raise RuntimeError(f"enlace up exited early:\n{output}")
            time.sleep(0.2)
        self.process.kill()
        raise RuntimeError("enlace up did not write stack.json in time")

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=60)
        return output

    def token(self, country: str, institution: str, role: str = "caseworker") -> str:
        return str(self.info["gateways"][country]["institutions"][institution]["tokens"][role])

    def gateway(self, country: str, institution: str, role: str = "caseworker") -> httpx.Client:
        return httpx.Client(
            base_url=self.info["gateways"][country]["url"], timeout=10,
            headers={"Authorization": f"Bearer {self.token(country, institution, role)}"},
        )

    def registry(self, role: str = "auditor") -> httpx.Client:
        return httpx.Client(
            base_url=self.info["registry"]["url"], timeout=10,
            headers={"Authorization": f"Bearer {self.info['registry']['tokens'][role]}"},
        )

    async def nats(self, identity: str = "admin") -> NATS:
        """A NATS connection as one of the stack's wire identities: "admin" (the
        secretariat's operator), "registry", or "gateway-MX" / "gateway-HN" (a country)."""
        credentials = self.info.get("nats_credentials", {})
        options: dict[str, Any] = {}
        if identity in credentials:
            options = dict(credentials[identity])
        return await nats.connect(self.info["nats_url"], connect_timeout=5,
                                  max_reconnect_attempts=0, **options)

    def directory(self, role: str = "regional_admin") -> httpx.Client:
        return httpx.Client(
            base_url=self.info["directory"]["url"], timeout=10,
            headers={"Authorization": f"Bearer {self.info['directory']['tokens'][role]}"},
        )


@contextmanager
def running_stack(data_dir: Path, postgres_admin: str | None = None,
                  env: dict[str, str] | None = None,
                  countries: tuple[str, ...] = ()) -> Iterator[RunningStack]:
    """`enlace up` in `data_dir` (with the gateways of `countries`, else the demo's): on
    SQLite, or on fresh PostgreSQL databases made through `postgres_admin` and dropped
    afterwards."""
    databases = PostgresDatabases(postgres_admin) if postgres_admin else None
    extra = ["--countries", ",".join(countries)] if countries else []
    names = tuple(database_names(countries or GATEWAYS))
    if databases is not None:
        databases.create(names)
        extra += ["--database-url-template", databases.template]
    running = RunningStack(data_dir, extra, env)
    try:
        yield running
    finally:
        running.stop()
        if databases is not None:
            databases.drop(names)


class StackPool:
    """The stacks shared by the modules of one test worker: one per database, started when
    a module first asks for it, stopped when the session ends."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.stacks: dict[str, RunningStack] = {}
        self.exits = ExitStack()

    def get(self, backend: str, admin_url: str | None) -> RunningStack:
        if backend not in self.stacks:
            folder = self.tmp_path_factory.mktemp(f"shared-stack-{backend}")
            self.stacks[backend] = self.exits.enter_context(running_stack(folder, admin_url))
        running = self.stacks[backend]
        if running.process.poll() is not None:
            raise RuntimeError(f"the shared {backend} stack has exited; a module that stops "
                               "services must be marked own_stack")
        return running

    def close(self) -> None:
        self.exits.close()


@pytest.fixture(scope="session")
def stack_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackPool]:
    pool = StackPool(tmp_path_factory)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    """Extra environment for the module's stack; a module that overrides it gets a stack of
    its own."""
    return {}


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          stack_env: dict[str, str], stack_pool: StackPool) -> Iterator[RunningStack]:
    admin_url = require_postgres() if request.param == "postgresql" else None
    if not stack_env and request.node.get_closest_marker("own_stack") is None:
        yield stack_pool.get(request.param, admin_url)
        return
    with running_stack(tmp_path_factory.mktemp(f"stack-{request.param}"), admin_url,
                       stack_env) as running:
        yield running
