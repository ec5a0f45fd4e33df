"""Bearer tokens: each maps to one institution and one role, and is stored only as a hash.

Tokens are 256-bit random strings, so a plain SHA-256 is enough to make a stolen
database useless for calling the API (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Field, Session, SQLModel, select

from shared.db import UTCDateTime, utcnow
from shared.errors import Forbidden, Unauthorized

TOKEN_PREFIX = "enl_"  # noqa: S105 (a prefix, not a secret)
TOKEN_ID_LENGTH = 12


class Role(StrEnum):
    caseworker = "caseworker"
    consular_officer = "consular_officer"
    country_admin = "country_admin"
    regional_admin = "regional_admin"
    auditor = "auditor"
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
    from shared.db import session_scope

    with session_scope(request.app.state.engine) as session:
        yield session


# scope="function": commit before the response is sent, so a client never reads ahead of
# the commit, nor gets a success for a transaction that then fails.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


# Asks another service whether a token this one does not know is valid (the registry asks
# the directory about gateway tokens); set on app.state.introspector.
Introspector = Callable[[str], Principal | None]


def authenticate(request: Request, session: SessionDep) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send 'Authorization: Bearer <token>'.", code="missing_token")
    principal = principal_for(session, token.strip())
    introspector: Introspector | None = getattr(request.app.state, "introspector", None)
    if principal is None and introspector is not None and \
            session.get(ApiToken, hash_token(token.strip())) is None:
        principal = introspector(token.strip())
    if principal is None:
        raise Unauthorized("The token is not valid or has been revoked.", code="invalid_token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"This action needs one of the roles: {allowed}.", code="role_not_allowed")
