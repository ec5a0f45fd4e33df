"""The gateway's Figures page: its own country's figures in full detail, for the country's
administrators and supervisors (the figures' source decides, as `GET /v1/figures` does).
See shared/web/figures.py and docs/figures.md."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from shared.protocol.auth import Role, SessionDep
from shared.web.figures import render_figures
from shared.web.i18n import N_, label
from shared.web.kit import PREFIX, NavItem, SignedIn

router = APIRouter(prefix=PREFIX, include_in_schema=False)

NAV = NavItem(f"{PREFIX}/figures", N_("Figures"),
              frozenset({Role.country_admin.value, Role.supervisor.value}))


@router.get("/figures")
def figures_page(request: Request, visitor: SignedIn, session: SessionDep) -> Response:
    assert visitor.person is not None
    country = label(visitor.language, "country", visitor.person.country)
    return render_figures(
        request, visitor, session,
        heading=visitor.gettext("Figures of %(country)s", country=country),
        intro=visitor.gettext("Referrals, alerts and their times as this gateway counts its "
                              "own records: counts and durations only, never a child's data."))
