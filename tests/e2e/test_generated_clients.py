"""Issue 10, point 2: a case system generates its client from a service's OpenAPI document
(openapi-python-client) and uses it as it comes: functions named by the operation ids
(`referrals_send`), one cursor pagination followed through `next`, and every refusal read
as a typed `Problem` with its stable code.

One stack of its own (SQLite): the clients are generated from the documents the running
services serve."""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from services.demo_data import SAMPLE_REFERRAL
from tests.conftest import RunningStack
from tests.e2e.test_alerts import ALERT

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
BAD_TOKEN = "enl_" + "x" * 43


@pytest.fixture(scope="module")
def client_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = RunningStack(tmp_path_factory.mktemp("stack-clients"), [])
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def generated(client_stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[dict[str, ModuleType]]:
    """A client package per service, generated from the OpenAPI document it serves."""
    if not GENERATOR.exists():
        pytest.fail("openapi-python-client is not installed (pip install -e '.[test]')")
    folder = tmp_path_factory.mktemp("clients")
    urls = {"gateway": client_stack.info["gateways"]["MX"]["url"],
            "registry": client_stack.info["registry"]["url"],
            "directory": client_stack.info["directory"]["url"]}
    packages: dict[str, ModuleType] = {}
    sys.path.insert(0, str(folder))
    try:
        for service, url in urls.items():
            spec = folder / f"{service}.json"
            spec.write_bytes(httpx.get(f"{url}/openapi.json", timeout=10).content)
            name = f"enlace_{service}_client"
            config = folder / f"{service}.yaml"
            config.write_text(f"package_name_override: {name}\npost_hooks: []\n")
            run = subprocess.run(
                [str(GENERATOR), "generate", "--path", str(spec), "--config", str(config),
                 "--meta", "none", "--output-path", str(folder / name)],
                capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, run.stdout + run.stderr
            # Any warning means a part of the document the generator could not use.
            assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
            packages[service] = importlib.import_module(name)
        yield packages
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m.startswith("enlace_")]:
            del sys.modules[name]


def module(package: ModuleType, path: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{path}")


def client(package: ModuleType, url: str, token: str) -> Any:
    return package.AuthenticatedClient(base_url=url, token=token, timeout=httpx.Timeout(30))


def cursor(link: str | None) -> str | None:
    return parse_qs(urlsplit(link).query)["cursor"][0] if link else None


def every_page(list_page: Any, **params: Any) -> list[Any]:
    """Each page of a list in turn, following `next` as a case system would."""
    pages = [list_page(**params)]
    while pages[-1].next_:
        pages.append(list_page(**params, cursor=cursor(pages[-1].next_)))
    return pages


def assert_problem(answer: Any, problem_type: type, status: int, code: str) -> None:
    assert isinstance(answer, problem_type), answer
    assert (answer.status, answer.code) == (status, code), answer.to_dict()
    assert answer.type_ == f"urn:enlace:problem:{code}"
    assert answer.detail


def test_a_case_system_sends_reads_and_pages_through_referrals(
        generated: dict[str, ModuleType], client_stack: RunningStack) -> None:
    gw = generated["gateway"]
    api, models = "api.exchange", module(gw, "models")
    send = module(gw, f"{api}.referrals_send").sync
    get = module(gw, f"{api}.referrals_get").sync
    list_referrals = module(gw, f"{api}.referrals_list").sync
    url = client_stack.info["gateways"]["MX"]["url"]
    caseworker = client(gw, url, client_stack.token("MX", "mx-sndif"))

    sent = [send(client=caseworker, body=models.ReferralCreate.from_dict(SAMPLE_REFERRAL))
            for _ in range(3)]
    assert all(isinstance(s, models.ReferralAccepted) for s in sent), sent
    read = get(referral_id=sent[0].id, client=caseworker)
    assert isinstance(read, models.ReferralPublic), read
    assert (read.id, read.recipient_id) == (sent[0].id, SAMPLE_REFERRAL["recipient_id"])

    pages = every_page(lambda **p: list_referrals(client=caseworker, direction="outbound", **p),
                       limit=2)
    listed = [item.id for page in pages for item in page.items]
    assert len(pages) >= 2 and all(len(page.items) <= 2 for page in pages)
    assert len(listed) == len(set(listed)), "a page repeated an item"
    assert listed[:3] == [s.id for s in reversed(sent)], "newest first, across pages"
    assert pages[-1].next_ is None


def test_a_case_system_pages_through_alerts(
        generated: dict[str, ModuleType], client_stack: RunningStack) -> None:
    gw = generated["gateway"]
    api, models = "api.exchange", module(gw, "models")
    url = client_stack.info["gateways"]["MX"]["url"]
    caseworker = client(gw, url, client_stack.token("MX", "mx-sndif"))
    issued = [module(gw, f"{api}.alerts_issue").sync(
        client=caseworker, body=models.AlertCreate.from_dict(ALERT)) for _ in range(3)]
    assert all(isinstance(a, models.AlertView) for a in issued), issued
    list_alerts = module(gw, f"{api}.alerts_list").sync
    pages = every_page(lambda **p: list_alerts(client=caseworker, direction="outbound", **p),
                       limit=2)
    listed = [alert.id for page in pages for alert in page.items]
    assert len(pages) >= 2 and len(listed) == len(set(listed))
    assert listed[:3] == [a.id for a in reversed(issued)], "newest first, across pages"


def test_a_case_system_reads_each_refusal_as_a_typed_problem(
        generated: dict[str, ModuleType], client_stack: RunningStack) -> None:
    gw = generated["gateway"]
    api, models = "api.exchange", module(gw, "models")
    url = client_stack.info["gateways"]["MX"]["url"]
    caseworker = client(gw, url, client_stack.token("MX", "mx-sndif"))
    body = models.ReferralCreate.from_dict(SAMPLE_REFERRAL)
    send = module(gw, f"{api}.referrals_send").sync

    unknown = client(gw, url, BAD_TOKEN)
    assert_problem(module(gw, f"{api}.referrals_get").sync(
        referral_id=str(uuid.uuid4()), client=unknown), models.Problem, 401, "invalid_token")
    # PFPNNA has no agreement with SENAF.
    no_agreement = client(gw, url, client_stack.token("MX", "mx-pfpnna"))
    denied = send(client=no_agreement, body=body)
    assert_problem(denied, models.Problem, 403, "policy_denied")
    assert denied.additional_properties["reasons"], "the extension fields are kept"
    assert_problem(module(gw, f"{api}.referrals_get").sync(
        referral_id=str(uuid.uuid4()), client=caseworker), models.Problem, 404,
        "referral_not_found")
    sent = send(client=caseworker, body=body)
    assert_problem(module(gw, f"{api}.referrals_act").sync(
        referral_id=sent.id, client=caseworker,
        body=models.ActionRequest.from_dict({"action": "accept"})),
        models.Problem, 409, "illegal_transition")
    assert_problem(module(gw, f"{api}.referrals_list").sync(
        client=caseworker, cursor="bm90LWEtY3Vyc29y"), models.Problem, 422, "invalid_cursor")


def test_the_registry_client_pages_and_reads_problems(
        generated: dict[str, ModuleType], client_stack: RunningStack) -> None:
    reg = generated["registry"]
    models = module(reg, "models")
    url = client_stack.info["registry"]["url"]
    tokens = client_stack.info["registry"]["tokens"]
    auditor = client(reg, url, tokens["auditor"])
    admin = client(reg, url, tokens["regional_admin"])

    list_entries = module(reg, "api.audit.audit_entries_list").sync
    pages = every_page(lambda **p: list_entries(client=auditor, **p), limit=3)
    seqs = [entry.seq for page in pages for entry in page.items]
    assert len(pages) >= 2 and seqs == sorted(set(seqs)), "log order, no repeats"
    assert len(seqs) == len(list_entries(client=auditor, limit=1000).items)

    agreements = module(reg, "api.agreements.agreements_list").sync(client=auditor)
    assert isinstance(agreements, models.AgreementPage) and agreements.items
    assert_problem(module(reg, "api.agreements.agreements_list").sync(
        client=client(reg, url, BAD_TOKEN)), models.Problem, 401, "invalid_token")
    draft = models.AgreementCreate.from_dict({**_terms(agreements.items[0]),
                                              "id": "agr-generated-client"})
    assert_problem(module(reg, "api.agreements.agreements_create").sync(
        client=auditor, body=draft), models.Problem, 403, "role_not_allowed")
    assert_problem(module(reg, "api.agreements.agreements_get").sync(
        agreement_id="agr-none", client=auditor), models.Problem, 404, "agreement_not_found")
    current = agreements.items[0]
    assert_problem(module(reg, "api.agreements.agreements_status_change").sync(
        agreement_id=current.id, version=current.version, client=admin,
        body=models.StatusChange.from_dict({"status": "awaiting-signatures"})),
        models.Problem, 409, "invalid_status_change")


def _terms(agreement: Any) -> dict[str, Any]:
    fields = ("title", "parties", "message_types", "purposes", "data_categories",
              "legal_bases", "retention_days", "valid_from", "valid_to")
    whole = agreement.to_dict()
    return {f: whole[f] for f in fields if f in whole}


def test_the_directory_client_pages_and_reads_problems(
        generated: dict[str, ModuleType], client_stack: RunningStack) -> None:
    dirc = generated["directory"]
    models, api = module(dirc, "models"), "api.directory"
    url = client_stack.info["directory"]["url"]
    tokens = client_stack.info["directory"]["tokens"]
    admin = client(dirc, url, tokens["regional_admin"])
    country_admin = client(dirc, url, tokens["country_admin_MX"])

    list_institutions = module(dirc, f"{api}.institutions_list").sync
    pages = every_page(lambda **p: list_institutions(client=admin, **p), limit=7)
    ids = [i.id for page in pages for i in page.items]
    assert len(pages) >= 2 and len(ids) == len(set(ids)) == pages[0].total
    countries = module(dirc, f"{api}.countries_list").sync(client=admin)
    assert isinstance(countries, models.CountryPage) and countries.items

    assert_problem(module(dirc, f"{api}.institutions_keys_list").sync(
        institution_id="mx-sndif", client=client(dirc, url, BAD_TOKEN)),
        models.Problem, 401, "invalid_token")
    mexico = models.CountryData.from_dict({**countries.items[0].to_dict(), "code": "ZZ"})
    assert_problem(module(dirc, f"{api}.countries_create").sync(
        client=country_admin, body=mexico), models.Problem, 403, "role_not_allowed")
    assert_problem(module(dirc, f"{api}.institutions_get").sync(
        entry_id="xx-none", client=admin), models.Problem, 404, "institution_not_found")
    existing = models.CountryData.from_dict(countries.items[0].to_dict())
    assert_problem(module(dirc, f"{api}.countries_create").sync(
        client=admin, body=existing), models.Problem, 409, "country_exists")
