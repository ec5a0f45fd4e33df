"""The registry's console: the secretariat's people (regional administrators, auditors) sign
in here. Their pages (agreements, the audit log) build on this kit; see docs/console.md."""

from __future__ import annotations

from typing import Any

from joserfc.jwk import OKPKey
from sqlmodel import Session

from services.registry.audit_log import AuditLog
from services.registry.repository import RegistryRepository
from shared.web.kit import PREFIX, WebKit
from shared.web.people import Person


def registry_kit(signing_key: OKPKey) -> WebKit:
    def audit(session: Session, event: str, person: Person, detail: dict[str, Any]) -> None:
        # The one place a person's own events (sign-in ...) reach the registry's audit log.
        AuditLog(RegistryRepository(session), signing_key).record(
            event, person.institution_id,
            detail={"person_id": person.id, "role": person.role, **detail})

    return WebKit(title="Registry", audit=audit, home=f"{PREFIX}/account")
