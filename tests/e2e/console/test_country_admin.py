"""A country administrator's pages in a real browser: draft an agreement, read its canonical
text, sign it with the institution's key through the gateway, see who signed and what is in
force; the gateway's quarantine with its reasons; the people of the institution. A caseworker
is refused all of them."""

from __future__ import annotations

import asyncio
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from services.exchange.keys import signing_key_path
from services.registry.seed import DEMO_AGREEMENT
from shared.kit.db import make_engine, session_scope, utcnow
from shared.protocol.envelope import generate_signing_key, load_or_create_private_key, sign_envelope
from shared.web.people import Person
from tests.conftest import RunningStack
from tests.e2e.console.conftest import MODES, Console, check_page, console_url, person
from tests.e2e.test_quarantine import forged_referral, publish
from tests.helpers import wait_until

TEXT = {
    "es": {"agreements": "Acuerdos", "in_force": "vigente", "draft": "borrador",
           "awaiting": "pendiente de firmas", "required": "Complete este campo.",
           "two_parties": "Elija al menos dos partes.", "choose": "Elija al menos uno.",
           "after": "El final debe ser posterior al inicio.", "signed": "Firmado.",
           "your_party": "su parte", "still": "Faltan por firmar", "sign": "Firmar esta versión",
           "people": "Personas", "quarantine": "Cuarentena",
           "empty": "No se ha rechazado ningún mensaje.",
           "unknown_key": "firmado con una clave que el directorio no registra para el remitente",
           "proven": "probado por su firma", "unproven": "remitente no probado",
           "refused": "Su función no le permite hacer esto.",
           "roles": {"caseworker": "gestor de casos", "country_admin": "administrador nacional",
                     "auditor": "auditor"}},
    "en": {"agreements": "Agreements", "in_force": "in force", "draft": "draft",
           "awaiting": "awaiting signatures", "required": "Fill in this field.",
           "two_parties": "Choose at least two parties.", "choose": "Choose at least one.",
           "after": "The end must come after the start.", "signed": "Signed.",
           "your_party": "your party", "still": "Still to sign", "sign": "Sign this version",
           "people": "People", "quarantine": "Quarantine",
           "empty": "No message has been refused.",
           "unknown_key": "signed with a key the directory does not list for the sender",
           "proven": "proven by its signature", "unproven": "sender not proven",
           "refused": "Your role does not allow this.",
           "roles": {"caseworker": "caseworker", "country_admin": "country administrator",
                     "auditor": "auditor"}},
}
MX_SUBJECT = "enlace.msg.MX.mx-sndif.referral"


def admin(console: Console, language: str, viewport: str) -> Page:
    return console.signed_in("MX", "mx-sndif", language, viewport, role="country_admin")


def fill_draft(page: Page, agreement_id: str, valid_from: str, valid_to: str) -> None:
    page.locator("#id").fill(agreement_id)
    page.locator("#title").fill("Convenio de prueba SNDIF y SENAF")
    page.locator("input[name=parties][value=hn-senaf]").check()
    page.locator("input[name=message_types][value=referral]").check()
    page.locator("input[name=purposes][value=reception-and-care]").check()
    page.locator("input[name=data_categories][value=identity]").check()
    page.locator("input[name=legal_bases][value=consent]").check()
    page.locator("#retention_days").fill("365")
    page.locator("#valid_from").fill(valid_from)
    page.locator("#valid_to").fill(valid_to)
    page.locator("main form button[type=submit]").click()


def test_a_country_administrator_drafts_reads_and_signs_an_agreement(console: Console) -> None:
    language, viewport = "en", "phone"
    text = TEXT[language]
    stack = console.stack
    page = admin(console, language, viewport)
    page.locator("nav a[href$='/console/agreements']").click()
    expect(page.locator("h1")).to_have_text(text["agreements"])
    page.locator("main a[href$='/agreements/new']").click()
    # Nothing filled in: each error next to its field, from the registry's own validation.
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#id-error")).to_have_text(text["required"])
    expect(page.locator("#id")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#parties-error")).to_have_text(text["two_parties"])
    expect(page.locator("#purposes-error")).to_have_text(text["choose"])
    expect(page.locator("#valid_to-error")).to_have_text(text["required"])
    # A rule the registry checks after the schema: the end before the start.
    agreement_id = f"agr-web-{uuid.uuid4().hex[:8]}"
    today = datetime.now(UTC).date()
    fill_draft(page, agreement_id, today.isoformat(), (today - timedelta(days=1)).isoformat())
    expect(page.locator("#valid_to-error")).to_have_text(text["after"])
    expect(page.locator("#title")).to_have_value("Convenio de prueba SNDIF y SENAF")
    page.locator("#valid_to").fill((today + timedelta(days=365)).isoformat())
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(rf".*/console/agreements/{agreement_id}$"))
    expect(page.locator("main .badge").first).to_have_text(text["draft"])
    expect(page.locator("main")).to_contain_text("SENAF")
    expect(page.get_by_role("button", name=text["sign"])).to_have_count(0)  # a draft

    # The secretariat submits it for signatures (its own console is another helper's).
    with stack.registry("regional_admin") as registry:
        submitted = registry.post(f"/v1/agreements/{agreement_id}/versions/1/status",
                                  json={"status": "awaiting-signatures"})
        assert submitted.status_code == 200, submitted.text
    page.reload()
    expect(page.locator("main .badge").first).to_have_text(text["awaiting"])
    page.locator("main details summary").click()
    expect(page.locator("pre.canonical")).to_contain_text(f'"agreement_id":"{agreement_id}"')
    check_page(page)
    page.locator("input[name=confirm]").check()
    page.get_by_role("button", name=text["sign"]).click()
    expect(page.get_by_role("status")).to_contain_text(text["signed"])
    signatures = page.locator("section[aria-labelledby=signatures-heading] .cards > li")
    expect(signatures).to_have_count(1)
    expect(signatures.first).to_contain_text("SNDIF")
    expect(signatures.first.locator(".badge")).to_have_text(text["your_party"])
    expect(page.locator("main")).to_contain_text(text["still"])
    expect(page.get_by_role("button", name=text["sign"])).to_have_count(0)
    check_page(page)
    with stack.gateway("MX", "mx-sndif", role="country_admin") as mx:
        version = mx.get(f"/v1/agreements/{agreement_id}/versions").json()["items"][0]
    assert [(s["party"], s["signer_id"]) for s in version["signatures"]] == [
        ("mx-sndif", "mx-sndif")]

    # The other party signs through its gateway: the version is in force.
    with stack.gateway("HN", "hn-senaf", role="country_admin") as hn:
        signed = hn.post(f"/v1/agreements/{agreement_id}/signatures", json={"version": 1})
        assert signed.status_code == 201, signed.text
    page.reload()
    expect(page.locator("main .badge").first).to_have_text(text["in_force"])
    expect(signatures).to_have_count(2)
    page.locator("nav a[href$='/console/agreements']").click()
    card = page.locator("main .cards > li", has_text="Convenio de prueba SNDIF y SENAF")
    expect(card.locator(".badge")).to_have_text(text["in_force"])


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_every_administrator_page_in_every_mode(
        console: Console, language: str, viewport: str) -> None:
    text = TEXT[language]
    base = console_url(console.stack, "MX")
    page = admin(console, language, viewport)
    page.goto(f"{base}/agreements")
    card = page.locator("main .cards > li", has_text=DEMO_AGREEMENT["title"])
    expect(card.locator(".badge").first).to_have_text(text["in_force"])
    check_page(page)
    card.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text(DEMO_AGREEMENT["title"])
    expect(page.locator("section[aria-labelledby=signatures-heading] .cards > li")
           ).to_have_count(2)
    check_page(page)
    page.goto(f"{base}/agreements/new")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#title-error")).to_have_text(text["required"])
    check_page(page)
    page.goto(f"{base}/quarantine")
    expect(page.locator("h1")).to_contain_text(text["quarantine"])
    check_page(page)
    page.locator("nav a[href$='/console/people']").click()
    expect(page.locator("h1")).to_contain_text(text["people"])
    for role, shown in text["roles"].items():
        expect(page.locator("main .cards > li", has_text=f"mx-sndif.{role}").locator(".badge")
               .first).to_have_text(shown)
    check_page(page)


def run_async(coroutine) -> int:  # type: ignore[no-untyped-def]
    """Playwright's sync API holds this thread's event loop: publish from another thread."""
    with ThreadPoolExecutor(1) as pool:
        return int(pool.submit(asyncio.run, coroutine).result())


def quarantined(stack: RunningStack, message_id: str) -> dict | None:
    with stack.gateway("MX", "mx-sndif", role="country_admin") as mx:
        items = mx.get("/v1/quarantine").json()["items"]
    return next((item for item in items if item["message_id"] == message_id), None)


def test_the_quarantine_shows_refused_messages_with_reasons_never_their_content(
        console: Console) -> None:
    language, viewport = "es", "phone"
    text = TEXT[language]
    stack = console.stack
    secret = f"FORGED-{uuid.uuid4().hex[:8]}"
    body = {"case_reference": secret, "record": {"child": {"given_names": secret}}}
    # Claims to come from SENAF, signed with a key nobody knows.
    impostor = forged_referral("hn-senaf", recipients=["mx-sndif"], body=body)
    run_async(publish(stack, sign_envelope(impostor, generate_signing_key()).encode(),
                      impostor.id, subject=MX_SUBJECT, identity="gateway-HN"))
    # Signed with SENAF's real key, but its body is in clear: the sender is proven.
    key = load_or_create_private_key(
        signing_key_path(Path(stack.info["gateways"]["HN"]["data_dir"]), "hn-senaf"))
    clear = forged_referral("hn-senaf", recipients=["mx-sndif"], body=body)
    run_async(publish(stack, sign_envelope(clear, key).encode(), clear.id,
                      subject=MX_SUBJECT, identity="gateway-HN"))
    assert wait_until(lambda: quarantined(stack, impostor.id))["reason"] == "unknown_key"
    proven = wait_until(lambda: quarantined(stack, clear.id))
    assert proven["verified_sender"] == "hn-senaf", proven

    page = admin(console, language, viewport)
    page.locator("nav a[href$='/console/quarantine']").click()
    entries = page.locator("main .quarantine > li")
    expect(entries.filter(has_text=text["unknown_key"]).first).to_contain_text(text["unproven"])
    expect(entries.filter(has_text=text["proven"]).first).to_contain_text("SENAF")
    assert secret not in page.content()
    check_page(page)


def test_a_caseworker_is_refused_the_administrator_pages(console: Console) -> None:
    language, viewport = "es", "desktop"
    base = console_url(console.stack, "MX")
    page = console.signed_in("MX", "mx-sndif", language, viewport)
    expect(page.locator("nav a[href$='/console/agreements']")).to_have_count(0)
    for path in ("/agreements", "/agreements/new", f"/agreements/{DEMO_AGREEMENT['id']}",
                 "/quarantine", "/people"):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("alert")).to_have_text(TEXT[language]["refused"])
    check_page(page)


def test_an_auditor_reads_agreements_and_the_quarantine_but_drafts_and_signs_nothing(
        console: Console) -> None:
    language, viewport = "en", "desktop"
    base = console_url(console.stack, "MX")
    page = console.signed_in("MX", "mx-pfpnna", language, viewport, role="auditor")
    page.locator("nav a[href$='/console/agreements']").click()
    expect(page.locator("main a[href$='/agreements/new']")).to_have_count(0)
    page.goto(f"{base}/agreements/{DEMO_AGREEMENT['id']}")
    expect(page.locator("section[aria-labelledby=signatures-heading] .cards > li")
           ).to_have_count(2)
    expect(page.locator("form[action$='/signatures']")).to_have_count(0)
    page.locator("nav a[href$='/console/quarantine']").click()
    expect(page.locator("h1")).to_contain_text(TEXT[language]["quarantine"])
    expect(page.locator("nav a[href$='/console/people']")).to_have_count(0)
    for path in ("/agreements/new", "/people"):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 403, path


def lock(stack: RunningStack, username: str) -> str:
    """As after many failed attempts (the real lock doubles from 4 s: too short to test)."""
    engine = make_engine(stack.info["gateways"]["MX"]["database_url"])
    with session_scope(engine) as session:
        who = session.exec(select(Person).where(Person.username == username)).one()
        who.failed_attempts, who.locked_until = 9, utcnow() + timedelta(minutes=15)
        session.add(who)
        person_id = who.id
    engine.dispose()
    return person_id


def test_a_country_administrator_unlocks_a_locked_person(console: Console) -> None:
    language, viewport = "es", "desktop"
    stack = console.stack
    locked = person(stack, "MX", "mx-sndif", "auditor")
    locked_id = lock(stack, locked["username"])
    page = admin(console, language, viewport)
    page.locator("nav a[href$='/console/people']").click()
    card = page.locator("main .cards > li", has_text=locked["username"])
    expect(card.locator(".badge.action")).to_have_text("bloqueada tras intentos fallidos")
    check_page(page)
    card.get_by_role("button").click()
    expect(page.get_by_role("status")).to_contain_text("Desbloqueada")
    expect(card.locator(".badge.action")).to_have_count(0)
    check_page(page)
    console.signed_in("MX", "mx-sndif", language, viewport, role="auditor")

    def unlocked() -> list[dict] | None:
        with stack.registry() as registry:
            return registry.get("/v1/audit/entries", params={
                "institution_id": "mx-sndif", "event_type": "person-unlocked",
            }).json()["items"] or None
    entry = wait_until(unlocked, timeout=60, interval=0.5)[-1]
    assert entry["detail"]["person_id"] == locked_id
    assert entry["detail"]["role"] == "auditor" and entry["detail"]["by_person_id"]
    assert locked["username"] not in str(entry)
