"""A gateway acting toward a regional service for one of its country's people.

People sign in at their own country's gateway, not at the regional services; when a country
administrator keeps the directory from the gateway's console, the gateway calls with its own
token plus these headers naming the person. The service then applies exactly the named
role's scope for the gateway's country (only `country_admin`, never wider) and keeps the
person in its history. See docs/directory.md, "A gateway acting for a person".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header

from shared.kit.errors import Forbidden, Unprocessable
from shared.protocol.auth import CurrentPrincipal, Principal, Role

ROLE_HEADER = "Enlace-Acting-Role"
PERSON_HEADER = "Enlace-Acting-Person"
NAME_HEADER = "Enlace-Acting-Person-Name"
HEADERS = (ROLE_HEADER, PERSON_HEADER, NAME_HEADER)
# What a gateway may act as: a country administrator of its own country, nothing wider.
ACTING_ROLES = frozenset({Role.country_admin, Role.supervisor})
PERSON_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
PERSON_NAME = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,99}$")  # printable ASCII, as headers are


@dataclass(frozen=True)
class PersonActing(Principal):
    """A gateway's principal narrowed to the role of the person it acts for."""

    person_id: str
    person_name: str


def acting_headers(role: Role, person_id: str, person_name: str) -> dict[str, str]:
    """The headers a gateway sends to act for a person."""
    return {ROLE_HEADER: role.value, PERSON_HEADER: person_id, NAME_HEADER: person_name}


RoleHeader = Annotated[str | None, Header(
    alias=ROLE_HEADER, description="A gateway acting for one of its country's people: the "
    "role it acts as (only `country_admin`; with the gateway's own token)")]
PersonHeader = Annotated[str | None, Header(
    alias=PERSON_HEADER, description="Who the gateway acts for: their opaque id there")]
NameHeader = Annotated[str | None, Header(
    alias=NAME_HEADER, description="Who the gateway acts for: their username there "
    "(printable ASCII), kept in the history")]


def acting_principal(principal: CurrentPrincipal, role: RoleHeader = None,
                     person: PersonHeader = None, name: NameHeader = None) -> Principal:
    """The caller, or the person a gateway acts for when the acting headers are sent."""
    sent = {ROLE_HEADER: role, PERSON_HEADER: person, NAME_HEADER: name}
    if not any(sent.values()):
        return principal
    if principal.role != Role.gateway:
        raise Forbidden("Only a gateway's token acts for a person.",
                        code="acting_needs_gateway")
    if sent[ROLE_HEADER] not in ACTING_ROLES:
        raise Forbidden("A gateway acts only as a country administrator of its own country.",
                        code="acting_role_not_allowed", field=ROLE_HEADER)
    for header, pattern in ((PERSON_HEADER, PERSON_ID), (NAME_HEADER, PERSON_NAME)):
        if not pattern.fullmatch(sent[header] or ""):
            raise Unprocessable(f"Send {header}: who the gateway acts for.",
                                code="invalid_acting_person", field=header)
    return PersonActing(principal.institution_id, principal.country, Role(str(role)),
                        str(person), str(name))


Caller = Annotated[Principal, Depends(acting_principal)]


def person_of(principal: Principal) -> tuple[str | None, str | None]:
    """(id, name) of the person a gateway acted for, if any: what a history records."""
    if isinstance(principal, PersonActing):
        return principal.person_id, principal.person_name
    return None, None
