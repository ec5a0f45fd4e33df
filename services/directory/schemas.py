"""Directory request and response bodies."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class InstitutionType(StrEnum):
    child_protection_authority = "child-protection-authority"
    migration_authority = "migration-authority"
    foreign_ministry = "foreign-ministry"
    consulate = "consulate"
    shelter = "shelter"
    prosecutor = "prosecutor"
    civil_society = "civil-society"
    international_organisation = "international-organisation"


class CountryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_es: str
    crm_member: bool


class InstitutionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    country: str
    name: str
    acronym: str
    type: str
    competences: list[str]
    gateway_country: str | None
    active: bool


class InstitutionPage(BaseModel):
    items: list[InstitutionPublic]


class PublicKeyIn(BaseModel):
    """A public JWK; the key id is its RFC 7638 thumbprint, computed by the directory."""

    model_config = ConfigDict(extra="allow")

    kty: str = Field(pattern="^OKP$")
    crv: str = Field(pattern="^Ed25519$")
    x: str = Field(min_length=40, max_length=50)


class JWKS(BaseModel):
    keys: list[dict[str, Any]]
