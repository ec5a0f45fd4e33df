"""Bring each service's database to its schema and load the demo data (idempotent)."""

from __future__ import annotations

from datetime import datetime

from services import demo_data
from services.directory.service import DirectoryService
from services.registry.schemas import AgreementCreate, AgreementStatus
from services.registry.service import RegistryService
from shared.auth import Role, issue_token
from shared.db import make_engine, migrate, session_scope

GATEWAY_ROLES = (Role.caseworker, Role.country_admin, Role.auditor)


def _country_of(institution_id: str) -> str:
    return next(i["country"] for i in demo_data.INSTITUTIONS if i["id"] == institution_id)


def provision_directory(url: str, gateway_tokens: dict[str, str], admin_token: str) -> None:
    migrate("services.directory", url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        directory = DirectoryService(session)
        for code, name, name_es, member in demo_data.COUNTRIES:
            directory.upsert_country(code, name, name_es, member)
        for institution in demo_data.INSTITUTIONS:
            directory.upsert_institution(**institution)
        for institution_id, token in gateway_tokens.items():
            issue_token(session, institution_id, _country_of(institution_id), Role.gateway, token,
                        label="gateway")
        issue_token(session, demo_data.SECRETARIAT, "", Role.regional_admin, admin_token,
                    label="demo regional administrator")
    engine.dispose()


def provision_registry(
    url: str, gateway_tokens: dict[str, str], admin_token: str, auditor_token: str
) -> None:
    migrate("services.registry", url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        registry = RegistryService(session)
        if registry.repo.agreement(demo_data.DEMO_AGREEMENT["id"]) is None:
            data = {**demo_data.DEMO_AGREEMENT}
            for field in ("valid_from", "valid_to"):
                data[field] = datetime.fromisoformat(data[field])
            registry.create_agreement(None, AgreementCreate(**data), AgreementStatus.active)
        for institution_id, token in gateway_tokens.items():
            issue_token(session, institution_id, _country_of(institution_id), Role.gateway, token,
                        label="gateway")
        issue_token(session, demo_data.SECRETARIAT, "", Role.regional_admin, admin_token,
                    label="demo regional administrator")
        issue_token(session, demo_data.SECRETARIAT, "", Role.auditor, auditor_token,
                    label="demo auditor")
    engine.dispose()


def provision_gateway(url: str, country: str, tokens: dict[str, dict[str, str]]) -> None:
    """`tokens`: for each hosted institution, a token per role (caseworker, ...)."""
    migrate("services.exchange", url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        for institution_id, by_role in tokens.items():
            for role, token in by_role.items():
                issue_token(session, institution_id, country, Role(role), token,
                            label=f"demo {role}")
    engine.dispose()
