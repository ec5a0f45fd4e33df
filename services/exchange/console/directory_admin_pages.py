"""A country administrator keeps their country's directory entries: institutions, focal
points and areas, each with its history.

The people sign in here, at their gateway, not at the directory: every call goes to the
directory's own API with the token of the person's institution and names the person
(`DirectoryClient.act_for_admin`, shared/protocol/acting.py). The directory applies a country
administrator's scope for that country, validates with its schemas (its field errors are
shown next to the fields) and names the person in the entry's history. What is listed is
read live from the directory, not from the snapshot, so a change shows at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from services.exchange.console import directory_admin_views as forms
from services.exchange.console.directory_admin_views import CREATABLE, EntryKind
from services.exchange.gateway import Gateway
from shared.kit.errors import Forbidden, Problem
from shared.kit.pagination import every
from shared.protocol.auth import Role
from shared.web.i18n import N_, label
from shared.web.kit import PREFIX, CheckedForm, NavItem, SignedIn, Visitor, render, see_other

router = APIRouter(prefix=PREFIX, include_in_schema=False)

HOME = f"{PREFIX}/admin/directory"
COUNTRY_ADMINS = frozenset({Role.country_admin.value})
NAV = NavItem(HOME, N_("Directory entries"), COUNTRY_ADMINS)
PAGE_SIZE = 100  # the directory's largest page


def _call(request: Request, visitor: Visitor, method: str, path: str, **kwargs: Any) -> Any:
    """The directory's answer to a call the gateway makes for the signed-in administrator;
    nobody else gets the gateway to act for them."""
    person = visitor.person
    assert person is not None
    if person.role != Role.country_admin:
        raise Forbidden("Only a country administrator keeps the directory's entries.",
                        code="role_not_allowed")
    gateway: Gateway = request.app.state.gateway
    return gateway.directory.act_for_admin(person.institution_id, person.id, person.username,
                                           method, path, **kwargs)


def _every(request: Request, visitor: Visitor, path: str, **params: str
           ) -> list[dict[str, Any]]:
    """Every item of a directory list, following `next`."""
    first = f"{path}?{urlencode({**params, 'limit': PAGE_SIZE})}"
    return list(every(lambda link: dict(_call(request, visitor, "GET", link)), first))


def _everything(request: Request, visitor: Visitor, path: str) -> list[dict[str, Any]]:
    """Every entry of the person's country, active or not, page by page."""
    return _every(request, visitor, path, country=visitor.principal.country,
                  include_inactive="true")


def _areas(request: Request, visitor: Visitor) -> list[dict[str, Any]]:
    return _every(request, visitor, "/v1/areas", country=visitor.principal.country)


def _refused(request: Request, visitor: Visitor, problem: Problem) -> Response:
    return render(request, visitor, "error.html", status=problem.status,
                  message=visitor.gettext(forms.PROBLEM_MESSAGES.get(
                      problem.code, forms.FALLBACK_ERROR)))


def _by_name(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: (not e.get("active", True), e["name"].casefold(),
                                          e.get("id", "")))


@router.get("/admin/directory")
def directory_entries(request: Request, visitor: SignedIn) -> Response:
    try:
        institutions = _everything(request, visitor, "/v1/institutions")
        focal_points = _everything(request, visitor, "/v1/focal-points")
        areas = _areas(request, visitor)
    except Problem as problem:
        return _refused(request, visitor, problem)
    names = {i["id"]: i["acronym"] or i["name"] for i in institutions}
    return render(request, visitor, "directory_admin.html", home=HOME,
                  country=visitor.principal.country, institutions=_by_name(institutions),
                  focal_points=_by_name(focal_points), areas=_by_name(areas),
                  institution_name=lambda i: names.get(i, i))


def _form_page(request: Request, visitor: Visitor, kind: EntryKind, entry: dict[str, Any] | None,
               values: dict[str, Any], errors: dict[str, str] | None = None,
               problem: str | None = None, status: int = 200, saved: bool = False,
               history: list[dict[str, Any]] | None = None) -> Response:
    creating = entry is None
    try:
        areas = _areas(request, visitor)
        institutions = _everything(request, visitor, "/v1/institutions") if creating else []
    except Problem as refused:
        return _refused(request, visitor, refused)
    own = entry["id"] if entry else None

    choices = {name: visitor.options(name) for name in forms.VOCABULARIES}
    # An inactive area stays offered where it is chosen already, so a save keeps it.
    chosen = {values.get("parent_id"), *(values.get("areas") or [])}
    choices["area"] = [(a["id"], f"{a['name']} ({a['id']})") for a in _by_name(areas)
                       if (a["active"] or a["id"] in chosen) and a["id"] != own]
    choices["institution"] = [(i["id"], f"{i['name']} ({i['acronym'] or i['id']})")
                              for i in _by_name(institutions) if i["active"]]
    channels = list(values.get("channels") or [])
    channels += [{"kind": "phone", "value": "", "note": ""}] * forms.CHANNEL_ROWS_EXTRA
    return render(
        request, visitor, "directory_admin_entry.html", status=status, home=HOME, kind=kind,
        kind_name=forms.KIND_NAMES[kind], entry=entry, creating=creating,
        specs=forms.fields(kind, creating), values=values, channels=channels,
        errors={k: visitor.gettext(m) for k, m in (errors or {}).items()}, problem=problem,
        choices=choices, saved=saved, history=_history(visitor, kind, history or []),
        action=f"{HOME}/new/{kind}" if creating else f"{HOME}/{kind}/{own}",
    )


def _history(visitor: Visitor, kind: EntryKind, items: list[dict[str, Any]]
             ) -> list[dict[str, Any]]:
    """Newest first: when, who (the person the gateway acted for, when it did), what."""
    def text(value: Any) -> str:
        return forms.shown(value, visitor.gettext)

    return [{
        "at": datetime.fromisoformat(item["at"]), "action": item["action"],
        "action_label": label(visitor.language, "directory_change", item["action"]),
        "person": item.get("actor_person_name"), "institution": item["actor_institution"],
        "role": item["actor_role"],
        "changes": [(forms.field_label(kind, name), text(before), text(after))
                    for name, (before, after) in item["changes"].items()],
    } for item in reversed(items)]


def _entry(request: Request, visitor: Visitor, kind: EntryKind, entry_id: str
           ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    entry = _call(request, visitor, "GET", f"/v1/{kind}/{entry_id}")
    if entry["country"] != visitor.principal.country:
        raise Forbidden("Another country's entry.", code="not_your_country")
    history = _every(request, visitor, f"/v1/{kind}/{entry_id}/history")
    return entry, history


@router.get("/admin/directory/new/{kind}")
def entry_new(request: Request, visitor: SignedIn, kind: EntryKind) -> Response:
    if kind not in CREATABLE:
        return _refused(request, visitor, Forbidden("Not created here.",
                                                    code="role_not_allowed"))
    return _form_page(request, visitor, kind, None, {"kind": "desk"} if kind == "focal-points"
                      else {})


@router.post("/admin/directory/new/{kind}")
def entry_create(request: Request, visitor: SignedIn, form: CheckedForm,
                 kind: EntryKind) -> Response:
    values = forms.posted_values(kind, form, creating=True)
    body = forms.request_body(kind, values, creating=True)
    if kind == "areas":
        body["country"] = visitor.principal.country
    try:
        created = _call(request, visitor, "POST", f"/v1/{kind}", json=body)
    except Problem as problem:
        return _invalid(request, visitor, kind, None, values, problem)
    return see_other(f"{HOME}/{kind}/{created['id']}?saved=1")


def _invalid(request: Request, visitor: Visitor, kind: EntryKind, entry: dict[str, Any] | None,
             values: dict[str, Any], problem: Problem,
             history: list[dict[str, Any]] | None = None) -> Response:
    errors = forms.field_errors(kind, problem.extra, problem.code)
    message = forms.SOME_FIELDS if errors else forms.PROBLEM_MESSAGES.get(
        problem.code, forms.FALLBACK_ERROR)
    return _form_page(request, visitor, kind, entry, values, errors,
                      problem=visitor.gettext(message), status=problem.status, history=history)


@router.get("/admin/directory/{kind}/{entry_id}")
def entry_page(request: Request, visitor: SignedIn, kind: EntryKind, entry_id: str,
               saved: bool = False) -> Response:
    try:
        entry, history = _entry(request, visitor, kind, entry_id)
    except Problem as problem:
        return _refused(request, visitor, problem)
    return _form_page(request, visitor, kind, entry, forms.form_values(kind, entry),
                      saved=saved, history=history)


@router.post("/admin/directory/{kind}/{entry_id}")
def entry_update(request: Request, visitor: SignedIn, form: CheckedForm, kind: EntryKind,
                 entry_id: str) -> Response:
    values = forms.posted_values(kind, form, creating=False)
    try:
        entry, history = _entry(request, visitor, kind, entry_id)
    except Problem as problem:
        return _refused(request, visitor, problem)
    try:
        _call(request, visitor, "PATCH", f"/v1/{kind}/{entry_id}",
              json=forms.request_body(kind, values, creating=False))
    except Problem as problem:
        return _invalid(request, visitor, kind, entry, values, problem, history)
    return see_other(f"{HOME}/{kind}/{entry_id}?saved=1")


@router.post("/admin/directory/{kind}/{entry_id}/active")
def entry_activation(request: Request, visitor: SignedIn, form: CheckedForm, kind: EntryKind,
                     entry_id: str) -> Response:
    """Deactivate (nothing is ever deleted), or reactivate."""
    try:
        _call(request, visitor, "PATCH", f"/v1/{kind}/{entry_id}",
              json={"active": form.get("active") == "true"})
    except Problem as problem:
        return _refused(request, visitor, problem)
    return see_other(f"{HOME}/{kind}/{entry_id}?saved=1")
