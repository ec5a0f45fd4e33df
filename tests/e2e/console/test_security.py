"""What the console promises over plain HTTP: headers, cookies, CSRF, lockout, audit, /docs."""

from __future__ import annotations

import re
import uuid

import httpx

from services.demo_data import SAMPLE_REFERRAL
from services.registry.seed import DEMO_CONSENT
from shared.web.kit import CONTENT_SECURITY_POLICY
from tests.conftest import RunningStack
from tests.e2e.console.conftest import person
from tests.helpers import wait_until


def browser_client(stack: RunningStack, country: str = "MX",
                   host: str | None = None) -> httpx.Client:
    headers = {"Accept-Language": "en"}
    if host:
        headers["Host"] = host
    return httpx.Client(base_url=stack.info["gateways"][country]["url"], timeout=15,
                        headers=headers)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    page = client.get("/console/sign-in")
    # A Secure cookie is not kept by the client over http: send it back by hand.
    presession = re.search(r"enlace_presession=([^;]+)", page.headers.get("set-cookie", ""))
    headers = {"Cookie": f"enlace_presession={presession.group(1)}"} if presession else {}
    return client.post("/console/sign-in", headers=headers, data={
        "csrf_token": csrf_of(page.text), "username": username, "password": password})


def test_every_page_is_uncached_and_under_a_strict_policy(stack: RunningStack) -> None:
    with browser_client(stack) as client:
        for path in ("/console/sign-in", "/console/referrals", "/v1/referrals"):
            answer = client.get(path)
            assert answer.headers["Cache-Control"] == "no-store", path
            assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
            assert answer.headers["X-Frame-Options"] == "DENY", path
        assert client.get("/", follow_redirects=True).url.path == "/console/sign-in"


def test_the_session_cookie_is_http_only_and_secure_unless_plain_http_on_loopback(
        stack: RunningStack) -> None:
    who = person(stack, "MX", "mx-sndif")
    with browser_client(stack) as client:
        cookie = sign_in(client, who["username"], who["password"]).headers["set-cookie"]
        assert "enlace_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=lax" in cookie and "Secure" not in cookie
    with browser_client(stack, host="enlace.example.org") as client:
        cookie = sign_in(client, who["username"], who["password"]).headers["set-cookie"]
        assert "enlace_session=" in cookie and "Secure" in cookie


def test_a_form_without_its_csrf_token_is_refused(stack: RunningStack) -> None:
    who = person(stack, "MX", "mx-sndif")
    with browser_client(stack) as client:
        refused = client.post("/console/sign-in",
                              data={"username": who["username"], "password": who["password"]})
        assert refused.status_code == 403 and "enlace_session" not in refused.cookies
        sign_in(client, who["username"], who["password"])
        page = client.get("/console/referrals/new")
        assert page.status_code == 200
        assert client.post("/console/referrals/new", data={}).status_code == 403
        assert client.post("/console/referrals/new",
                           data={"csrf_token": "forged"}).status_code == 403
        # htmx sends the token as a header: accepted (then the empty form is invalid).
        with_header = client.post("/console/referrals/new", data={},
                                  headers={"X-CSRF-Token": csrf_of(page.text)})
        assert with_header.status_code == 422
        assert "Fill in this field." in with_header.text


def test_failed_attempts_make_the_next_one_wait_then_sign_in_works_again(
        stack: RunningStack) -> None:
    who = person(stack, "MX", "mx-pfpnna", "auditor")
    with browser_client(stack) as client:
        for _ in range(4):
            assert sign_in(client, who["username"], "wrong password").status_code == 401
        locked = sign_in(client, who["username"], who["password"])
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
        assert "enlace_session" not in locked.cookies
        wait_until(lambda: sign_in(client, who["username"], who["password"]).status_code == 303,
                   timeout=60, interval=1)


def test_sign_in_and_a_failed_one_are_in_the_audit_log_without_the_username(
        stack: RunningStack) -> None:
    who = person(stack, "HN", "hn-senaf", "country_admin")
    with browser_client(stack, "HN") as client:
        assert sign_in(client, who["username"], "wrong password").status_code == 401
        assert sign_in(client, who["username"], who["password"]).status_code == 303

    def entries() -> list[dict] | None:
        with stack.registry() as registry:
            items = registry.get("/v1/audit/entries", params={
                "institution_id": "hn-senaf", "event_type": ["sign-in", "sign-in-failed"],
            }).json()["items"]
        mine = [e for e in items if e["detail"].get("role") == "country_admin"]
        kinds = {e["event_type"] for e in mine}
        return mine if {"sign-in", "sign-in-failed"} <= kinds else None
    found = wait_until(entries, timeout=60, interval=0.5)
    assert all(who["username"] not in str(entry) for entry in found)
    assert all(entry["detail"]["person_id"] for entry in found)


def test_a_view_in_the_console_is_a_record_read_like_over_the_api(stack: RunningStack) -> None:
    case = f"MX-WEB-{uuid.uuid4().hex[:8]}"
    with stack.gateway("MX", "mx-sndif") as mx:
        assert mx.post("/v1/consents", json={**DEMO_CONSENT, "case_reference": case}
                       ).status_code == 201
        referral_id = mx.post("/v1/referrals", json={**SAMPLE_REFERRAL,
                                                     "case_reference": case}).json()["id"]
    who = person(stack, "MX", "mx-sndif")
    with browser_client(stack) as client:
        sign_in(client, who["username"], who["password"])
        page = client.get(f"/console/referrals/{referral_id}")
        assert page.status_code == 200 and "Ana Lucía" in page.text
        assert client.get(f"/console/referrals/{uuid.uuid4()}").status_code == 404

    def reads() -> list[dict] | None:
        with stack.registry() as registry:
            items = registry.get("/v1/audit/entries", params={
                "message_id": referral_id, "event_type": "record-read"}).json()["items"]
        return items or None
    read = wait_until(reads, timeout=60, interval=0.5)
    assert read[0]["institution_id"] == "mx-sndif"
    assert read[0]["case_reference"] == case


def test_a_person_without_the_caseworker_role_cannot_open_referrals(stack: RunningStack) -> None:
    who = person(stack, "MX", "mx-sndif", "auditor")
    with browser_client(stack) as client:
        sign_in(client, who["username"], who["password"])
        refused = client.get("/console/referrals")
        assert refused.status_code == 403
        assert client.get("/console/referrals/new").status_code == 403


def test_docs_work_offline_and_show_the_bearer_scheme(stack: RunningStack) -> None:
    with browser_client(stack) as client:
        page = client.get("/docs").text
        sources = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert sources and all(s.startswith("/docs/") for s in sources), sources
        for source in sources:
            assert client.get(source).status_code == 200, source
        schema = client.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert schema["paths"]["/v1/referrals"]["post"]["security"] == [{"bearer": []}]
        assert not any(path.startswith("/console") for path in schema["paths"])
        problem = schema["paths"]["/v1/referrals/{referral_id}"]["get"]["responses"]["404"]
        assert problem["content"]["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"}
        assert "HTTPValidationError" not in str(
            schema["paths"]["/v1/referrals"]["post"]["responses"])


def test_the_secretariat_signs_in_at_the_registry_and_it_is_in_the_log(
        stack: RunningStack) -> None:
    who = stack.info["registry"]["people"]["auditor"]
    with httpx.Client(base_url=stack.info["registry"]["url"], timeout=15,
                      headers={"Accept-Language": "es"}) as client:
        assert sign_in(client, who["username"], "wrong password").status_code == 401
        signed_in = sign_in(client, who["username"], who["password"])
        assert signed_in.status_code == 303
        account = client.get(signed_in.headers["location"])
        assert account.status_code == 200 and "Mi cuenta" in account.text
        assert account.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    with stack.registry() as registry:
        items = registry.get("/v1/audit/entries", params={
            "event_type": ["sign-in", "sign-in-failed"]}).json()["items"]
    mine = [e for e in items if e["source"] == "registry" and e["detail"]["role"] == "auditor"]
    assert {e["event_type"] for e in mine} == {"sign-in", "sign-in-failed"}
