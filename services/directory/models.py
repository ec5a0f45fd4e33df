"""Directory tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from shared.auth import ApiToken
from shared.db import JSONValue, UTCDateTime, utcnow


class Country(SQLModel, table=True):
    __tablename__ = "countries"

    code: str = Field(primary_key=True, max_length=2)
    name: str = Field(max_length=120)
    name_es: str = Field(max_length=120)
    crm_member: bool = True


class Institution(SQLModel, table=True):
    __tablename__ = "institutions"

    id: str = Field(primary_key=True, max_length=64)
    country: str = Field(foreign_key="countries.code", index=True, max_length=2)
    name: str = Field(max_length=300)
    acronym: str = Field(default="", max_length=40)
    type: str = Field(max_length=40)
    competences: list[str] = Field(default_factory=list, sa_type=JSONValue)
    gateway_country: str | None = Field(default=None, max_length=2)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InstitutionKey(SQLModel, table=True):
    __tablename__ = "institution_keys"

    kid: str = Field(primary_key=True, max_length=64)
    institution_id: str = Field(foreign_key="institutions.id", index=True, max_length=64)
    use: str = Field(max_length=8)
    jwk: dict[str, Any] = Field(sa_type=JSONValue)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revocation_reason: str | None = Field(default=None, max_length=200)


MODELS = (Country, Institution, InstitutionKey, ApiToken)
