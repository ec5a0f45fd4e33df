"""Registry tables. No child's personal data: cases appear only by pseudonymous reference."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

from services.registry.figures.models import FIGURE_MODELS
from shared.kit.db import JSONValue, UTCDateTime, utcnow
from shared.protocol.auth import ApiToken
from shared.web.people import Person, WebSession


class AgreementBase(SQLModel):
    """One version of an agreement, as stored and as shown (AgreementPublic). Column sizes
    are in `sa_type`, not `max_length`, so that what is shown claims no input limits:
    those are the request bodies' (schemas.AgreementTermsIn)."""

    id: str = Field(primary_key=True, sa_type=String(64))
    version: int = Field(primary_key=True)
    title: str = Field(sa_type=String(300))
    parties: list[str] = Field(sa_type=JSONValue)
    message_types: list[str] = Field(sa_type=JSONValue)
    purposes: list[str] = Field(sa_type=JSONValue)
    data_categories: list[str] = Field(sa_type=JSONValue)
    legal_bases: list[str] = Field(sa_type=JSONValue)
    retention_days: int
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_to: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(sa_type=String(32))
    status_reason: str | None = Field(default=None, sa_type=String(500))


class Agreement(AgreementBase, table=True):
    """An amendment adds a version; none is ever deleted."""

    __tablename__ = "agreements"

    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AgreementSignature(SQLModel, table=True):
    """A party's JWS over the canonical content of one version."""

    __tablename__ = "agreement_signatures"

    agreement_id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    party: str = Field(primary_key=True, max_length=64)
    signer_id: str = Field(max_length=64)
    kid: str = Field(max_length=100)
    jws: str = Field(sa_type=Text)
    signed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConsentBase(SQLModel):
    """A consent or another legal basis for sharing one case's data, as stored and as shown
    (ConsentPublic); withdrawn, never deleted.

    Keyed by the case holder (the institution that records it, and sends) and its
    pseudonymous case reference. Whether the child was heard and a coded summary of the
    child's views are kept; the child's own words travel only in referrals, between gateways.
    """

    id: str = Field(primary_key=True, sa_type=String(36))
    holder_id: str = Field(index=True, sa_type=String(64))
    case_reference: str = Field(index=True, sa_type=String(100))
    basis: str = Field(sa_type=String(40))
    given_by: str = Field(sa_type=String(40))
    basis_reference: str | None = Field(sa_type=String(100))
    child_heard: bool
    child_views: str | None = Field(sa_type=String(40))
    not_heard_reason: str | None = Field(sa_type=String(40))
    recipients: list[str] = Field(sa_type=JSONValue)
    purposes: list[str] = Field(sa_type=JSONValue)
    data_categories: list[str] = Field(sa_type=JSONValue)
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_to: datetime | None = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    withdrawn_at: datetime | None = Field(sa_type=UTCDateTime)
    withdrawn_by: str | None = Field(sa_type=String(40))
    withdrawal_reason: str | None = Field(sa_type=String(40))


class Consent(ConsentBase, table=True):
    __tablename__ = "consents"

    # What a new row may leave out (the shown schema keeps every member required).
    basis_reference: str | None = Field(default=None, sa_type=String(100))
    child_views: str | None = Field(default=None, sa_type=String(40))
    not_heard_reason: str | None = Field(default=None, sa_type=String(40))
    valid_to: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawn_by: str | None = Field(default=None, sa_type=String(40))
    withdrawal_reason: str | None = Field(default=None, sa_type=String(40))


class AuditEntry(SQLModel, table=True):
    """Append-only: rows are inserted, never updated or deleted. Leaf `leaf_index` of the log."""

    __tablename__ = "audit_entries"

    seq: int | None = Field(default=None, primary_key=True)
    leaf_index: int = Field(sa_type=BigInteger, unique=True)
    leaf_hash: bytes = Field(sa_type=LargeBinary)
    source: str = Field(max_length=16)
    event_id: str = Field(unique=True, max_length=64)
    event_type: str = Field(index=True, max_length=40)
    occurred_at: datetime = Field(sa_type=UTCDateTime, index=True)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    institution_id: str = Field(index=True, max_length=64)
    counterpart_id: str | None = Field(default=None, max_length=64)
    message_id: str | None = Field(default=None, index=True, max_length=64)
    message_type: str | None = Field(default=None, max_length=40)
    case_reference: str | None = Field(default=None, index=True, max_length=100)
    agreement_id: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONValue)
    # The asserting party's JWS over the event (the institution's key, or the registry's
    # for its own entries); null only on entries made before events were signed.
    jws: str | None = Field(default=None, sa_type=Text)


class AuditQuarantine(SQLModel, table=True):
    """An audit event refused by the registry: why, and what can be told of it without
    keeping what it said. Only values that fit their strict patterns are kept; the raw
    message is kept as its SHA-256 and size, never in clear (it may hold anything)."""

    __tablename__ = "audit_quarantine"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    subject_country: str | None = Field(default=None, max_length=2)
    reason: str = Field(index=True, max_length=40)
    sha256: str = Field(unique=True, max_length=64)
    size: int
    event_id: str | None = Field(default=None, max_length=36)
    event_type: str | None = Field(default=None, max_length=40)
    institution_id: str | None = Field(default=None, max_length=64)
    kid: str | None = Field(default=None, max_length=64)


class AuditNode(SQLModel, table=True):
    """The hash of a full subtree of 2**level leaves, index `index`: `node_id` = index<<6 | level.

    Kept so that proofs need O(log n) reads; leaves (level 0) are in audit_entries.
    """

    __tablename__ = "audit_nodes"

    node_id: int = Field(sa_type=BigInteger, primary_key=True)
    hash: bytes = Field(sa_type=LargeBinary)


class AuditTree(SQLModel, table=True):
    """One row: the number of leaves. Appenders update it first, which serialises them."""

    __tablename__ = "audit_tree"

    id: int = Field(default=1, primary_key=True)
    size: int = Field(default=0, sa_type=BigInteger)


class AuditCheckpoint(SQLModel, table=True):
    """A signed statement of the tree's size and root hash at a time."""

    __tablename__ = "audit_checkpoints"

    tree_size: int = Field(sa_type=BigInteger, primary_key=True)
    root_hash: bytes = Field(sa_type=LargeBinary)
    issued_at: datetime = Field(sa_type=UTCDateTime)
    jws: str = Field(sa_type=Text)


MODELS = (Agreement, AgreementSignature, Consent, AuditEntry, AuditQuarantine, AuditNode,
          AuditTree, AuditCheckpoint, ApiToken, Person, WebSession, *FIGURE_MODELS)
