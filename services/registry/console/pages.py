"""The registry's console: the secretariat's people (regional administrators, auditors) sign
in here. Their pages (audit log, checkpoint, agreements, directory) are in secretariat_pages.py;
see docs/console.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from joserfc.jwk import OKPKey
from sqlmodel import Session

from services.registry.audit_log import AuditLog
from services.registry.console import figure_pages
from services.registry.console.secretariat_pages import SECRETARIAT
from services.registry.repository import RegistryRepository
from shared.web.i18n import N_
from shared.web.kit import PREFIX, NavItem, WebKit
from shared.web.people import Person


def registry_kit(signing_key: OKPKey) -> WebKit:
    def audit(session: Session, event: str, person: Person, detail: dict[str, Any]) -> None:
        # The one place a person's own events (sign-in ...) reach the registry's audit log.
        AuditLog(RegistryRepository(session), signing_key).record(
            event, person.institution_id,
            detail={"person_id": person.id, "role": person.role, **detail})

    return WebKit(
        title="Registry",
        template_dirs=[Path(__file__).parent / "templates"],
        nav=[
            NavItem(f"{PREFIX}/audit", N_("Audit log"), SECRETARIAT),
            NavItem(f"{PREFIX}/audit/checkpoint", N_("Checkpoint"), SECRETARIAT),
            NavItem(f"{PREFIX}/audit/quarantine", N_("Audit quarantine"), SECRETARIAT),
            NavItem(f"{PREFIX}/agreements", N_("Agreements"), SECRETARIAT),
            NavItem(f"{PREFIX}/directory", N_("Directory"), SECRETARIAT),
            figure_pages.NAV,
        ],
        audit=audit,
        home=f"{PREFIX}/audit",
    )
