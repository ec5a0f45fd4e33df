"""`/docs` as a person meets it: Swagger UI, served offline, shows the example body of a
request (here the referral, whose names are obviously fictitious)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.console.conftest import Console


def test_swagger_ui_shows_the_example_referral(console: Console) -> None:
    page = console.open("MX", "en", "desktop")
    page.goto(f"{console.stack.info['gateways']['MX']['url']}/docs")
    operation = page.locator("#operations-exchange-referrals_send")
    operation.locator(".opblock-summary").click()
    example = operation.locator(".body-param__example, .highlight-code").first
    expect(example).to_contain_text('"family_names": "Ejemplo Ficticio"')
    expect(example).to_contain_text('"recipient_id": "hn-senaf"')
