"""The web kit's pure parts: language choice, redirects, catalogs, password lockout."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from sqlmodel import Session, SQLModel, create_engine

from shared.kit.db import utcnow
from shared.protocol.auth import Role
from shared.web.i18n import LOCALE_DIR, choose_language, label
from shared.web.kit import _safe_next
from shared.web.people import (
    PasswordAuthenticator,
    Person,
    SignInRefused,
    WebSession,
    create_person,
    end_session,
    session_of,
    start_session,
)


@pytest.mark.parametrize(("cookie", "header", "expected"), [
    (None, "en-US,en;q=0.9", "en"),
    (None, "fr-FR, en;q=0.5, es;q=0.8", "es"),
    (None, "de", "es"),
    (None, None, "es"),
    ("en", "es-MX", "en"),
    ("xx", "en", "en"),
])
def test_language_from_the_cookie_then_accept_language(cookie, header, expected) -> None:
    assert choose_language(cookie, header) == expected


@pytest.mark.parametrize(("target", "expected"), [
    ("/console/referrals?box=outbound", "/console/referrals?box=outbound"),
    ("https://evil.example/", "/home"),
    ("//evil.example/", "/home"),
    ("/\\evil.example", "/home"),
    ("", "/home"),
])
def test_redirects_stay_on_this_site(target: str, expected: str) -> None:
    assert _safe_next(target, "/home") == expected


def test_vocabularies_are_translated_and_unknown_values_shown_as_they_are() -> None:
    assert label("es", "status", "in_progress") == "en atención"
    assert label("en", "status", "in_progress") == "in progress"
    assert label("es", "category", "legal-status") == "situación jurídica"
    assert label("es", "status", "something-new") == "something-new"


def test_every_message_has_a_spanish_translation_and_the_compiled_catalog_is_current() -> None:
    template = read_po((LOCALE_DIR / "messages.pot").open("rb"))
    for language in ("es", "en"):
        po = read_po((LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb"))
        assert {m.id for m in template if m.id} <= {m.id for m in po if m.id}, language
        compiled = read_mo(BytesIO((LOCALE_DIR / language / "LC_MESSAGES" /
                                    "messages.mo").read_bytes()))
        assert {m.id: m.string for m in po if m.id and m.string} == \
            {m.id: m.string for m in compiled if m.id}, f"run pybabel compile ({language})"
    spanish = read_po((LOCALE_DIR / "es" / "LC_MESSAGES" / "messages.po").open("rb"))
    assert not [m.id for m in spanish if m.id and not m.string]


@pytest.fixture
def session() -> Session:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine, tables=[Person.__table__, WebSession.__table__])
    with Session(engine) as db:
        yield db


def test_failed_attempts_wait_longer_each_time_and_a_right_password_resets(
        session: Session) -> None:
    create_person(session, "ana", "Ana", "mx-sndif", "MX", Role.caseworker,
                  "correct horse battery")
    auth = PasswordAuthenticator()
    for _ in range(3):
        with pytest.raises(SignInRefused) as refused:
            auth.verify(session, "ana", "wrong")
        assert refused.value.reason == "bad_credentials"
    with pytest.raises(SignInRefused):
        auth.verify(session, "ana", "wrong")
    person = session.get(Person, refused.value.person.id)  # type: ignore[union-attr]
    assert person is not None and person.locked_until is not None
    first_wait = person.locked_until - utcnow()
    # While waiting, even the right password is refused, and the wait does not grow.
    with pytest.raises(SignInRefused) as locked:
        auth.verify(session, "ana", "correct horse battery")
    assert locked.value.reason == "locked" and locked.value.retry_after
    person.locked_until = utcnow() - timedelta(seconds=1)
    with pytest.raises(SignInRefused):
        auth.verify(session, "ana", "wrong")
    assert person.locked_until - utcnow() > first_wait
    person.locked_until = None
    assert auth.verify(session, "ana", "correct horse battery").failed_attempts == 0


def test_unknown_people_and_disabled_ones_get_the_same_answer(session: Session) -> None:
    person = create_person(session, "ben", "Ben", "mx-sndif", "MX", Role.caseworker,
                           "a long enough password")
    person.disabled_at = utcnow()
    for username in ("ben", "nobody"):
        with pytest.raises(SignInRefused) as refused:
            PasswordAuthenticator().verify(session, username, "a long enough password")
        assert refused.value.reason == "bad_credentials" and refused.value.person is None


def test_a_session_is_found_by_its_cookie_until_it_ends(session: Session) -> None:
    person = create_person(session, "eva", "Eva", "hn-senaf", "HN", Role.caseworker, None)
    token, row = start_session(session, person)
    assert token not in row.token_hash
    found = session_of(session, token)
    assert found is not None and found[1].id == person.id
    row.last_seen_at = utcnow() - timedelta(hours=3)
    assert session_of(session, token) is None  # idle too long
    token, _row = start_session(session, person)
    end_session(session, token)
    assert session_of(session, token) is None


def test_a_refresh_not_made_by_the_person_does_not_keep_the_session_alive(
        session: Session) -> None:
    person = create_person(session, "leo", "Leo", "hn-senaf", "HN", Role.caseworker, None)
    token, row = start_session(session, person)
    idle_since = utcnow() - timedelta(hours=1)
    row.last_seen_at = idle_since
    assert session_of(session, token, touch=False) is not None
    assert row.last_seen_at == idle_since
    assert session_of(session, token) is not None
    assert row.last_seen_at > idle_since
