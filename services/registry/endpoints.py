"""Registry HTTP API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.registry.schemas import (
    AgreementContent,
    AgreementCreate,
    AgreementPage,
    AgreementPublic,
    AgreementTermsIn,
    AuditEntryPublic,
    AuditPage,
    AuditQuarantinePage,
    AuditQuarantinePublic,
    CheckpointPublic,
    ConsentCreate,
    ConsentPage,
    ConsentPublic,
    ConsistencyProof,
    Decision,
    DecisionRequest,
    InclusionProof,
    SignatureIn,
    SnapshotPublic,
    StatusChange,
    SubtreePublic,
    Withdrawal,
)
from services.registry.service import RegistryService
from shared.kit.limits import NonNegativeInt64, PositiveInt32, PositiveInt64
from shared.kit.pagination import PageRequest, Pages, pagination
from shared.kit.problems import problem_responses
from shared.protocol.auth import CurrentPrincipal, SessionDep

router = APIRouter(prefix="/v1", responses=problem_responses(401, 403, 422, 503))


def registry_service(request: Request, session: SessionDep) -> RegistryService:
    return RegistryService(session, request.app.state.directory,
                           request.app.state.signing_key, policy_notice(request))


def policy_notice(request: Request) -> Callable[[], None] | None:
    """What tells the gateways that the policy changed (services/registry/messaging.py)."""
    notices = getattr(request.app.state, "policy_notices", None)
    return notices.changed if notices is not None else None


Registry = Annotated[RegistryService, Depends(registry_service)]


# Agreements ----------------------------------------------------------------------------


@router.get("/agreements", response_model=AgreementPage, tags=["agreements"],
            operation_id="agreements_list")
def list_agreements(registry: Registry, _: CurrentPrincipal, pages: Pages,
                    status: str | None = None) -> AgreementPage:
    """Every agreement by id, each in the version in force (or its newest, if none ever
    was)."""
    rows, next_link = pages.slice(registry.agreements(status), lambda a: (a.id,), str)
    return AgreementPage(items=[registry.public(a) for a in rows], next=next_link)


@router.post("/agreements", response_model=AgreementPublic, status_code=201,
             tags=["agreements"], operation_id="agreements_create")
def create_agreement(body: AgreementCreate, registry: Registry, principal: CurrentPrincipal
                     ) -> AgreementPublic:
    """Draft a new agreement, version 1 (regional administrators, or the gateway of a party
    for its country administrator)."""
    return registry.public(registry.create_agreement(principal, body))


@router.get("/agreements/{agreement_id}", response_model=AgreementPublic, tags=["agreements"],
            operation_id="agreements_get")
def get_agreement(agreement_id: str, registry: Registry, _: CurrentPrincipal) -> AgreementPublic:
    """The version in force of one agreement, with its signatures."""
    return registry.public(registry.current(agreement_id))


@router.get("/agreements/{agreement_id}/versions", response_model=AgreementPage,
            tags=["agreements"], operation_id="agreements_versions_list")
def list_versions(agreement_id: str, registry: Registry, _: CurrentPrincipal, pages: Pages
                  ) -> AgreementPage:
    """Every version of one agreement, oldest first."""
    rows, next_link = pages.slice(registry.versions(agreement_id), lambda a: (a.version,), int)
    return AgreementPage(items=[registry.public(a) for a in rows], next=next_link)


@router.post("/agreements/{agreement_id}/versions", response_model=AgreementPublic,
             status_code=201, tags=["agreements"], operation_id="agreements_amend")
def amend_agreement(agreement_id: str, body: AgreementTermsIn, registry: Registry,
                    principal: CurrentPrincipal) -> AgreementPublic:
    """Amend: a new version as a draft; the current one stays in force until it is active."""
    return registry.public(registry.amend(principal, agreement_id, body))


@router.get("/agreements/{agreement_id}/versions/{version}", response_model=AgreementPublic,
            tags=["agreements"], operation_id="agreements_version_get")
def get_version(agreement_id: str, version: PositiveInt32, registry: Registry,
                _: CurrentPrincipal) -> AgreementPublic:
    """One version of an agreement."""
    return registry.public(registry.version(agreement_id, version))


@router.put("/agreements/{agreement_id}/versions/{version}", response_model=AgreementPublic,
            tags=["agreements"], operation_id="agreements_draft_update")
def update_draft(agreement_id: str, version: PositiveInt32, body: AgreementTermsIn,
                 registry: Registry, principal: CurrentPrincipal) -> AgreementPublic:
    """Change the terms of a draft (regional administrators)."""
    return registry.public(registry.update_draft(principal, agreement_id, version, body))


@router.post("/agreements/{agreement_id}/versions/{version}/status",
             response_model=AgreementPublic, tags=["agreements"],
             operation_id="agreements_status_change")
def change_status(agreement_id: str, version: PositiveInt32, body: StatusChange,
                  registry: Registry, principal: CurrentPrincipal) -> AgreementPublic:
    """Submit for signatures, suspend, resume or terminate (regional administrators)."""
    return registry.public(registry.change_status(principal, agreement_id, version, body))


@router.get("/agreements/{agreement_id}/versions/{version}/content",
            response_model=AgreementContent, tags=["agreements"],
            operation_id="agreements_content_get")
def get_content(agreement_id: str, version: PositiveInt32, registry: Registry,
                _: CurrentPrincipal) -> AgreementContent:
    """The canonical content of a version: what each party signs."""
    return registry.content(agreement_id, version)


@router.post("/agreements/{agreement_id}/versions/{version}/signatures",
             response_model=AgreementPublic, status_code=201, tags=["agreements"],
             operation_id="agreements_sign")
def add_signature(agreement_id: str, version: PositiveInt32, body: SignatureIn,
                  registry: Registry, principal: CurrentPrincipal) -> AgreementPublic:
    """A party's signature, from its gateway; the last one makes the version active."""
    return registry.public(registry.add_signature(principal, agreement_id, version, body.jws))


# Consent and other legal bases ---------------------------------------------------------


@router.post("/consents", response_model=ConsentPublic, status_code=201, tags=["consents"],
             operation_id="consents_record")
def record_consent(body: ConsentCreate, registry: Registry, principal: CurrentPrincipal
                   ) -> ConsentPublic:
    """Record a consent or another legal basis for a case (the case holder's gateway)."""
    return ConsentPublic.model_validate(registry.record_consent(principal, body))


@router.get("/consents", response_model=ConsentPage, tags=["consents"],
            operation_id="consents_list")
def list_consents(registry: Registry, principal: CurrentPrincipal, pages: Pages,
                  case_reference: str | None = None, holder_id: str | None = None
                  ) -> ConsentPage:
    """Consents and legal bases, oldest recorded first: a gateway sees its institution's;
    auditors see all."""
    rows, next_link = pages.page(
        registry.consents(principal, case_reference, holder_id, pages.fetch,
                          pages.after(datetime, str)),
        lambda c: (c.recorded_at, c.id))
    return ConsentPage(items=[ConsentPublic.model_validate(r) for r in rows], next=next_link)


@router.get("/consents/{consent_id}", response_model=ConsentPublic, tags=["consents"],
            operation_id="consents_get")
def get_consent(consent_id: str, registry: Registry, principal: CurrentPrincipal
                ) -> ConsentPublic:
    """One consent or legal basis."""
    return ConsentPublic.model_validate(registry.consent(principal, consent_id))


@router.post("/consents/{consent_id}/withdrawal", response_model=ConsentPublic,
             tags=["consents"], operation_id="consents_withdraw")
def withdraw_consent(consent_id: str, body: Withdrawal, registry: Registry,
                     principal: CurrentPrincipal) -> ConsentPublic:
    """Withdraw: recorded, never deleted; the next decision no longer counts it."""
    return ConsentPublic.model_validate(registry.withdraw_consent(principal, consent_id, body))


# Policy --------------------------------------------------------------------------------


@router.post("/policy/decisions", response_model=Decision, tags=["policy"],
             operation_id="policy_decide")
def decide(body: DecisionRequest, registry: Registry, principal: CurrentPrincipal) -> Decision:
    """May this flow happen? Allow (agreement, legal basis, categories) or deny (why)."""
    return registry.decide(principal, body)


@router.get("/policy/snapshot", response_model=SnapshotPublic, tags=["policy"],
            operation_id="policy_snapshot_get")
def policy_snapshot(request: Request, registry: Registry, principal: CurrentPrincipal
                    ) -> SnapshotPublic:
    """What your gateway needs to decide while the registry is down, signed, with an expiry."""
    jws, expires_at = registry.snapshot(principal, request.app.state.signing_key,
                                        request.app.state.snapshot_ttl_seconds)
    return SnapshotPublic(jws=jws, expires_at=expires_at)


# Audit ---------------------------------------------------------------------------------


@router.get("/audit/entries", response_model=AuditPage, tags=["audit"],
            operation_id="audit_entries_list")
def list_audit_entries(
    registry: Registry,
    principal: CurrentPrincipal,
    pages: Annotated[PageRequest, pagination(100, 1000)],
    message_id: str | None = None,
    institution_id: str | None = None,
    event_type: Annotated[list[str] | None, Query()] = None,
    case_reference: str | None = None,
    since: datetime | None = Query(None, description="occurred at or after (ISO 8601)"),
    until: datetime | None = Query(None, description="occurred before (ISO 8601)"),
) -> AuditPage:
    """Audit entries in log order (auditors and regional administrators). With
    case_reference: who has seen this child's data, when and under which agreement."""
    after = pages.after(int)
    rows, next_link = pages.page(registry.audit_entries(
        principal, message_id=message_id, institution_id=institution_id, event_types=event_type,
        case_reference=case_reference, since=since, until=until,
        after_seq=after[0] if after else 0, limit=pages.fetch,
    ), lambda e: (e.seq,))
    return AuditPage(items=[AuditEntryPublic.model_validate(r) for r in rows], next=next_link)


@router.get("/audit/quarantine", response_model=AuditQuarantinePage, tags=["audit"],
            operation_id="audit_quarantine_list")
def list_audit_quarantine(
    registry: Registry,
    principal: CurrentPrincipal,
    pages: Annotated[PageRequest, pagination(100, 1000)],
    reason: str | None = Query(None, max_length=40),
    institution_id: str | None = Query(None, max_length=64),
) -> AuditQuarantinePage:
    """Audit events the registry refused, with the reason (auditors and regional
    administrators). Only the hash and size of each message are kept, and the claimed ids
    that fit their patterns; never its content."""
    after = pages.after(int)
    rows, next_link = pages.page(registry.audit_quarantine(
        principal, reason, institution_id, after[0] if after else 0, pages.fetch),
        lambda q: (q.id,))
    return AuditQuarantinePage(items=[AuditQuarantinePublic.model_validate(r) for r in rows],
                               next=next_link)


@router.get("/audit/checkpoint", response_model=CheckpointPublic, tags=["audit"],
            operation_id="audit_checkpoint_get")
def latest_checkpoint(request: Request, registry: Registry) -> CheckpointPublic:
    """The signed tree size and root hash of the log now (public: hashes only)."""
    checkpoint = registry.audit.checkpoint(request.app.state.signing_key)
    return CheckpointPublic(tree_size=checkpoint.tree_size, root_hash=checkpoint.root_hash.hex(),
                            issued_at=checkpoint.issued_at, jws=checkpoint.jws)


@router.get("/audit/proofs/inclusion", response_model=InclusionProof, tags=["audit"],
            operation_id="audit_inclusion_proof_get")
def inclusion_proof(registry: Registry, leaf_index: Annotated[NonNegativeInt64, Query()],
                    tree_size: Annotated[PositiveInt64, Query()]) -> InclusionProof:
    """RFC 9162 inclusion proof of one entry in the tree of `tree_size` leaves (public)."""
    leaf, path = registry.audit.inclusion_proof(leaf_index, tree_size)
    return InclusionProof(leaf_index=leaf_index, tree_size=tree_size, leaf_hash=leaf.hex(),
                          audit_path=[h.hex() for h in path])


@router.get("/audit/proofs/consistency", response_model=ConsistencyProof, tags=["audit"],
            operation_id="audit_consistency_proof_get")
def consistency_proof(registry: Registry, first: Annotated[PositiveInt64, Query()],
                      second: Annotated[PositiveInt64, Query()]) -> ConsistencyProof:
    """RFC 9162 consistency proof: the tree of `second` leaves extends that of `first`."""
    path = registry.audit.consistency_proof(first, second)
    return ConsistencyProof(first=first, second=second, consistency_path=[h.hex() for h in path])


@router.get("/audit/tree", response_model=SubtreePublic, tags=["audit"],
            operation_id="audit_tree_get")
def subtree(registry: Registry, start: Annotated[NonNegativeInt64, Query()],
            end: Annotated[PositiveInt64, Query()]
            ) -> SubtreePublic:
    """The hash of a node of the tree, leaves [start, end), and of its two children."""
    whole, left, right = registry.audit.subtree(start, end)
    return SubtreePublic(start=start, end=end, hash=whole.hex(),
                         left_hash=left.hex() if left else None,
                         right_hash=right.hex() if right else None)
