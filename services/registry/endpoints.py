"""Registry HTTP API."""

from __future__ import annotations

from fastapi import APIRouter, Query

from services.registry.schemas import (
    AgreementCreate,
    AgreementPublic,
    AgreementStatus,
    AuditEntryPublic,
    AuditPage,
    Decision,
    DecisionRequest,
)
from services.registry.service import RegistryService
from shared.auth import CurrentPrincipal, Role, SessionDep, require_role

router = APIRouter(prefix="/v1", tags=["registry"])


@router.get("/agreements", response_model=list[AgreementPublic])
def list_agreements(session: SessionDep, _: CurrentPrincipal) -> list[AgreementPublic]:
    """All inter-institutional agreements."""
    return [AgreementPublic.model_validate(a) for a in RegistryService(session).repo.agreements()]


@router.get("/agreements/{agreement_id}", response_model=AgreementPublic)
def get_agreement(agreement_id: str, session: SessionDep, _: CurrentPrincipal) -> AgreementPublic:
    """One agreement."""
    return AgreementPublic.model_validate(RegistryService(session).agreement(agreement_id))


@router.post("/agreements", response_model=AgreementPublic, status_code=201)
def create_agreement(
    body: AgreementCreate, session: SessionDep, principal: CurrentPrincipal
) -> AgreementPublic:
    """Record an agreement all parties have signed (regional administrators)."""
    agreement = RegistryService(session).create_agreement(principal, body, AgreementStatus.active)
    return AgreementPublic.model_validate(agreement)


@router.post("/policy/decisions", response_model=Decision)
def decide(body: DecisionRequest, session: SessionDep, principal: CurrentPrincipal) -> Decision:
    """May this flow happen? Allow (under which agreement, which categories) or deny (why)."""
    return RegistryService(session).decide(principal, body)


@router.get("/audit/entries", response_model=AuditPage)
def list_audit_entries(
    session: SessionDep,
    principal: CurrentPrincipal,
    message_id: str | None = None,
    institution_id: str | None = None,
    event_type: str | None = None,
    case_reference: str | None = None,
    after_seq: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> AuditPage:
    """Audit entries in the order recorded (auditors and regional administrators)."""
    require_role(principal, Role.auditor, Role.regional_admin)
    rows = RegistryService(session).repo.audit_entries(
        message_id=message_id, institution_id=institution_id, event_type=event_type,
        case_reference=case_reference, after_seq=after_seq, limit=limit,
    )
    return AuditPage(items=[AuditEntryPublic.model_validate(r) for r in rows])
