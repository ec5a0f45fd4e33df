"""Registry rules: agreements and their signatures, consents, the policy decision, the audit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import OKPKey
from sqlalchemy import event as orm_event
from sqlmodel import Session

from services.registry.audit_log import AuditLog, iso_utc
from services.registry.directory import Directory, DirectoryUnavailable
from services.registry.models import (
    Agreement,
    AgreementSignature,
    AuditEntry,
    AuditQuarantine,
    Consent,
)
from services.registry.repository import RegistryRepository
from services.registry.schemas import (
    AgreementContent,
    AgreementCreate,
    AgreementPublic,
    AgreementTermsIn,
    ConsentCreate,
    SignaturePublic,
    StatusChange,
    Withdrawal,
)
from shared.kit.db import utcnow
from shared.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.kit.logging import get_logger
from shared.protocol.audit_events import AuditEvent, reason_code
from shared.protocol.auth import Principal, Role, require_role
from shared.protocol.documents import POLICY_SNAPSHOT
from shared.protocol.envelope import EnvelopeError, sign, unverified_parts, verify
from shared.protocol.policy import (
    AgreementStatus,
    AgreementTerms,
    BasisTerms,
    Decision,
    DecisionRequest,
    PolicySnapshot,
    evaluate,
    is_country,
)
from shared.protocol.vocabulary import AuditEventType as Event
from shared.protocol.vocabulary import MessageType

log = get_logger(__name__)

SIGNATURE_MEDIA_TYPE = "enlace-agreement-signature+jws"
SIGNER_ROLE = Role.country_admin
PENDING = (AgreementStatus.draft, AgreementStatus.awaiting_signatures)
EVER_ACTIVE = (AgreementStatus.active, AgreementStatus.suspended, AgreementStatus.expired,
               AgreementStatus.terminated)

# Status changes an administrator may ask for: (from, to) -> audit event. Activation is
# not among them: a version becomes active when the last party signs it.
STATUS_CHANGES = {
    (AgreementStatus.draft, AgreementStatus.awaiting_signatures): Event.agreement_submitted,
    (AgreementStatus.draft, AgreementStatus.terminated): Event.agreement_terminated,
    (AgreementStatus.awaiting_signatures, AgreementStatus.terminated): Event.agreement_terminated,
    (AgreementStatus.active, AgreementStatus.suspended): Event.agreement_suspended,
    (AgreementStatus.suspended, AgreementStatus.active): Event.agreement_resumed,
    (AgreementStatus.active, AgreementStatus.terminated): Event.agreement_terminated,
    (AgreementStatus.suspended, AgreementStatus.terminated): Event.agreement_terminated,
}


def agreement_content(agreement: Agreement) -> dict[str, Any]:
    """The canonical content of a version, which every party signs (docs/registry.md): its
    id, version and terms (those of AgreementTermsIn), times in UTC."""
    terms = {name: getattr(agreement, name) for name in AgreementTermsIn.model_fields}
    terms["valid_from"] = iso_utc(agreement.valid_from)
    terms["valid_to"] = iso_utc(agreement.valid_to)
    return {"type": "enlace-agreement", "agreement_id": agreement.id,
            "version": agreement.version, **terms}


def effective_status(agreement: Agreement, now: datetime) -> str:
    if agreement.status == AgreementStatus.active and now >= agreement.valid_to:
        return AgreementStatus.expired.value
    return agreement.status


def current_versions(versions: list[Agreement]) -> list[Agreement]:
    """Per agreement, the version in force: the newest ever activated, else the newest."""
    by_id: dict[str, list[Agreement]] = {}
    for version in versions:
        by_id.setdefault(version.id, []).append(version)
    current = []
    for rows in by_id.values():
        activated = [r for r in rows if r.status in EVER_ACTIVE]
        current.append(max(activated or rows, key=lambda r: r.version))
    return current


# The ids of the registry's `policy-mismatch` entries derive from the event they flag, so a
# check made twice (a batch redelivered) appends one entry.
MISMATCH_NAMESPACE = uuid.UUID("5b0f6c2e-7a41-4d8e-9f3a-6c1e2d4b8a90")


def mismatch_event_id(event_id: str) -> str:
    return str(uuid.uuid5(MISMATCH_NAMESPACE, event_id))


def sender_and_recipient(event: AuditEvent) -> tuple[str, str]:
    """Of the referral a `sent` or `received` event reports."""
    local, other = event.institution_id, str(event.counterpart_id)
    return (local, other) if event.event_type == Event.sent else (other, local)


def policy_terms(agreement: Agreement) -> AgreementTerms:
    return AgreementTerms.model_validate(agreement, from_attributes=True)


def basis_terms(consent: Consent) -> BasisTerms:
    return BasisTerms.model_validate(consent, from_attributes=True)


class RegistryService:
    def __init__(self, session: Session, directory: Directory | None = None,
                 signing_key: OKPKey | None = None,
                 policy_changed: Callable[[], None] | None = None) -> None:
        self.repo = RegistryRepository(session)
        self.audit = AuditLog(self.repo, signing_key)
        self.directory = directory
        self.policy_changed = policy_changed  # told after a commit that changed the policy

    def _policy_changes(self) -> None:
        """Agreements or consents change in this transaction: once it commits (not before:
        a gateway re-fetching at once must see the change), tell `policy_changed` once."""
        session = self.repo.session
        notify = self.policy_changed
        if notify is None or session.info.get("policy_notice"):
            return
        session.info["policy_notice"] = True

        def after_commit(committed: Session) -> None:
            committed.info.pop("policy_notice", None)
            notify()

        orm_event.listen(session, "after_commit", after_commit, once=True)

    # Agreements -----------------------------------------------------------------------

    def versions(self, agreement_id: str) -> list[Agreement]:
        versions = self.repo.agreement_versions(agreement_id)
        if not versions:
            raise NotFound("No agreement has this id.", code="agreement_not_found")
        return versions

    def current(self, agreement_id: str) -> Agreement:
        return current_versions(self.versions(agreement_id))[0]

    def version(self, agreement_id: str, version: int) -> Agreement:
        agreement = self.repo.agreement_version(agreement_id, version)
        if agreement is None:
            raise NotFound("No agreement has this id and version.", code="agreement_not_found")
        return agreement

    def agreements(self, status: str | None = None) -> list[Agreement]:
        """By id, each in its version in force (current_versions), of `status` now."""
        current = sorted(current_versions(self.repo.agreement_versions()), key=lambda a: a.id)
        now = utcnow()
        return [a for a in current if status is None or effective_status(a, now) == status]

    def public(self, agreement: Agreement) -> AgreementPublic:
        signatures = self.repo.signatures(agreement.id, agreement.version)
        signed = {s.party for s in signatures}
        public = AgreementPublic.model_validate(agreement)
        return public.model_copy(update={
            "status": effective_status(agreement, utcnow()),
            "signatures": [SignaturePublic.model_validate(s) for s in signatures],
            "unsigned_parties": [p for p in agreement.parties if p not in signed],
        })

    def create_agreement(self, principal: Principal, data: AgreementCreate) -> Agreement:
        """A draft by the secretariat, or by a party's gateway for its country administrator
        (an institution drafts only agreements it or its country is a party to); either way
        the secretariat submits it for signatures."""
        require_role(principal, Role.regional_admin, Role.gateway)
        if principal.role == Role.gateway and not any(
                party == principal.institution_id
                or (is_country(party) and party == principal.country)
                for party in data.parties):
            raise Forbidden("A gateway drafts only agreements its institution or its country "
                            "is a party to.", code="not_a_party")
        if self.repo.agreement_versions(data.id):
            raise Conflict("An agreement with this id exists.", code="agreement_exists")
        return self._new_version(principal, data.id, 1, data, Event.agreement_created)

    def amend(self, principal: Principal, agreement_id: str, terms: AgreementTermsIn
              ) -> Agreement:
        """A new version, a draft; the versions before it stay as they are until it is active."""
        require_role(principal, Role.regional_admin)
        versions = self.versions(agreement_id)
        if any(v.status in PENDING for v in versions):
            raise Conflict("A version of this agreement is still a draft or awaiting "
                           "signatures; change or terminate that one.", code="amendment_pending")
        if current_versions(versions)[0].status == AgreementStatus.terminated:
            raise Conflict("The agreement is terminated.", code="agreement_terminated")
        return self._new_version(principal, agreement_id, versions[-1].version + 1, terms,
                                 Event.agreement_amended)

    def update_draft(self, principal: Principal, agreement_id: str, version: int,
                     terms: AgreementTermsIn) -> Agreement:
        require_role(principal, Role.regional_admin)
        agreement = self.version(agreement_id, version)
        if agreement.status != AgreementStatus.draft:
            raise Conflict("Only a draft can be changed; amend the agreement instead.",
                           code="agreement_not_editable")
        self._check_terms(terms)
        for name, value in self._terms_fields(terms).items():
            setattr(agreement, name, value)
        agreement.updated_at = utcnow()
        self.repo.add(agreement)
        self._audit_agreement(Event.agreement_updated, principal.institution_id, agreement)
        return agreement

    def change_status(self, principal: Principal, agreement_id: str, version: int,
                      change: StatusChange) -> Agreement:
        require_role(principal, Role.regional_admin)
        agreement = self.version(agreement_id, version)
        target = AgreementStatus(change.status)
        event = STATUS_CHANGES.get((AgreementStatus(agreement.status), target))
        if event is None:
            detail = ("An agreement becomes active only when every party has signed it."
                      if target == AgreementStatus.active else
                      f"A {agreement.status} agreement cannot become {target.value}.")
            raise Conflict(detail, code="invalid_status_change")
        self._set_status(agreement, target, change.reason)
        self._audit_agreement(event, principal.institution_id, agreement)
        return agreement

    def content(self, agreement_id: str, version: int) -> AgreementContent:
        content = agreement_content(self.version(agreement_id, version))
        return AgreementContent(agreement_id=agreement_id, version=version, content=content,
                                canonical=json.dumps(content, sort_keys=True,
                                                     separators=(",", ":"), ensure_ascii=False))

    def add_signature(self, principal: Principal, agreement_id: str, version: int,
                      token: str) -> Agreement:
        """A party's signature, sent by its gateway; the last one makes the version active."""
        require_role(principal, Role.gateway)
        agreement = self.version(agreement_id, version)
        if agreement.status != AgreementStatus.awaiting_signatures:
            raise Conflict("This version is not awaiting signatures.",
                           code="not_awaiting_signatures")
        header, payload = self._verified_signature(principal, token)
        party = payload.get("party")
        if not isinstance(party, str) or party not in agreement.parties or not (
            party == principal.institution_id
            or (is_country(party) and party == principal.country)
        ):
            raise Forbidden("The signer is not, and does not belong to, a party of this "
                            "agreement.", code="not_a_party")
        if payload.get("signer_role") != SIGNER_ROLE.value:
            raise Forbidden("Only a country administrator signs agreements.",
                            code="signer_role_not_allowed")
        if payload.get("agreement") != agreement_content(agreement):
            raise Unprocessable("The signature is not over this version's content.",
                                code="signature_content_mismatch")
        if any(s.party == party for s in self.repo.signatures(agreement_id, version)):
            raise Conflict("This party has signed this version already.", code="already_signed")
        self.repo.add(AgreementSignature(
            agreement_id=agreement_id, version=version, party=party,
            signer_id=principal.institution_id, kid=str(header["kid"]), jws=token))
        self._audit_agreement(Event.agreement_signed, principal.institution_id, agreement,
                              party=party)
        signed = {s.party for s in self.repo.signatures(agreement_id, version)}
        if signed >= set(agreement.parties):
            self._activate(agreement, principal.institution_id)
        return agreement

    def _verified_signature(self, principal: Principal, token: str
                            ) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            _, claimed = unverified_parts(token)
            if claimed.get("type") != "agreement-signature":
                raise EnvelopeError("malformed", "not an agreement signature")
            if claimed.get("signer") != principal.institution_id:
                raise Forbidden("A gateway submits signatures of its own institution only.",
                                code="not_your_institution")
            if self.directory is None:
                raise DirectoryUnavailable("The registry has no directory to read keys from.")
            return verify(token, self.directory.signing_keys(principal.institution_id))
        except EnvelopeError as exc:
            raise Unprocessable("The signature does not verify with the signer's keys in the "
                                "directory.", code="invalid_signature", reason=exc.code) from exc

    def _activate(self, agreement: Agreement, actor: str) -> None:
        for other in self.repo.agreement_versions(agreement.id):
            if other.version != agreement.version and other.status in (
                    AgreementStatus.active, AgreementStatus.suspended):
                self._set_status(other, AgreementStatus.superseded, None)
                self._audit_agreement(Event.agreement_superseded, actor, other)
        self._set_status(agreement, AgreementStatus.active, None)
        self._audit_agreement(Event.agreement_activated, actor, agreement)

    def _new_version(self, principal: Principal, agreement_id: str, version: int,
                     terms: AgreementTermsIn, event: Event) -> Agreement:
        self._check_terms(terms)
        agreement = Agreement(id=agreement_id, version=version, status=AgreementStatus.draft,
                              created_by=principal.institution_id, **self._terms_fields(terms))
        self.repo.add(agreement)
        self._audit_agreement(event, principal.institution_id, agreement)
        return agreement

    @staticmethod
    def _check_terms(terms: AgreementTermsIn) -> None:
        if terms.valid_to <= terms.valid_from:
            raise Unprocessable("valid_to must come after valid_from.", code="invalid_validity")
        if len(set(terms.parties)) != len(terms.parties):
            raise Unprocessable("A party is listed twice.", code="duplicate_party")

    @staticmethod
    def _terms_fields(terms: AgreementTermsIn) -> dict[str, Any]:
        fields = terms.model_dump(include=set(AgreementTermsIn.model_fields))
        for name in ("message_types", "purposes", "data_categories", "legal_bases"):
            fields[name] = [str(value) for value in fields[name]]
        return fields

    def _set_status(self, agreement: Agreement, status: AgreementStatus,
                    reason: str | None) -> None:
        agreement.status = status.value
        agreement.status_reason = reason
        agreement.updated_at = utcnow()
        self.repo.add(agreement)

    def _audit_agreement(self, event: Event, actor: str, agreement: Agreement, **detail: Any
                         ) -> None:
        self._policy_changes()
        self.audit.record(event, actor, agreement_id=agreement.id,
                          detail={"version": agreement.version, "status": agreement.status,
                                  **detail})

    # Consent and other legal bases ----------------------------------------------------

    def record_consent(self, principal: Principal, data: ConsentCreate) -> Consent:
        """Recorded by the case holder's gateway; the holder is the institution it acts for."""
        require_role(principal, Role.gateway)
        now = utcnow()
        valid_from = data.valid_from or now
        if data.valid_to is not None and data.valid_to <= valid_from:
            raise Unprocessable("valid_to must come after valid_from.", code="invalid_validity")
        consent = Consent(
            id=str(uuid.uuid4()), holder_id=principal.institution_id,
            **data.model_dump(mode="json", exclude={"valid_from", "valid_to"}),
            valid_from=valid_from, valid_to=data.valid_to, recorded_at=now,
        )
        self.repo.add(consent)
        self._policy_changes()
        self.audit.record(Event.consent_recorded, principal.institution_id,
                          case_reference=consent.case_reference,
                          detail={"consent_id": consent.id, "basis": consent.basis,
                                  "given_by": consent.given_by,
                                  "child_heard": consent.child_heard})
        return consent

    def withdraw_consent(self, principal: Principal, consent_id: str, data: Withdrawal
                         ) -> Consent:
        """Withdrawal is recorded; the consent stays, so the record shows what was allowed."""
        require_role(principal, Role.gateway)
        consent = self.consent(principal, consent_id)
        if consent.withdrawn_at is not None:
            raise Conflict("This consent was withdrawn already.",
                           code="consent_already_withdrawn")
        consent.withdrawn_at = utcnow()
        consent.withdrawn_by = data.withdrawn_by.value
        consent.withdrawal_reason = data.reason.value
        self.repo.add(consent)
        self._policy_changes()
        self.audit.record(Event.consent_withdrawn, principal.institution_id,
                          case_reference=consent.case_reference,
                          detail={"consent_id": consent.id, "basis": consent.basis,
                                  "withdrawn_by": consent.withdrawn_by,
                                  "reason": consent.withdrawal_reason})
        return consent

    def consent(self, principal: Principal, consent_id: str) -> Consent:
        consent = self.repo.consent(consent_id)
        if consent is None or not self._may_read_consents_of(principal, consent.holder_id):
            raise NotFound("No consent with this id is visible to you.", code="consent_not_found")
        return consent

    def consents(self, principal: Principal, case_reference: str | None,
                 holder_id: str | None, limit: int = 1000,
                 after: tuple[datetime, str] | None = None) -> list[Consent]:
        if principal.role == Role.gateway:
            holder_id = principal.institution_id
        else:
            require_role(principal, Role.auditor, Role.regional_admin)
        return self.repo.consents(holder_id, case_reference, limit, after)

    @staticmethod
    def _may_read_consents_of(principal: Principal, holder_id: str) -> bool:
        if principal.role == Role.gateway:
            return principal.institution_id == holder_id
        return principal.role in (Role.auditor, Role.regional_admin)

    # Policy decision ------------------------------------------------------------------

    def decide(self, principal: Principal, request: DecisionRequest,
               now: datetime | None = None) -> Decision:
        require_role(principal, Role.gateway)
        if principal.institution_id not in (request.sender, request.recipient):
            raise Forbidden("A gateway asks only about flows of its own institutions.",
                            code="not_your_institution")
        agreements = [policy_terms(a) for a in current_versions(self.repo.agreement_versions())]
        bases = [basis_terms(c) for c in self.repo.consents(request.sender,
                                                            request.case_reference or "")]
        return evaluate(agreements, bases, request, now or utcnow(),
                        lambda i: self._country_of(principal, i))

    def _country_of(self, principal: Principal, institution_id: str) -> str:
        if institution_id == principal.institution_id:
            return principal.country
        if self.directory is None:
            raise DirectoryUnavailable("The registry has no directory to look countries up in.")
        return self.directory.country_of(institution_id)

    def snapshot(self, principal: Principal, key: OKPKey, ttl_seconds: int) -> tuple[str, int]:
        """What this institution's gateway needs to decide alone, signed, with an expiry."""
        require_role(principal, Role.gateway)
        me, country = principal.institution_id, principal.country
        agreements = [policy_terms(a) for a in current_versions(self.repo.agreement_versions())
                      if me in a.parties or country in a.parties]
        bases = [basis_terms(c) for c in self.repo.consents_for_snapshot(me, country)]
        now = utcnow()
        expires_at = int((now + timedelta(seconds=ttl_seconds)).timestamp())
        payload = PolicySnapshot(institution_id=me, issued_at=int(now.timestamp()),
                                 expires_at=expires_at, agreements=agreements, bases=bases)
        return sign(payload.model_dump(mode="json"), key, POLICY_SNAPSHOT.media_type), expires_at

    # Checked after the fact ------------------------------------------------------------

    def flag_policy_mismatches(self, events: list[AuditEvent]) -> int:
        """Decide again, with the registry's data now, each `sent` or `received` referral
        event that names an agreement (as at its `occurred_at`: validity and withdrawals
        then; the agreement's status now), under that agreement and any purpose it covers
        (the event does not say which). A deny is appended as a `policy-mismatch` entry
        beside the event, never instead of it. Agreements and consents are read once for
        all the events. Returns how many were flagged."""
        checked = [e for e in events if e.event_type in (Event.sent, Event.received)
                   and e.message_type == MessageType.referral and e.agreement_id
                   and e.counterpart_id]
        if not checked:
            return 0
        agreements = {a.id: policy_terms(a)
                      for a in current_versions(self.repo.agreement_versions())}
        consents = self.repo.consents_of_cases(
            (sender_and_recipient(e)[0], e.case_reference or "") for e in checked)
        flags = []
        for event in checked:
            sender = sender_and_recipient(event)[0]
            bases = [basis_terms(c) for c in consents[(sender, event.case_reference or "")]]
            try:
                reasons = self._mismatch(event, agreements.get(str(event.agreement_id)), bases)
            except DirectoryUnavailable:
                log.warning("policy_check_skipped", event_id=event.event_id,
                            reason="directory_unavailable")
                continue
            if reasons is None:
                continue
            flags.append(self.audit.own_entry(
                Event.policy_mismatch, event.institution_id,
                event_id=mismatch_event_id(event.event_id),
                counterpart_id=event.counterpart_id, message_id=event.message_id,
                message_type=event.message_type.value if event.message_type else None,
                case_reference=event.case_reference, agreement_id=event.agreement_id,
                detail={"event_id": event.event_id, "event_type": event.event_type.value,
                        "reasons": reasons}))
            log.warning("policy_mismatch", event_id=event.event_id, reasons=reasons)
        if flags:
            self.audit.append(flags, source="registry")
        return len(flags)

    def _mismatch(self, event: AuditEvent, agreement: AgreementTerms | None,
                  bases: list[BasisTerms]) -> list[str] | None:
        """None if some purpose of the agreement allows the flow the event reports, with
        every category it carried; else the deny reasons (codes)."""
        if agreement is None:
            return ["no_agreement"]
        sender, recipient = sender_and_recipient(event)
        categories = list(event.detail.get("categories", []))
        countries: dict[str, str] = {}

        def country_of(institution_id: str) -> str:
            if institution_id not in countries:
                if self.directory is None:
                    raise DirectoryUnavailable("The registry has no directory.")
                countries[institution_id] = self.directory.country_of(institution_id)
            return countries[institution_id]

        reasons: list[str] = []
        for purpose in agreement.purposes:
            question = DecisionRequest(
                sender=sender, recipient=recipient, message_type=MessageType.referral,
                purpose=purpose, data_categories=categories,
                case_reference=event.case_reference)
            decision = evaluate([agreement], bases, question, event.occurred_at, country_of)
            if decision.decision == "allow" and not decision.withheld_categories:
                return None
            reasons.extend(reason_code(r.code) for r in decision.reasons)
        return list(dict.fromkeys(reasons)) or ["policy_denied"]

    # Audit ----------------------------------------------------------------------------

    def record_audit_events(self, events: list[tuple[AuditEvent, str]], source: str) -> int:
        """Verified gateway events with their JWS (services/registry/messaging.py)."""
        return self.audit.append([{**e.fields(), "jws": token} for e, token in events], source)

    def audit_entries(self, principal: Principal, **filters: Any) -> list[AuditEntry]:
        """Entries in log order, filtered as RegistryRepository.audit_entries (auditors and
        regional administrators)."""
        require_role(principal, Role.auditor, Role.regional_admin)
        return self.repo.audit_entries(**filters)

    def audit_quarantine(self, principal: Principal, reason: str | None,
                         institution_id: str | None, after_id: int, limit: int
                         ) -> list[AuditQuarantine]:
        require_role(principal, Role.auditor, Role.regional_admin)
        return self.repo.audit_quarantine(reason=reason, institution_id=institution_id,
                                          after_id=after_id, limit=limit)
