"""Registry rules: agreements, the policy decision, the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from services.registry.models import Agreement, AuditEntry
from services.registry.repository import RegistryRepository
from services.registry.schemas import (
    AgreementCreate,
    AgreementStatus,
    AuditEventIn,
    Decision,
    DecisionRequest,
    DenyReason,
)
from shared.auth import Principal, Role, require_role
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable


class RegistryService:
    def __init__(self, session: Session) -> None:
        self.repo = RegistryRepository(session)

    # Agreements -----------------------------------------------------------------------

    def agreement(self, agreement_id: str) -> Agreement:
        agreement = self.repo.agreement(agreement_id)
        if agreement is None:
            raise NotFound("No agreement has this id.", code="agreement_not_found")
        return agreement

    def create_agreement(
        self, principal: Principal | None, data: AgreementCreate, status: AgreementStatus
    ) -> Agreement:
        if principal is not None:
            require_role(principal, Role.regional_admin)
        if data.valid_to <= data.valid_from:
            raise Unprocessable("valid_to must come after valid_from.", code="invalid_validity")
        if len(set(data.parties)) != len(data.parties):
            raise Unprocessable("A party is listed twice.", code="duplicate_party")
        if self.repo.agreement(data.id) is not None:
            raise Conflict("An agreement with this id exists.", code="agreement_exists")
        agreement = Agreement(
            **data.model_dump(exclude={"message_types", "purposes", "data_categories"}),
            message_types=[t.value for t in data.message_types],
            purposes=[p.value for p in data.purposes],
            data_categories=[c.value for c in data.data_categories],
            status=status.value,
        )
        self.repo.add_agreement(agreement)
        return agreement

    # Policy decision ------------------------------------------------------------------

    def decide(
        self, principal: Principal, request: DecisionRequest, now: datetime | None = None
    ) -> Decision:
        require_role(principal, Role.gateway)
        if principal.institution_id not in (request.sender, request.recipient):
            raise Forbidden("A gateway asks only about flows of its own institutions.",
                            code="not_your_institution")
        return decide(self.repo.agreements_between(request.sender, request.recipient),
                      request, now or utcnow())

    # Audit ----------------------------------------------------------------------------

    def record_audit_event(self, event: AuditEventIn) -> bool:
        return self.repo.append_audit(AuditEntry(**event.model_dump()))


def decide(agreements: list[Agreement], request: DecisionRequest, now: datetime) -> Decision:
    """The policy itself, pure: which agreement (if any) lets this flow happen."""
    if not agreements:
        return _deny("no_agreement", "No agreement covers this sender and recipient.")
    reasons: list[DenyReason] = []
    for agreement in agreements:
        problems = _agreement_problems(agreement, request, now)
        if not problems:
            requested = [c.value for c in request.data_categories]
            return Decision(
                decision="allow",
                agreement_id=agreement.id,
                allowed_categories=[c for c in requested if c in agreement.data_categories],
                withheld_categories=[c for c in requested if c not in agreement.data_categories],
            )
        reasons.extend(problems)
    return Decision(decision="deny", reasons=reasons)


def _agreement_problems(
    agreement: Agreement, request: DecisionRequest, now: datetime
) -> list[DenyReason]:
    ref = f"agreement {agreement.id}"
    problems = []
    if agreement.status != AgreementStatus.active:
        problems.append(DenyReason(code="agreement_not_active",
                                   detail=f"{ref} is {agreement.status}"))
    if not agreement.valid_from <= now < agreement.valid_to:
        problems.append(DenyReason(code="agreement_out_of_validity",
                                   detail=f"{ref} is not valid at this time"))
    if request.message_type.value not in agreement.message_types:
        problems.append(DenyReason(code="message_type_not_allowed",
                                   detail=f"{ref} does not cover {request.message_type.value}"))
    if request.purpose.value not in agreement.purposes:
        problems.append(DenyReason(code="purpose_not_allowed",
                                   detail=f"{ref} does not cover {request.purpose.value}"))
    return problems


def _deny(code: str, detail: str) -> Decision:
    return Decision(decision="deny", reasons=[DenyReason(code=code, detail=detail)])
