"""The policy decision, pure: may this flow of a child's data happen, and with what?

The registry answers with it, and a gateway answers with it from the registry's signed
policy snapshot while the registry is unreachable, so both sides apply the same rules.

A party of an agreement, and a recipient in the scope of a consent, is either an
institution id of the directory (`mx-sndif`) or a whole country, written as its ISO 3166-1
alpha-2 code in capitals (`HN`). Consents and other legal bases are found by the case
holder (the sending institution) and its pseudonymous case reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.protocol.vocabulary import DataCategory, MessageType, Purpose

COUNTRY_PARTY = re.compile(r"^[A-Z]{2}$")
IdStr = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
CaseReference = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]*$")


class AgreementStatus(StrEnum):
    draft = "draft"
    awaiting_signatures = "awaiting-signatures"
    active = "active"
    suspended = "suspended"
    expired = "expired"
    terminated = "terminated"
    superseded = "superseded"


class LegalBasis(StrEnum):
    consent = "consent"
    best_interests_determination = "best-interests-determination"
    vital_interest = "vital-interest"
    legal_obligation = "legal-obligation"


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "sender": "mx-sndif", "recipient": "hn-senaf", "message_type": "referral",
        "purpose": "reception-and-care", "data_categories": ["identity", "protection"],
        "case_reference": "MX-DIF-2026-000123"}]})

    sender: str = IdStr
    recipient: str = IdStr
    message_type: MessageType
    purpose: Purpose
    data_categories: list[DataCategory] = Field(default_factory=list)
    case_reference: str | None = Field(default=None, max_length=100)


class DenyReason(BaseModel):
    code: str
    detail: str


class BasisUsed(BaseModel):
    id: str
    basis: str


class Decision(BaseModel):
    decision: Literal["allow", "deny"]
    agreement_id: str | None = None
    agreement_version: int | None = None
    legal_bases: list[BasisUsed] = Field(default_factory=list)
    allowed_categories: list[str] = Field(default_factory=list)
    withheld_categories: list[str] = Field(default_factory=list)
    reasons: list[DenyReason] = Field(default_factory=list)


class AgreementTerms(BaseModel):
    """What the policy needs of one version of an agreement."""

    id: str
    version: int
    status: str
    parties: list[str]
    message_types: list[str]
    purposes: list[str]
    data_categories: list[str]
    legal_bases: list[str]
    valid_from: datetime
    valid_to: datetime


class BasisTerms(BaseModel):
    """What the policy needs of one consent or other legal basis."""

    id: str
    holder_id: str
    case_reference: str
    basis: str
    recipients: list[str]
    purposes: list[str]
    data_categories: list[str]
    valid_from: datetime
    valid_to: datetime | None = None
    withdrawn_at: datetime | None = None


class PolicySnapshot(BaseModel):
    """The signed payload a gateway decides from while the registry is unreachable."""

    v: str = "1"
    type: Literal["policy-snapshot"] = "policy-snapshot"
    institution_id: str
    issued_at: int
    expires_at: int
    agreements: list[AgreementTerms]
    bases: list[BasisTerms]


def is_country(party: str) -> bool:
    return bool(COUNTRY_PARTY.match(party))


def matches(party: str, institution_id: str, countries: Mapping[str, str]) -> bool:
    return party == institution_id or (is_country(party) and countries.get(institution_id) == party)


def needs_countries(agreements: Iterable[AgreementTerms], bases: Iterable[BasisTerms]) -> bool:
    names = [p for a in agreements for p in a.parties] + [r for b in bases for r in b.recipients]
    return any(is_country(name) for name in names)


def evaluate(
    agreements: list[AgreementTerms],
    bases: list[BasisTerms],
    request: DecisionRequest,
    now: datetime,
    country_of: Callable[[str], str],
) -> Decision:
    """`decide`, looking up the countries of sender and recipient only when a party needs them."""
    countries: dict[str, str] = {}
    if needs_countries(agreements, bases):
        countries = {i: country_of(i) for i in (request.sender, request.recipient)}
    return decide(agreements, bases, request, now, countries)


def decide(
    agreements: list[AgreementTerms],
    bases: list[BasisTerms],
    request: DecisionRequest,
    now: datetime,
    countries: Mapping[str, str] | None = None,
) -> Decision:
    """The first agreement with no problem, under a usable legal basis, allows; else deny."""
    countries = countries or {}
    covering = [a for a in agreements if _covers(a, request, countries)]
    if not covering:
        return _deny([_reason("no_agreement", "No agreement covers this sender and recipient.")])
    case_bases = [b for b in bases
                  if b.holder_id == request.sender and b.case_reference == request.case_reference]
    reasons: list[DenyReason] = []
    for agreement in sorted(covering, key=lambda a: (a.id, a.version)):
        problems = _agreement_problems(agreement, request, now)
        if problems:
            reasons.extend(problems)
            continue
        allowed = [c for c in _requested(request) if c in agreement.data_categories]
        if not allowed:
            return _allow(agreement, request, [], [])
        used, problems = _usable_bases(agreement, case_bases, request, now, countries, allowed)
        if not used:
            reasons.extend(problems)
            continue
        return _allow(agreement, request, [c for c in allowed if any(
            c in b.data_categories for b in used)], used)
    return _deny(reasons)


def _requested(request: DecisionRequest) -> list[str]:
    return list(dict.fromkeys(c.value for c in request.data_categories))


def _covers(agreement: AgreementTerms, request: DecisionRequest, countries: Mapping[str, str]
            ) -> bool:
    return any(matches(p, request.sender, countries) and matches(q, request.recipient, countries)
               for p in agreement.parties for q in agreement.parties if p != q)


def _agreement_problems(
    agreement: AgreementTerms, request: DecisionRequest, now: datetime
) -> list[DenyReason]:
    ref = f"agreement {agreement.id} (version {agreement.version})"
    problems = []
    if agreement.status != AgreementStatus.active:
        problems.append(_reason("agreement_not_active", f"{ref} is {agreement.status}"))
    if not agreement.valid_from <= now < agreement.valid_to:
        problems.append(_reason("agreement_out_of_validity", f"{ref} is not valid at this time"))
    if request.message_type.value not in agreement.message_types:
        problems.append(_reason("message_type_not_allowed",
                                f"{ref} does not cover {request.message_type.value}"))
    if request.purpose.value not in agreement.purposes:
        problems.append(_reason("purpose_not_allowed",
                                f"{ref} does not cover {request.purpose.value}"))
    requested = _requested(request)
    if requested and not any(c in agreement.data_categories for c in requested):
        problems.append(_reason("category_not_allowed",
                                f"{ref} allows none of the data categories sent"))
    return problems


def _usable_bases(
    agreement: AgreementTerms, bases: list[BasisTerms], request: DecisionRequest, now: datetime,
    countries: Mapping[str, str], categories: list[str],
) -> tuple[list[BasisTerms], list[DenyReason]]:
    """The consents or legal bases that let these categories go; else why none does."""
    if not request.case_reference:
        return [], [_reason("no_case_reference",
                            "Data about a child needs the case reference its consent is under.")]
    if not bases:
        return [], [_reason("no_consent",
                            "No consent or other legal basis is recorded for this case.")]
    used, problems = [], []
    for basis in bases:
        found = _basis_problems(agreement, basis, request, now, countries, categories)
        if found:
            problems.extend(found)
        else:
            used.append(basis)
    return used, problems


def _basis_problems(
    agreement: AgreementTerms, basis: BasisTerms, request: DecisionRequest, now: datetime,
    countries: Mapping[str, str], categories: list[str],
) -> list[DenyReason]:
    ref = f"{basis.basis} {basis.id}"
    if basis.withdrawn_at is not None and basis.withdrawn_at <= now:
        return [_reason("consent_withdrawn", f"{ref} was withdrawn")]
    problems = []
    if now < basis.valid_from or (basis.valid_to is not None and now >= basis.valid_to):
        problems.append(_reason("consent_out_of_validity", f"{ref} is not valid at this time"))
    if basis.basis not in agreement.legal_bases:
        problems.append(_reason("legal_basis_not_accepted",
                                f"agreement {agreement.id} does not accept {basis.basis}"))
    if not any(matches(r, request.recipient, countries) for r in basis.recipients):
        problems.append(_reason("recipient_not_covered", f"{ref} does not cover this recipient"))
    if request.purpose.value not in basis.purposes:
        problems.append(_reason("purpose_not_covered", f"{ref} does not cover this purpose"))
    if not any(c in basis.data_categories for c in categories):
        problems.append(_reason("categories_not_covered",
                                f"{ref} covers none of the data categories sent"))
    return problems


def _allow(agreement: AgreementTerms, request: DecisionRequest, allowed: list[str],
           used: list[BasisTerms]) -> Decision:
    withheld = [c for c in _requested(request) if c not in allowed]
    return Decision(
        decision="allow", agreement_id=agreement.id, agreement_version=agreement.version,
        legal_bases=[BasisUsed(id=b.id, basis=b.basis) for b in used],
        allowed_categories=allowed, withheld_categories=withheld,
        reasons=_withheld_reasons(agreement, withheld),
    )


def _withheld_reasons(agreement: AgreementTerms, withheld: list[str]) -> list[DenyReason]:
    """Why each withheld category is: outside the agreement, or covered by no usable basis."""
    ref = f"agreement {agreement.id} (version {agreement.version})"
    outside = [c for c in withheld if c not in agreement.data_categories]
    uncovered = [c for c in withheld if c in agreement.data_categories]
    reasons = []
    if outside:
        reasons.append(_reason("category_not_allowed",
                               f"{ref} does not allow: {', '.join(outside)}"))
    if uncovered:
        reasons.append(_reason("categories_not_covered", "no usable consent or other legal "
                               f"basis for the case covers: {', '.join(uncovered)}"))
    return reasons


def _deny(reasons: list[DenyReason]) -> Decision:
    unique = list({(r.code, r.detail): r for r in reasons}.values())
    return Decision(decision="deny", reasons=unique)


def _reason(code: str, detail: str) -> DenyReason:
    return DenyReason(code=code, detail=detail)
