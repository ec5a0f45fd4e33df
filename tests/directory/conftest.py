"""A real directory for the API tests (the in-process harness, tests/inprocess.py): migrated
by Alembic, seeded as `enlace up` seeds it, served over HTTP by uvicorn in a thread; once on
SQLite, once on PostgreSQL where reachable."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import nkeys
import pytest

from services.directory.app import create_app
from services.directory.seed import DEMO_USERS, provision_directory
from shared.protocol.auth import new_token
from shared.protocol.envelope import load_or_create_private_key, public_jwk, service_key_path
from shared.protocol.nats_auth import new_seed, public_key, write_secret
from shared.protocol.settings import Settings
from tests.inprocess import Server, database_fixture

GATEWAY_INSTITUTIONS = ("mx-sndif", "mx-pfpnna", "hn-senaf")


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


directory_database = database_fixture("directory", scope="module")


@pytest.fixture(scope="module")
def directory(directory_database: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[RunningDirectory]:
    data_dir = tmp_path_factory.mktemp("directory")
    url = directory_database
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


def institution_body(id: str, country: str = "MX", **fields: Any) -> dict[str, Any]:
    return {"id": id, "country": country, "name": f"Institución de prueba {id}",
            "type": "shelter", "competences": ["reception"], **fields}


def focal_point_body(id: str, institution_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": id, "institution_id": institution_id, "kind": "desk", "name": "Mesa de prueba",
            "topics": ["reception"],
            "channels": [{"kind": "email", "value": "mesa@prueba.example.org"}], **fields}
