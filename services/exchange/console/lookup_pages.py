"""The gateway's "who do I call" pages: search over institutions and places, and the
focal-point lookup, from the directory's signed snapshot this gateway holds.

They read only the verified snapshot (`DirectoryClient.held`), with the directory's own
search rules (`shared.protocol.directory_search`), so they answer the same as the directory while it
is reachable and from the last verified copy while it is not, saying how old it is. The
search words are institution and place names, never personal data; they are never logged
(the request log has the path only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from babel import Locale
from fastapi import APIRouter, Request, Response

from services.exchange.clients.directory import DirectoryView
from services.exchange.clients.regional import RegionalServiceDown
from shared.protocol.auth import Role
from shared.protocol.directory_search import RecordSearch, fold, search_terms
from shared.web.i18n import N_, VOCABULARY
from shared.web.kit import PREFIX, NavItem, SignedIn, Visitor, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)

EVERYONE = frozenset(role.value for role in Role)
NAV = NavItem(f"{PREFIX}/directory", N_("Who do I call"), EVERYONE)
MAX_QUERY = 200
MAX_RESULTS = 30
LOOKUP_LIMIT = 20
NO_SNAPSHOT = N_("The directory cannot be reached and this gateway holds no valid copy of "
                 "it. Try again later.")
ERRORS = {
    "too_long": N_("Use at most 200 characters."),
    "country": N_("Choose a country."),
    "topic": N_("Choose a topic."),
    "no_place": N_("No place of that name is in the directory. Try another spelling or "
                   "leave it empty."),
    "which_place": N_("Several places have that name: choose one below."),
}


def _held(request: Request) -> DirectoryView:
    view: DirectoryView = request.app.state.gateway.directory.held()
    return view


def _snapshot_context(request: Request, view: DirectoryView) -> dict[str, Any]:
    return {"as_of": datetime.fromtimestamp(view.issued_at, UTC) if view.issued_at else None,
            "reachable": request.app.state.gateway.directory.reachable is not False}


def _unavailable(request: Request, visitor: Visitor) -> Response:
    return render(request, visitor, "error.html", status=503,
                  message=visitor.gettext(NO_SNAPSHOT))


def _language_name(code: str, language: str) -> str:
    try:
        return str(Locale.parse(language).languages.get(code, code))
    except (ValueError, LookupError):
        return code


def _country_name(country: Mapping[str, Any] | None, code: str, language: str) -> str:
    if country is None:
        return code
    return str(country["name_es"] if language == "es" else country["name"])


def channel_link(channel: dict[str, Any]) -> str | None:
    """Where a channel opens: `tel:` for phones (and WhatsApp numbers), `mailto:` for
    e-mail, the address of a web site; nothing for a fax or a postal address."""
    value = str(channel["value"])
    if channel["kind"] in ("phone", "whatsapp"):
        number = re.sub(r"[^0-9+]", "", value)
        return f"tel:{number}" if number else None
    if channel["kind"] == "email":
        return f"mailto:{value}"
    if channel["kind"] == "website" and re.match(r"^https?://", value):
        return value
    return None


def _helpers(search: RecordSearch, visitor: Visitor) -> dict[str, Any]:
    language = visitor.language

    def country(code: str) -> str:
        return _country_name(search.records["countries"].get(code), code, language)

    def area(area_id: str) -> str:
        found = search.area(area_id)
        if found is None:  # a whole country is covered under its code
            return country(area_id)
        return str(found["name"])

    def institution(institution_id: str) -> str:
        found = search.institution(institution_id)
        if found is None:
            return institution_id
        acronym = found.get("acronym")
        return str(found["name"]) + (f" ({acronym})" if acronym else "")

    return {"country_name": country, "area_name": area, "institution_name": institution,
            "language_name": lambda code: _language_name(code, language),
            "channel_link": channel_link}


def _place(search: RecordSearch, place: str, area_id: str) -> tuple[dict[str, Any] | None,
                                                                  list[Any], str | None]:
    """The area asked for (by id from a choice, else by name), the choices when the name is
    ambiguous, and the error."""
    if area_id:
        found = search.area(area_id)
        return (dict(found), [], None) if found else (None, [], "no_place")
    if not place:
        return None, [], None
    if len(place) > MAX_QUERY:
        return None, [], "too_long"
    candidates = search.areas(place)
    exact = [a for a in candidates if fold(a["name"]) == fold(place.strip())]
    candidates = exact or candidates
    if len(candidates) == 1:
        return dict(candidates[0]), [], None
    if not candidates:
        return None, [], "no_place"
    return None, candidates[:MAX_RESULTS], "which_place"


@router.get("/directory")
def directory_search(
    request: Request, visitor: SignedIn, q: str = "", country: str = "", topic: str = "",
    place: str = "", area: str = "",
) -> Response:
    try:
        view = _held(request)
    except RegionalServiceDown:
        return _unavailable(request, visitor)
    search = RecordSearch(view.records)
    errors: dict[str, str] = {}
    values = {"q": q, "country": country, "topic": topic, "place": place}
    context: dict[str, Any] = {"values": values}
    if q:
        if len(q) > MAX_QUERY:
            errors["q"] = "too_long"
        elif search_terms(q):
            institutions = search.institutions(q)
            context.update(searched=True, institutions=institutions[:MAX_RESULTS],
                           institutions_total=len(institutions),
                           areas=search.areas(q)[:MAX_RESULTS])
    chosen_area = search.area(area) if area else None
    if chosen_area and not place:  # from a place found, or chosen: the form filled in
        values["place"] = chosen_area["name"]
    if country or topic or place:
        if country not in search.records["countries"]:
            errors["country"] = "country"
        if topic not in VOCABULARY["topic"]:
            errors["topic"] = "topic"
        chosen, choices, place_error = _place(search, place, area)
        if place_error:
            errors["place"] = place_error
        context["place_choices"] = choices
        if not errors.keys() & {"country", "topic", "place"}:
            context["lookup"] = search.lookup(country, topic, chosen["id"] if chosen else None,
                                              None, datetime.now(UTC), LOOKUP_LIMIT)
    countries = sorted(((code, _country_name(c, code, visitor.language))
                        for code, c in search.records["countries"].items()),
                       key=lambda option: fold(option[1]))
    return render(
        request, visitor, "lookup.html",
        errors={name: visitor.gettext(ERRORS[code]) for name, code in errors.items()},
        countries=countries, topics=visitor.options("topic"),
        **context, **_snapshot_context(request, view), **_helpers(search, visitor),
    )


@router.get("/directory/institutions/{institution_id}")
def directory_institution(request: Request, visitor: SignedIn, institution_id: str) -> Response:
    try:
        view = _held(request)
    except RegionalServiceDown:
        return _unavailable(request, visitor)
    search = RecordSearch(view.records)
    institution = search.institution(institution_id)
    if institution is None:
        return render(request, visitor, "error.html", status=404,
                      message=visitor.gettext(N_("The directory has no such institution.")))
    parent = search.institution(institution["parent_id"]) if institution.get("parent_id") \
        else None
    return render(
        request, visitor, "lookup_institution.html", institution=institution, parent=parent,
        focal_points=search.focal_points_of(institution_id, datetime.now(UTC)),
        **_snapshot_context(request, view), **_helpers(search, visitor),
    )
