"""The secretariat's pages at the registry: the audit log by case ("who has seen this child's
data"), the checkpoint's verification, the audit quarantine, every agreement, the whole
directory.

Every page acts as the signed-in person's `Principal` through `RegistryService`, with the
role checks of the REST API (services/registry/endpoints.py).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from services.registry.console.checkpoint import verify_log_here
from services.registry.directory import DirectoryLookup
from services.registry.endpoints import policy_notice
from services.registry.models import AuditEntry
from services.registry.schemas import StatusChange
from services.registry.service import STATUS_CHANGES, RegistryService
from shared.kit.errors import Problem
from shared.protocol.auth import Role, SessionDep
from shared.protocol.vocabulary import AuditEventType
from shared.web.i18n import N_
from shared.web.kit import PREFIX, CheckedForm, SignedIn, Visitor, render, see_other

router = APIRouter(prefix=PREFIX, include_in_schema=False)

PAGE_SIZE = 20  # events of a case, and quarantined events, per page
SECRETARIAT = frozenset({Role.regional_admin.value, Role.auditor.value})
# shared.protocol.policy's pattern
CASE_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,99}$")
PROBLEM_MESSAGES = {
    "role_not_allowed": N_("Your role does not allow this."),
    "agreement_not_found": N_("No agreement has this id."),
    "invalid_status_change": N_("The agreement cannot change to this status now."),
    "directory_unavailable": N_("The directory cannot be reached just now; try again later."),
}
FALLBACK_PROBLEM = N_("The registry refused this.")


def _registry(request: Request, session: SessionDep) -> RegistryService:
    return RegistryService(session, request.app.state.directory, request.app.state.signing_key,
                           policy_notice(request))


def _message(visitor: Visitor, problem: Problem) -> str:
    return visitor.gettext(PROBLEM_MESSAGES.get(problem.code, FALLBACK_PROBLEM))


def _error(request: Request, visitor: Visitor, problem: Problem) -> Response:
    return render(request, visitor, "error.html", status=problem.status,
                  message=_message(visitor, problem))


class Names:
    """Institutions' names from the directory, read once per page; the id when unknown."""

    def __init__(self, directory: DirectoryLookup) -> None:
        self.directory = directory
        self._found: dict[str, str] = {}

    def __call__(self, institution_id: str | None) -> str:
        if not institution_id:
            return ""
        if institution_id not in self._found:
            try:
                found = self.directory.institution(institution_id)
            except Problem:
                found = None
            name = found.get("name", institution_id) if found else institution_id
            acronym = found.get("acronym") if found else None
            self._found[institution_id] = f"{name} ({acronym})" if acronym else name
        return self._found[institution_id]


# The audit log by case ----------------------------------------------------------------
#
# The search is a POSTed form, not a query string: whatever is typed in the box (a name by
# mistake) must not reach an address, the browser's history or an access log. Paging posts
# the same form with the last entry's number.


@router.get("/audit")
def audit_search(request: Request, visitor: SignedIn) -> Response:
    return render(request, visitor, "audit.html", reference="", error=None, searched=False)


@router.post("/audit")
def audit_results(request: Request, visitor: SignedIn, form: CheckedForm,
                  session: SessionDep) -> Response:
    reference = str(form.get("reference") or "").strip()
    after = str(form.get("after_seq") or "0")
    if not CASE_REFERENCE.fullmatch(reference) or not after.isdigit():
        return render(request, visitor, "audit.html", status=422, reference=reference,
                      searched=False, error=visitor.gettext(
                          "Enter a case reference or a referral id: letters, digits and "
                          "- _ . / only."))
    by_message = _is_uuid(reference)
    filters: dict[str, Any] = ({"message_id": reference} if by_message
                               else {"case_reference": reference})
    registry = _registry(request, session)
    try:
        reads = registry.audit_entries(visitor.principal, event_types=[
            AuditEventType.record_read.value], limit=1000, **filters)
        entries = registry.audit_entries(visitor.principal, after_seq=int(after),
                                         limit=PAGE_SIZE + 1, **filters)
    except Problem as problem:
        return _error(request, visitor, problem)
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    return render(
        request, visitor, "audit.html", reference=reference, error=None, searched=True,
        readers=_readers(reads), entries=entries, after=int(after),
        next_after=entries[-1].seq if more else None, name=Names(request.app.state.directory),
    )


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _readers(reads: list[AuditEntry]) -> list[dict[str, Any]]:
    """Per institution that read the record: how often, first and last, with which roles."""
    by_institution: dict[str, list[AuditEntry]] = {}
    for entry in reads:
        by_institution.setdefault(entry.institution_id, []).append(entry)
    return [{"institution_id": institution, "count": len(rows),
             "first": rows[0].occurred_at, "last": rows[-1].occurred_at,
             "roles": sorted(Counter(str(r.detail.get("role", "")) for r in rows) - Counter({""}))}
            for institution, rows in by_institution.items()]


# The checkpoint and the quarantine --------------------------------------------------------


@router.get("/audit/checkpoint")
def checkpoint(request: Request, visitor: SignedIn, session: SessionDep) -> Response:
    registry = _registry(request, session)
    result = verify_log_here(registry.audit, request.app.state.signing_key,
                             request.app.state.directory)
    return render(request, visitor, "checkpoint.html", result=result,
                  issued=lambda c: datetime.fromisoformat(c.issued_at.replace("Z", "+00:00")))


@router.get("/audit/quarantine")
def quarantine(request: Request, visitor: SignedIn, session: SessionDep,
               after: int = 0) -> Response:
    registry = _registry(request, session)
    try:
        rows = registry.audit_quarantine(visitor.principal, None, None, max(after, 0),
                                         PAGE_SIZE + 1)
    except Problem as problem:
        return _error(request, visitor, problem)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render(request, visitor, "quarantine.html", rows=rows, after=after,
                  next_after=rows[-1].id if more else None)


# Agreements ---------------------------------------------------------------------------


@router.get("/agreements")
def agreement_list(request: Request, visitor: SignedIn, session: SessionDep) -> Response:
    registry = _registry(request, session)
    items = [registry.public(a) for a in registry.agreements()]
    return render(request, visitor, "agreements.html", items=items)


def _agreement_page(request: Request, visitor: Visitor, session: SessionDep, agreement_id: str,
                    version: int | None, error: str | None = None, status: int = 200
                    ) -> Response:
    registry = _registry(request, session)
    try:
        versions = registry.versions(agreement_id)
        chosen = registry.current(agreement_id) if version is None else registry.version(
            agreement_id, version)
    except Problem as problem:
        return _error(request, visitor, problem)
    changes = ([target.value for (source, target) in STATUS_CHANGES
                if source == chosen.status]
               if visitor.principal.role == Role.regional_admin else [])
    return render(request, visitor, "agreement.html", status=status,
                  agreement=registry.public(chosen), versions=versions,
                  content=registry.content(agreement_id, chosen.version), changes=changes,
                  error=error, name=Names(request.app.state.directory))


@router.get("/agreements/{agreement_id}")
def agreement_current(request: Request, visitor: SignedIn, session: SessionDep,
                      agreement_id: str) -> Response:
    return _agreement_page(request, visitor, session, agreement_id, None)


@router.get("/agreements/{agreement_id}/versions/{version}")
def agreement_version(request: Request, visitor: SignedIn, session: SessionDep,
                      agreement_id: str, version: int) -> Response:
    return _agreement_page(request, visitor, session, agreement_id, version)


@router.post("/agreements/{agreement_id}/versions/{version}/status")
def agreement_status(request: Request, visitor: SignedIn, form: CheckedForm,
                     session: SessionDep, agreement_id: str, version: int) -> Response:
    try:
        change = StatusChange.model_validate({"status": form.get("status"),
                                              "reason": form.get("reason") or None})
        _registry(request, session).change_status(visitor.principal, agreement_id, version,
                                                  change)
    except ValidationError:
        return _agreement_page(request, visitor, session, agreement_id, version, status=422,
                               error=visitor.gettext("Choose a status; the reason is at "
                                                     "most 500 characters."))
    except Problem as problem:
        return _agreement_page(request, visitor, session, agreement_id, version,
                               status=problem.status, error=_message(visitor, problem))
    return see_other(f"{PREFIX}/agreements/{agreement_id}/versions/{version}")


# The whole directory ------------------------------------------------------------------


@router.get("/directory")
def directory(request: Request, visitor: SignedIn, country: str | None = None) -> Response:
    lookup: DirectoryLookup = request.app.state.directory
    try:
        countries = lookup.countries()
        chosen = next((c for c in countries if c["code"] == country), None)
        institutions: list[dict[str, Any]] = []
        focal_points: list[dict[str, Any]] = []
        if chosen is not None:
            institutions = lookup.every("/v1/institutions", country=chosen["code"])
            focal_points = lookup.every("/v1/focal-points", country=chosen["code"])
    except Problem as problem:
        return _error(request, visitor, problem)
    by_institution: dict[str, list[dict[str, Any]]] = {}
    for point in focal_points:
        by_institution.setdefault(point["institution_id"], []).append(point)
    return render(request, visitor, "directory.html", countries=countries, chosen=chosen,
                  institutions=institutions, focal_points=by_institution)

