"""The secretariat's console at the registry, in a real browser: the auditor finds who has
read a child's record by its case reference, the checkpoint verifies, agreements and the
whole directory are there; the regional administrator changes an agreement's status."""

from __future__ import annotations

import asyncio
import copy
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from services.demo_data import SAMPLE_REFERRAL
from services.registry.console.secretariat_pages import PAGE_SIZE
from services.registry.seed import DEMO_AGREEMENT, DEMO_CONSENT
from shared.protocol.audit_events import AUDIT_EVENT_MEDIA_TYPE
from shared.protocol.envelope import generate_signing_key, sign
from tests.conftest import RunningStack
from tests.e2e.console.conftest import MODES, Console, check_page, registry_console_url
from tests.helpers import wait_until

TEXT = {
    "es": {"verified": "Verificado", "invalid": "Escriba una referencia de caso",
           "record_read": "registro leído", "active": "vigente", "awaiting": "en espera de firmas",
           "honduras": "Honduras", "search": "Buscar", "reads": "lecturas: %s",
           "consent": "consentimiento registrado", "later": "Eventos posteriores"},
    "en": {"verified": "Verified", "invalid": "Enter a case reference",
           "record_read": "record read", "active": "in force", "awaiting": "awaiting signatures",
           "honduras": "Honduras", "search": "Search", "reads": "reads: %s",
           "consent": "consent recorded", "later": "Later events"},
}


def referral_read_by_honduras(stack: RunningStack, case: str, reads: int = 1) -> str:
    """MX sends a referral over the API, HN's caseworker reads it `reads` times: returns the
    referral id once the registry holds HN's record-read entries."""
    with stack.gateway("MX", "mx-sndif") as mx:
        answer = mx.post("/v1/consents", json={**DEMO_CONSENT, "case_reference": case})
        assert answer.status_code == 201, answer.text
        body = copy.deepcopy(SAMPLE_REFERRAL)
        body["case_reference"] = case
        sent = mx.post("/v1/referrals", json=body)
        assert sent.status_code == 202, sent.text
    referral_id = str(sent.json()["id"])
    with stack.gateway("HN", "hn-senaf") as hn:
        wait_until(lambda: hn.get(f"/v1/referrals/{referral_id}").status_code == 200,
                   timeout=60, interval=0.5)
        for _ in range(reads - 1):
            assert hn.get(f"/v1/referrals/{referral_id}").status_code == 200
    with stack.registry("auditor") as registry:
        wait_until(lambda: len(registry.get("/v1/audit/entries", params={
            "case_reference": case, "event_type": "record-read",
            "institution_id": "hn-senaf"}).json()["items"]) >= reads, timeout=60, interval=0.5)
    return referral_id


def test_the_auditor_sees_who_has_read_a_childs_record(console: Console) -> None:
    language, viewport = "es", "phone"
    case = f"MX-AUD-{uuid.uuid4().hex[:8]}"
    # More reads than a page of events holds, so the events come in two pages.
    referral_id = referral_read_by_honduras(console.stack, case, reads=PAGE_SIZE)
    page = console.signed_in_at_registry(language, viewport)
    page.locator("#reference").fill(case)
    page.get_by_role("button", name=TEXT[language]["search"]).click()
    readers = page.locator("#readers > li")
    expect(readers).to_have_count(1)  # the sender only sent it
    expect(readers).to_contain_text("hn-senaf")
    expect(readers).to_contain_text(TEXT[language]["reads"] % PAGE_SIZE)
    entries = page.locator("#entries > li")
    expect(entries).to_have_count(PAGE_SIZE)
    expect(entries.first).to_contain_text(TEXT[language]["consent"])
    # The case reference is posted, never in the address; nor in the title.
    assert case not in page.url and case not in page.title()
    check_page(page)
    page.get_by_role("button", name=TEXT[language]["later"]).click()
    expect(entries).not_to_have_count(PAGE_SIZE)
    expect(page.locator("#entries")).to_contain_text(TEXT[language]["record_read"])
    expect(page.get_by_role("button", name=TEXT[language]["later"])).to_have_count(0)
    check_page(page)
    # By the referral's id: the same record-read.
    page.locator("#reference").fill(referral_id)
    page.get_by_role("button", name=TEXT[language]["search"]).click()
    expect(page.locator("#readers")).to_contain_text("hn-senaf")


def test_the_auditor_finds_no_reader_of_an_unknown_case_and_changes_no_agreement(
        console: Console) -> None:
    page = console.signed_in_at_registry("en", "desktop")
    page.locator("#reference").fill(f"MX-NONE-{uuid.uuid4().hex[:8]}")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("main")).to_contain_text("Nobody has read this record")
    expect(page.locator("#readers")).to_have_count(0)
    # The form is not shown to an auditor; posted anyway, the registry refuses it.
    token = page.locator("meta[name=csrf-token]").get_attribute("content") or ""
    answer = page.request.post(
        f"{registry_console_url(console.stack)}/agreements/{DEMO_AGREEMENT['id']}"
        "/versions/1/status", form={"csrf_token": token, "status": "suspended"})
    assert answer.status == 403 and 'class="error" role="alert"' in answer.text()
    with console.stack.registry("auditor") as registry:
        assert registry.get(f"/v1/agreements/{DEMO_AGREEMENT['id']}").json()["status"] == (
            "active")


@pytest.mark.parametrize(("language", "viewport"), MODES)
def test_every_page_of_the_secretariat(console: Console, language: str, viewport: str) -> None:
    text = TEXT[language]
    base = registry_console_url(console.stack)
    page = console.signed_in_at_registry(language, viewport)
    # A name typed by mistake: refused next to the field, and in no address.
    page.locator("#reference").fill("Ana María")
    page.get_by_role("button", name=text["search"]).click()
    expect(page.locator("#reference-error")).to_contain_text(text["invalid"])
    expect(page.locator("#reference")).to_have_attribute("aria-invalid", "true")
    assert "Ana" not in page.url
    check_page(page)

    page.goto(f"{base}/audit/checkpoint")
    expect(page.locator("#verdict")).to_contain_text(text["verified"])
    assert int(page.locator("#tree-size").inner_text()) > 0
    check_page(page)

    page.goto(f"{base}/audit/quarantine")
    expect(page.locator("h1")).to_be_visible()
    check_page(page)

    page.goto(f"{base}/agreements")
    link = page.locator(f"#agreements a[href$='/agreements/{DEMO_AGREEMENT['id']}']")
    expect(link).to_be_visible()
    check_page(page)
    link.click()
    expect(page.locator("#agreement-status")).to_have_text(text["active"])
    expect(page.locator("#signatures > li")).to_have_count(len(DEMO_AGREEMENT["parties"]))
    expect(page.locator("#canonical")).to_contain_text('"type":"enlace-agreement"')
    expect(page.locator("select#status")).to_have_count(0)  # the auditor reads only
    check_page(page)

    page.goto(f"{base}/directory")
    page.locator("#countries").get_by_role("link", name=text["honduras"]).click()
    expect(page.locator("#institutions")).to_contain_text("hn-senaf")
    check_page(page)


def forge_an_audit_event(stack: RunningStack) -> str:
    """Published on MX's audit subject signed with a key that is not SNDIF's: the registry
    quarantines it, keeping the claimed ids."""
    event_id = str(uuid.uuid4())
    event = {"v": "1", "event_id": event_id, "event_type": "record-read",
             "occurred_at": datetime.now(UTC).isoformat(), "institution_id": "mx-sndif",
             "counterpart_id": None, "message_id": str(uuid.uuid4()),
             "message_type": "referral", "detail": {"role": "caseworker"}}

    async def publish() -> None:
        nc = await stack.nats("gateway-MX")
        try:
            await nc.jetstream().publish("enlace.audit.MX", sign(
                event, generate_signing_key(), AUDIT_EVENT_MEDIA_TYPE).encode())
        finally:
            await nc.close()

    # In a thread of its own: Playwright's sync API holds this thread's event loop.
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(publish())
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not failures, failures
    with stack.registry("auditor") as registry:
        wait_until(lambda: any(row["event_id"] == event_id for row in registry.get(
            "/v1/audit/quarantine", params={"limit": 1000}).json()["items"]), timeout=60,
            interval=0.5)
    return event_id


def test_a_forged_event_is_listed_in_the_quarantine(console: Console) -> None:
    event_id = forge_an_audit_event(console.stack)
    page = console.signed_in_at_registry("es", "phone")
    page.goto(f"{registry_console_url(console.stack)}/audit/quarantine")
    row = page.locator("#quarantine > li", has_text=event_id)
    expect(row).to_contain_text("mx-sndif")
    expect(row).to_contain_text("registro leído")
    check_page(page)


def test_the_regional_administrator_submits_a_draft_for_signatures(console: Console) -> None:
    agreement_id = f"test-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    draft = {**DEMO_AGREEMENT, "id": agreement_id, "title": "Acuerdo de prueba",
             "valid_from": now.isoformat(), "valid_to": (now + timedelta(days=30)).isoformat()}
    with console.stack.registry("regional_admin") as registry:
        created = registry.post("/v1/agreements", json=draft)
        assert created.status_code == 201, created.text
    page = console.signed_in_at_registry("en", "phone", role="regional_admin")
    page.goto(f"{registry_console_url(console.stack)}/agreements/{agreement_id}")
    expect(page.locator("#agreement-status")).to_have_text("draft")
    page.locator("select#status").select_option("awaiting-signatures")
    page.locator("#reason").fill("Ready for the parties")
    page.get_by_role("button", name="Change the status").click()
    expect(page.locator("#agreement-status")).to_have_text(TEXT["en"]["awaiting"])
    check_page(page)
    with console.stack.registry("auditor") as registry:
        assert registry.get(f"/v1/agreements/{agreement_id}").json()["status"] == (
            "awaiting-signatures")
