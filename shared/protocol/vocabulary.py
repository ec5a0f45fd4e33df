"""The protocol's fixed vocabularies, shared by every service and documented in docs/protocol.md."""

from __future__ import annotations

from enum import StrEnum


class MessageType(StrEnum):
    referral = "referral"
    receipt = "receipt"
    referral_update = "referral-update"
    alert = "alert"
    alert_ack = "alert-ack"
    alert_located = "alert-located"
    rejection = "rejection"


class Purpose(StrEnum):
    reception_and_care = "reception-and-care"
    family_tracing = "family-tracing"
    best_interests_determination = "best-interests-determination"
    missing_child_search = "missing-child-search"
    follow_up = "follow-up"


class DataCategory(StrEnum):
    identity = "identity"
    contact = "contact"
    location = "location"
    family = "family"
    health = "health"
    protection = "protection"
    legal_status = "legal-status"
    child_views = "child-views"
    documents = "documents"


class AlertCategory(StrEnum):
    missing_in_need_of_protection = "missing-in-need-of-protection"
    missing = "missing"
    risk_of_parental_abduction = "risk-of-parental-abduction"
    risk_of_trafficking = "risk-of-trafficking"


class AuditEventType(StrEnum):
    sent = "sent"
    received = "received"
    receipt = "receipt"
    quarantined = "quarantined"
    denied = "denied"
    record_read = "record-read"
    accepted = "accepted"
    rejected = "rejected"
    started = "started"
    closed = "closed"
    withdrawn = "withdrawn"
    follow_up = "follow-up"
    alert_issued = "alert-issued"
    alert_received = "alert-received"
    alert_acknowledged = "alert-acknowledged"
    alert_updated = "alert-updated"
    alert_located = "alert-located"
    alert_cancelled = "alert-cancelled"
    alert_escalated = "alert-escalated"
    refused = "refused"
    # A person of the console (detail: person_id and role, never the username).
    sign_in = "sign-in"
    sign_in_failed = "sign-in-failed"
    password_changed = "password-changed"  # noqa: S105 (an event name)
    person_unlocked = "person-unlocked"  # a country administrator ended a person's lock
    # Made by the registry itself, never accepted from a gateway.
    agreement_created = "agreement-created"
    agreement_updated = "agreement-updated"
    agreement_amended = "agreement-amended"
    agreement_submitted = "agreement-submitted"
    agreement_signed = "agreement-signed"
    agreement_activated = "agreement-activated"
    agreement_suspended = "agreement-suspended"
    agreement_resumed = "agreement-resumed"
    agreement_terminated = "agreement-terminated"
    agreement_superseded = "agreement-superseded"
    consent_recorded = "consent-recorded"
    consent_withdrawn = "consent-withdrawn"
    # A `sent` or `received` referral that the registry's own data, checked after the
    # fact, would not have allowed under the agreement it names (detail: the event and why).
    policy_mismatch = "policy-mismatch"
