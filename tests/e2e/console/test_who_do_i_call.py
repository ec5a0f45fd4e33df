"""Issue 9, point 1: "who do I call" at a gateway's console, as a consular officer uses it:
one search box over institutions and places (accent- and case-blind), the focal-point lookup
most specific first, contacts as links, and all of it from the gateway's verified snapshot
while the directory is down."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from services.stack import hold_service, release_service
from tests.e2e.console.conftest import MODES, Console, check_page, console_url
from tests.helpers import wait_until

OFFICER = ("MX", "mx-sndif", "consular_officer")
TITLE = {"es": "A quién llamar", "en": "Who do I call"}
AGE = {"es": re.compile(r"Directorio de hace .+\."), "en": re.compile(r"Directory as of .+ ago\.")}


def directory_page(console: Console, language: str, viewport: str,
                   role: str = "consular_officer") -> Page:
    country, institution, _ = OFFICER
    page = console.signed_in(country, institution, language, viewport, role)
    if role == "consular_officer":  # their home: the search
        expect(page).to_have_url(re.compile(r".*/console/directory$"))
    return page


def search(page: Page, words: str) -> None:
    page.locator("#q").fill(words)
    page.locator("form[role=search] button[type=submit]").click()
    expect(page.locator("#search-results")).to_be_visible()


def institutions_found(page: Page) -> list[str]:
    links = page.locator("#search-results a[href*='/directory/institutions/']")
    return [str(href).rsplit("/", 1)[-1] for href in
            (links.nth(n).get_attribute("href") for n in range(links.count()))]


def test_a_consular_officer_finds_places_and_institutions_in_any_case_and_accent(
        console: Console) -> None:
    page = directory_page(console, "es", "desktop")  # home after sign-in: the search
    expect(page.locator("#snapshot-age")).to_have_text(AGE["es"])
    expect(page.locator(".warning")).to_have_count(0)
    search(page, "TAPACHULA")
    assert {"gt-consulado-tapachula", "hn-consulado-tapachula",
            "sv-consulado-tapachula"} <= set(institutions_found(page))
    expect(page.locator("#search-results li", has_text="Tapachula").first).to_be_visible()
    expect(page.locator("#search-results a[href*='area=MX-CHP-TAPACHULA']")).to_have_count(1)
    page.locator("#search-results a[href*='area=MX-CHP-TAPACHULA']").click()
    expect(page.locator("#place")).to_have_value("Tapachula")  # the lookup, filled in
    expect(page.locator(".field-error")).to_have_count(0)
    search(page, "sndif")
    assert institutions_found(page) == ["mx-sndif"]
    search(page, "secretaria de la ninez")  # Secretaría de la Niñez ...
    assert "hn-senaf" in institutions_found(page)
    search(page, "nothing-like-this")
    assert institutions_found(page) == []

    # An institution's page: its focal points, phones as tel: and e-mail as mailto: links.
    search(page, "Sndif")
    page.locator("#search-results a[href$='/directory/institutions/mx-sndif']").click()
    expect(page.locator("h1")).to_contain_text("SNDIF")
    expect(page.locator(".focal-point", has_text="Rosa Ejemplo")).to_contain_text("Chiapas")
    phone = page.locator(".focal-point", has_text="Rosa Ejemplo").locator("a[href^='tel:']")
    expect(phone).to_have_attribute("href", "tel:+000525550922")
    expect(page.locator("main a[href^='mailto:']").first).to_be_visible()
    expect(page.locator("main", has_text="Mon-Fri 08:00-16:00").first).to_be_visible()
    expect(page.locator("main")).to_contain_text("español")


def test_the_lookup_gives_the_area_first_then_the_national_desk(console: Console) -> None:
    page = directory_page(console, "en", "phone")
    page.locator("#country").select_option("MX")
    page.locator("#topic").select_option("reception")
    page.locator("#place").fill("tapachula")
    page.locator("#lookup-heading + form button[type=submit]").click()
    results = page.locator("#lookup-results .lookup-result")
    expect(results).to_have_count(2)
    expect(results.nth(0)).to_contain_text("Rosa Ejemplo")
    expect(results.nth(0).locator(".badge").first).to_have_text("covers Chiapas")
    expect(results.nth(1)).to_contain_text("Mesa nacional de referencias")
    expect(results.nth(1).locator(".badge").first).to_have_text("national")
    expect(results.nth(0).locator("a[href^='tel:']")).to_have_count(1)

    # From abroad: a Honduran child in Tapachula; the consulate of the district first.
    page.locator("#country").select_option("HN")
    page.locator("#topic").select_option("family-tracing")
    page.locator("#lookup-heading + form button[type=submit]").click()
    expect(results.nth(0)).to_contain_text("Consulado de Honduras en Tapachula")
    expect(results.last).to_contain_text("SENAF")

    # A place the directory does not know, and a missing topic: said next to the fields.
    page.locator("#place").fill("Atlantis")
    page.locator("#topic").select_option("")
    page.locator("#lookup-heading + form button[type=submit]").click()
    expect(page.locator("#place-error")).to_be_visible()
    expect(page.locator("#topic-error")).to_be_visible()
    expect(page.locator("#lookup-results")).to_have_count(0)
    check_page(page)

    # A place that several areas match: a choice of links, each keeping country and topic.
    page.locator("#place").fill("san")
    page.locator("#topic").select_option("reception")
    page.locator("#lookup-heading + form button[type=submit]").click()
    choices = page.locator("#place-choices a")
    expect(choices.filter(has_text="San Pedro Sula")).to_have_count(1)
    check_page(page)
    choices.filter(has_text="San Pedro Sula").click()
    expect(page.locator("#place")).to_have_value("San Pedro Sula")
    # Cortés (which contains San Pedro Sula) first: the 24/7 shelter, then SENAF's person.
    expect(results.nth(0)).to_contain_text("Recepción de niñez retornada")
    expect(results.nth(1)).to_contain_text("Karla Ejemplo")
    expect(results.nth(1).locator(".badge").first).to_have_text("covers Cortés")


def test_with_the_directory_stopped_the_page_answers_from_the_snapshot(
        console: Console) -> None:
    stack = console.stack
    page = directory_page(console, "es", "desktop")
    url = f"{console_url(stack, 'MX')}/directory?q=sndif"
    hold_service(stack.data_dir, "directory")
    try:
        # The page asks the directory at most once a second: until it has noticed.
        wait_until(lambda: page.goto(url) and page.locator(".warning").count() == 1,
                   timeout=30, interval=0.5)
        expect(page.locator(".warning")).to_contain_text("no se puede contactar")
        expect(page.locator("#snapshot-age")).to_have_text(AGE["es"])
        assert institutions_found(page) == ["mx-sndif"]
        page.locator("#search-results a[href$='/directory/institutions/mx-sndif']").click()
        expect(page.locator(".focal-point").first).to_be_visible()
        expect(page.locator(".warning")).to_be_visible()
    finally:
        release_service(stack.data_dir, "directory")
        directory = stack.info["directory"]["url"]

        def ready() -> bool:
            try:
                return httpx.get(f"{directory}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        wait_until(ready, timeout=60)
    wait_until(lambda: page.goto(url) and page.locator(".warning").count() == 0,
               timeout=30, interval=0.5)


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_the_pages_pass_the_checks(console: Console, language: str, viewport: str) -> None:
    # In English as an auditor: every role finds the directory in the navigation.
    role = "consular_officer" if language == "es" else "auditor"
    page = directory_page(console, language, viewport, role)
    page.locator("nav a[href$='/console/directory']").click()
    expect(page.locator("h1")).to_have_text(TITLE[language])
    page.goto(f"{console_url(console.stack, 'MX')}/directory?q=tapachula&country=HN"
              "&topic=family-tracing&place=tapachula")
    expect(page.locator("#lookup-results .lookup-result").first).to_be_visible()
    expect(page.locator("#search-results")).to_be_visible()
    check_page(page)
    page.goto(f"{console_url(console.stack, 'MX')}/directory/institutions/hn-senaf")
    expect(page.locator(".focal-point").first).to_be_visible()
    check_page(page)
