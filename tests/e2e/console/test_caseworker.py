"""A caseworker's flows in a real browser, in Spanish and English, at desktop and phone width:
sign in, send a referral with the form, receive it at the other gateway, act on it."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from services.demo_data import SAMPLE_REFERRAL
from services.registry.seed import DEMO_CONSENT
from tests.conftest import RunningStack
from tests.e2e.console.conftest import MODES, Console, check_page, console_url, person
from tests.helpers import wait_until

TEXT = {
    "es": {"sign_in": "Iniciar sesión", "wrong": "Usuario o contraseña incorrectos.",
           "inbox": "Bandeja de entrada", "new": "Nueva remisión", "send": "Enviar remisión",
           "accept": "Aceptar", "accepted": "aceptada", "needs": "Requieren mi acción",
           "required": "Complete este campo.", "sign_out": "Cerrar sesión",
           "withheld": "Retenido", "delivered": "entregada", "start": "Iniciar la atención",
           "in_progress": "en atención", "note": "Añadir una nota",
           "withdrawn_consent": "retirada"},
    "en": {"sign_in": "Sign in", "wrong": "Wrong username or password.",
           "inbox": "Inbox", "new": "New referral", "send": "Send referral",
           "accept": "Accept", "accepted": "accepted", "needs": "Needs my action",
           "required": "Fill in this field.", "sign_out": "Sign out",
           "withheld": "Withheld", "delivered": "delivered", "start": "Start work",
           "in_progress": "in progress", "note": "Add a note",
           "withdrawn_consent": "withdrawn"},
}


def consent_for(stack: RunningStack, case_reference: str) -> None:
    """The case's consent, recorded through the gateway's API."""
    with stack.gateway("MX", "mx-sndif") as mx:
        answer = mx.post("/v1/consents", json={**DEMO_CONSENT, "case_reference": case_reference})
        assert answer.status_code == 201, answer.text


def record_consent_with_the_form(page: Page, case: str) -> None:
    page.locator("nav a[href$='/consents']").click()
    page.locator("#case_reference").fill(case)
    page.locator("#basis").select_option("consent")
    page.locator("#given_by").select_option("legal-representative")
    page.locator("input[name=child_heard][value=yes]").check()
    page.locator("#child_views").select_option("agrees")
    page.locator("input[name=recipients][value=hn-senaf]").check()
    page.locator("input[name=purposes][value=reception-and-care]").check()
    for category in ("identity", "protection"):
        page.locator(f"input[name=data_categories][value={category}]").check()
    page.locator("main form[action$='/consents'] button[type=submit]").click()
    expect(page.locator("main .cards")).to_contain_text(case)
    check_page(page)


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_a_consent_form_shows_its_errors_and_a_consent_can_be_withdrawn(
        console: Console, language: str, viewport: str) -> None:
    text = TEXT[language]
    page = console.signed_in("MX", "mx-sndif", language, viewport)
    page.goto(f"{console_url(console.stack, 'MX')}/consents")
    check_page(page)
    page.locator("main form[action$='/consents'] button[type=submit]").click()
    expect(page.locator("#case_reference-error")).to_have_text(text["required"])
    expect(page.locator("#case_reference")).to_have_attribute("aria-invalid", "true")
    check_page(page)
    case = f"MX-WEB-{uuid.uuid4().hex[:8]}"
    record_consent_with_the_form(page, case)
    card = page.locator("main .cards > li", has_text=case)
    card.locator("summary").click()
    card.get_by_role("button").click()
    expect(page.locator("main .cards > li", has_text=case).locator(".badge")).to_have_text(
        text["withdrawn_consent"])
    with console.stack.gateway("MX", "mx-sndif") as mx:
        consents = mx.get("/v1/consents", params={"case_reference": case}).json()["items"]
    assert len(consents) == 1 and consents[0]["withdrawn_at"] is not None


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_sign_in_refuses_a_wrong_password_then_signs_in_and_out(
        console: Console, language: str, viewport: str) -> None:
    text = TEXT[language]
    page = console.open("MX", language, viewport)
    expect(page.locator("h1")).to_have_text(text["sign_in"])
    assert page.locator("html").get_attribute("lang") == language
    check_page(page)
    who = person(console.stack, "MX", "mx-sndif")
    page.locator("#username").fill(who["username"])
    page.locator("#password").fill("not the password")
    page.locator("main button[type=submit]").click()
    expect(page.get_by_role("alert")).to_have_text(text["wrong"])
    check_page(page)
    page.locator("#username").fill(who["username"])
    page.locator("#password").fill(who["password"])
    page.locator("main button[type=submit]").click()
    expect(page.locator("h1")).to_contain_text(text["inbox"])
    check_page(page)
    page.get_by_role("button", name=text["sign_out"]).click()
    expect(page.locator("h1")).to_have_text(text["sign_in"])
    page.goto(f"{console_url(console.stack, 'MX')}/referrals")
    expect(page.locator("h1")).to_have_text(text["sign_in"])


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_keyboard_only_sign_in_and_the_skip_link(
        console: Console, language: str, viewport: str) -> None:
    page = console.open("MX", language, viewport)
    who = person(console.stack, "MX", "mx-sndif")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "username"
    page.keyboard.type(who["username"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(who["password"])
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text(TEXT[language]["inbox"])
    # From the skip link, the first thing reached is the page's own content.
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_the_language_switch_keeps_the_page_and_the_choice(
        console: Console, language: str, viewport: str) -> None:
    other = "en" if language == "es" else "es"
    page = console.signed_in("MX", "mx-sndif", language, viewport)
    page.goto(f"{console_url(console.stack, 'MX')}/account")
    page.get_by_role("button", name="English" if other == "en" else "Español").click()
    expect(page.locator("html")).to_have_attribute("lang", other)
    assert page.url.endswith("/console/account")
    page.goto(f"{console_url(console.stack, 'MX')}/referrals")
    expect(page.locator("html")).to_have_attribute("lang", other)
    check_page(page)


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_the_form_shows_each_error_next_to_its_field(
        console: Console, language: str, viewport: str) -> None:
    page = console.signed_in("MX", "mx-sndif", language, viewport)
    page.get_by_role("link", name=TEXT[language]["new"]).first.click()
    check_page(page)
    page.locator("#case_reference").fill("nombre y apellido")
    page.get_by_role("button", name=TEXT[language]["send"]).click()
    given = page.locator("#record\\.child\\.given_names")
    expect(given).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#record\\.child\\.given_names-error")).to_have_text(
        TEXT[language]["required"])
    expect(page.locator("#case_reference")).to_have_attribute("aria-invalid", "true")
    # The value typed stays in its field and is not repeated in any message.
    expect(page.locator("#case_reference")).to_have_value("nombre y apellido")
    assert "nombre y apellido" not in page.locator(".field-error, [role=alert]").all_inner_texts()
    assert "nombre" not in page.title()
    check_page(page)


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_a_referral_sent_with_the_form_is_accepted_and_started_by_the_receiver(
        console: Console, language: str, viewport: str) -> None:
    text = TEXT[language]
    case = f"MX-WEB-{uuid.uuid4().hex[:8]}"
    sender = console.signed_in("MX", "mx-sndif", language, viewport)
    record_consent_with_the_form(sender, case)
    sender.get_by_role("link", name=text["new"]).first.click()
    sender.locator("#recipient_id").select_option("hn-senaf")
    sender.locator("#case_reference").fill(case)
    sender.locator("#purpose").select_option("reception-and-care")
    sender.locator("#record\\.child\\.given_names").fill("Ana Lucía")
    sender.locator("#record\\.child\\.family_names").fill("Ejemplo Ficticio")
    sender.locator("#record\\.child\\.sex").select_option("female")
    sender.locator("#record\\.child\\.estimated_age").fill("12")
    sender.locator("#record\\.child\\.nationalities").fill("HN")
    sender.locator("#record\\.accompaniment\\.status").select_option("unaccompanied")
    sender.locator("#record\\.protection\\.urgency").select_option("urgent")
    sender.locator("input[value=reception]").check()
    sender.get_by_role("button", name=text["send"]).click()
    sender.wait_for_url(re.compile(r".*/console/referrals/[0-9a-f-]{36}$"))
    referral_id = sender.url.rsplit("/", 1)[1]
    expect(sender.locator("h1")).to_contain_text(case)
    assert case not in sender.title() and "Ana" not in sender.title()
    expect(sender.locator(".withheld").first).to_contain_text(text["withheld"])
    check_page(sender)

    receiver = console.signed_in("HN", "hn-senaf", language, viewport)
    link = receiver.locator(f"a[href$='/referrals/{referral_id}']")

    def listed() -> bool:
        receiver.reload()
        return link.count() == 1
    wait_until(listed, timeout=60, interval=1)
    expect(receiver.locator("#needs-heading")).to_contain_text(text["needs"])
    check_page(receiver)
    link.click()
    expect(receiver.locator("main")).to_contain_text("Ana Lucía")
    check_page(receiver)
    # Nothing of the record is kept in the browser's storage: no page snapshots (htmx's
    # history cache is off); htmx keeps only the current path (ids, no personal data).
    stored = receiver.evaluate("""() => [localStorage, sessionStorage].flatMap(
        s => Object.keys(s).map(k => [k, s.getItem(k)]))""")
    assert "htmx-history-cache" not in dict(stored)
    assert not any("Ana" in value or case in value for _key, value in stored), stored
    receiver.get_by_role("button", name=text["accept"], exact=True).click()
    expect(receiver.locator(".badge").first).to_have_text(text["accepted"])
    receiver.get_by_role("button", name=text["start"]).click()
    expect(receiver.locator(".badge").first).to_have_text(text["in_progress"])
    check_page(receiver)

    def sender_sees_it_in_progress() -> bool:
        sender.reload()
        return sender.locator(".badge").first.inner_text() == text["in_progress"]
    wait_until(sender_sees_it_in_progress, timeout=60, interval=1)
    expect(sender.locator("#history + ol li")).to_have_count(3)  # delivered, accept, start


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_a_note_needs_its_text_and_appears_in_the_history(
        console: Console, language: str, viewport: str) -> None:
    case = f"MX-WEB-{uuid.uuid4().hex[:8]}"
    consent_for(console.stack, case)
    with console.stack.gateway("MX", "mx-sndif") as mx:
        referral_id = mx.post("/v1/referrals",
                              json={**SAMPLE_REFERRAL, "case_reference": case}).json()["id"]
    page = console.signed_in("MX", "mx-sndif", language, viewport)
    page.goto(f"{console_url(console.stack, 'MX')}/referrals/{referral_id}")
    note = page.locator("#note-note")
    note.fill("Llamada a la abuela el lunes")
    page.get_by_role("button", name=TEXT[language]["note"], exact=True).click()
    expect(page.locator("#history + ol")).to_contain_text("Llamada a la abuela el lunes")
    check_page(page)
