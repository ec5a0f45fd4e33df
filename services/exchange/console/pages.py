"""The gateway's console pages: a caseworker's referrals (inbox, outbox, one referral, new).

Every page acts as the signed-in person's `Principal` through `ReferralService`, the same
code path (permission checks, state machine, audit entries) as the REST API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Request, Response
from pydantic import ValidationError
from sqlmodel import Session

from services.exchange.agreements import endpoints as consents_api
from services.exchange.console import directory_admin_pages, figure_pages, lookup_pages, views
from services.exchange.gateway import Gateway
from services.exchange.referrals.lifecycle import RULES, Action
from services.exchange.referrals.repository import ReferralRepository
from services.exchange.referrals.schemas import ActionRequest, ReferralCreate, ReferralSummary
from services.exchange.referrals.service import ReferralService
from services.exchange.transport.outbox import Outbox
from shared.kit.errors import Problem
from shared.kit.pagination import all_items
from shared.protocol.auth import Role, SessionDep
from shared.protocol.vocabulary import AuditEventType, Purpose
from shared.web.i18n import N_, VOCABULARY
from shared.web.kit import (
    PREFIX,
    CheckedForm,
    NavItem,
    SignedIn,
    Visitor,
    WebKit,
    render,
    see_other,
)
from shared.web.people import Person

router = APIRouter(prefix=PREFIX, include_in_schema=False)

PAGE_SIZE = 20
CASEWORKERS = frozenset({Role.caseworker.value})
COUNTRY_ADMINS = frozenset({Role.country_admin.value})
ADMINS_AND_AUDITORS = frozenset({Role.country_admin.value, Role.auditor.value})
PERSON_AUDIT_EVENTS = {
    "sign-in": AuditEventType.sign_in,
    "sign-in-failed": AuditEventType.sign_in_failed,
    "password-changed": AuditEventType.password_changed,
    "person-unlocked": AuditEventType.person_unlocked,
}


def gateway_kit(gateway: Gateway) -> WebKit:
    def audit(session: Session, event: str, person: Person, detail: dict[str, Any]) -> None:
        # The one place a person's own events (sign-in ...) reach the audit log.
        Outbox(session, gateway).audit(
            PERSON_AUDIT_EVENTS[event], person.institution_id,
            detail={"person_id": person.id, "role": person.role, **detail})

    return WebKit(
        title=f"Gateway {gateway.country}",
        template_dirs=[Path(__file__).parent / "templates"],
        nav=[
            NavItem(f"{PREFIX}/referrals", N_("Inbox"), CASEWORKERS),
            NavItem(f"{PREFIX}/referrals?box=outbound", N_("Outbox"), CASEWORKERS),
            NavItem(f"{PREFIX}/referrals/new", N_("New referral"), CASEWORKERS),
            NavItem(f"{PREFIX}/consents", N_("Consents"), CASEWORKERS),
            NavItem(f"{PREFIX}/alerts", N_("Alerts"), CASEWORKERS),
            NavItem(f"{PREFIX}/alerts/new", N_("New alert"), CASEWORKERS),
            directory_admin_pages.NAV,
            lookup_pages.NAV,
            NavItem(f"{PREFIX}/agreements", N_("Agreements"), ADMINS_AND_AUDITORS),
            NavItem(f"{PREFIX}/quarantine", N_("Quarantine"), ADMINS_AND_AUDITORS),
            NavItem(f"{PREFIX}/people", N_("People"), COUNTRY_ADMINS),
            figure_pages.NAV,
        ],
        audit=audit,
        after_write=_wake_publisher,
    )


def _wake_publisher(request: Request) -> None:
    publisher = getattr(request.app.state, "publisher", None)
    if publisher is not None:
        publisher.notify()


def _service(request: Request, session: Session) -> ReferralService:
    return ReferralService(session, request.app.state.gateway)


def _institution_name(gateway: Gateway, institution_id: str) -> str:
    try:
        found = gateway.directory.institution(institution_id)
    except Exception:
        return institution_id
    acronym = found.get("acronym")
    return f"{found.get('name', institution_id)}" + (f" ({acronym})" if acronym else "")


def _problem_message(visitor: Visitor, problem: Problem) -> str:
    return visitor.gettext(views.PROBLEM_MESSAGES.get(problem.code, views.FALLBACK_ERROR))


@router.get("/")
def home(visitor: SignedIn) -> Response:
    landing = {Role.caseworker: f"{PREFIX}/referrals", Role.consular_officer: lookup_pages.NAV.path,
               Role.country_admin: f"{PREFIX}/agreements", Role.auditor: f"{PREFIX}/agreements"}
    return see_other(landing.get(visitor.principal.role, f"{PREFIX}/account"))


@router.get("/referrals")
def referral_list(
    request: Request, visitor: SignedIn, session: SessionDep,
    box: Literal["inbound", "outbound"] = "inbound", before: str | None = None,
    partial: bool = False,
) -> Response:
    referrals = _service(request, session)
    try:
        items = referrals.list_referrals(visitor.principal, box, None, PAGE_SIZE + 1, before)
        needs: list[ReferralSummary] = []
        if box == "inbound" and before is None:
            for status in views.NEEDS_ACTION:
                needs += referrals.list_referrals(visitor.principal, box, status.value, 50, None)
    except Problem as problem:
        return render(request, visitor, "error.html", status=problem.status,
                      message=_problem_message(visitor, problem))
    more = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    gateway = request.app.state.gateway
    repo = ReferralRepository(session)

    def since(item: ReferralSummary) -> Any:
        referral = repo.referral(item.id, item.direction)
        events = repo.events(referral) if referral is not None else []
        return events[-1].at if events else (item.delivered_at or item.sent_at or item.created_at)

    needs_ids = {n.id for n in needs}
    context: dict[str, Any] = dict(
        box=box, needs=needs, items=[i for i in items if i.id not in needs_ids],
        more=more, next_before=items[-1].id if more and items else None, before=before,
        since=since, name=lambda i: _institution_name(gateway, i), needs_ids=needs_ids,
    )
    if partial:
        return render(request, visitor, "referral_list_items.html", **context)
    return render(request, visitor, "referrals.html", **context)


def _new_form(request: Request, visitor: Visitor, values: dict[str, Any],
              errors: dict[str, str], problem: str | None = None,
              reasons: list[str] | None = None, status: int = 200) -> Response:
    gateway: Gateway = request.app.state.gateway
    recipients = _reachable_institutions(gateway, visitor.principal.institution_id)
    language = visitor.language

    def opened(*prefixes: str) -> bool:
        """An optional part of the form holds a value or an error: it is shown open."""
        return any(name.startswith(prefixes) and value
                   for name, value in [*values.items(), *errors.items()])

    return render(
        request, visitor, "referral_new.html", status=status, values=values, errors=errors,
        opened=opened,
        problem=problem, reasons=reasons or [], recipients=recipients,
        purposes=[(p.value, visitor.gettext(VOCABULARY["purpose"][p.value])) for p in Purpose],
        sexes=visitor.options("sex"), accompaniments=visitor.options("accompaniment"),
        urgencies=visitor.options("urgency"), services=visitor.options("service"),
        chosen_services=values.get("record.requested_services", []), language=language,
        yes_no=[("yes", visitor.gettext("yes")), ("no", visitor.gettext("no"))],
        assessments=[(value, visitor.gettext(message))
                     for value, message in views.BEST_INTERESTS_STATUS.items()],
        relative_rows=range(views.RELATIVE_ROWS),
        identity_document_rows=range(views.IDENTITY_DOCUMENT_ROWS),
        document_rows=range(views.DOCUMENT_ROWS),
    )


@router.get("/referrals/new")
def referral_new(request: Request, visitor: SignedIn, session: SessionDep) -> Response:
    try:
        _service(request, session).require_local_caseworker(visitor.principal)
    except Problem as problem:
        return render(request, visitor, "error.html", status=problem.status,
                      message=_problem_message(visitor, problem))
    return _new_form(request, visitor, {}, {})


@router.post("/referrals/new")
def referral_send(request: Request, visitor: SignedIn, form: CheckedForm, session: SessionDep,
                  background: BackgroundTasks) -> Response:
    values: dict[str, Any] = {k: str(v) for k, v in form.items()}
    values["record.requested_services"] = form.getlist("record.requested_services")
    sent, rows = views.referral_from_form(form, visitor.zone)
    try:
        body = ReferralCreate.model_validate(sent)
    except ValidationError as invalid:
        errors = {k: visitor.gettext(m) for k, m in views.field_errors(invalid, rows).items()}
        return _new_form(request, visitor, values, errors, status=422,
                         problem=visitor.gettext("Some fields need your attention."))
    try:
        referral = _service(request, session).send(visitor.principal, body)
    except Problem as problem:
        reasons = [str(r.get("detail", r.get("code", ""))) for r in
                   problem.extra.get("reasons", [])]
        return _new_form(request, visitor, values, {}, status=problem.status,
                         problem=_problem_message(visitor, problem), reasons=reasons)
    background.add_task(_wake_publisher, request)
    return see_other(f"{PREFIX}/referrals/{referral.id}")


def _referral_page(request: Request, visitor: Visitor, session: Session, referral_id: str,
                   error: str | None = None, status: int = 200) -> Response:
    referrals = _service(request, session)
    try:
        referral = referrals.get(visitor.principal, referral_id)  # audited as record-read
    except Problem as problem:
        return render(request, visitor, "error.html", status=problem.status,
                      message=_problem_message(visitor, problem))
    gateway = request.app.state.gateway
    actions = views.available_actions(referral.status, referral.direction)
    return render(
        request, visitor, "referral.html", status=status, referral=referral,
        sections=views.record_sections(referral.record, referral.categories),
        actions=[(a.value, views.ACTION_BUTTONS[a], RULES[a].needs) for a in actions],
        needs_labels=views.NEEDS_LABELS, error=error,
        name=lambda i: _institution_name(gateway, i),
        counterpart=referral.recipient_id if referral.direction == "outbound"
        else referral.sender_id,
    )


@router.get("/referrals/{referral_id}")
def referral_page(request: Request, visitor: SignedIn, session: SessionDep,
                  referral_id: str, background: BackgroundTasks) -> Response:
    background.add_task(_wake_publisher, request)
    return _referral_page(request, visitor, session, referral_id)


@router.post("/referrals/{referral_id}/actions")
def referral_act(request: Request, visitor: SignedIn, form: CheckedForm, session: SessionDep,
                 referral_id: str, background: BackgroundTasks) -> Response:
    action = str(form.get("action") or "")
    fields = {k: str(form.get(k) or "").strip() or None for k in ("reason", "outcome", "note")}
    try:
        body = ActionRequest.model_validate({"action": action, **fields})
        _service(request, session).act(visitor.principal, referral_id, body)
    except ValidationError:
        return _referral_page(request, visitor, session, referral_id, status=422,
                              error=visitor.gettext(views.FALLBACK_ERROR))
    except Problem as problem:
        session.rollback()
        return _referral_page(request, visitor, session, referral_id, status=problem.status,
                              error=_problem_message(visitor, problem))
    background.add_task(_wake_publisher, request)
    return see_other(f"{PREFIX}/referrals/{referral_id}#history")


# Consents (kept by the registry; the gateway's consent endpoints act for the institution) ---


def _reachable_institutions(gateway: Gateway, own: str) -> list[tuple[str, str]]:
    return sorted(
        ((i["id"], _institution_name(gateway, i["id"]))
         for country in gateway.directory.countries()
         for i in gateway.directory.institutions_of(country["code"])
         if i.get("gateway_country") and i["id"] != own),
        key=lambda pair: pair[1])


def _consents_page(request: Request, visitor: Visitor, values: dict[str, Any],
                   errors: dict[str, str], problem: str | None = None,
                   status: int = 200, done: str | None = None) -> Response:
    try:
        listed = all_items(lambda pages: consents_api.list_consents(
            request, visitor.principal, pages), "/v1/consents")
    except Problem as refused:
        return render(request, visitor, "error.html", status=refused.status,
                      message=_problem_message(visitor, refused))
    gateway: Gateway = request.app.state.gateway

    return render(
        request, visitor, "consents.html", status=status, values=values, errors=errors,
        problem=problem, done=done,
        consents=sorted(listed, key=lambda c: c["recorded_at"], reverse=True),
        institutions=_reachable_institutions(gateway, visitor.principal.institution_id),
        bases=visitor.options("basis"), givers=visitor.options("given_by"),
        coded_views=visitor.options("coded_views"),
        not_heard=visitor.options("not_heard_reason"), purposes=visitor.options("purpose"),
        categories=visitor.options("category"),
        withdrawal_reasons=visitor.options("withdrawal_reason"),
        name=lambda i: _institution_name(gateway, i),
    )


@router.get("/consents")
def consent_list(request: Request, visitor: SignedIn) -> Response:
    return _consents_page(request, visitor, {}, {})


@router.post("/consents")
def consent_record(request: Request, visitor: SignedIn, form: CheckedForm) -> Response:
    values: dict[str, Any] = {k: str(v) for k, v in form.items()}
    for name in ("recipients", "purposes", "data_categories"):
        values[name] = form.getlist(name)
    try:
        consents_api.record_consent(request, visitor.principal, views.consent_from_form(form))
    except Problem as refused:
        errors = views.problem_field_errors(refused.extra.get("errors", []))
        return _consents_page(
            request, visitor, values, {k: visitor.gettext(m) for k, m in errors.items()},
            problem=visitor.gettext("Some fields need your attention.") if errors
            else _problem_message(visitor, refused), status=refused.status)
    return see_other(f"{PREFIX}/consents")


@router.post("/consents/{consent_id}/withdrawal")
def consent_withdraw(request: Request, visitor: SignedIn, form: CheckedForm,
                     consent_id: str) -> Response:
    body = {k: str(form.get(k) or "") for k in ("withdrawn_by", "reason")}
    try:
        consents_api.withdraw_consent(consent_id, request, visitor.principal, body)
    except Problem as refused:
        return _consents_page(request, visitor, {}, {}, status=refused.status,
                              problem=_problem_message(visitor, refused))
    return see_other(f"{PREFIX}/consents")


__all__ = ["Action", "gateway_kit", "router"]
