"""Bearer tokens: each maps to one institution and one role, and is stored only as a hash.

Tokens are 256-bit random strings, so a plain SHA-256 is enough to make a stolen
database useless for calling the API (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import bindparam
from sqlmodel import Field, Session, SQLModel, col, select
from starlette.concurrency import run_in_threadpool

from shared.kit.db import UTCDateTime, utcnow
from shared.kit.errors import Forbidden, Unauthorized

TOKEN_PREFIX = "enl_"  # noqa: S105 (a prefix, not a secret)
TOKEN_ID_LENGTH = 12


class Role(StrEnum):
    caseworker = "caseworker"
    consular_officer = "consular_officer"
    country_admin = "country_admin"
    regional_admin = "regional_admin"
    auditor = "auditor"
    # Reads a country's own figures in full detail, and the regional ones; changes nothing.
    supervisor = "supervisor"
    gateway = "gateway"
    # A regional service calling another (the registry at the directory): reads, and asks
    # whether a gateway token is valid (introspection); never writes.
    regional_service = "regional_service"


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    institution_id: str = Field(index=True, max_length=64)
    country: str = Field(max_length=2)
    role: str = Field(max_length=32)
    label: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


@dataclass(frozen=True)
class Principal:
    institution_id: str
    country: str
    role: Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str:
    """A short name for a token in histories and listings (a prefix of its hash)."""
    return hash_token(token)[:TOKEN_ID_LENGTH]


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def issue_token(
    session: Session, institution_id: str, country: str, role: Role, token: str | None = None,
    label: str = "",
) -> str:
    """Store a token's hash; return the token (shown once, never stored in clear)."""
    token = token or new_token()
    token_hash = hash_token(token)
    if session.get(ApiToken, token_hash) is None:
        session.add(
            ApiToken(
                token_hash=token_hash, institution_id=institution_id, country=country,
                role=role.value, label=label,
            )
        )
        session.flush()
    return token


def principal_for(session: Session, token: str) -> Principal | None:
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    return Principal(row.institution_id, row.country, Role(row.role))


def get_session(request: Request):  # type: ignore[no-untyped-def]
    """The request owns the transaction: commit on success, roll back on error."""
    from shared.kit.db import session_scope

    with session_scope(request.app.state.engine) as session:
        yield session


# scope="function": commit before the response is sent, so a client never reads ahead of
# the commit, nor gets a success for a transaction that then fails.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


# Asks another service whether a token this one does not know is valid (the registry asks
# the directory about gateway tokens); set on app.state.introspector.
Introspector = Callable[[str], Principal | None]


def bearer_token(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send 'Authorization: Bearer <token>'.", code="missing_token")
    return token.strip()


def authenticate(request: Request, session: SessionDep) -> Principal:
    return _authenticate(request, session, bearer_token(request))


def _authenticate(request: Request, session: Session, token: str) -> Principal:
    principal = principal_for(session, token)
    introspector: Introspector | None = getattr(request.app.state, "introspector", None)
    if principal is None and introspector is not None and \
            session.get(ApiToken, hash_token(token)) is None:
        principal = introspector(token)
    if principal is None:
        raise Unauthorized("The token is not valid or has been revoked.", code="invalid_token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


class KnownTokens:
    """Principals of the tokens of this service's own table seen valid, by token hash, so a
    request's caller is known without a thread hop. The request still confirms its token in
    its own transaction (`confirm_token`): a revoked token is refused as before."""

    max_size = 10_000

    def __init__(self) -> None:
        self._principals: dict[str, Principal] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> Principal | None:
        return self._principals.get(token_hash)

    def remember(self, token_hash: str, principal: Principal) -> None:
        with self._lock:
            if len(self._principals) >= self.max_size:
                self._principals.clear()
            self._principals[token_hash] = principal

    def forget(self, token_hash: str) -> None:
        with self._lock:
            self._principals.pop(token_hash, None)


def known_tokens(request: Request) -> KnownTokens:
    known: KnownTokens | None = getattr(request.app.state, "known_tokens", None)
    if known is None:
        known = request.app.state.known_tokens = KnownTokens()
    return known


async def known_principal(request: Request) -> Principal:
    """The caller, as `authenticate` finds it, without a thread hop once its token is known.
    The endpoint must call `confirm_token` in its transaction."""
    token = bearer_token(request)
    token_hash = hash_token(token)
    request.state.token_hash = token_hash
    known = known_tokens(request)
    principal = known.get(token_hash)
    if principal is not None:
        return principal

    def look_up() -> Principal:
        from shared.kit.db import session_scope

        with session_scope(request.app.state.engine) as session:
            found = _authenticate(request, session, token)
            if session.get(ApiToken, token_hash) is not None:
                known.remember(token_hash, found)
            else:
                request.state.token_introspected = True
            return found

    return await run_in_threadpool(look_up)


# Built once: every request that writes asks it (one column, no object to load).
_REVOKED_AT = select(col(ApiToken.revoked_at)).where(
    col(ApiToken.token_hash) == bindparam("token_hash"))


def confirm_token(request: Request, session: Session) -> None:
    """In the request's transaction: the token `known_principal` took is still valid."""
    if getattr(request.state, "token_introspected", False):
        return  # asked of its issuer just now
    token_hash: str = request.state.token_hash
    row = session.execute(_REVOKED_AT, {"token_hash": token_hash}).first()
    if row is None or row.revoked_at is not None:
        known_tokens(request).forget(token_hash)
        raise Unauthorized("The token is not valid or has been revoked.", code="invalid_token")


# For endpoints that run their whole transaction in one hop (services/exchange/api.py).
KnownPrincipal = Annotated[Principal, Depends(known_principal)]


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"This action needs one of the roles: {allowed}.", code="role_not_allowed")
