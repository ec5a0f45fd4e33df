"""Gateway HTTP API towards the registry for the institutions it hosts: administrators sign
agreements with their institution's key (which never leaves the gateway), and case holders
record and withdraw consents."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Request
from pydantic import BaseModel, ConfigDict

from services.exchange.api import exchange_router
from shared.kit.db import utcnow
from shared.kit.errors import Forbidden
from shared.kit.http import url_path
from shared.kit.limits import PositiveInt32
from shared.kit.pagination import Page, PageRequest, Pages
from shared.protocol.auth import CurrentPrincipal, Principal, Role, require_role
from shared.protocol.envelope import sign

router = exchange_router("agreements and consents")

SIGNATURE_MEDIA_TYPE = "enlace-agreement-signature+jws"

# The registry validates these bodies (its AgreementCreate, ConsentCreate and Withdrawal); a
# unit test checks that the examples pass them.
AGREEMENT_EXAMPLE: dict[str, Any] = {
    "id": "agr-mx-sndif-hn-senaf-2027",
    "title": "Convenio de intercambio de información SNDIF y SENAF 2027",
    "parties": ["mx-sndif", "hn-senaf"], "message_types": ["referral", "receipt"],
    "purposes": ["reception-and-care", "family-tracing"],
    "data_categories": ["identity", "location", "family", "protection", "child-views"],
    "legal_bases": ["consent", "best-interests-determination"], "retention_days": 1825,
    "valid_from": "2027-01-01T00:00:00Z", "valid_to": "2029-12-31T23:59:59Z"}
CONSENT_EXAMPLE: dict[str, Any] = {
    "case_reference": "MX-DIF-2026-000123", "basis": "consent",
    "given_by": "legal-representative", "child_heard": True, "child_views": "agrees",
    "recipients": ["hn-senaf"], "purposes": ["reception-and-care"],
    "data_categories": ["identity", "family", "health", "protection", "child-views"],
}
WITHDRAWAL_EXAMPLE: dict[str, Any] = {"withdrawn_by": "legal-representative",
                                      "reason": "changed-mind"}


class RegistryPage(Page[dict[str, Any]]):
    """A page of the registry's list, as the registry answers it (its OpenAPI describes the
    items); `next` is a link of this API too."""


class AgreementPage(RegistryPage):
    """Agreements by id (the registry's `AgreementPublic`), or the versions of one."""


class ConsentPage(RegistryPage):
    """Consents and legal bases, oldest recorded first (the registry's `ConsentPublic`)."""


class SignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 1}]})

    version: PositiveInt32


def _hosted(request: Request, principal: Principal, *roles: Role) -> Any:
    require_role(principal, *roles)
    gateway = request.app.state.gateway
    if not gateway.hosts(principal.institution_id):
        raise Forbidden("This institution is not hosted by this gateway.",
                        code="institution_not_hosted")
    return gateway


def _page_params(pages: PageRequest) -> dict[str, Any]:
    """The page asked for, passed on to the registry: its `next` links fit this API too,
    whose list paths are the registry's."""
    return {"limit": pages.limit, **({"cursor": pages.cursor} if pages.cursor else {})}


@router.get("/agreements", response_model=AgreementPage, operation_id="agreements_list")
def list_agreements(request: Request, principal: CurrentPrincipal, pages: Pages) -> Any:
    """The registry's agreements, as your institution sees them (administrators)."""
    gateway = _hosted(request, principal, Role.country_admin, Role.auditor)
    return gateway.registry.call(principal.institution_id, "GET", "/v1/agreements",
                                 params=_page_params(pages))


@router.post("/agreements", status_code=201, operation_id="agreements_draft")
def draft_agreement(request: Request, principal: CurrentPrincipal,
                    body: dict[str, Any] = Body(openapi_examples={"draft": {
                        "summary": "A draft between two institutions",
                        "value": AGREEMENT_EXAMPLE}})) -> Any:
    """Draft an agreement your institution or your country is a party to (country
    administrators; see the registry's `POST /v1/agreements` for the fields). The secretariat
    submits it for signatures."""
    gateway = _hosted(request, principal, Role.country_admin)
    return gateway.registry.call(principal.institution_id, "POST", "/v1/agreements", json=body)


@router.get("/agreements/{agreement_id}/versions", response_model=AgreementPage,
            operation_id="agreements_versions_list")
def list_agreement_versions(agreement_id: str, request: Request,
                            principal: CurrentPrincipal, pages: Pages) -> Any:
    """Every version of one agreement, oldest first, each with its signatures."""
    gateway = _hosted(request, principal, Role.country_admin, Role.auditor)
    return gateway.registry.call(principal.institution_id, "GET",
                                 url_path("v1", "agreements", agreement_id, "versions"),
                                 params=_page_params(pages))


@router.get("/agreements/{agreement_id}/versions/{version}/content",
            operation_id="agreements_content_get")
def agreement_content(agreement_id: str, version: PositiveInt32, request: Request,
                      principal: CurrentPrincipal) -> Any:
    """The canonical content of a version: exactly what each party signs."""
    gateway = _hosted(request, principal, Role.country_admin, Role.auditor)
    return gateway.registry.call(principal.institution_id, "GET", url_path(
        "v1", "agreements", agreement_id, "versions", version, "content"))


@router.post("/agreements/{agreement_id}/signatures", status_code=201,
             operation_id="agreements_sign")
def sign_agreement(agreement_id: str, body: SignRequest, request: Request,
                   principal: CurrentPrincipal) -> Any:
    """Sign a version of an agreement for your institution, or for your country when the
    country is the party (country administrators). Returns the agreement as it now stands."""
    gateway = _hosted(request, principal, Role.country_admin)
    me = principal.institution_id
    path = url_path("v1", "agreements", agreement_id, "versions", body.version)
    content = gateway.registry.call(me, "GET", f"{path}/content")["content"]
    party = me if me in content["parties"] else principal.country
    token = sign({"type": "agreement-signature", "agreement": content, "party": party,
                  "signer": me, "signer_role": principal.role.value,
                  "iat": int(utcnow().timestamp())},
                 gateway.keys[me], media_type=SIGNATURE_MEDIA_TYPE)
    return gateway.registry.call(me, "POST", f"{path}/signatures", json={"jws": token})


@router.post("/consents", status_code=201, operation_id="consents_record")
def record_consent(request: Request, principal: CurrentPrincipal,
                   body: dict[str, Any] = Body(openapi_examples={"consent": {
                       "summary": "Consent of the legal representative",
                       "value": CONSENT_EXAMPLE}})) -> Any:
    """Record a consent or another legal basis for one of your cases (see the registry's
    `POST /v1/consents` for the fields)."""
    gateway = _hosted(request, principal, Role.caseworker, Role.country_admin)
    return gateway.registry.call(principal.institution_id, "POST", "/v1/consents", json=body)


@router.get("/consents", response_model=ConsentPage, operation_id="consents_list")
def list_consents(request: Request, principal: CurrentPrincipal, pages: Pages,
                  case_reference: str | None = None) -> Any:
    """Your institution's consents and legal bases, optionally for one case."""
    gateway = _hosted(request, principal, Role.caseworker, Role.country_admin, Role.auditor)
    params = _page_params(pages)
    if case_reference:
        params["case_reference"] = case_reference
    return gateway.registry.call(principal.institution_id, "GET", "/v1/consents",
                                 params=params)


@router.post("/consents/{consent_id}/withdrawal", operation_id="consents_withdraw")
def withdraw_consent(consent_id: str, request: Request, principal: CurrentPrincipal,
                     body: dict[str, Any] = Body(openapi_examples={"withdrawal": {
                         "summary": "Withdrawn by the legal representative",
                         "value": WITHDRAWAL_EXAMPLE}})) -> Any:
    """Withdraw a consent: recorded by the registry, never deleted; the next decision
    no longer counts it."""
    gateway = _hosted(request, principal, Role.caseworker, Role.country_admin)
    return gateway.registry.call(principal.institution_id, "POST",
                                 url_path("v1", "consents", consent_id, "withdrawal"), json=body)
