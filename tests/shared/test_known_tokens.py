"""known_principal: a token seen valid is known without a database hop, and still refused
as soon as it is revoked (shared/protocol/auth.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlmodel import Session, SQLModel
from starlette.concurrency import run_in_threadpool

from shared.kit.db import make_engine, session_scope, utcnow
from shared.kit.errors import install_problem_handlers
from shared.protocol.auth import (
    ApiToken,
    KnownPrincipal,
    Role,
    confirm_token,
    hash_token,
    issue_token,
)


def app_with_tokens(tmp_path: Path) -> FastAPI:
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    SQLModel.metadata.create_all(engine, tables=[ApiToken.__table__])  # type: ignore[list-item]
    app = FastAPI()
    install_problem_handlers(app)
    app.state.engine = engine

    @app.get("/me")
    async def me(principal: KnownPrincipal, request: Request) -> dict[str, str]:
        def confirm() -> None:
            with Session(engine) as session:
                confirm_token(request, session)

        await run_in_threadpool(confirm)
        return {"institution_id": principal.institution_id, "role": principal.role.value}

    return app


def test_a_known_token_is_refused_once_revoked(tmp_path: Path) -> None:
    app = app_with_tokens(tmp_path)
    with session_scope(app.state.engine) as session:
        token = issue_token(session, "mx-sndif", "MX", Role.caseworker)
    with TestClient(app) as client:
        assert client.get("/me").json()["code"] == "missing_token"
        assert client.get("/me", headers={"Authorization": "Bearer enl_nope"}
                          ).json()["code"] == "invalid_token"
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/me", headers=auth).json() == {"institution_id": "mx-sndif",
                                                          "role": "caseworker"}
        assert app.state.known_tokens.get(hash_token(token)) is not None
        with session_scope(app.state.engine) as session:
            row = session.get(ApiToken, hash_token(token))
            assert row is not None
            row.revoked_at = utcnow()
            session.add(row)
        refused = client.get("/me", headers=auth)
        assert refused.status_code == 401
        assert refused.json()["code"] == "invalid_token"
        assert app.state.known_tokens.get(hash_token(token)) is None
        assert client.get("/me", headers=auth).json()["code"] == "invalid_token"
