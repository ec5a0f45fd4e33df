"""The Figures pages in the browser, both languages, desktop and phone.

The charts are checked on the gateway's and the registry's real Figures pages and templates,
served in this process (tests/shared/figure_pages_app.py) with a fixed, known FigureSource: the
figures' data side is wired into the services separately. The last test reads the real stack
through the real data path and is expected to fail until that wiring is merged."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import RunningStack
from tests.e2e.console.conftest import MODES, Browsing, Console, check_page
from tests.e2e.test_referral_flow import delivered, send
from tests.helpers import wait_until
from tests.inprocess import Server
from tests.shared.figure_pages_app import PASSWORD, figures_app, own_source, regional_source

LANDING = r".*/console/figures$"


@pytest.fixture(scope="module")
def registry_figures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = figures_app(tmp_path_factory.mktemp("registry-figures") / "people.db", "registry",
                      regional_source())
    server = Server(app)
    yield f"{server.url}/console"
    server.stop()


@pytest.fixture(scope="module")
def gateway_figures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = figures_app(tmp_path_factory.mktemp("gateway-figures") / "people.db", "gateway",
                      own_source())
    server = Server(app)
    yield f"{server.url}/console"
    server.stop()


def signed_in(browsing: Browsing, console: str, username: str, language: str,
              viewport: str) -> Page:
    return browsing.signed_in_at(console, {"username": username, "password": PASSWORD},
                                 language, viewport, LANDING)


def cells_of(page: Page, figure_id: str) -> dict[str, list[str]]:
    rows = page.locator(f"#{figure_id} tbody tr")
    found = {}
    for n in range(rows.count()):
        row = rows.nth(n)
        found[row.locator("th").inner_text().strip()] = [
            t.strip() for t in row.locator("td").all_inner_texts()]
    return found


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_regional_figures_read_at_a_glance_with_suppressed_cells_as_less_than_five(
        browsing: Browsing, registry_figures: str, language: str, viewport: str) -> None:
    page = signed_in(browsing, registry_figures, "auditor", language, viewport)
    heading = {"es": "Cifras regionales", "en": "Regional figures"}[language]
    expect(page.locator("h1")).to_have_text(heading)
    assert page.title().startswith({"es": "Cifras", "en": "Figures"}[language])
    month = page.locator("#chart-month")
    expect(month.locator("figcaption")).to_contain_text(
        {"es": "Remisiones por mes", "en": "Referrals by month"}[language])
    # The bars: one per month, the suppressed part never a number.
    assert month.locator("svg rect.bar").count() == 2
    assert month.locator("svg text.value").all_text_contents() == ["≥ 27", "≥ 30"]
    mexico = {"es": "México", "en": "Mexico"}[language]
    honduras = "Honduras"
    pairs = cells_of(page, "chart-pairs")
    assert pairs[honduras] == ["0", "0", "<5", "0"]  # HN → MX only, suppressed
    assert pairs[mexico] == ["7", "≥ 12", "0", "30"]  # GT, HN, MX, US
    check_page(page)

    # Filter: by sex, over a period, for one country; the URL and the CSV link follow.
    page.locator("#by").select_option("sex")
    page.locator("#since").fill("2026-01")
    page.locator("#until").fill("2026-02")
    page.locator("#country").select_option("MX")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r".*by=sex.*"))
    sexes = {"es": ("femenino", "masculino", "desconocido"),
             "en": ("female", "male", "unknown")}[language]
    assert cells_of(page, "chart-breakdown") == dict(zip(sexes, (["9"], ["<5"], ["<5"]),
                                                         strict=True))
    link = page.locator("a[download]").get_attribute("href")
    assert link == ("/v1/figures.csv?indicator=referrals&by=sex&since=2026-01&until=2026-02"
                    "&country=MX")
    check_page(page)

    # Time to answer: bars of the median with the 90th percentile marked.
    page.locator("#indicator").select_option("referral-time-to-accepted")
    page.locator("#by").select_option("")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r".*indicator=referral-time-to-accepted.*"))
    durations = page.locator("#chart-durations")
    assert durations.locator("line.p90").count() == 2
    assert durations.locator("svg text.value").all_text_contents() == ["3 h", "2 d", "<5"]
    check_page(page)


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_a_country_administrator_sees_the_country_in_full_detail(
        browsing: Browsing, gateway_figures: str, language: str, viewport: str) -> None:
    page = signed_in(browsing, gateway_figures, "admin", language, viewport)
    expect(page.locator("h1")).to_have_text(
        {"es": "Cifras de México", "en": "Figures of Mexico"}[language])
    expect(page.locator("nav a[href='/console/figures']")).to_be_visible()
    assert page.locator("#chart-month svg text.value").all_text_contents() == ["19", "32"]
    assert "<5" not in page.locator("main").inner_text()
    page.locator("details.section summary").click()
    expect(page.locator("table.figures-table tbody tr")).to_have_count(4)
    check_page(page)


def test_a_caseworker_has_no_figures(browsing: Browsing, gateway_figures: str) -> None:
    page = signed_in(browsing, gateway_figures, "clerk", "en", "phone")
    expect(page.locator("main .error")).to_have_text(
        "Your role does not allow you to see these figures.")
    assert page.locator("nav a[href='/console/figures']").count() == 0
    assert page.locator("figure").count() == 0
    check_page(page)


def test_the_real_stack_serves_figures_on_both_consoles(console: Console,
                                                        stack: RunningStack) -> None:
    sent = send(stack)
    assert sent.status_code == 202, sent.text
    delivered(stack, sent.json()["id"])  # counted at MX from its own records at once
    page = console.signed_in("MX", "mx-sndif", "en", "desktop", role="country_admin")
    page.goto(f"{stack.info['gateways']['MX']['url']}/console/figures")
    expect(page.locator("#chart-month")).to_be_visible()
    check_page(page)
    registry = console.signed_in_at_registry("es", "phone")
    registry.goto(f"{stack.info['registry']['url']}/console/figures")
    expect(registry.locator("h1")).to_have_text("Cifras regionales")
    # At the registry once MX's next statistics report is in: within a minute.
    wait_until(lambda: (registry.reload(), registry.locator("#chart-month").count())[1],
               timeout=90, interval=2)
    check_page(registry)
