"""A country administrator's view of their gateway: its quarantine (the messages it refused,
with their reasons, never their content) and the people of their institution, whom they may
unlock after failed sign-in attempts."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response
from sqlmodel import Session, col, select

from services.exchange.console import views
from services.exchange.console.agreement_pages import PROBLEM_MESSAGES, party_name
from services.exchange.transport.endpoints import list_quarantine
from services.exchange.transport.quarantine import QuarantineService
from shared.kit.db import utcnow
from shared.kit.errors import Problem
from shared.kit.pagination import PageRequest
from shared.protocol.auth import Role, SessionDep, require_role
from shared.web.i18n import N_
from shared.web.kit import PREFIX, CheckedForm, SignedIn, Visitor, kit_of, render, see_other
from shared.web.people import Person

router = APIRouter(prefix=PREFIX, include_in_schema=False)

QUARANTINE_SHOWN = 200
NO_SUCH_PERSON = N_("No person of your institution has this id.")


def _refused(request: Request, visitor: Visitor, problem: Problem) -> Response:
    return render(request, visitor, "error.html", status=problem.status,
                  message=visitor.gettext(PROBLEM_MESSAGES.get(problem.code, views.FALLBACK_ERROR)))


@router.get("/quarantine")
def quarantine_page(request: Request, visitor: SignedIn, session: SessionDep) -> Response:
    gateway = request.app.state.gateway
    try:
        page = list_quarantine(QuarantineService(session, gateway), visitor.principal,
                               PageRequest(QUARANTINE_SHOWN, None, "/v1/quarantine"))
    except Problem as problem:
        return _refused(request, visitor, problem)
    return render(request, visitor, "quarantine.html", items=page.items,
                  over_quota=page.over_quota, shown=QUARANTINE_SHOWN,
                  name=lambda i: party_name(gateway, i))


def people_of(session: Session, institution_id: str) -> list[Person]:
    query = select(Person).where(Person.institution_id == institution_id)
    return list(session.exec(query.order_by(col(Person.username))))


def _people_page(request: Request, visitor: Visitor, session: Session,
                 done: bool = False) -> Response:
    principal = visitor.principal
    try:
        require_role(principal, Role.country_admin)
    except Problem as problem:
        return _refused(request, visitor, problem)
    now = utcnow()
    return render(request, visitor, "people.html", done=done,
                  people=people_of(session, principal.institution_id),
                  locked=lambda p: p.locked_until is not None and p.locked_until > now,
                  institution=party_name(request.app.state.gateway, principal.institution_id))


@router.get("/people")
def people_page(request: Request, visitor: SignedIn, session: SessionDep,
                unlocked: bool = False) -> Response:
    """The people of the administrator's own institution (each hosted institution has its
    own country administrator)."""
    return _people_page(request, visitor, session, done=unlocked)


@router.post("/people/{person_id}/unlock")
def person_unlock(request: Request, visitor: SignedIn, form: CheckedForm, session: SessionDep,
                  person_id: str, background: BackgroundTasks) -> Response:
    """End a lock after failed attempts now rather than when it expires; an audit event."""
    try:
        require_role(visitor.principal, Role.country_admin)
    except Problem as problem:
        return _refused(request, visitor, problem)
    target = session.get(Person, person_id)
    if target is None or target.institution_id != visitor.principal.institution_id:
        return render(request, visitor, "error.html", status=404,
                      message=visitor.gettext(NO_SUCH_PERSON))
    assert visitor.person is not None
    target.failed_attempts = 0
    target.locked_until = None
    session.add(target)
    kit = kit_of(request)
    if kit.audit is not None:
        kit.audit(session, "person-unlocked", target, {"by_person_id": visitor.person.id})
        background.add_task(kit.notify, request)
    return see_other(f"{PREFIX}/people?unlocked=true")
