"""The registry's Figures page: the region's figures as the registry publishes them,
suppressed, for the secretariat. See shared/web/figures.py and docs/figures.md."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.registry.console.secretariat_pages import SECRETARIAT
from shared.protocol.auth import SessionDep
from shared.web.figures import render_figures
from shared.web.i18n import N_
from shared.web.kit import PREFIX, NavItem, SignedIn

router = APIRouter(prefix=PREFIX, include_in_schema=False)

NAV = NavItem(f"{PREFIX}/figures", N_("Figures"), SECRETARIAT)


@router.get("/figures")
def figures_page(request: Request, visitor: SignedIn, session: SessionDep) -> Response:
    return render_figures(
        request, visitor, session, heading=visitor.gettext("Regional figures"),
        intro=visitor.gettext("The region's figures, combined from what each gateway reports "
                              "about its own records: counts and durations only, never a "
                              "child's data."))
