"""A focal point's missing-child alerts in a real browser: Mexico issues an alert with the
form, Honduras's focal point acknowledges it in one click, Mexico's live view shows it
without a reload and a silent country escalated; located, cancel, the form's errors; every
page in Spanish and English at desktop and phone width."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import RunningStack
from tests.e2e.console.conftest import MODES, Console, check_page, console_url
from tests.helpers import wait_until

CHILD = "Ficticio Ejemplar"  # must never reach a title or a URL
ALERT: dict[str, Any] = {
    "category": "missing-in-need-of-protection",
    "urgency": "immediate",
    "public": {
        "child": {"given_names": "Ficticio", "family_names": "Ejemplar", "sex": "male",
                  "estimated_age": 14, "description": "Gorra roja, cicatriz en la mano.",
                  "photo_ref": "sha256:0f1e2d"},
        "last_seen": {"at": "2026-11-20T23:00:00-06:00", "country": "MX",
                      "area": "Chiapas", "locality": "Tapachula"},
    },
    "details": {
        "circumstances": "Salió del albergue de noche con un adulto desconocido.",
        "issuing_focal_point": {"name": "Mesa de alertas (ejemplo)", "phone": "+000 555 0100",
                                "email": "alertas@example.org"},
    },
    "target_countries": ["HN", "GT"],
}
LIVE = 30_000  # ms: a message crosses two gateways, then the next poll shows it
TEXT = {
    "es": {"category": "no localizado, con necesidad de protección", "yes": "sí",
           "not_yet": "todavía no", "escalated": "Escalado", "located": "localizado",
           "cancelled": "cancelada", "required": "Complete este campo.",
           "reason_required": "Indique el motivo de la cancelación.",
           "too_large": "El número es demasiado grande.",
           "countries": "Elija al menos un país, o todos los miembros."},
    "en": {"category": "missing, in need of protection", "yes": "yes", "not_yet": "not yet",
           "escalated": "Escalated", "located": "located", "cancelled": "cancelled",
           "required": "Fill in this field.",
           "reason_required": "Give the reason for cancelling.",
           "too_large": "This number is too large.",
           "countries": "Choose at least one country, or all members."},
}


def issue(stack: RunningStack, **overrides: Any) -> str:
    with stack.gateway("MX", "mx-sndif") as mx:
        answer = mx.post("/v1/alerts", json={**ALERT, **overrides})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def honduras_view(stack: RunningStack, alert_id: str) -> dict[str, Any] | None:
    with stack.gateway("HN", "hn-senaf") as hn:
        answer = hn.get(f"/v1/alerts/{alert_id}")
    return answer.json() if answer.status_code == 200 else None


def assert_no_name_in_title_or_url(page: Page) -> None:
    for part in CHILD.split():
        assert part not in page.title() and part not in page.url


@pytest.fixture(scope="module")
def received(stack: RunningStack) -> str:
    """An alert from Mexico that Honduras holds (Guatemala, with no gateway, stays silent)."""
    alert_id = issue(stack)
    wait_until(lambda: honduras_view(stack, alert_id))
    return alert_id


def fill_the_form(page: Page) -> None:
    page.locator("#category").select_option("missing-in-need-of-protection")
    page.locator("#urgency").select_option("immediate")
    page.locator("#public\\.child\\.given_names").fill("Ficticio")
    page.locator("#public\\.child\\.family_names").fill("Ejemplar")
    page.locator("#public\\.child\\.sex").select_option("male")
    page.locator("#public\\.child\\.estimated_age").fill("14")
    page.locator("#public\\.child\\.description").fill("Gorra roja, cicatriz en la mano.")
    page.locator("#public\\.child\\.photo_ref").fill("sha256:0f1e2d")
    page.locator("#public\\.last_seen\\.at").fill("2026-11-20T23:00")
    page.locator("#public\\.last_seen\\.locality").fill("Tapachula")
    page.locator("#details\\.circumstances").fill("Salió del albergue de noche.")
    page.locator("#details\\.issuing_focal_point\\.phone").fill("+000 555 0100")


def test_an_alert_issued_with_the_form_is_acknowledged_and_the_issuer_sees_it_live(
        console: Console) -> None:
    text = TEXT["en"]
    mx = console.signed_in("MX", "mx-sndif", "en", "desktop")
    mx.locator("nav a[href$='/alerts/new']").click()
    fill_the_form(mx)
    for country in ("HN", "GT"):
        mx.locator(f"input[name=target_countries][value={country}]").check()
    mx.locator("main form button[type=submit]").click()
    mx.wait_for_url(re.compile(r".*/console/alerts/[0-9a-f-]{36}$"))
    alert_id = mx.url.rsplit("/", 1)[1]
    assert_no_name_in_title_or_url(mx)
    honduras = mx.locator("#alert-live [data-country=HN]")
    expect(honduras.locator(".acknowledged")).to_have_text(text["not_yet"])
    mx.evaluate("window.notReloaded = true")

    hn = console.signed_in("HN", "hn-senaf", "en", "desktop")
    hn.locator("nav a[href$='/console/alerts']").click()
    card = hn.locator(f"section[aria-labelledby=needs-heading] #alert-{alert_id}")
    expect(card).to_be_visible(timeout=LIVE)  # the list refreshes itself
    for shown in (CHILD, text["category"], "Gorra roja", "sha256:0f1e2d", "Tapachula"):
        expect(card).to_contain_text(shown)
    card.get_by_role("button").click()  # the one click
    done = hn.locator(f"#alert-{alert_id}")
    expect(done).not_to_have_class(re.compile("needs-ack"))
    expect(done.get_by_role("button")).to_have_count(0)
    assert_no_name_in_title_or_url(hn)
    assert (honduras_view(console.stack, alert_id) or {})["acknowledged_at"]

    # Mexico's open page: Honduras acknowledged, Guatemala (no gateway) escalated.
    expect(honduras.locator(".acknowledged")).to_contain_text(text["yes"], timeout=LIVE)
    expect(honduras.locator(".acknowledged")).to_contain_text("caseworker hn-senaf")
    guatemala = mx.locator("#alert-live [data-country=GT]")
    expect(guatemala).to_have_class(re.compile("escalated"), timeout=LIVE)
    expect(guatemala.locator(".badge")).to_have_text(f"⚠ {text['escalated']}")
    expect(mx.locator(".escalation-summary")).to_contain_text("Guatemala")
    assert mx.evaluate("window.notReloaded") is True

    # Honduras finds the child; Mexico's view closes by itself.
    done.get_by_role("link", name=CHILD).click()
    hn.locator("#where").fill("CAMR Belén, San Pedro Sula")
    hn.locator("form:has(#where) button[type=submit]").click()
    expect(hn.locator("#reported")).to_be_visible()
    expect(mx.locator("#alert-status")).to_have_text(text["located"], timeout=LIVE)
    assert mx.evaluate("window.notReloaded") is True
    assert wait_until(lambda: (honduras_view(console.stack, alert_id) or {}).get("status")
                      == "located")
    hn.reload()
    expect(hn.locator("#located-heading")).to_be_visible()
    expect(hn.locator("#where")).to_have_count(0)


def test_an_alert_is_acknowledged_with_the_keyboard_alone(console: Console) -> None:
    alert_id = issue(console.stack, target_countries=["HN"])
    wait_until(lambda: honduras_view(console.stack, alert_id))
    hn = console.signed_in("HN", "hn-senaf", "es", "phone")
    hn.goto(f"{console_url(console.stack, 'HN')}/alerts")
    button = hn.locator(f"#acknowledge-{alert_id}")
    expect(button).to_be_visible()
    for _ in range(200):  # Tab through the page as a keyboard user does, up to the button
        hn.keyboard.press("Tab")
        if hn.evaluate("document.activeElement.id") == f"acknowledge-{alert_id}":
            break
    else:
        pytest.fail("the Acknowledge button is not reachable with Tab")
    hn.keyboard.press("Enter")
    expect(hn.locator(f"#acknowledge-{alert_id}")).to_have_count(0)
    assert wait_until(lambda: (honduras_view(console.stack, alert_id) or {}).get(
        "acknowledged_at"))


def test_a_located_report_the_issuer_has_already_confirmed_still_says_it_was_sent(
        console: Console) -> None:
    """The issuer's confirmation can arrive before the reporter's page loads: the notice
    still tells the reporter that the report went out, and that the alert is closed."""
    alert_id = issue(console.stack, target_countries=["HN"])
    wait_until(lambda: honduras_view(console.stack, alert_id))
    with console.stack.gateway("HN", "hn-senaf") as hn_api:
        answer = hn_api.post(f"/v1/alerts/{alert_id}/actions",
                             json={"action": "located", "where": "CAMR Belén"})
    assert answer.status_code == 200, answer.text
    assert wait_until(lambda: (honduras_view(console.stack, alert_id) or {}).get("status")
                      == "located")
    hn = console.signed_in("HN", "hn-senaf", "en", "desktop")
    hn.goto(f"{console_url(console.stack, 'HN')}/alerts/{alert_id}?reported=1")
    expect(hn.locator("#reported")).to_contain_text("closed")


def test_the_issuer_cancels_an_alert_with_a_reason(console: Console) -> None:
    text = TEXT["es"]
    alert_id = issue(console.stack, target_countries=["HN"])
    mx = console.signed_in("MX", "mx-sndif", "es", "desktop")
    mx.goto(f"{console_url(console.stack, 'MX')}/alerts/{alert_id}")
    cancel = mx.locator("form:has(#reason) button[type=submit]")
    cancel.click()
    expect(mx.locator("#reason-error")).to_have_text(text["reason_required"])
    expect(mx.locator("#reason")).to_have_attribute("aria-invalid", "true")
    mx.locator("#reason").fill("Emitida por error.")
    mx.locator("form:has(#reason) button[type=submit]").click()
    expect(mx.locator("#alert-status")).to_have_text(text["cancelled"])
    expect(mx.locator("#reason")).to_have_count(0)
    assert wait_until(lambda: (honduras_view(console.stack, alert_id) or {}).get("status")
                      == "cancelled")


def test_the_alert_form_shows_each_error_next_to_its_field_then_goes_to_every_member(
        console: Console) -> None:
    text = TEXT["es"]
    mx = console.signed_in("MX", "mx-sndif", "es", "phone")
    mx.goto(f"{console_url(console.stack, 'MX')}/alerts/new")
    mx.locator("#public\\.child\\.given_names").fill("Ficticio")
    mx.locator("#public\\.child\\.estimated_age").fill("40")
    mx.locator("main form button[type=submit]").click()
    for field, message in (("public\\.child\\.family_names", text["required"]),
                           ("public\\.last_seen\\.at", text["required"]),
                           ("public\\.child\\.estimated_age", text["too_large"]),
                           ("category", text["required"])):
        expect(mx.locator(f"#{field}-error")).to_have_text(message)
        expect(mx.locator(f"#{field}")).to_have_attribute("aria-invalid", "true")
    expect(mx.locator("#target_countries-error")).to_have_text(text["countries"])
    # What was typed stays in its field and is repeated in no message nor the title.
    expect(mx.locator("#public\\.child\\.given_names")).to_have_value("Ficticio")
    messages = " ".join(mx.locator(".field-error, [role=alert]").all_inner_texts())
    assert "Ficticio" not in messages and "40" not in messages
    assert_no_name_in_title_or_url(mx)
    check_page(mx)

    fill_the_form(mx)
    mx.locator("input[name=scope][value=all]").check()
    mx.locator("main form button[type=submit]").click()
    mx.wait_for_url(re.compile(r".*/console/alerts/[0-9a-f-]{36}$"))
    members = ["BZ", "CA", "CR", "DO", "GT", "HN", "MX", "NI", "PA", "SV", "US"]
    countries = mx.locator("#alert-live [data-country]")
    expect(countries).to_have_count(len(members))
    assert sorted(c.get_attribute("data-country") or "" for c in countries.all()) == members


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_every_alert_page_in_every_mode(console: Console, received: str, language: str,
                                        viewport: str) -> None:
    base = f"{console_url(console.stack, 'MX')}/alerts"
    mx = console.signed_in("MX", "mx-sndif", language, viewport)
    for path in ("?box=issued", "/new", f"/{received}"):
        mx.goto(base + path)
        expect(mx.locator("main h1")).to_be_visible()
        assert_no_name_in_title_or_url(mx)
        check_page(mx)
    expect(mx.locator("#alert-live [data-country=HN]")).to_be_visible()

    hn = console.signed_in("HN", "hn-senaf", language, viewport)
    hn_base = f"{console_url(console.stack, 'HN')}/alerts"
    hn.goto(hn_base)
    expect(hn.locator(f"#alert-{received}")).to_contain_text(TEXT[language]["category"])
    check_page(hn)
    hn.goto(f"{hn_base}/{received}")
    expect(hn.locator("main")).to_contain_text(CHILD)
    assert_no_name_in_title_or_url(hn)
    expect(hn.locator("#where")).to_be_visible()
    expect(hn.locator("#reason")).to_have_count(0)  # only the issuer cancels
    check_page(hn)
