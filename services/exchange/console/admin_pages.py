"""A country administrator's view of their gateway: its quarantine (the messages it refused,
with their reasons, never their content) and the people of their institution."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select

from services.exchange.console import views
from services.exchange.console.agreement_pages import PROBLEM_MESSAGES, party_name
from services.exchange.endpoints import list_quarantine
from services.exchange.service import ReferralService
from shared.auth import Role, SessionDep, require_role
from shared.db import utcnow
from shared.errors import Problem
from shared.web.kit import PREFIX, SignedIn, Visitor, render
from shared.web.people import Person

router = APIRouter(prefix=PREFIX, include_in_schema=False)

QUARANTINE_SHOWN = 200


def _refused(request: Request, visitor: Visitor, problem: Problem) -> Response:
    return render(request, visitor, "error.html", status=problem.status,
                  message=visitor.gettext(PROBLEM_MESSAGES.get(problem.code, views.FALLBACK_ERROR)))


@router.get("/quarantine")
def quarantine_page(request: Request, visitor: SignedIn, session: SessionDep) -> Response:
    gateway = request.app.state.gateway
    try:
        page = list_quarantine(ReferralService(session, gateway), visitor.principal,
                               QUARANTINE_SHOWN)
    except Problem as problem:
        return _refused(request, visitor, problem)
    return render(request, visitor, "quarantine.html", items=page.items,
                  over_quota=page.over_quota, shown=QUARANTINE_SHOWN,
                  name=lambda i: party_name(gateway, i))


def people_of(session: Session, institution_id: str) -> list[Person]:
    query = select(Person).where(Person.institution_id == institution_id)
    return list(session.exec(query.order_by(col(Person.username))))


@router.get("/people")
def people_page(request: Request, visitor: SignedIn, session: SessionDep) -> Response:
    """Read-only: the people of the administrator's own institution (each hosted institution
    has its own country administrator)."""
    principal = visitor.principal
    try:
        require_role(principal, Role.country_admin)
    except Problem as problem:
        return _refused(request, visitor, problem)
    now = utcnow()
    return render(request, visitor, "people.html",
                  people=people_of(session, principal.institution_id),
                  locked=lambda p: p.locked_until is not None and p.locked_until > now,
                  institution=party_name(request.app.state.gateway, principal.institution_id))
