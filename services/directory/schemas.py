"""Directory request and response bodies, and the fixed vocabularies (docs/directory.md)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.directory.models import InstitutionKeyBase
from shared.kit.pagination import Page


class InstitutionType(StrEnum):
    child_protection_authority = "child-protection-authority"
    migration_authority = "migration-authority"
    foreign_ministry = "foreign-ministry"
    consulate = "consulate"
    shelter = "shelter"
    prosecutor = "prosecutor"
    civil_society = "civil-society"
    international_organisation = "international-organisation"


class Competence(StrEnum):
    """What an institution does for a child; also the topics of focal points."""

    reception = "reception"
    psychosocial_care = "psychosocial-care"
    legal_representation = "legal-representation"
    best_interests_determination = "best-interests-determination"
    family_tracing = "family-tracing"
    asylum = "asylum"
    trafficking_victims = "trafficking-victims"
    missing_child_alerts = "missing-child-alerts"
    repatriation = "repatriation"
    reintegration = "reintegration"


class ChannelKind(StrEnum):
    phone = "phone"
    whatsapp = "whatsapp"
    email = "email"
    website = "website"
    fax = "fax"
    address = "address"


class FocalPointKind(StrEnum):
    person = "person"
    desk = "desk"


class RevocationReason(StrEnum):
    key_compromise = "key-compromise"
    superseded = "superseded"
    cessation_of_operation = "cessation-of-operation"
    other = "other"


Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
AreaId = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}(-[A-Za-z0-9]{1,20}){1,3}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
# One string schema, not `Language | Literal[""]`: a client generated from the OpenAPI reads
# a union of a string and a constant as the constant alone.
LanguageOrEmpty = Annotated[str, StringConstraints(pattern=r"^([a-z]{2,3})?$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactChannel(Strict):
    kind: ChannelKind
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    note: Text200 = ""


# What an administrator writes: the body of a create, a line of an import, of an export.


class AreaData(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "MX-CHP-TAPACHULA", "country": "MX", "name": "Tapachula", "kind": "municipality",
        "parent_id": "MX-CHP"}]})

    id: AreaId = Field(description="ISO 3166-2 code (MX-CHP), or below it a code of our own "
                                   "(MX-CHP-TAPACHULA)")
    country: CountryCode
    name: Name
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z -]{1,39}$")] = Field(
        description="state, department, municipality, county ...")
    parent_id: AreaId | None = None
    active: bool = True


class InstitutionData(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "hn-consulado-tapachula", "country": "HN",
        "name": "Consulado de Honduras en Tapachula", "name_language": "es",
        "translations": {"en": "Consulate of Honduras in Tapachula"},
        "type": "consulate", "competences": ["reception", "repatriation"],
        "areas": ["MX-CHP"], "languages": ["es"],
        "channels": [{"kind": "phone", "value": "+52 962 555 0100", "note": "guardia 24 h"},
                     {"kind": "email", "value": "proteccion.tapachula@example.org"}],
        "hours": "Mon-Fri 08:00-16:00 CST", "gateway_country": "HN"}]})

    id: Slug
    country: CountryCode
    name: Name = Field(description="In the institution's own language")
    name_language: LanguageOrEmpty = ""
    translations: dict[Language, Name] = Field(default_factory=dict, max_length=10)
    acronym: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    type: InstitutionType
    competences: list[Competence] = Field(default_factory=list, max_length=20)
    areas: list[AreaId] = Field(default_factory=list, max_length=200,
                                description="Areas covered (a consulate: its consular "
                                            "district); empty: the whole country")
    languages: list[Language] = Field(default_factory=list, max_length=20)
    channels: list[ContactChannel] = Field(default_factory=list, max_length=20)
    hours: Text200 = Field("", description="Opening hours, e.g. 'Mon-Fri 08:00-16:00 CST'")
    open_24_7: bool = False
    parent_id: Slug | None = None
    gateway_country: CountryCode | None = Field(
        None, description="The country whose exchange gateway serves this institution")
    active: bool = True


class FocalPointData(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "hn-senaf-alert-desk", "institution_id": "hn-senaf", "kind": "desk",
        "name": "Mesa nacional de alertas", "topics": ["missing-child-alerts"],
        "languages": ["es", "en"],
        "channels": [{"kind": "phone", "value": "+504 2200 0100"},
                     {"kind": "email", "value": "alertas@example.org"}],
        "availability": "24/7", "available_24_7": True}]})

    id: Slug
    institution_id: Slug
    kind: FocalPointKind
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    title: Text200 = ""
    topics: list[Competence] = Field(min_length=1, max_length=20)
    areas: list[AreaId] = Field(default_factory=list, max_length=200,
                                description="Empty: the areas of its institution")
    languages: list[Language] = Field(default_factory=list, max_length=20)
    channels: list[ContactChannel] = Field(min_length=1, max_length=20)
    availability: Text200 = ""
    available_24_7: bool = False
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    active: bool = True

    @model_validator(mode="after")
    def _validity(self) -> FocalPointData:
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must come after valid_from")
        return self


class Patch(BaseModel):
    """An update: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")


class AreaUpdate(Patch):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "Tapachula de Córdova y Ordóñez"}]})

    name: Name | None = None
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z -]{1,39}$")] | None = None
    parent_id: AreaId | None = None
    active: bool | None = None


class InstitutionUpdate(Patch):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "hours": "Mon-Sun 07:00-22:00 CST",
        "channels": [{"kind": "phone", "value": "+52 962 555 0100", "note": "guardia 24 h"}]}]})

    name: Name | None = None
    name_language: LanguageOrEmpty | None = None
    translations: dict[Language, Name] | None = None
    acronym: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    type: InstitutionType | None = None
    competences: list[Competence] | None = None
    areas: list[AreaId] | None = None
    languages: list[Language] | None = None
    channels: list[ContactChannel] | None = None
    hours: Text200 | None = None
    open_24_7: bool | None = None
    parent_id: Slug | None = None
    gateway_country: CountryCode | None = None
    active: bool | None = None


class FocalPointUpdate(Patch):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "title": "Coordinación de recepción", "available_24_7": False,
        "availability": "Mon-Fri 08:00-17:00 CST"}]})

    kind: FocalPointKind | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=200)] | None = None
    title: Text200 | None = None
    topics: list[Competence] | None = None
    areas: list[AreaId] | None = None
    languages: list[Language] | None = None
    channels: list[ContactChannel] | None = None
    availability: Text200 | None = None
    available_24_7: bool | None = None
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    active: bool | None = None


# What everybody reads.


class CountryData(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "code": "GT", "name": "Guatemala", "name_es": "Guatemala", "crm_member": True}]})

    code: CountryCode = Field(description="ISO 3166-1 alpha-2")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    name_es: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=120)]
    crm_member: bool = Field(True, description="False: an observer country")


class CountryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_es: str
    crm_member: bool


class AreaPublic(AreaData):
    # The written data's example is no example of what is read back.
    model_config = ConfigDict(from_attributes=True, json_schema_extra=None)

    updated_at: datetime


class InstitutionPublic(InstitutionData):
    # The written data's example is no example of what is read back.
    model_config = ConfigDict(from_attributes=True, json_schema_extra=None)

    updated_at: datetime


class FocalPointPublic(FocalPointData):
    # The written data's example is no example of what is read back.
    model_config = ConfigDict(from_attributes=True, json_schema_extra=None)

    country: str
    updated_at: datetime


class KeyPublic(InstitutionKeyBase):
    pass


class InstitutionPage(Page[InstitutionPublic]):
    """Institutions in a stable order (country, name, id)."""

    total: int = Field(description="How many match, on every page")


class FocalPointPage(Page[FocalPointPublic]):
    """Focal points in a stable order (country, name, id)."""

    total: int = Field(description="How many match, on every page")


class CountryPage(Page[CountryPublic]):
    """Countries by code."""


class AreaPage(Page[AreaPublic]):
    """Areas by id."""


class KeyPage(Page[KeyPublic]):
    """An institution's keys, oldest first."""


class InstitutionBrief(BaseModel):
    """What a caller needs about the institution of a focal point."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    country: str
    name: str
    acronym: str
    type: str
    channels: list[ContactChannel]
    hours: str
    open_24_7: bool


class LookupResult(BaseModel):
    rank: int
    coverage: Literal["area", "national"]
    covered_area: str | None = Field(description="The area (the one asked for or one that "
                                                 "contains it) this focal point covers")
    focal_point: FocalPointPublic
    institution: InstitutionBrief


class LookupAnswer(BaseModel):
    country: str
    topic: Competence
    area: AreaPublic | None
    area_matched: bool | None = Field(description="Whether any focal point covers the area; "
                                                  "null when no area was asked for")
    message: str
    results: list[LookupResult]


class ChangePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int = Field(description="Its place in the directory's history of changes")
    version: int
    entity: str
    entity_id: str
    action: str
    actor_institution: str
    actor_role: str
    actor_person_id: str | None = Field(None, description="The person a gateway acted for "
                                        "(its id at that gateway), if any")
    actor_person_name: str | None = Field(None, description="Their username at that gateway")
    at: datetime
    changes: dict[str, Any] = Field(description="field: [before, after]")


class History(Page[ChangePublic]):
    """Changes, oldest first."""


class PublicKeyIn(BaseModel):
    """A public JWK: Ed25519 for signing or X25519 for encryption. The key id is its RFC 7638
    thumbprint, computed by the directory. Checked in services/directory/keys.py, each
    refusal with its own code."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "kty": "OKP", "crv": "Ed25519", "x": "KZoFAVEsqQ82Exo61MQIxMLaAUTBtYGnwxTNpCH0VDE",
        "use": "sig", "valid_to": "2027-12-31T23:59:59Z"}]})

    kty: str = Field(max_length=10)
    crv: str = Field(max_length=20)
    x: str = Field(max_length=100)
    use: str | None = Field(None, max_length=10)
    valid_to: AwareDatetime | None = None


class Revocation(BaseModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"reason": "superseded"}]})

    reason: RevocationReason


class JWKS(BaseModel):
    keys: list[dict[str, Any]]


class ImportIssue(BaseModel):
    line: int = Field(description="CSV: the line of the file (the header is line 1); JSON: "
                                  "the position in the array, from 1")
    field: str | None
    code: str
    message: str


class ImportResult(BaseModel):
    version: int
    created: int
    updated: int
    unchanged: int


# Joining: a gateway's credentials, and what the registry asks about a token.


class GatewayCredentials(BaseModel):
    """Shown once: only the token's hash is kept. Issuing again revokes the previous token."""

    institution_id: str
    country: str
    gateway_country: str
    role: Literal["gateway"] = "gateway"
    token: str = Field(description="Bearer token for the directory and the registry")
    token_id: str = Field(description="Names this token in the institution's history")
    issued_at: datetime
    nats_credentials: str | None = Field(
        None, description="The text of the .creds file of the country gateway's NATS "
                          "identity (user JWT and seed)")


class CredentialsRevoked(BaseModel):
    institution_id: str
    revoked_token_ids: list[str]


class IntrospectionRequest(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"token": "the-bearer-token-a-gateway-presented"}]})

    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Introspection(BaseModel):
    """RFC 7662 style: only `active` when the token is not an active gateway token."""

    active: bool
    institution_id: str | None = None
    country: str | None = None
    role: str | None = None
    token_type: Literal["Bearer"] | None = None
