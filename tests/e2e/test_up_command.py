"""`enlace up` and `enlace demo` as a newcomer uses them."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from services.demo_data import GATEWAYS
from services.stack import database_names
from tests.conftest import RunningStack
from tests.helpers import PostgresDatabases, pid_alive, require_postgres, wait_until


def enlace(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_demo_prints_a_delivered_referral(stack: RunningStack):
    result = enlace("demo", "--data-dir", str(stack.data_dir))
    assert result.returncode == 0, result.stderr
    referral = json.loads(result.stdout)
    assert referral["status"] == "delivered"
    assert referral["receipt"]["signed_by"] == "hn-senaf"


def test_demo_without_a_running_stack_says_how_to_start_one(tmp_path):
    result = enlace("demo", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert f"up --data-dir {tmp_path}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_taken_port_gives_a_clear_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = enlace("up", "--data-dir", str(tmp_path), "--registry-port", str(port))
    assert result.returncode == 2
    assert f"Port {port} for the registry is already taken" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_sigterm_stops_every_process(tmp_path):
    running = RunningStack(tmp_path, [])
    pids = running.info["pids"]
    assert set(pids) == {"nats", "directory", "registry", "gateway-MX", "gateway-HN"}
    assert all(pid_alive(pid) for pid in pids.values())
    output = running.stop()
    assert running.process.returncode == 0
    assert "Stopped." in output
    deadline = time.monotonic() + 10
    while any(pid_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [name for name, pid in pids.items() if pid_alive(pid)] == []
    assert not (tmp_path / "stack.json").exists()


def test_restart_on_the_same_data_dir_keeps_tokens_and_keys(tmp_path):
    first = RunningStack(tmp_path, [])
    token, key_file = first.token("MX", "mx-sndif"), tmp_path / "gateways/MX/keys"
    keys_before = sorted(p.read_text() for p in key_file.iterdir())
    first.stop()
    second = RunningStack(tmp_path, [])
    try:
        assert second.token("MX", "mx-sndif") == token
        # Every demo token and password is in these: readable by their owner only.
        for held in ("stack.json", "secrets.json"):
            assert stat.S_IMODE((tmp_path / held).stat().st_mode) == 0o600, held
        assert sorted(p.read_text() for p in key_file.iterdir()) == keys_before
        with second.gateway("MX", "mx-sndif") as mx:
            assert mx.get("/v1/referrals").status_code == 200
    finally:
        second.stop()


def test_a_killed_service_is_restarted_and_a_held_one_stays_down(tmp_path):
    import httpx

    running = RunningStack(tmp_path, [])
    try:
        url = running.info["registry"]["url"]
        old_pid = running.info["pids"]["registry"]
        subprocess.run(["kill", "-9", str(old_pid)], check=True)
        def restarted() -> bool:
            info = json.loads((tmp_path / "stack.json").read_text())
            if info["pids"]["registry"] == old_pid:
                return False
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(restarted, timeout=60)

        result = enlace("service", "stop", "registry", "--data-dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
        time.sleep(2)
        try:
            httpx.get(f"{url}/healthz", timeout=2)
            answered = True
        except httpx.HTTPError:
            answered = False
        assert not answered
        result = enlace("service", "start", "registry", "--data-dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    finally:
        running.stop()


def test_help_names_the_databases_of_a_template():
    result = enlace("up", "--help")
    assert result.returncode == 0, result.stderr
    assert ("for enlace_directory, enlace_registry, enlace_exchange_mx, enlace_exchange_hn. "
            "Those missing are created") in " ".join(result.stdout.split())


def test_up_creates_the_postgresql_databases_that_are_missing(tmp_path):
    databases = PostgresDatabases(require_postgres())
    services = tuple(database_names(GATEWAYS))
    expected = [f"{databases.prefix}_{name}" for name in services]
    try:
        running = RunningStack(tmp_path, ["--database-url-template", databases.template])
        try:
            with databases.engine.connect() as conn:
                existing = conn.scalars(text("SELECT datname FROM pg_database WHERE datname "
                                             "= ANY(:names) ORDER BY datname"),
                                        {"names": expected}).all()
            assert existing == sorted(expected)
            assert running.info["gateways"]["HN"]["database_url"] == databases.template.format(
                service="exchange_hn")
            with running.gateway("MX", "mx-sndif") as mx:
                assert mx.get("/v1/referrals").status_code == 200
        finally:
            output = running.stop()
        assert f"Created the PostgreSQL databases {', '.join(expected)}." in output
        assert running.process.returncode == 0
    finally:
        databases.drop(services)


def test_up_without_the_right_to_create_databases_says_how_in_one_line(tmp_path):
    admin_url = require_postgres()
    databases = PostgresDatabases(admin_url)
    services = tuple(database_names(GATEWAYS))
    names = [f"{databases.prefix}_{name}" for name in services]
    role, password = f"{databases.prefix}_role", secrets.token_hex(8)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}' NOCREATEDB"))
    server = make_url(admin_url)
    host, port = server.host, server.port or 5432
    template = server.set(username=role, password=password, database="DATABASE").render_as_string(
        hide_password=False).replace("DATABASE", f"{databases.prefix}_{{service}}")
    try:
        result = enlace("up", "--data-dir", str(tmp_path), "--database-url-template", template)
        assert result.returncode == 2
        assert "Traceback" not in result.stdout + result.stderr
        assert password not in result.stdout + result.stderr
        command = (f"for db in {' '.join(names)}; do createdb -h {host} -p {port} -U postgres "
                   f'-O {role} "$db"; done')
        assert result.stderr.splitlines() == [
            f"enlace up: Cannot create the PostgreSQL databases {', '.join(names)} at "
            f"{host}:{port} as {role} (permission denied to create database). Create them as "
            f"a superuser: {command}"]
        with admin.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM pg_database WHERE datname = "
                                    "ANY(:names)"), {"names": names}) == 0
        if shutil.which("createdb") and server.username == "postgres":
            # The line's command, as given, makes the databases, owned by the template's user.
            done = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                                  env={**os.environ, "PGPASSWORD": server.password or ""})
            assert done.returncode == 0, done.stderr
            with admin.connect() as conn:
                owners = conn.execute(text(
                    "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = "
                    "ANY(:names) ORDER BY datname"), {"names": names}).all()
            assert owners == [(name, role) for name in sorted(names)]
    finally:
        databases.drop(services)
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_an_unreachable_postgresql_is_named_by_host_and_port(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    template = f"postgresql+psycopg://enlace@127.0.0.1:{port}/enlace_{{service}}"
    result = enlace("up", "--data-dir", str(tmp_path), "--database-url-template", template)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"enlace up: PostgreSQL at 127.0.0.1:{port} cannot be reached (Connection refused): "
        f"start it, or correct the host and port in --database-url-template."]


def _one_line_exit_2(command: list[str], data_dir: Path, says: str) -> None:
    result = enlace(*command, "--data-dir", str(data_dir))
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"enlace {' '.join(command)}: {says}"), line
    assert f"up --data-dir {data_dir}'" in line


STALE_COMMANDS = (["env"], ["demo"], ["audit", "verify"])


def test_a_stack_left_behind_by_a_killed_up_is_reported_in_one_line(tmp_path):
    running = RunningStack(tmp_path, [])
    up_pid, pids = running.process.pid, running.info["pids"]
    assert running.info["pid"] == up_pid
    assert enlace("env", "--data-dir", str(tmp_path)).returncode == 0
    running.process.kill()
    running.process.wait(timeout=10)
    # Its services follow it (they get SIGTERM when their parent dies): its ports close.
    wait_until(lambda: not any(pid_alive(pid) for pid in pids.values()), timeout=30)
    assert (tmp_path / "stack.json").exists()
    for command in STALE_COMMANDS:
        _one_line_exit_2(command, tmp_path, f"The stack in {tmp_path} is no longer running "
                                            f"(started by pid {up_pid}); start it with '")
    [line] = enlace("audit", "verify", "--data-dir", str(tmp_path)).stderr.splitlines()
    assert line.endswith("', or give --registry-url and --public-key.")


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_reused_pid_or_an_old_stack_file_is_no_running_stack(tmp_path):
    path = tmp_path / "stack.json"
    # This test's own pid is alive, but it is not the process that wrote the file.
    path.write_text(json.dumps({"pid": os.getpid(), "pid_started": 1, "pids": {}}))
    for command in STALE_COMMANDS:
        _one_line_exit_2(command, tmp_path, f"The stack in {tmp_path} is no longer running "
                                            f"(started by pid {os.getpid()})")
    # A stack file written before it recorded the pid of `enlace up`: by its services' pids.
    path.write_text(json.dumps({"pids": {"nats": _dead_pid(), "registry": _dead_pid()}}))
    _one_line_exit_2(["env"], tmp_path, f"The stack in {tmp_path} is no longer running "
                                        "(its processes exited)")
