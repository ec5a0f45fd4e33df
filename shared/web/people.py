"""People who sign in to a console, their browser sessions, and the local-password sign-in.

A person has an institution and a role exactly like an API token, so every page acts as a
`Principal` through the same permission checks as the REST API. How a person proves who
they are is the `Authenticator`'s business (local passwords here; a national OpenID Connect
provider can take its place, see docs/console.md); sessions do not depend on it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Field, Session, SQLModel, select

from shared.kit.db import UTCDateTime, utcnow
from shared.kit.loops import exponential_backoff
from shared.protocol.auth import Principal, Role

SESSION_LIFETIME = timedelta(hours=12)
SESSION_IDLE = timedelta(hours=2)
# Failed attempts before each further attempt waits, doubling up to the cap.
FREE_ATTEMPTS = 3
MAX_WAIT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


class Person(SQLModel, table=True):
    __tablename__ = "people"

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=64)
    username: str = Field(unique=True, index=True, max_length=100)
    display_name: str = Field(max_length=200)
    institution_id: str = Field(index=True, max_length=64)
    country: str = Field(max_length=2)
    role: str = Field(max_length=32)
    # None when the person signs in through an external identity provider only.
    password_hash: str | None = Field(default=None, max_length=200)
    external_subject: str | None = Field(default=None, unique=True, max_length=200)
    time_zone: str = Field(default="", max_length=64)
    failed_attempts: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    def principal(self) -> Principal:
        return Principal(self.institution_id, self.country, Role(self.role))


class WebSession(SQLModel, table=True):
    """A signed-in browser; the cookie holds a random token, the table only its hash."""

    __tablename__ = "web_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(foreign_key="people.id", index=True, max_length=64)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def new_password() -> str:
    return secrets.token_urlsafe(12)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_person(
    session: Session, username: str, display_name: str, institution_id: str, country: str,
    role: Role, password: str | None,
) -> Person:
    """Add a person unless the username exists (then return that one unchanged)."""
    existing = session.exec(select(Person).where(Person.username == username)).first()
    if existing is not None:
        return existing
    person = Person(username=username, display_name=display_name, institution_id=institution_id,
                    country=country, role=role.value,
                    password_hash=hash_password(password) if password else None)
    session.add(person)
    session.flush()
    return person


# Sessions --------------------------------------------------------------------------------


def start_session(session: Session, person: Person) -> tuple[str, WebSession]:
    """A new session for the person; return the cookie value (never stored) and the row."""
    token = secrets.token_urlsafe(32)
    row = WebSession(token_hash=_token_hash(token), person_id=person.id,
                     csrf_token=secrets.token_urlsafe(32))
    session.add(row)
    session.flush()
    return token, row


def session_of(session: Session, token: str,
               touch: bool = True) -> tuple[WebSession, Person] | None:
    """The live session and its person for a cookie value, or None (expired ones go).
    `touch`: the person did something, so the idle time starts again."""
    row = session.get(WebSession, _token_hash(token))
    if row is None:
        return None
    now = utcnow()
    person = session.get(Person, row.person_id)
    if (person is None or person.disabled_at is not None
            or now - row.created_at > SESSION_LIFETIME or now - row.last_seen_at > SESSION_IDLE):
        session.delete(row)
        session.flush()
        return None
    if touch:
        row.last_seen_at = now
        session.add(row)
    return row, person


def end_session(session: Session, token: str) -> None:
    row = session.get(WebSession, _token_hash(token))
    if row is not None:
        session.delete(row)
        session.flush()


def end_other_sessions(session: Session, person: Person, keep: WebSession) -> None:
    rows = session.exec(select(WebSession).where(WebSession.person_id == person.id))
    for row in rows:
        if row.token_hash != keep.token_hash:
            session.delete(row)
    session.flush()


# Proving who one is ------------------------------------------------------------------------


class SignInRefused(Exception):
    """Wrong username or password, or a wait after failed attempts; `person` when known."""

    def __init__(self, reason: str, person: Person | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.person = person
        self.retry_after = retry_after


class Authenticator(Protocol):
    """How a person proves who they are; the console only needs the `Person` back."""

    def verify(self, session: Session, username: str, password: str) -> Person: ...


@dataclass
class PasswordAuthenticator:
    """Local passwords (argon2id) with a doubling wait after FREE_ATTEMPTS failures."""

    def verify(self, session: Session, username: str, password: str) -> Person:
        person = session.exec(select(Person).where(Person.username == username)).first()
        now = utcnow()
        if person is None or person.disabled_at is not None or person.password_hash is None:
            _hasher.hash(password)  # the same work whether the person exists or not
            raise SignInRefused("bad_credentials")
        if person.locked_until is not None and person.locked_until > now:
            wait = int((person.locked_until - now).total_seconds()) + 1
            raise SignInRefused("locked", person, retry_after=wait)
        try:
            _hasher.verify(person.password_hash, password)
        except (VerificationError, InvalidHashError):
            person.failed_attempts += 1
            over = person.failed_attempts - FREE_ATTEMPTS
            if over > 0:
                # 4 s after the first failure over the free ones, then 8 s, 16 s ...
                wait_for = exponential_backoff(over + 2, cap=MAX_WAIT.total_seconds())
                person.locked_until = now + timedelta(seconds=wait_for)
            session.add(person)
            session.flush()
            raise SignInRefused("bad_credentials", person) from None
        person.failed_attempts = 0
        person.locked_until = None
        if _hasher.check_needs_rehash(person.password_hash):
            person.password_hash = hash_password(password)
        session.add(person)
        session.flush()
        return person


def change_password(session: Session, person: Person, current: str, new: str) -> None:
    """Raise ValueError with a message id when the change is refused."""
    try:
        _hasher.verify(person.password_hash or "", current)
    except (VerificationError, InvalidHashError):
        raise ValueError("wrong_current_password") from None
    if len(new) < MIN_PASSWORD_LENGTH:
        raise ValueError("password_too_short")
    person.password_hash = hash_password(new)
    session.add(person)
    session.flush()


def provision_people(database_url: str, people: dict[str, tuple[str, str, Role, str]]) -> None:
    """Demo people: username -> (institution, country, role, password); existing ones stay."""
    from shared.kit.db import make_engine, session_scope

    engine = make_engine(database_url)
    with session_scope(engine) as session:
        for username, (institution_id, country, role, password) in people.items():
            create_person(session, username, f"{role.value} {institution_id} (demo)",
                          institution_id, country, role, password)
    engine.dispose()
