"""A country administrator keeps their country's directory entries from their gateway's
console, in a real browser: the gateway acts for them toward the directory, which checks the
change and names them in the entry's history (issue #9)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import RunningStack
from tests.e2e.console.conftest import (
    LANGUAGES,
    VIEWPORTS,
    Console,
    check_page,
    console_url,
    person,
)

FOCAL_POINT = "mx-sndif-chiapas"
TEXT = {
    "es": {"saved": "Guardado en el directorio.", "required": "Complete este campo.",
           "deactivated": "desactivado", "attention": "Algunos campos necesitan su atención."},
    "en": {"saved": "Saved in the directory.", "required": "Fill in this field.",
           "deactivated": "deactivated", "attention": "Some fields need your attention."},
}


def directory(stack: RunningStack) -> httpx.Client:
    info = stack.info["directory"]
    return httpx.Client(base_url=info["url"], timeout=10,
                        headers={"Authorization": f"Bearer {info['tokens']['regional_admin']}"})


def admin_page(console: Console, language: str, viewport: str) -> Page:
    page = console.signed_in("MX", "mx-sndif", language, viewport, role="country_admin")
    page.locator("nav a[href$='/admin/directory']").click()
    expect(page.locator("#focal-points")).to_contain_text(FOCAL_POINT)
    return page


def save(page: Page) -> None:
    page.locator("main form[novalidate] button[type=submit]").click()


def test_a_country_administrator_changes_a_focal_points_hours_and_the_history_names_them(
        console: Console) -> None:
    text = TEXT["es"]
    who = person(console.stack, "MX", "mx-sndif", "country_admin")
    page = admin_page(console, "es", "phone")
    page.locator(f"#focal-points a[href$='/focal-points/{FOCAL_POINT}']").click()
    hours = f"Lun-Vie 08:00-16:00 CST ({uuid.uuid4().hex[:6]})"
    page.locator("#availability").fill(hours)
    save(page)
    expect(page.locator("main .notice")).to_have_text(text["saved"])
    expect(page.locator("#availability")).to_have_value(hours)
    newest = page.locator("#history > li").first
    expect(newest).to_contain_text(who["username"])
    expect(newest).to_contain_text(hours)
    with directory(console.stack) as regional:
        assert regional.get(f"/v1/focal-points/{FOCAL_POINT}").json()["availability"] == hours
        line = regional.get(f"/v1/focal-points/{FOCAL_POINT}/history").json()["items"][-1]
    assert line["actor_person_name"] == who["username"]
    assert (line["actor_institution"], line["actor_role"]) == ("mx-sndif", "country_admin")
    page.locator("main > p a").first.click()  # back to the list: the new hours are there
    expect(page.locator("#focal-points > li", has_text=FOCAL_POINT)).to_contain_text(hours)


def test_the_directorys_field_errors_are_shown_next_to_the_fields(console: Console) -> None:
    text = TEXT["en"]
    page = admin_page(console, "en", "desktop")
    page.locator(f"#focal-points a[href$='/focal-points/{FOCAL_POINT}']").click()
    name = page.locator("#name").input_value()
    page.locator("#name").fill("  ")
    page.locator("#languages").fill("español")
    save(page)
    expect(page.locator("main .error[role=alert]")).to_have_text(text["attention"])
    expect(page.locator("#name-error")).to_have_text(text["required"])
    expect(page.locator("#name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#languages-error")).to_contain_text("two- or three-letter codes")
    check_page(page)
    with directory(console.stack) as regional:  # nothing was written
        assert regional.get(f"/v1/focal-points/{FOCAL_POINT}").json()["name"] == name


def test_a_new_focal_point_is_created_and_deactivated(console: Console) -> None:
    text = TEXT["es"]
    page = admin_page(console, "es", "desktop")
    page.locator("a[href$='/new/focal-points']").click()
    new_id = f"mx-sndif-web-{uuid.uuid4().hex[:6]}"
    page.locator("#id").fill(new_id)
    page.locator("#institution_id").select_option("mx-sndif")
    page.locator("#name").fill("Mesa de prueba del navegador")
    page.locator("input[name=topics][value=reception]").check()
    page.locator("[id='channels.0.kind']").select_option("email")
    page.locator("[id='channels.0.value']").fill("mesa@mx-sndif.example.org")
    save(page)
    expect(page.locator("main .notice")).to_have_text(text["saved"])
    page.locator("form[action$='/active'] button").click()
    expect(page.locator("main h1 + .meta .badge")).to_have_text(text["deactivated"])
    expect(page.locator("#history > li")).to_have_count(2)
    with directory(console.stack) as regional:
        found = regional.get(f"/v1/focal-points/{new_id}").json()
        actions = [c["action"] for c in
                   regional.get(f"/v1/focal-points/{new_id}/history").json()["items"]]
    assert found["active"] is False and found["country"] == "MX"
    assert actions == ["created", "deactivated"]
    # Another country's entry is not offered for editing (the directory would refuse it).
    answer = page.goto(f"{console_url(console.stack, 'MX')}/admin/directory/focal-points/"
                       "hn-senaf-alertas")
    assert answer is not None and answer.status == 403
    expect(page.locator("main .error")).to_contain_text("solo cambia las entradas de su propio")


def test_only_a_country_administrator_gets_the_gateway_to_act_for_them(
        console: Console) -> None:
    page = console.signed_in("MX", "mx-sndif", "en", "desktop")  # a caseworker
    expect(page.locator("nav a[href$='/admin/directory']")).to_have_count(0)
    answer = page.goto(f"{console_url(console.stack, 'MX')}/admin/directory")
    assert answer is not None and answer.status == 403
    expect(page.locator("main .error")).to_contain_text("Your role does not allow this.")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_directory_page_passes_the_checks_in_every_mode(console: Console,
                                                              language: str) -> None:
    # One sign-in per language; each page is checked at both widths (MODES) by resizing.
    page = admin_page(console, language, "desktop")
    base = f"{console_url(console.stack, 'MX')}/admin/directory"
    for path in ("", f"/focal-points/{FOCAL_POINT}", "/institutions/mx-sndif", "/areas/MX-CHP",
                 "/new/focal-points", "/new/areas"):
        page.goto(base + path)
        expect(page.locator("main h1")).to_be_visible()
        for viewport in VIEWPORTS:
            page.set_viewport_size(VIEWPORTS[viewport])  # type: ignore[arg-type]
            check_page(page)
