"""A real directory for the API tests: migrated by Alembic, seeded as `enlace up` seeds it,
served over HTTP by uvicorn in a thread; once on SQLite, once on PostgreSQL where reachable."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import nkeys
import pytest
import uvicorn
from fastapi import FastAPI

from services.directory.app import create_app
from services.directory.seed import DEMO_USERS, provision_directory
from shared.auth import new_token
from shared.envelope import load_or_create_private_key, public_jwk, service_key_path
from shared.nats_auth import new_seed, public_key, write_secret
from shared.settings import Settings
from tests.conftest import empty_database, wait_until

GATEWAY_INSTITUTIONS = ("mx-sndif", "mx-pfpnna", "hn-senaf")


class Server:
    """An ASGI app served by uvicorn on a port of 127.0.0.1, in a background thread."""

    def __init__(self, app: FastAPI, port: int = 0) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=15)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@dataclass
class RunningDirectory:
    url: str
    settings: Settings
    tokens: dict[str, str]
    nats_signing_seed: str

    @property
    def public_key(self) -> dict[str, Any]:
        return public_jwk(load_or_create_private_key(service_key_path(self.settings.data_dir)))

    def client(self, who: str = "regional_admin") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def serve_another(self, **settings: Any) -> Server:
        """A second directory process on the same database (to stop, or with other settings)."""
        return Server(create_app(self.settings.model_copy(update=settings)))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def directory(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[RunningDirectory]:
    data_dir = tmp_path_factory.mktemp(f"directory-{request.param}")
    with empty_database(request.param, data_dir, "directory") as url:
        tokens = {name: new_token() for name in [
            "regional_admin", "registry", *DEMO_USERS,
            *(f"gateway:{i}" for i in GATEWAY_INSTITUTIONS)]}
        provision_directory(url, {i: tokens[f"gateway:{i}"] for i in GATEWAY_INSTITUTIONS},
                            tokens["regional_admin"], {name: tokens[name] for name in DEMO_USERS},
                            registry_token=tokens["registry"])
        # The NATS account it issues gateway credentials for (as `enlace up` configures it).
        account_seed, signing_seed = (new_seed(nkeys.PREFIX_BYTE_ACCOUNT) for _ in range(2))
        signing_key_file = data_dir / "nats-account-signing.nk"
        write_secret(signing_key_file, signing_seed)
        settings = Settings(database_url=url, data_dir=data_dir, _env_file=None,
                            nats_account_signing_key_file=signing_key_file,
                            nats_account_public_key=public_key(account_seed))
        server = Server(create_app(settings))
        try:
            yield RunningDirectory(server.url, settings, tokens, signing_seed)
        finally:
            server.stop()


def unique(prefix: str) -> str:
    """An id no other test uses (the directory of a module is shared by its tests)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def institution_body(id: str, country: str = "MX", **fields: Any) -> dict[str, Any]:
    return {"id": id, "country": country, "name": f"Institución de prueba {id}",
            "type": "shelter", "competences": ["reception"], **fields}


def focal_point_body(id: str, institution_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": id, "institution_id": institution_id, "kind": "desk", "name": "Mesa de prueba",
            "topics": ["reception"],
            "channels": [{"kind": "email", "value": "mesa@prueba.example.org"}], **fields}
