"""A country administrator's agreements at the gateway: the list, one agreement (its canonical
text, who signed and when, what is in force), a draft, and signing with the institution's key.

Every page calls the gateway's agreement endpoints (`agreement_endpoints`), the same functions
the REST API runs, as the signed-in person's `Principal`: the registry decides what is allowed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from services.exchange.agreements import endpoints as agreements_api
from services.exchange.console import views
from services.exchange.console.pages import _institution_name
from services.exchange.gateway import Gateway
from shared.kit.errors import Problem
from shared.kit.pagination import all_items
from shared.protocol.auth import Role
from shared.protocol.policy import is_country
from shared.protocol.vocabulary import DataCategory, MessageType, Purpose
from shared.web.i18n import N_
from shared.web.kit import PREFIX, CheckedForm, SignedIn, Visitor, render, see_other

router = APIRouter(prefix=PREFIX, include_in_schema=False)

TERM_LISTS = ("parties", "message_types", "purposes", "data_categories", "legal_bases")

PROBLEM_MESSAGES = {
    **views.PROBLEM_MESSAGES,
    "agreement_not_found": N_("No agreement has this id and version."),
    "not_awaiting_signatures": N_("This version is not awaiting signatures."),
    "already_signed": N_("Your party has signed this version already."),
    "not_a_party": N_("Your institution is not, and does not belong to, a party of this "
                      "agreement."),
    "signer_role_not_allowed": N_("Only a country administrator signs agreements."),
    "regional_service_unavailable": N_("The registry cannot be reached. Try again later."),
}
# A refusal of the draft that belongs next to one field.
DRAFT_FIELD_PROBLEMS = {
    "agreement_exists": ("id", N_("An agreement with this id exists.")),
    "invalid_validity": ("valid_to", N_("The end must come after the start.")),
    "duplicate_party": ("parties", N_("A party is listed twice.")),
    "not_a_party": ("parties", N_("Your institution or your country must be a party.")),
}
TWO_PARTIES = N_("Choose at least two parties.")


def _message(visitor: Visitor, problem: Problem) -> str:
    return visitor.gettext(PROBLEM_MESSAGES.get(problem.code, views.FALLBACK_ERROR))


def _refused(request: Request, visitor: Visitor, problem: Problem) -> Response:
    return render(request, visitor, "error.html", status=problem.status,
                  message=_message(visitor, problem))


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def party_name(gateway: Gateway, party: str) -> str:
    """An institution's name (and acronym), or a country's name for a whole-country party."""
    if is_country(party):
        names = {c.get("code"): c.get("name") for c in gateway.directory.countries()}
        return str(names.get(party) or party)
    return _institution_name(gateway, party)


def _my_party(visitor: Visitor, parties: list[str]) -> str | None:
    """The party the person's institution signs for, as the gateway's signing decides it."""
    me = visitor.principal
    if me.institution_id in parties:
        return me.institution_id
    return me.country if me.country in parties else None


@router.get("/agreements")
def agreement_list(request: Request, visitor: SignedIn) -> Response:
    try:
        listed = all_items(lambda pages: agreements_api.list_agreements(
            request, visitor.principal, pages), "/v1/agreements")
    except Problem as problem:
        return _refused(request, visitor, problem)
    gateway: Gateway = request.app.state.gateway
    mine = [a for a in listed if _my_party(visitor, a["parties"])]
    others = [a for a in listed if not _my_party(visitor, a["parties"])]
    return render(request, visitor, "agreements.html", mine=mine, others=others,
                  my_party=lambda a: _my_party(visitor, a["parties"]),
                  name=lambda p: party_name(gateway, p), moment=_moment,
                  may_draft=visitor.principal.role == Role.country_admin)


# Drafting ------------------------------------------------------------------------------------


def _party_choices(gateway: Gateway, visitor: Visitor) -> list[tuple[str, str]]:
    """The person's own institution and country first, then the others that exchange through
    a gateway (the directory's consulates and desks do not sign agreements)."""
    me = visitor.principal
    institutions = sorted(
        (i for c in gateway.directory.countries()
         for i in gateway.directory.institutions_of(c["code"]) if i.get("gateway_country")),
        key=lambda i: party_name(gateway, i["id"]))
    with_gateway = {i["country"] for i in institutions}
    countries = sorted((c for c in gateway.directory.countries() if c["code"] in with_gateway),
                       key=lambda c: str(c.get("name")))
    own = [(me.institution_id, party_name(gateway, me.institution_id)),
           (me.country, visitor.gettext("%(country)s (the whole country)",
                                        country=party_name(gateway, me.country)))]
    return own + [(i["id"], party_name(gateway, i["id"])) for i in institutions
                  if i["id"] != me.institution_id] + [
        (c["code"], visitor.gettext("%(country)s (the whole country)", country=c["name"]))
        for c in countries if c["code"] != me.country]


def _draft_form(request: Request, visitor: Visitor, values: dict[str, Any],
                errors: dict[str, str], problem: str | None = None,
                status: int = 200) -> Response:
    gateway: Gateway = request.app.state.gateway

    return render(
        request, visitor, "agreement_new.html", status=status, values=values, errors=errors,
        problem=problem, parties=_party_choices(gateway, visitor),
        message_types=visitor.options("message_type", MessageType),
        purposes=visitor.options("purpose", Purpose),
        categories=visitor.options("category", DataCategory),
        bases=visitor.options("basis"),
    )


@router.get("/agreements/new")
def agreement_new(request: Request, visitor: SignedIn) -> Response:
    if visitor.principal.role != Role.country_admin:
        return render(request, visitor, "error.html", status=403,
                      message=visitor.gettext(PROBLEM_MESSAGES["role_not_allowed"]))
    return _draft_form(request, visitor, {"parties": [visitor.principal.institution_id]}, {})


def draft_from_form(form: Any) -> dict[str, Any]:
    """The draft API's request body from the form: dates are whole days in UTC, from the
    first second of the first day to the last second of the last one."""
    body: dict[str, Any] = {name: str(form.get(name) or "").strip() or None
                            for name in ("id", "title", "retention_days")}
    for name in TERM_LISTS:
        body[name] = [str(v) for v in form.getlist(name)]
    for name, time in (("valid_from", "00:00:00"), ("valid_to", "23:59:59")):
        day = str(form.get(name) or "").strip()
        body[name] = f"{day}T{time}Z" if day else None
    return {k: v for k, v in body.items() if v is not None}


@router.post("/agreements/new")
def agreement_draft(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    values: dict[str, Any] = {k: str(v) for k, v in form.items()}
    for name in TERM_LISTS:
        values[name] = form.getlist(name)
    try:
        created = agreements_api.draft_agreement(request, visitor.principal,
                                                 draft_from_form(form))
    except Problem as refused:
        invalid = refused.extra.get("errors", [])
        errors = views.problem_field_errors(invalid)
        if any(e.get("kind") == "too_short" and "parties" in e.get("location", [])
               for e in invalid):
            errors["parties"] = TWO_PARTIES
        errors = {k: visitor.gettext(m) for k, m in errors.items()}
        if refused.code in DRAFT_FIELD_PROBLEMS:
            field, message = DRAFT_FIELD_PROBLEMS[refused.code]
            errors[field] = visitor.gettext(message)
        return _draft_form(
            request, visitor, values, errors, status=refused.status,
            problem=visitor.gettext("Some fields need your attention.") if errors
            else _message(visitor, refused))
    return see_other(f"{PREFIX}/agreements/{created['id']}")


# One agreement -------------------------------------------------------------------------------


def _agreement_page(request: Request, visitor: Visitor, agreement_id: str,
                    version: int | None, error: str | None = None, done: bool = False,
                    status: int = 200) -> Response:
    principal = visitor.principal
    try:
        versions = all_items(lambda pages: agreements_api.list_agreement_versions(
            agreement_id, request, principal, pages), f"/v1/agreements/{agreement_id}/versions")
        shown = next((v for v in versions if v["version"] == version), None) if version \
            else versions[-1]
        if shown is None:
            return render(request, visitor, "error.html", status=404,
                          message=visitor.gettext(PROBLEM_MESSAGES["agreement_not_found"]))
        content = agreements_api.agreement_content(agreement_id, shown["version"], request,
                                                   principal)
    except Problem as problem:
        return _refused(request, visitor, problem)
    gateway: Gateway = request.app.state.gateway
    party = _my_party(visitor, shown["parties"])
    signed = {s["party"] for s in shown["signatures"]}
    return render(
        request, visitor, "agreement.html", status=status, agreement=shown,
        versions=versions, terms=content["content"], canonical=content["canonical"],
        in_force=next((v for v in versions if v["status"] == "active"), None),
        my_party=party, error=error, done=done, moment=_moment,
        may_sign=(principal.role == Role.country_admin and party is not None
                  and party not in signed and shown["status"] == "awaiting-signatures"),
        name=lambda p: party_name(gateway, p),
    )


@router.get("/agreements/{agreement_id}")
def agreement_page(request: Request, visitor: SignedIn, agreement_id: str,
                   version: int | None = None, signed: bool = False) -> Response:
    return _agreement_page(request, visitor, agreement_id, version, done=signed)


@router.post("/agreements/{agreement_id}/signatures")
def agreement_sign(request: Request, visitor: SignedIn, form: CheckedForm,
                   agreement_id: str) -> Response:
    try:
        body = agreements_api.SignRequest.model_validate({"version": form.get("version")})
    except ValidationError:
        return _agreement_page(request, visitor, agreement_id, None, status=422,
                               error=visitor.gettext(views.FALLBACK_ERROR))
    if form.get("confirm") != "yes":
        return _agreement_page(request, visitor, agreement_id, body.version, status=422,
                               error=visitor.gettext("Confirm that you have read the text."))
    try:
        agreements_api.sign_agreement(agreement_id, body, request, visitor.principal)
    except Problem as problem:
        return _agreement_page(request, visitor, agreement_id, body.version,
                               status=problem.status, error=_message(visitor, problem))
    return see_other(f"{PREFIX}/agreements/{agreement_id}?version={body.version}&signed=true")
