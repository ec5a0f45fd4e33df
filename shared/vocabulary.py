"""The protocol's fixed vocabularies, shared by every service and documented in docs/protocol.md."""

from __future__ import annotations

from enum import StrEnum


class MessageType(StrEnum):
    referral = "referral"
    receipt = "receipt"
    referral_update = "referral-update"


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
