"""Fixtures that run the real system: `enlace up` in a subprocess, on SQLite or PostgreSQL.

PostgreSQL is used where reachable at ENLACE_TEST_DATABASE_URL (default: the local server
on 127.0.0.1:5432 as user postgres); set it to "none" to run on SQLite only. Each run gets
fresh databases, dropped afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client as NATS
from sqlalchemy import create_engine, text

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
STACK_DATABASES = ("directory", "registry", "exchange_mx", "exchange_hn")


def postgres_admin_url() -> str | None:
    url = os.environ.get("ENLACE_TEST_DATABASE_URL", DEFAULT_PG)
    if url.lower() in ("", "none", "off"):
        return None
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return None
    return url


class PostgresDatabases:
    """Fresh databases named after a template, created and dropped through one admin URL."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.prefix = f"enlace_t{secrets.token_hex(4)}"
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    @property
    def template(self) -> str:
        base = self.admin_url.split("?")[0].rsplit("/", 1)[0]
        return f"{base}/{self.prefix}_{{service}}"

    def create(self, names: tuple[str, ...]) -> None:
        with self.engine.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{self.prefix}_{name}"'))

    def drop(self, names: tuple[str, ...]) -> None:
        with self.engine.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.prefix}_{name}" '
                                  "WITH (FORCE)"))
        self.engine.dispose()


@contextmanager
def empty_database(backend: str, folder: Path, name: str) -> Iterator[str]:
    """The URL of a new, empty database: a SQLite file in `folder`, or a PostgreSQL database
    dropped afterwards (the test is skipped when no PostgreSQL is reachable)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / (name + '.db')}"
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("no PostgreSQL reachable (set ENLACE_TEST_DATABASE_URL)")
    databases = PostgresDatabases(admin_url)
    databases.create((name,))
    try:
        yield databases.template.format(service=name)
    finally:
        databases.drop((name,))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has stopped all the same.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


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


def wait_until(check, timeout: float = 30, interval: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll `check` until it returns something truthy; return it, or fail with the last."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


@contextmanager
def running_stack(data_dir: Path, postgres_admin: str | None = None,
                  env: dict[str, str] | None = None) -> Iterator[RunningStack]:
    """`enlace up` in `data_dir`: on SQLite, or on fresh PostgreSQL databases made through
    `postgres_admin` and dropped afterwards."""
    databases = PostgresDatabases(postgres_admin) if postgres_admin else None
    extra: list[str] = []
    if databases is not None:
        databases.create(STACK_DATABASES)
        extra = ["--database-url-template", databases.template]
    running = RunningStack(data_dir, extra, env)
    try:
        yield running
    finally:
        running.stop()
        if databases is not None:
            databases.drop(STACK_DATABASES)


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    """Extra environment for the module's stack; a test module overrides it when it must."""
    return {}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          stack_env: dict[str, str]) -> Iterator[RunningStack]:
    admin_url = None
    if request.param == "postgresql":
        admin_url = postgres_admin_url()
        if admin_url is None:
            pytest.skip("no PostgreSQL reachable (set ENLACE_TEST_DATABASE_URL)")
    with running_stack(tmp_path_factory.mktemp(f"stack-{request.param}"), admin_url,
                       stack_env) as running:
        yield running
