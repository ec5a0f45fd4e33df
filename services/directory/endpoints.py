"""Directory HTTP API."""

from __future__ import annotations

from fastapi import APIRouter

from services.directory.schemas import (
    JWKS,
    CountryPublic,
    InstitutionPage,
    InstitutionPublic,
    PublicKeyIn,
)
from services.directory.service import DirectoryService
from shared.auth import CurrentPrincipal, SessionDep

router = APIRouter(prefix="/v1", tags=["directory"])


@router.get("/countries", response_model=list[CountryPublic])
def list_countries(session: SessionDep, _: CurrentPrincipal) -> list[CountryPublic]:
    """Countries known to the directory (CRM members and observers)."""
    return [CountryPublic.model_validate(c) for c in DirectoryService(session).repo.countries()]


@router.get("/institutions", response_model=InstitutionPage)
def list_institutions(
    session: SessionDep, _: CurrentPrincipal, country: str | None = None
) -> InstitutionPage:
    """Institutions, optionally of one country (ISO 3166-1 alpha-2)."""
    rows = DirectoryService(session).institutions(country)
    return InstitutionPage(items=[InstitutionPublic.model_validate(r) for r in rows])


@router.get("/institutions/{institution_id}", response_model=InstitutionPublic)
def get_institution(
    institution_id: str, session: SessionDep, _: CurrentPrincipal
) -> InstitutionPublic:
    """One institution."""
    return InstitutionPublic.model_validate(DirectoryService(session).institution(institution_id))


@router.get("/institutions/{institution_id}/jwks", response_model=JWKS)
def get_jwks(institution_id: str, session: SessionDep) -> JWKS:
    """The institution's current public signing keys (public: anyone may verify)."""
    return JWKS(keys=DirectoryService(session).jwks(institution_id))


@router.post("/institutions/{institution_id}/keys", status_code=201)
def register_key(
    institution_id: str, body: PublicKeyIn, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, object]:
    """A gateway registers the public half of a key it holds for one of its institutions."""
    return DirectoryService(session).register_signing_key(
        principal, institution_id, body.model_dump()
    )
