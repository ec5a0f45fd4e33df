"""The draft form's translation into the registry's request body, and the vocabularies the
country administrator's pages show (every value of the protocol has a label)."""

from __future__ import annotations

from starlette.datastructures import FormData

from services.exchange.console.agreement_pages import draft_from_form
from shared.protocol.audit_events import ReasonCode
from shared.protocol.policy import AgreementStatus
from shared.protocol.vocabulary import AuditEventType, MessageType
from shared.web.i18n import VOCABULARY, label


def test_a_draft_is_whole_days_in_utc_and_empty_fields_are_left_out():
    form = FormData([("id", " agr-x "), ("title", ""), ("parties", "mx-sndif"),
                     ("parties", "HN"), ("purposes", "follow-up"), ("retention_days", "30"),
                     ("valid_from", "2027-01-01"), ("valid_to", "2027-12-31")])
    assert draft_from_form(form) == {
        "id": "agr-x", "retention_days": "30", "parties": ["mx-sndif", "HN"],
        "message_types": [], "purposes": ["follow-up"], "data_categories": [],
        "legal_bases": [], "valid_from": "2027-01-01T00:00:00Z",
        "valid_to": "2027-12-31T23:59:59Z"}


def test_every_state_message_type_and_quarantine_reason_has_a_label():
    for vocabulary, values in (("agreement_status", AgreementStatus),
                               ("message_type", MessageType),
                               ("quarantine_reason", ReasonCode),
                               ("audit_event", AuditEventType)):
        assert set(VOCABULARY[vocabulary]) >= {v.value for v in values}, vocabulary
    assert label("es", "quarantine_reason", "bad_signature").startswith("la firma no coincide")
    assert label("es", "agreement_status", "awaiting-signatures") == "pendiente de firmas"
