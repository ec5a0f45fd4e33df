"""Demo data of a gateway: tokens for the people of the institutions it hosts."""

from __future__ import annotations

from shared.kit.db import make_engine, migrate, session_scope
from shared.protocol.auth import Role, issue_token

GATEWAY_ROLES = (Role.caseworker, Role.country_admin, Role.auditor, Role.consular_officer,
                 Role.supervisor)


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
