"""Directory rules: who may read and change what."""

from __future__ import annotations

from typing import Any

from joserfc.jwk import OKPKey
from sqlmodel import Session

from services.directory.models import Country, Institution, InstitutionKey
from services.directory.repository import DirectoryRepository
from shared.auth import Principal, Role, require_role
from shared.envelope import SIGNING_ALGORITHM
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable


class DirectoryService:
    def __init__(self, session: Session) -> None:
        self.repo = DirectoryRepository(session)

    def institution(self, institution_id: str) -> Institution:
        institution = self.repo.institution(institution_id)
        if institution is None:
            raise NotFound("No institution has this id.", code="institution_not_found")
        return institution

    def institutions(self, country: str | None) -> list[Institution]:
        if country and self.repo.country(country.upper()) is None:
            raise NotFound("No country has this code.", code="country_not_found")
        return self.repo.institutions(country.upper() if country else None)

    def jwks(self, institution_id: str) -> list[dict[str, Any]]:
        self.institution(institution_id)
        return [key.jwk for key in self.repo.active_keys(institution_id)]

    def register_signing_key(
        self, principal: Principal, institution_id: str, jwk: dict[str, Any]
    ) -> dict[str, Any]:
        """A gateway publishes the public half of a key it holds for a hosted institution."""
        require_role(principal, Role.gateway)
        if principal.institution_id != institution_id:
            raise Forbidden("A gateway registers keys only for its own institutions.",
                            code="not_your_institution")
        self.institution(institution_id)
        try:
            key = OKPKey.import_key({"kty": jwk["kty"], "crv": jwk["crv"], "x": jwk["x"]})
        except Exception as exc:
            raise Unprocessable("The key is not a valid Ed25519 public key.",
                                code="invalid_key") from exc
        kid = str(key.thumbprint())
        public = {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": SIGNING_ALGORITHM}
        existing = self.repo.key(kid)
        if existing is not None:
            if existing.institution_id != institution_id:
                raise Conflict("This key belongs to another institution.", code="key_taken")
            return existing.jwk
        self.repo.add(InstitutionKey(kid=kid, institution_id=institution_id, use="sig", jwk=public))
        return public

    # Loading reference data (demo seed, imports) --------------------------------------

    def upsert_country(self, code: str, name: str, name_es: str, crm_member: bool) -> None:
        country = self.repo.country(code) or Country(code=code, name=name, name_es=name_es)
        country.name, country.name_es, country.crm_member = name, name_es, crm_member
        self.repo.add(country)

    def upsert_institution(self, **fields: Any) -> None:
        institution = self.repo.institution(fields["id"]) or Institution(**fields)
        for name, value in fields.items():
            setattr(institution, name, value)
        self.repo.add(institution)
