"""The whole referral form in a real browser: the record's optional sections (family, health,
where the child was found, documents ...) sent from the form reach the receiving caseworker;
each section opens, is checked by axe, and shows its errors at its fields."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.console.conftest import MODES, Console, check_page, console_url
from tests.e2e.console.test_caseworker import TEXT, consent_for
from tests.helpers import wait_until

OPTIONAL_SECTIONS = ("child-more", "detection", "family", "health", "best_interests",
                     "reception", "documents")
SECTION_TITLES = {"es": {"family": "Familia", "health": "Salud"},
                  "en": {"family": "Family", "health": "Health"}}
REQUIRED_FIELDS = {
    "#record\\.child\\.given_names": "Ana Lucía", "#record\\.child\\.family_names":
    "Ejemplo Ficticio", "#record\\.child\\.estimated_age": "12",
}


def field(name: str) -> str:
    return "#" + name.replace(".", "\\.")


def open_section(page: Page, name: str) -> None:
    section = page.locator(f"#section-{name}")
    if section.get_attribute("open") is None:
        section.locator("> summary").click()
    expect(section).to_have_attribute("open", "")


def fill_required(page: Page, case: str) -> None:
    page.locator("#recipient_id").select_option("hn-senaf")
    page.locator("#case_reference").fill(case)
    page.locator("#purpose").select_option("reception-and-care")
    for selector, value in REQUIRED_FIELDS.items():
        page.locator(selector).fill(value)
    page.locator(field("record.child.sex")).select_option("female")
    page.locator(field("record.accompaniment.status")).select_option("unaccompanied")
    page.locator(field("record.protection.urgency")).select_option("urgent")
    page.locator("input[name='record.requested_services'][value=family-tracing]").check()


def test_family_and_health_sent_from_the_form_are_shown_to_the_receiver(
        console: Console) -> None:
    language, viewport = "es", "phone"
    text = TEXT[language]
    case = f"MX-WEB-{uuid.uuid4().hex[:8]}"
    consent_for(console.stack, case)  # for every category of the demo agreement
    sender = console.signed_in("MX", "mx-sndif", language, viewport)
    sender.goto(f"{console_url(console.stack, 'MX')}/referrals/new")
    fill_required(sender, case)
    open_section(sender, "family")
    sender.locator(field("record.family.relatives.0.relationship")).fill("abuela")
    sender.locator(field("record.family.relatives.0.name")).fill("Rosa Ejemplo Ficticio")
    sender.locator(field("record.family.relatives.0.whereabouts")).fill("San Pedro Sula")
    sender.locator(field("record.family.relatives.0.traced")).check()
    sender.locator(field("record.family.wants_reunification_with")).fill("abuela")
    open_section(sender, "health")
    sender.locator(field("record.health.conditions")).fill("Asma, usa inhalador")
    sender.locator(field("record.health.pregnancy")).select_option("no")
    open_section(sender, "detection")
    sender.locator(field("record.detection.at")).fill("2026-11-18T09:30")
    sender.locator(field("record.detection.country")).fill("mx")
    sender.locator(field("record.detection.locality")).fill("Tapachula")
    check_page(sender)
    sender.get_by_role("button", name=text["send"]).click()
    sender.wait_for_url(re.compile(r".*/console/referrals/[0-9a-f-]{36}$"))
    referral_id = sender.url.rsplit("/", 1)[1]

    receiver = console.signed_in("HN", "hn-senaf", language, viewport)
    url = f"{console_url(console.stack, 'HN')}/referrals/{referral_id}"

    def arrived() -> bool:
        return receiver.goto(url).status == 200  # type: ignore[union-attr]
    wait_until(arrived, timeout=60, interval=1)
    family = receiver.locator("section[aria-labelledby=section-family]")
    expect(family).to_contain_text("Rosa Ejemplo Ficticio")
    expect(family).to_contain_text("San Pedro Sula")
    expect(family.locator("h3")).to_contain_text(SECTION_TITLES[language]["family"])
    health = receiver.locator("section[aria-labelledby=section-health]")
    expect(health).to_contain_text("Asma, usa inhalador")
    expect(health.locator("h3")).to_contain_text(SECTION_TITLES[language]["health"])
    expect(receiver.locator("section[aria-labelledby=section-detection]")).to_contain_text(
        "Tapachula")
    # Legal status is outside the demo agreement: the best interests section is withheld.
    expect(receiver.locator("section[aria-labelledby=section-best_interests]")).to_contain_text(
        text["withheld"])
    check_page(receiver)


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_every_section_opens(console: Console, language: str, viewport: str) -> None:
    page = console.signed_in("MX", "mx-sndif", language, viewport)
    page.goto(f"{console_url(console.stack, 'MX')}/referrals/new")
    for name in OPTIONAL_SECTIONS:
        expect(page.locator(f"#section-{name}")).not_to_have_attribute("open", "")
        open_section(page, name)
    check_page(page)


def test_an_error_in_a_section_is_shown_at_its_field_and_keeps_the_section_open(
        console: Console) -> None:
    language, viewport = "en", "desktop"
    page = console.signed_in("MX", "mx-sndif", language, viewport)
    page.goto(f"{console_url(console.stack, 'MX')}/referrals/new")
    fill_required(page, f"MX-WEB-{uuid.uuid4().hex[:8]}")
    open_section(page, "family")
    page.locator(field("record.family.relatives.2.name")).fill("Rosa Ejemplo Ficticio")
    open_section(page, "documents")
    page.locator(field("record.documents.1.type")).fill("informe")
    page.locator(field("record.documents.1.sha256")).fill("no es un resumen")
    page.get_by_role("button", name=TEXT[language]["send"]).click()
    # After the answer the sections with values or errors are open, the others closed.
    relationship = page.locator(field("record.family.relatives.2.relationship"))
    expect(relationship).to_have_attribute("aria-invalid", "true")
    expect(page.locator(field("record.family.relatives.2.relationship") + "-error")).to_have_text(
        TEXT[language]["required"])
    expect(page.locator(field("record.family.relatives.2.name"))).to_have_value(
        "Rosa Ejemplo Ficticio")
    expect(page.locator(field("record.documents.1.sha256"))).to_have_attribute(
        "aria-invalid", "true")
    expect(page.locator("#section-family")).to_have_attribute("open", "")
    expect(page.locator("#section-documents")).to_have_attribute("open", "")
    expect(page.locator("#section-health")).not_to_have_attribute("open", "")
    assert "no es un resumen" not in " ".join(page.locator(".field-error").all_inner_texts())
    check_page(page)
