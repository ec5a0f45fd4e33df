"""The gateway's console pages for missing-child alerts: a focal point's incoming alerts
(acknowledged in one click, reported located), the form to issue one, and the issuer's
live view of who received and who acknowledged it, per country.

Focal points sign in as caseworkers, the role the API's alert endpoints require; every page
acts as the signed-in person's `Principal` through `AlertService`, like `/v1/alerts`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Request, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.datastructures import FormData

from services.exchange.alerts.schemas import Acknowledgement, AlertChange, AlertCreate, AlertView
from services.exchange.alerts.service import ALL_MEMBERS, AlertService
from services.exchange.console import views
from services.exchange.gateway import Gateway
from shared.kit.errors import Problem
from shared.protocol.auth import Role, SessionDep, require_role
from shared.web.i18n import N_
from shared.web.kit import PREFIX, CheckedForm, SignedIn, Visitor, kit_of, render, see_other

router = APIRouter(prefix=PREFIX, include_in_schema=False)

URGENCIES = ("urgent", "immediate")
SEXES = ("female", "male", "other", "unknown")
LIVE_SECONDS = 5  # how often the issuer's view asks for news (htmx polling)

ERROR_MESSAGES = {
    "datetime_parsing": N_("Enter a date and time."),
    "datetime_from_date_parsing": N_("Enter a date and time."),
    "too_short": N_("Choose at least one country, or all members."),
}
PROBLEM_MESSAGES = {
    "unknown_country": N_("One of the countries is not in the directory."),
    "alert_not_found": N_("No alert with this id is visible to you."),
    "alert_closed": N_("This alert is closed; it cannot change any more."),
    "where_required": N_("Say where the child was located."),
    "reason_required": N_("Give the reason for cancelling."),
    "not_the_issuer": N_("Only the issuing institution can cancel an alert."),
    "not_a_recipient": N_("Only a receiving institution acknowledges an alert."),
}
# The fields each of the console's two changes sends (an update goes through the API only).
CHANGE_FIELDS = {"located": ("where", "measures"), "cancel": ("reason",)}
# A problem about one field of the located or cancel form is shown next to that field.
PROBLEM_FIELDS = {"where_required": "where", "reason_required": "reason"}


def _alerts(request: Request, session: Session) -> AlertService:
    return AlertService(session, request.app.state.gateway)


def _message(visitor: Visitor, problem: Problem) -> str:
    message = PROBLEM_MESSAGES.get(problem.code) or views.PROBLEM_MESSAGES.get(
        problem.code, views.FALLBACK_ERROR)
    return visitor.gettext(message)


def _error_page(request: Request, visitor: Visitor, problem: Problem) -> Response:
    return render(request, visitor, "error.html", status=problem.status,
                  message=_message(visitor, problem))


def _institution_name(gateway: Gateway, institution_id: str | None) -> str:
    if institution_id is None:
        return ""
    try:
        found = gateway.directory.institution(institution_id)
    except Exception:
        return institution_id
    acronym = found.get("acronym")
    return str(found.get("name", institution_id)) + (f" ({acronym})" if acronym else "")


def _countries(gateway: Gateway, language: str) -> list[tuple[str, str]]:
    """(code, name in the person's language), by name."""
    named = [(c["code"], str(c.get("name_es") if language == "es" and c.get("name_es")
                             else c.get("name", c["code"])))
             for c in gateway.directory.countries()]
    return sorted(named, key=lambda pair: pair[1])


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _context(request: Request, visitor: Visitor) -> dict[str, Any]:
    """What every alert template uses to name things."""
    gateway: Gateway = request.app.state.gateway
    countries = dict(_countries(gateway, visitor.language))
    return dict(name=lambda i: _institution_name(gateway, i),
                country=lambda code: countries.get(code, code), moment=_moment,
                live_seconds=LIVE_SECONDS)


# The incoming and issued alerts -------------------------------------------------------------


@router.get("/alerts")
def alert_list(request: Request, visitor: SignedIn, session: SessionDep,
               box: Literal["incoming", "issued"] = "incoming",
               partial: bool = False) -> Response:
    direction = "inbound" if box == "incoming" else "outbound"
    try:
        items = _alerts(request, session).list_alerts(visitor.principal, direction)
    except Problem as problem:
        return _error_page(request, visitor, problem)
    needs = [a for a in items if a.direction == "inbound" and a.status == "active"
             and a.acknowledged_at is None]
    others = [a for a in items if a not in needs]
    context = dict(box=box, needs=needs, others=others, **_context(request, visitor))
    if partial:
        return render(request, visitor, "alert_list_items.html", **context)
    return render(request, visitor, "alerts.html", **context)


@router.post("/alerts/{alert_id}/acknowledge")
def alert_acknowledge(request: Request, visitor: SignedIn, form: CheckedForm,
                      session: SessionDep, alert_id: str,
                      background: BackgroundTasks) -> Response:
    assert visitor.person is not None
    # The acknowledgement names the person who read the alert, for the issuer to call back.
    ack = Acknowledgement(by=visitor.person.display_name[:200])
    try:
        _alerts(request, session).acknowledge(visitor.principal, alert_id, ack)
    except Problem as problem:
        session.rollback()
        return _error_page(request, visitor, problem)
    background.add_task(kit_of(request).notify, request)
    back = str(form.get("back") or "")
    if back == "alert":
        return see_other(f"{PREFIX}/alerts/{alert_id}")
    return see_other(f"{PREFIX}/alerts#alert-{alert_id}")


# Issuing an alert ---------------------------------------------------------------------------


def _new_form(request: Request, visitor: Visitor, values: dict[str, Any],
              errors: dict[str, str], problem: str | None = None,
              status: int = 200) -> Response:
    gateway: Gateway = request.app.state.gateway

    return render(
        request, visitor, "alert_new.html", status=status, values=values, errors=errors,
        problem=problem, categories=visitor.options("alert_category"),
        urgencies=visitor.options("urgency", URGENCIES), sexes=visitor.options("sex", SEXES),
        countries=_countries(gateway, visitor.language),
        chosen_countries=values.get("target_countries", []),
    )


@router.get("/alerts/new")
def alert_new(request: Request, visitor: SignedIn) -> Response:
    try:  # not a focal point: say so before the form is filled in, not after
        require_role(visitor.principal, Role.caseworker)
    except Problem as problem:
        return _error_page(request, visitor, problem)
    gateway: Gateway = request.app.state.gateway
    own = visitor.principal.institution_id
    return _new_form(request, visitor, {
        "scope": "chosen", "public.last_seen.country": gateway.country,
        "details.issuing_focal_point.name": _institution_name(gateway, own)[:200],
    }, {})


@router.post("/alerts/new")
def alert_issue(request: Request, visitor: SignedIn, form: CheckedForm, session: SessionDep,
                background: BackgroundTasks) -> Response:
    values: dict[str, Any] = {k: str(v) for k, v in form.items()}
    values["target_countries"] = form.getlist("target_countries")
    try:
        body = AlertCreate.model_validate(alert_from_form(form, visitor))
    except ValidationError as invalid:
        return _new_form(request, visitor, values, field_errors(visitor, invalid), status=422,
                         problem=visitor.gettext("Some fields need your attention."))
    try:
        alert = _alerts(request, session).issue(visitor.principal, body)
    except Problem as problem:
        session.rollback()
        return _new_form(request, visitor, values, {}, status=problem.status,
                         problem=_message(visitor, problem))
    background.add_task(kit_of(request).notify, request)
    return see_other(f"{PREFIX}/alerts/{alert.id}")


def alert_from_form(form: FormData, visitor: Visitor) -> dict[str, Any]:
    """The API's request body from the form's dotted field names (empty fields left out)."""

    def text(name: str) -> str | None:
        value = str(form.get(name) or "").strip()
        return value or None

    child = {name: text(f"public.child.{name}") for name in (
        "given_names", "family_names", "sex", "date_of_birth", "estimated_age", "description",
        "photo_ref")}
    last_seen = {name: text(f"public.last_seen.{name}") for name in (
        "country", "area", "locality")}
    last_seen["at"] = _local_moment(text("public.last_seen.at"), visitor)
    contact = {name: text(f"details.issuing_focal_point.{name}") for name in (
        "name", "phone", "email")}
    details: dict[str, Any] = {name: text(f"details.{name}") for name in (
        "circumstances", "people_and_vehicles")}
    details["issuing_focal_point"] = _present(contact)
    chosen = [str(c) for c in form.getlist("target_countries")]
    return _present({
        "category": text("category"), "urgency": text("urgency"),
        "public": {"child": _present(child), "last_seen": _present(last_seen)},
        "details": _present(details),
        "target_countries": [ALL_MEMBERS] if text("scope") == "all" else chosen,
    })


def _local_moment(value: str | None, visitor: Visitor) -> str | None:
    """A `datetime-local` field is the person's own time: give it their time zone."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value  # the schema says what is wrong with it
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=visitor.zone)
    return moment.isoformat()


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def field_errors(visitor: Visitor, invalid: ValidationError) -> dict[str, str]:
    errors = views.field_errors(invalid)
    for item in invalid.errors():
        if item["type"] in ERROR_MESSAGES:
            errors[".".join(str(p) for p in item["loc"] if not isinstance(p, int))] = (
                ERROR_MESSAGES[item["type"]])
    return {k: visitor.gettext(m) for k, m in errors.items()}


# One alert: the recipient's page, the issuer's live view ------------------------------------


def _alert_page(request: Request, visitor: Visitor, session: Session, alert_id: str,
                errors: dict[str, str] | None = None, problem: str | None = None,
                values: dict[str, Any] | None = None, status: int = 200,
                reported: bool = False) -> Response:
    try:
        alert = _alerts(request, session).get(visitor.principal, alert_id)
    except Problem as refused:
        return _error_page(request, visitor, refused)
    return render(request, visitor, "alert.html", status=status, alert=alert,
                  errors=errors or {}, problem=problem, values=values or {}, reported=reported,
                  **_live(request, visitor, alert))


def _live(request: Request, visitor: Visitor, alert: AlertView) -> dict[str, Any]:
    """The names, and the countries where a recipient stayed silent past the deadline."""
    context = _context(request, visitor)
    silent = sorted({t.country for t in alert.targets
                     if t.escalated_at is not None and t.acknowledged_at is None})
    return dict(escalated=[context["country"](code) for code in silent], **context)


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, visitor: SignedIn, session: SessionDep, alert_id: str,
               partial: bool = False, reported: bool = False) -> Response:
    if not partial:
        return _alert_page(request, visitor, session, alert_id, reported=reported)
    try:
        alert = _alerts(request, session).get(visitor.principal, alert_id)
    except Problem as problem:
        return _error_page(request, visitor, problem)
    return render(request, visitor, "alert_targets.html", alert=alert,
                  **_live(request, visitor, alert))


@router.post("/alerts/{alert_id}/actions")
def alert_act(request: Request, visitor: SignedIn, form: CheckedForm, session: SessionDep,
              alert_id: str, background: BackgroundTasks) -> Response:
    values = {k: str(form.get(k) or "").strip() for k in ("action", "where", "measures",
                                                          "reason")}
    action = values["action"]
    body = {"action": action, **{k: values[k] for k in CHANGE_FIELDS.get(action, ()) if values[k]}}
    try:
        change = AlertChange.model_validate(body)
        alert = _alerts(request, session).change(visitor.principal, alert_id, change)
    except ValidationError as invalid:
        return _alert_page(request, visitor, session, alert_id, status=422, values=values,
                           errors=field_errors(visitor, invalid),
                           problem=visitor.gettext("Some fields need your attention."))
    except Problem as problem:
        session.rollback()
        field = PROBLEM_FIELDS.get(problem.code)
        message = _message(visitor, problem)
        return _alert_page(request, visitor, session, alert_id, status=problem.status,
                           values=values, errors={field: message} if field else {},
                           problem=None if field else message)
    background.add_task(kit_of(request).notify, request)
    if change.action == "located" and alert.direction == "inbound":
        # A recipient's report goes to the issuer, who closes the alert for every country.
        return see_other(f"{PREFIX}/alerts/{alert_id}?reported=1")
    return see_other(f"{PREFIX}/alerts/{alert_id}")


__all__ = ["alert_from_form", "field_errors", "router"]
