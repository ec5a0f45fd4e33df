"""Directory tables.

Lists (competences, areas, languages, channels ...) are stored as JSON on their row, which
is what the API and the snapshot show. What search filters on is copied, at write time,
into `search_tags` (one row per value) and into folded text columns, so that one indexed
query answers on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlmodel import Field, SQLModel

from shared.kit.db import JSONValue, UTCDateTime, utcnow
from shared.protocol.auth import ApiToken


class DirectoryState(SQLModel, table=True):
    """One row: the directory's version, raised once by every transaction that changes it."""

    __tablename__ = "directory_state"

    id: int = Field(default=1, primary_key=True)
    version: int = 0


class Country(SQLModel, table=True):
    __tablename__ = "countries"

    code: str = Field(primary_key=True, max_length=2)
    name: str = Field(max_length=120)
    name_es: str = Field(max_length=120)
    crm_member: bool = True


class Area(SQLModel, table=True):
    """An administrative area (state, department, municipality, county ...)."""

    __tablename__ = "areas"

    id: str = Field(primary_key=True, max_length=64)
    country: str = Field(foreign_key="countries.code", index=True, max_length=2)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=40)
    parent_id: str | None = Field(default=None, foreign_key="areas.id", max_length=64)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Institution(SQLModel, table=True):
    __tablename__ = "institutions"

    id: str = Field(primary_key=True, max_length=64)
    country: str = Field(foreign_key="countries.code", index=True, max_length=2)
    name: str = Field(max_length=300)
    name_language: str = Field(default="", max_length=3)
    translations: dict[str, str] = Field(default_factory=dict, sa_type=JSONValue)
    acronym: str = Field(default="", max_length=40)
    type: str = Field(max_length=40)
    competences: list[str] = Field(default_factory=list, sa_type=JSONValue)
    areas: list[str] = Field(default_factory=list, sa_type=JSONValue)
    languages: list[str] = Field(default_factory=list, sa_type=JSONValue)
    channels: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONValue)
    hours: str = Field(default="", max_length=200)
    open_24_7: bool = False
    parent_id: str | None = Field(default=None, foreign_key="institutions.id", max_length=64)
    gateway_country: str | None = Field(default=None, max_length=2)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Derived at write time, for search.
    name_key: str = Field(default="", max_length=300)
    search_text: str = Field(default="", sa_type=Text)


class FocalPoint(SQLModel, table=True):
    """A named person or desk of an institution, for some topics."""

    __tablename__ = "focal_points"

    id: str = Field(primary_key=True, max_length=64)
    institution_id: str = Field(foreign_key="institutions.id", index=True, max_length=64)
    kind: str = Field(max_length=10)
    name: str = Field(max_length=200)
    title: str = Field(default="", max_length=200)
    topics: list[str] = Field(default_factory=list, sa_type=JSONValue)
    areas: list[str] = Field(default_factory=list, sa_type=JSONValue)
    languages: list[str] = Field(default_factory=list, sa_type=JSONValue)
    channels: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONValue)
    availability: str = Field(default="", max_length=200)
    available_24_7: bool = False
    valid_from: datetime | None = Field(default=None, sa_type=UTCDateTime)
    valid_to: datetime | None = Field(default=None, sa_type=UTCDateTime)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Derived at write time, for search: the institution's country, and text.
    country: str = Field(default="", index=True, max_length=2)
    name_key: str = Field(default="", max_length=200)
    search_text: str = Field(default="", sa_type=Text)


class SearchTag(SQLModel, table=True):
    """One filterable value of an institution or focal point: a competence or topic, a
    language, an area covered (for what covers a whole country: the country's code)."""

    __tablename__ = "search_tags"
    __table_args__ = (Index("ix_search_tags_value", "owner", "kind", "value", "owner_id"),)

    owner: str = Field(primary_key=True, max_length=16)
    owner_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=16)
    value: str = Field(primary_key=True, max_length=64)


class InstitutionKeyBase(SQLModel):
    """A public key of an institution, as stored and as shown (KeyPublic). Column sizes are
    in `sa_type`, so that what is shown claims no input limits."""

    kid: str = Field(primary_key=True, sa_type=String(64))
    institution_id: str = Field(foreign_key="institutions.id", index=True, sa_type=String(64))
    use: str = Field(sa_type=String(8))
    jwk: dict[str, Any] = Field(sa_type=JSONValue)
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_to: datetime | None = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(sa_type=UTCDateTime)
    revocation_reason: str | None = Field(sa_type=String(200))


class InstitutionKey(InstitutionKeyBase, table=True):
    __tablename__ = "institution_keys"

    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # What a new key may leave out (the shown schema keeps every member required).
    valid_from: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    valid_to: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revocation_reason: str | None = Field(default=None, sa_type=String(200))


class Change(SQLModel, table=True):
    """One change to one entry: who made it, when, at which directory version, what changed."""

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_entry", "entity", "entity_id"),)

    seq: int | None = Field(default=None, primary_key=True)
    version: int = Field(index=True)
    entity: str = Field(max_length=20)
    entity_id: str = Field(max_length=64)
    action: str = Field(max_length=20)
    actor_institution: str = Field(max_length=64)
    actor_role: str = Field(max_length=32)
    # The person a gateway acted for (shared/protocol/acting.py): their id and username there.
    actor_person_id: str | None = Field(default=None, max_length=64)
    actor_person_name: str | None = Field(default=None, max_length=100)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONValue)


MODELS = (DirectoryState, Country, Area, Institution, FocalPoint, SearchTag, InstitutionKey,
          Change, ApiToken)
