"""Demo data of the registry: one agreement between SNDIF (Mexico) and SENAF (Honduras)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.directory.seed import SECRETARIAT, country_of
from services.registry.schemas import AgreementCreate, AgreementStatus
from services.registry.service import RegistryService
from shared.auth import Role, issue_token
from shared.db import make_engine, migrate, session_scope

DEMO_AGREEMENT: dict[str, Any] = {
    "id": "agr-mx-sndif-hn-senaf-2026",
    "title": "Convenio de intercambio de información SNDIF (México) y SENAF (Honduras)",
    "parties": ["mx-sndif", "hn-senaf"],
    "message_types": ["referral", "receipt"],
    "purposes": ["reception-and-care", "family-tracing", "follow-up"],
    "data_categories": [
        "identity", "contact", "location", "family", "health", "protection", "child-views",
        "documents",
    ],
    "valid_from": "2026-01-01T00:00:00Z",
    "valid_to": "2029-12-31T23:59:59Z",
}


def provision_registry(
    url: str, gateway_tokens: dict[str, str], admin_token: str, auditor_token: str
) -> None:
    migrate("services.registry", url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        registry = RegistryService(session)
        if registry.repo.agreement(DEMO_AGREEMENT["id"]) is None:
            data = {**DEMO_AGREEMENT}
            for field in ("valid_from", "valid_to"):
                data[field] = datetime.fromisoformat(data[field])
            registry.create_agreement(None, AgreementCreate(**data), AgreementStatus.active)
        for institution_id, token in gateway_tokens.items():
            issue_token(session, institution_id, country_of(institution_id), Role.gateway, token,
                        label="gateway")
        issue_token(session, SECRETARIAT, "", Role.regional_admin, admin_token,
                    label="demo regional administrator")
        issue_token(session, SECRETARIAT, "", Role.auditor, auditor_token,
                    label="demo auditor")
    engine.dispose()
