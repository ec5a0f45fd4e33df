"""What the gateway's pages show, built from the service layer's answers (no rules here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from pydantic import ValidationError

from services.exchange.referrals.lifecycle import Action, Status, allowed, machine_status, side_of
from services.exchange.referrals.schemas import SECTION_CATEGORY, ReferralRecord
from shared.web.i18n import N_

CONSOLE_ACTIONS = (Action.accept, Action.reject, Action.start, Action.close, Action.withdraw,
                   Action.note)
# What this side does next, by state: these referrals are listed first, as "needs my action".
NEEDS_ACTION = (Status.delivered, Status.accepted, Status.in_progress)

ACTION_BUTTONS = {
    Action.accept: N_("Accept"), Action.reject: N_("Reject"), Action.start: N_("Start work"),
    Action.close: N_("Close"), Action.withdraw: N_("Withdraw"), Action.note: N_("Add a note"),
}
NEEDS_LABELS = {"reason": N_("Reason"), "outcome": N_("Outcome"), "note": N_("Note")}

FIELD_LABELS = {
    "given_names": N_("Given names"), "family_names": N_("Family names"),
    "other_names": N_("Other names"), "sex": N_("Sex"), "date_of_birth": N_("Date of birth"),
    "estimated_age": N_("Estimated age"), "age_is_estimated": N_("Age is estimated"),
    "place_of_birth": N_("Place of birth"), "nationalities": N_("Nationalities"),
    "habitual_residence": N_("Habitual residence"), "languages": N_("Languages"),
    "ethnic_or_indigenous_people": N_("Ethnic or indigenous people"),
    "identity_documents": N_("Identity documents"), "type": N_("Type"), "number": N_("Number"),
    "issuer": N_("Issuer"), "status": N_("Status"), "with_whom": N_("With whom"),
    "since": N_("Since"), "at": N_("When"), "country": N_("Country"),
    "admin_area": N_("Area"), "locality": N_("Locality"), "by_institution": N_("By"),
    "relatives": N_("Relatives"), "relationship": N_("Relationship"), "name": N_("Name"),
    "whereabouts": N_("Whereabouts"), "phone": N_("Phone"), "traced": N_("Traced"),
    "caregiver_before_migration": N_("Caregiver before migration"),
    "wants_reunification_with": N_("Wants reunification with"), "urgency": N_("Urgency"),
    "asylum_intent": N_("Intends to seek asylum"),
    "trafficking_indicators": N_("Trafficking indicators"), "violence": N_("Violence"),
    "other_risks": N_("Other risks"), "notes": N_("Notes"), "disability": N_("Disability"),
    "conditions": N_("Conditions"), "pregnancy": N_("Pregnancy"), "heard": N_("Heard"),
    "views": N_("Views"), "on": N_("On"), "planned_arrival": N_("Planned arrival"),
    "transport": N_("Transport"), "reception_place": N_("Reception place"),
    "received_by": N_("Received by"), "sha256": N_("SHA-256"),
    "description": N_("Description"),
}
BEST_INTERESTS_STATUS = {"none": N_("not assessed yet"),
                         "bia-done": N_("best interests assessment done"),
                         "bid-done": N_("best interests determination done")}
VALUE_VOCABULARIES = {"sex": "sex", "status": "accompaniment", "urgency": "urgency"}

ERROR_MESSAGES = {
    "missing": N_("Fill in this field."),
    "string_too_short": N_("Fill in this field."),
    "too_short": N_("Choose at least one."),
    "string_too_long": N_("This is too long."),
    "too_long": N_("Too many values."),
    "string_pattern_mismatch": N_("Use only letters, digits and - _ . / and start with a "
                                  "letter or a digit."),
    "int_parsing": N_("Enter a whole number."),
    "greater_than_equal": N_("This number is too small."),
    "less_than_equal": N_("This number is too large."),
    "date_parsing": N_("Enter a date."),
    "date_from_datetime_parsing": N_("Enter a date."),
    "enum": N_("Choose one of the options."),
    "literal_error": N_("Choose one of the options."),
    "datetime_parsing": N_("Enter a date and time."),
    "datetime_from_date_parsing": N_("Enter a date and time."),
}
# Where the field says better what is wanted: (field, kind of error).
FIELD_ERROR_MESSAGES = {
    ("sha256", "string_pattern_mismatch"): N_("Write the file's SHA-256: 64 characters, "
                                              "digits and the letters a to f."),
    ("country", "string_pattern_mismatch"): N_("Write a two-letter country code, e.g. MX."),
}
VALUE_ERRORS = {
    "give date_of_birth or estimated_age": N_("Give the date of birth or an estimated age."),
    "date_of_birth is in the future": N_("The date of birth is in the future."),
    "nationalities are ISO 3166-1 alpha-2 codes": N_("Write nationalities as two-letter "
                                                      "country codes, e.g. HN, GT."),
    "a legal basis other than consent is given by an authority": N_(
        "A legal basis other than consent is given by an authority."),
    "give child_views when the child was heard": N_("Say what the child's views were."),
    "give not_heard_reason when the child was not heard": N_(
        "Say why the child was not heard."),
    "not_heard_reason is only for a child who was not heard": N_(
        "A reason for not hearing the child is only for a child who was not heard."),
}
PROBLEM_MESSAGES = {
    "policy_denied": N_("No active agreement allows this referral."),
    "unknown_recipient": N_("The receiving institution is not in the directory."),
    "self_referral": N_("An institution cannot refer to itself."),
    "recipient_cannot_decrypt": N_("The receiving institution cannot receive referrals yet "
                                   "(it has no encryption key). Try again later."),
    "illegal_transition": N_("This step is not possible in the referral's current state."),
    "reason_required": N_("Give a reason."),
    "outcome_required": N_("Give an outcome."),
    "note_required": N_("Write the note."),
    "role_not_allowed": N_("Your role does not allow this."),
    "institution_not_hosted": N_("Your institution is not hosted by this gateway."),
    "referral_not_found": N_("No referral with this id is visible to you."),
}
FALLBACK_ERROR = N_("This value is not valid.")


def available_actions(status: str, direction: str) -> list[Action]:
    """The steps the state machine allows this side now (a queued referral counts as sent)."""
    now, side = machine_status(status), side_of(direction)
    return [a for a in CONSOLE_ACTIONS if allowed(now, a, side)]


@dataclass
class Row:
    label: str  # a catalog message id, or a field name when there is none
    kind: str  # text | bool | vocabulary | message (a catalog id) | moment | list | rows
    value: Any


@dataclass
class Section:
    name: str
    category: str
    rows: list[Row] | None  # None: not in the record (withheld or not recorded)
    shared: bool  # the category travelled in this referral


def record_sections(record: dict[str, Any], categories: list[str]) -> list[Section]:
    sections = []
    for name in ReferralRecord.model_fields:
        category = SECTION_CATEGORY[name].value
        value = record.get(name)
        rows = _rows(value) if value else None
        sections.append(Section(name, category, rows, category in categories))
    return sections


def _rows(value: Any) -> list[Row]:
    if isinstance(value, dict):
        return [_row(FIELD_LABELS.get(k) or k, k, v) for k, v in value.items()
                if v not in (None, "", [])]
    return [_row("", "", value)]


def _row(label: str, key: str, value: Any) -> Row:
    if isinstance(value, bool):
        return Row(label, "bool", value)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return Row(label, "rows", [_rows(item) for item in value])
    if isinstance(value, list):
        return Row(label, "list", [str(v) for v in value])
    if isinstance(value, str) and key == "status" and value in BEST_INTERESTS_STATUS:
        return Row(label, "message", BEST_INTERESTS_STATUS[value])
    if isinstance(value, str) and key in VALUE_VOCABULARIES:
        return Row(label, "vocabulary", (VALUE_VOCABULARIES[key], value))
    if isinstance(value, str) and key in ("at", "planned_arrival"):
        try:
            return Row(label, "moment", datetime.fromisoformat(value))
        except ValueError:
            pass
    return Row(label, "text", str(value))


def field_errors(error: ValidationError,
                 rows: dict[str, list[int]] | None = None) -> dict[str, str]:
    """Each error under the dotted name of its form field (message ids, values never echoed).
    `rows`: for a list sent from numbered rows, the row each item came from."""
    return _by_field((_row_location(item["loc"], rows or {}), item["type"], item["msg"])
                      for item in error.errors())


def _row_location(location: tuple[Any, ...], rows: dict[str, list[int]]) -> list[Any]:
    """An item's index in the list sent, as the number of its row in the form."""
    parts: list[Any] = []
    for part in location:
        rows_of = rows.get(".".join(str(p) for p in parts))
        parts.append(rows_of[part] if isinstance(part, int) and rows_of else part)
    return parts


def problem_field_errors(errors: list[dict[str, Any]]) -> dict[str, str]:
    """The same from an API's 422 problem (`errors`: location, kind, message)."""
    return _by_field(([p for p in e.get("location", []) if p != "body"], e.get("kind", ""),
                      e.get("message", "")) for e in errors)


def _by_field(items: Any) -> dict[str, str]:
    errors: dict[str, str] = {}
    for location, kind, text in items:
        name = _without_list_index(".".join(str(part) for part in location))
        if kind == "value_error":
            message = VALUE_ERRORS.get(str(text).removeprefix("Value error, "), FALLBACK_ERROR)
        else:
            message = FIELD_ERROR_MESSAGES.get((name.rsplit(".", 1)[-1], kind)) or \
                ERROR_MESSAGES.get(kind, FALLBACK_ERROR)
        errors.setdefault(name, message)
    return errors


def _without_list_index(name: str) -> str:
    """A list of values is one field (`nationalities.0` is `nationalities`); a row's field
    keeps its row (`relatives.1.relationship`)."""
    head, _, last = name.rpartition(".")
    return head if head and last.isdigit() else name


# The form's numbered rows of the record's lists.
RELATIVE_ROWS = 3
IDENTITY_DOCUMENT_ROWS = 2
DOCUMENT_ROWS = 2


def referral_from_form(form: Any, zone: tzinfo) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The API's request body from the form's dotted field names (empty fields and sections
    left out), and for each list from numbered rows the row of each item sent."""

    def text(name: str) -> str | None:
        value = str(form.get(name) or "").strip()
        return value or None

    def listed(name: str) -> list[str]:
        return [part.strip() for part in (text(name) or "").split(",") if part.strip()]

    def upper(name: str) -> str | None:
        value = text(name)
        return value.upper() if value else None

    def checked(name: str) -> bool | None:
        return True if form.get(name) == "yes" else None

    def yes_no(name: str) -> bool | None:
        return {"yes": True, "no": False}.get(str(form.get(name) or ""))

    def moment(name: str) -> str | None:
        # A datetime-local field is the person's own time: sent with their zone's offset.
        value = text(name)
        try:
            parsed = datetime.fromisoformat(value) if value else None
        except ValueError:
            return value  # the model says what is wrong with it
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
        return parsed.isoformat() if parsed else None

    rows: dict[str, list[int]] = {}

    def numbered(name: str, count: int, fields: dict[str, Any]) -> list[dict[str, Any]]:
        items, numbers = [], []
        for n in range(count):
            item = _filled({field: read(f"{name}.{n}.{field}")
                             for field, read in fields.items()})
            if item:
                items.append(item)
                numbers.append(n)
        rows[name] = numbers
        return items

    child = {
        "given_names": text("record.child.given_names"),
        "family_names": text("record.child.family_names"),
        "other_names": listed("record.child.other_names"),
        "sex": text("record.child.sex"),
        "date_of_birth": text("record.child.date_of_birth"),
        "age_is_estimated": checked("record.child.age_is_estimated"),
        "estimated_age": text("record.child.estimated_age"),
        "place_of_birth": text("record.child.place_of_birth"),
        "nationalities": [n.upper() for n in listed("record.child.nationalities")],
        "habitual_residence": text("record.child.habitual_residence"),
        "languages": listed("record.child.languages"),
        "ethnic_or_indigenous_people": text("record.child.ethnic_or_indigenous_people"),
        "identity_documents": numbered(
            "record.child.identity_documents", IDENTITY_DOCUMENT_ROWS,
            {"type": text, "number": text, "issuer": text}),
    }
    record: dict[str, Any] = {
        "child": _filled(child),
        "accompaniment": _filled({
            "status": text("record.accompaniment.status"),
            "with_whom": text("record.accompaniment.with_whom"),
            "since": text("record.accompaniment.since")}),
        "detection": _filled({
            "at": moment("record.detection.at"), "country": upper("record.detection.country"),
            "admin_area": text("record.detection.admin_area"),
            "locality": text("record.detection.locality"),
            "by_institution": text("record.detection.by_institution")}),
        "family": _filled({
            "relatives": numbered("record.family.relatives", RELATIVE_ROWS, {
                "relationship": text, "name": text, "whereabouts": text, "phone": text,
                "traced": checked}),
            "caregiver_before_migration": text("record.family.caregiver_before_migration"),
            "wants_reunification_with": text("record.family.wants_reunification_with")}),
        "protection": _filled({
            "urgency": text("record.protection.urgency"),
            "asylum_intent": checked("record.protection.asylum_intent"),
            "trafficking_indicators": checked("record.protection.trafficking_indicators"),
            "violence": checked("record.protection.violence"),
            "other_risks": listed("record.protection.other_risks"),
            "notes": text("record.protection.notes")}),
        "health": _filled({
            "disability": text("record.health.disability"),
            "conditions": text("record.health.conditions"),
            "pregnancy": yes_no("record.health.pregnancy")}),
        "best_interests": _filled({
            "status": text("record.best_interests.status"),
            "by_institution": text("record.best_interests.by_institution"),
            "on": text("record.best_interests.on")}),
        "reception": _filled({
            "planned_arrival": moment("record.reception.planned_arrival"),
            "transport": text("record.reception.transport"),
            "reception_place": text("record.reception.reception_place"),
            "received_by": text("record.reception.received_by")}),
        "requested_services": [str(v) for v in form.getlist("record.requested_services")],
        "documents": numbered("record.documents", DOCUMENT_ROWS, {
            "type": text, "sha256": lambda name: (text(name) or "").lower() or None,
            "description": text}),
    }
    views = text("record.child_views.views")
    heard = yes_no("record.child_views.heard")
    if views or heard is not None:
        record["child_views"] = _filled({"heard": True if heard is None else heard,
                                         "views": views})
    body = _present({
        "recipient_id": text("recipient_id"), "case_reference": text("case_reference"),
        "purpose": text("purpose"),
        "record": {k: v for k, v in record.items() if v or k in REQUIRED_SECTIONS},
    })
    return body, rows


# Sent even when empty, so that their errors are shown ("fill in this field").
REQUIRED_SECTIONS = frozenset({"child", "accompaniment", "protection", "requested_services"})


def _filled(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None and v != []}


def consent_from_form(form: Any) -> dict[str, Any]:
    """The consent API's request body from the form (empty fields left out)."""
    heard = {"yes": True, "no": False}.get(str(form.get("child_heard") or ""))
    body: dict[str, Any] = {
        name: str(form.get(name) or "").strip() or None
        for name in ("case_reference", "basis", "given_by", "basis_reference")
    }
    body["child_heard"] = heard
    if heard is True:
        body["child_views"] = str(form.get("child_views") or "") or None
    if heard is False:
        body["not_heard_reason"] = str(form.get("not_heard_reason") or "") or None
    for name in ("recipients", "purposes", "data_categories"):
        body[name] = [str(v) for v in form.getlist(name)]
    return _present(body)


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}
