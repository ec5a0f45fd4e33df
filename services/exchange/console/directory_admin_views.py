"""The forms of a country administrator's directory pages: which fields each kind of entry
shows, how an entry becomes form values and the form the directory's request body, and the
directory's problems as messages next to the fields. No rules here: the directory's schemas
and permissions decide, and the pages show what it answers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from services.exchange.console.views import ERROR_MESSAGES, FALLBACK_ERROR
from shared.web.i18n import N_, VOCABULARY

EntryKind = Literal["institutions", "focal-points", "areas"]
KINDS: tuple[EntryKind, ...] = ("institutions", "focal-points", "areas")
CREATABLE: tuple[EntryKind, ...] = ("focal-points", "areas")
KIND_NAMES = {"institutions": N_("Institution"), "focal-points": N_("Focal point"),
              "areas": N_("Area")}
CHANNEL_ROWS_EXTRA = 1  # empty rows offered below the channels an entry has

# The vocabularies (shared.web.i18n) the forms offer.
VOCABULARIES = ("topic", "institution_type", "focal_point_kind", "channel")


@dataclass(frozen=True)
class Spec:
    """One field of a form: `widget` is text | select | checkboxes | areas | area | words |
    channels | bool; `options` names a vocabulary of VOCABULARIES for select and checkboxes."""

    name: str
    label: str
    widget: str = "text"
    options: str = ""
    required: bool = False
    hint: str = ""
    on_create_only: bool = False


FORMS: dict[EntryKind, list[Spec]] = {
    "focal-points": [
        Spec("id", N_("Identifier"), required=True, on_create_only=True,
             hint=N_("Lowercase letters, digits and hyphens, e.g. mx-sndif-chiapas. It never "
                     "changes.")),
        Spec("institution_id", N_("Institution"), "institution", required=True,
             on_create_only=True),
        Spec("kind", N_("Who answers"), "select", "focal_point_kind", required=True),
        Spec("name", N_("Name"), required=True, hint=N_("A person's or a desk's name.")),
        Spec("title", N_("Title or post")),
        Spec("topics", N_("Topics"), "checkboxes", "topic", required=True),
        Spec("areas", N_("Areas covered"), "areas",
             hint=N_("None chosen: the areas of its institution.")),
        Spec("languages", N_("Languages"), "words",
             hint=N_("Two- or three-letter codes separated by commas, e.g. es, en, mam.")),
        Spec("channels", N_("Contact channels"), "channels", required=True),
        Spec("availability", N_("Hours"),
             hint=N_("When they answer, e.g. Mon-Fri 08:00-16:00 CST.")),
        Spec("available_24_7", N_("Answers 24 hours a day, 7 days a week"), "bool"),
    ],
    "institutions": [
        Spec("name", N_("Name"), required=True, hint=N_("In the institution's own language.")),
        Spec("acronym", N_("Acronym")),
        Spec("type", N_("Type"), "select", "institution_type", required=True),
        Spec("competences", N_("Competences"), "checkboxes", "topic"),
        Spec("areas", N_("Areas covered"), "areas",
             hint=N_("None chosen: the whole country.")),
        Spec("languages", N_("Languages"), "words",
             hint=N_("Two- or three-letter codes separated by commas, e.g. es, en, mam.")),
        Spec("channels", N_("Contact channels"), "channels"),
        Spec("hours", N_("Opening hours"), hint=N_("e.g. Mon-Fri 08:00-16:00 CST.")),
        Spec("open_24_7", N_("Open 24 hours a day, 7 days a week"), "bool"),
    ],
    "areas": [
        Spec("id", N_("Code"), required=True, on_create_only=True,
             hint=N_("ISO 3166-2 code (MX-CHP), or below it a code of your own "
                     "(MX-CHP-TAPACHULA). It never changes.")),
        Spec("name", N_("Name"), required=True),
        Spec("kind", N_("Kind of area"), required=True,
             hint=N_("Lowercase words, e.g. state, municipality.")),
        Spec("parent_id", N_("Inside"), "area", hint=N_("None: directly in the country.")),
    ],
}

# What a history line names that no form of its kind shows.
OTHER_LABELS = {
    "id": N_("Identifier"), "institution_id": N_("Institution"),
    "active": N_("Active"), "country": N_("Country"), "parent_id": N_("Part of"),
    "translations": N_("Translations"), "name_language": N_("Language of the name"),
    "gateway_country": N_("Gateway country"), "valid_from": N_("Valid from"),
    "valid_to": N_("Valid to"), "gateway_token": N_("Gateway token"),
    "nats_credentials": N_("NATS credentials"), "revoked_at": N_("Revoked"),
    "revocation_reason": N_("Reason"),
}

# The directory's own refusals (services/directory/service.py), by code.
PROBLEM_MESSAGES = {
    "unknown_area": N_("This area is not in the directory."),
    "unknown_institution": N_("This institution is not in the directory."),
    "invalid_parent": N_("The area must be of the same country and not inside this area."),
    "parent_is_itself": N_("An entry cannot contain itself."),
    "not_your_country": N_("A country administrator changes only their own country's "
                           "entries."),
    "role_not_allowed": N_("Your role does not allow this."),
    "focal_point_exists": N_("A focal point with this identifier exists already."),
    "area_exists": N_("An area with this code exists already."),
    "focal_point_not_found": N_("No focal point has this identifier."),
    "institution_not_found": N_("No institution has this identifier."),
    "area_not_found": N_("No area has this code."),
    "regional_service_unavailable": N_("The directory cannot be reached. Try again later."),
}
EXISTS_FIELD = {"focal_point_exists": "id", "area_exists": "id"}
PATTERN_MESSAGES = {
    "id": N_("Use lowercase letters, digits and hyphens, starting with a letter or a digit."),
    "languages": N_("Write languages as two- or three-letter codes, e.g. es, en."),
    "kind": N_("Use lowercase words, e.g. state, municipality."),
}
AREA_ID_MESSAGE = N_("Write the code as the country's code, a hyphen and the area's own, "
                     "e.g. MX-CHP.")
SOME_FIELDS = N_("Some fields need your attention.")


def field_label(kind: EntryKind, name: str) -> str:
    """The message id naming a field in a history line of this kind of entry."""
    return next((s.label for s in FORMS[kind] if s.name == name),
                OTHER_LABELS.get(name, name))


def form_values(kind: EntryKind, entry: dict[str, Any]) -> dict[str, Any]:
    """What the form shows for an entry (its values as the fields hold them)."""
    values: dict[str, Any] = {}
    for spec in FORMS[kind]:
        value = entry.get(spec.name)
        if spec.widget in ("checkboxes", "areas"):
            values[spec.name] = list(value or [])
        elif spec.widget == "words":
            values[spec.name] = ", ".join(value or [])
        elif spec.widget == "bool":
            values[spec.name] = bool(value)
        elif spec.widget == "channels":
            values[spec.name] = [dict(c) for c in value or []]
        else:
            values[spec.name] = "" if value is None else str(value)
    return values


def posted_values(kind: EntryKind, form: Any, creating: bool) -> dict[str, Any]:
    """The form as sent, as the fields hold it (to show it again with its errors)."""
    values: dict[str, Any] = {}
    for spec in fields(kind, creating):
        if spec.widget in ("checkboxes", "areas"):
            values[spec.name] = [str(v) for v in form.getlist(spec.name)]
        elif spec.widget == "bool":
            values[spec.name] = spec.name in form
        elif spec.widget == "channels":
            values[spec.name] = _channels(form)
        else:
            values[spec.name] = str(form.get(spec.name) or "")
    return values


def request_body(kind: EntryKind, values: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The directory's request body from the form's values (it validates them)."""
    body: dict[str, Any] = {}
    for spec in fields(kind, creating):
        value = values.get(spec.name)
        if spec.widget == "words":
            body[spec.name] = [w.lower() for w in re.split(r"[\s,;]+", str(value)) if w]
        elif spec.widget in ("select", "area", "institution"):
            body[spec.name] = str(value).strip() or None
        elif spec.widget == "channels":
            body[spec.name] = [c for c in value or [] if c["value"] or c["note"]]
        elif spec.widget == "text":
            body[spec.name] = str(value).strip()
        else:
            body[spec.name] = value
    if not creating:  # an update sends what may change; null would mean "unset"
        body = {k: v for k, v in body.items()
                if v is not None or k == "parent_id"}
    return body


def fields(kind: EntryKind, creating: bool) -> list[Spec]:
    return [s for s in FORMS[kind] if creating or not s.on_create_only]


def _channels(form: Any) -> list[dict[str, str]]:
    rows = []
    for n in range(int(str(form.get("channels.count") or 0))):
        row = {part: str(form.get(f"channels.{n}.{part}") or "").strip()
               for part in ("kind", "value", "note")}
        rows.append(row)
    return rows


def field_errors(kind: EntryKind, problem_extra: dict[str, Any], code: str
                 ) -> dict[str, str]:
    """The directory's problem as a message id per form field (by the field's top-level
    name: a channel's or an area's error is shown at the channels or the areas)."""
    names = {spec.name for spec in FORMS[kind]}
    errors: dict[str, str] = {}
    for error in problem_extra.get("errors", []):
        location = [str(p) for p in error.get("location", []) if p != "body"]
        name = location[0] if location else ""
        errors.setdefault(name if name in names else "", _message(kind, name, error))
    field = str(problem_extra.get("field") or EXISTS_FIELD.get(code, "")).split(".")[0]
    if field in names and code in PROBLEM_MESSAGES:
        errors.setdefault(field, PROBLEM_MESSAGES[code])
    return errors


def _message(entry_kind: EntryKind, name: str, error: dict[str, Any]) -> str:
    kind = str(error.get("kind", ""))
    if kind == "string_pattern_mismatch":
        if name in ("areas", "parent_id") or (name == "id" and entry_kind == "areas"):
            return AREA_ID_MESSAGE
        return PATTERN_MESSAGES.get(name, FALLBACK_ERROR)
    if kind == "too_short" and name == "channels":
        return N_("Give at least one way to reach them.")
    return ERROR_MESSAGES.get(kind, FALLBACK_ERROR)


def shown(value: Any, gettext: Any) -> str:
    """A value of a history line as text."""
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, bool):
        return str(gettext("yes") if value else gettext("no"))
    if isinstance(value, list):
        return "; ".join(shown(v, gettext) for v in value)
    if isinstance(value, dict):
        if "kind" in value and "value" in value:
            channel = VOCABULARY["channel"].get(value["kind"], value["kind"])
            note = f" ({value['note']})" if value.get("note") else ""
            return f"{gettext(channel)}: {value['value']}{note}"
        return ", ".join(f"{k}: {shown(v, gettext)}" for k, v in value.items())
    return str(value)
