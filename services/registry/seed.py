"""Demo data of the registry: an agreement between SNDIF (Mexico) and SENAF (Honduras),
signed by both parties' administrators through their gateways once these run, and a consent
for the demo case."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
from joserfc.jwk import OKPKey

from services.demo_data import SAMPLE_REFERRAL
from services.directory.seed import SECRETARIAT, country_of
from services.registry.schemas import AgreementCreate, ConsentCreate, StatusChange
from services.registry.service import RegistryService
from shared.kit.db import make_engine, migrate, session_scope
from shared.protocol.auth import Principal, Role, issue_token

DEMO_AGREEMENT: dict[str, Any] = {
    "id": "agr-mx-sndif-hn-senaf-2026",
    "title": "Convenio de intercambio de información SNDIF (México) y SENAF (Honduras)",
    "parties": ["mx-sndif", "hn-senaf"],
    "message_types": ["referral", "receipt"],
    "purposes": ["reception-and-care", "family-tracing", "follow-up"],
    "data_categories": [
        "identity", "contact", "location", "family", "health", "protection", "child-views",
        "documents",
    ],
    "legal_bases": ["consent", "best-interests-determination", "vital-interest"],
    "retention_days": 1825,
    "valid_from": "2026-01-01T00:00:00Z",
    "valid_to": "2029-12-31T23:59:59Z",
}

# The demo referral's case: consent given by the child's legal representative (the child
# heard, and agreeing), for SENAF, for what the agreement allows.
DEMO_CONSENT: dict[str, Any] = {
    "case_reference": SAMPLE_REFERRAL["case_reference"],
    "basis": "consent",
    "given_by": "legal-representative",
    "child_heard": True,
    "child_views": "agrees",
    "recipients": ["hn-senaf"],
    "purposes": DEMO_AGREEMENT["purposes"],
    "data_categories": DEMO_AGREEMENT["data_categories"],
}
DEMO_CONSENT_HOLDER = "mx-sndif"


def provision_registry(
    url: str, gateway_tokens: dict[str, str], admin_token: str, auditor_token: str,
    signing_key: OKPKey,
) -> None:
    """`signing_key` is the registry's service key: it signs the seed's audit entries."""
    migrate("services.registry", url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        registry = RegistryService(session, signing_key=signing_key)
        admin = Principal(SECRETARIAT, "", Role.regional_admin)
        if not registry.repo.agreement_versions(DEMO_AGREEMENT["id"]):
            agreement = registry.create_agreement(admin, AgreementCreate(**DEMO_AGREEMENT))
            registry.change_status(admin, agreement.id, agreement.version,
                                   StatusChange(status="awaiting-signatures"))
        case = DEMO_CONSENT["case_reference"]
        if not registry.repo.consents(DEMO_CONSENT_HOLDER, case):
            holder = Principal(DEMO_CONSENT_HOLDER, country_of(DEMO_CONSENT_HOLDER), Role.gateway)
            registry.record_consent(holder, ConsentCreate(
                **DEMO_CONSENT, valid_from=datetime.fromisoformat(DEMO_AGREEMENT["valid_from"])))
        for institution_id, token in gateway_tokens.items():
            issue_token(session, institution_id, country_of(institution_id), Role.gateway, token,
                        label="gateway")
        issue_token(session, SECRETARIAT, "", Role.regional_admin, admin_token,
                    label="demo regional administrator")
        issue_token(session, SECRETARIAT, "", Role.auditor, auditor_token,
                    label="demo auditor")
    engine.dispose()


def sign_demo_agreement(gateways: dict[str, Any], timeout: float = 30.0) -> None:
    """Each party's country administrator signs through its gateway (where its key is)."""
    hosts = {inst: (gateway["url"], tokens["tokens"]["country_admin"])
             for gateway in gateways.values()
             for inst, tokens in gateway["institutions"].items()}
    for party in DEMO_AGREEMENT["parties"]:
        url, token = hosts[party]
        deadline = time.monotonic() + timeout
        while True:
            response = httpx.post(
                f"{url}/v1/agreements/{DEMO_AGREEMENT['id']}/signatures", json={"version": 1},
                headers={"Authorization": f"Bearer {token}"}, timeout=10)
            done = response.status_code == 201 or response.json().get("code") in (
                "already_signed", "not_awaiting_signatures")
            if done:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{party} could not sign the demo agreement: {response.text}")
            time.sleep(0.5)
