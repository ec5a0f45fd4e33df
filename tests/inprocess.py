"""The in-process harness of tests/directory, tests/registry and tests/exchange: a service's
app on a real, empty database (a SQLite file, and PostgreSQL where reachable), called
through a TestClient or served over real HTTP by uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from tests.helpers import BACKENDS, empty_database, wait_until


def database_fixture(name: str, scope: str = "function") -> Callable[..., Any]:
    """A fixture giving the URL of a fresh database called `name`, once per backend:
    `database_url = database_fixture("registry")` in a conftest or test module."""
    @pytest.fixture(scope=scope, params=BACKENDS)  # type: ignore[call-overload]
    def database(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
        folder = tmp_path_factory.mktemp(f"{name}-{request.param}")
        with empty_database(request.param, folder, name) as url:
            yield url
    return database  # type: ignore[no-any-return]


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
        wait_until(lambda: self.server.started, timeout=60)

    def stop(self) -> None:
        """Returns once the server no longer listens (however busy the machine)."""
        self.server.should_exit = True
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the server did not stop within 60 s"
