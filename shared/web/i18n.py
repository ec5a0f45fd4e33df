"""Languages (gettext catalogs under shared/web/locale), time zones and vocabulary labels."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale
from babel.dates import format_datetime, format_timedelta
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("es", "en")
DEFAULT_LANGUAGE = "es"
LANGUAGE_COOKIE = "enlace_lang"

# The default time zone of a person, by the country of their institution.
COUNTRY_TIME_ZONES = {
    "BZ": "America/Belize", "CA": "America/Toronto", "CR": "America/Costa_Rica",
    "DO": "America/Santo_Domingo", "GT": "America/Guatemala", "HN": "America/Tegucigalpa",
    "MX": "America/Mexico_City", "NI": "America/Managua", "PA": "America/Panama",
    "SV": "America/El_Salvador", "US": "America/New_York",
}


def N_(message: str) -> str:
    """Mark a string for the catalog; it is translated where it is shown."""
    return message


@cache
def translations(language: str) -> NullTranslations:
    return Translations.load(str(LOCALE_DIR), [language], domain="messages")


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's choice, else the first language of Accept-Language we have."""
    if cookie in LANGUAGES:
        return str(cookie)
    weighted: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((quality, tag.strip().lower().split("-")[0]))
    for _quality, language in sorted(weighted, key=lambda w: -w[0]):
        if language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


def time_zone_for(setting: str, country: str) -> ZoneInfo:
    name = setting or COUNTRY_TIME_ZONES.get(country, "UTC")
    return ZoneInfo(name if name in available_zones() else "UTC")


@cache
def available_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def time_zone_choices() -> list[str]:
    return ["UTC", *sorted(set(COUNTRY_TIME_ZONES.values()))]


def format_moment(moment: datetime | None, language: str, zone: ZoneInfo) -> str:
    if moment is None:
        return ""
    return format_datetime(moment, "medium", tzinfo=zone, locale=Locale.parse(language))


def format_age(moment: datetime | None, language: str) -> str:
    """How long ago, e.g. "3 hours" / "3 horas"."""
    if moment is None:
        return ""
    return format_timedelta(datetime.now(UTC) - moment, threshold=1.5, locale=language)


# The protocol's vocabularies as people read them (values stay the protocol's).
VOCABULARY: dict[str, dict[str, str]] = {
    "status": {
        "queued": N_("queued"), "sent": N_("sent"), "delivered": N_("delivered"),
        "accepted": N_("accepted"), "rejected": N_("rejected"),
        "in_progress": N_("in progress"), "closed": N_("closed"),
        "withdrawn": N_("withdrawn"), "undeliverable": N_("undeliverable"),
    },
    "action": {
        "deliver": N_("delivered"), "accept": N_("accepted"), "reject": N_("rejected"),
        "start": N_("started"), "close": N_("closed"), "withdraw": N_("withdrawn"),
        "note": N_("note"), "refuse": N_("refused by the receiving gateway"),
    },
    "category": {
        "identity": N_("identity"), "contact": N_("contact"), "location": N_("location"),
        "family": N_("family"), "health": N_("health"), "protection": N_("protection"),
        "legal-status": N_("legal status"), "child-views": N_("child's views"),
        "documents": N_("documents"),
    },
    "purpose": {
        "reception-and-care": N_("reception and care"), "family-tracing": N_("family tracing"),
        "best-interests-determination": N_("best interests determination"),
        "missing-child-search": N_("missing child search"), "follow-up": N_("follow-up"),
    },
    "alert_category": {
        "missing-in-need-of-protection": N_("missing, in need of protection"),
        "missing": N_("missing"),
        "risk-of-parental-abduction": N_("risk of parental abduction"),
        "risk-of-trafficking": N_("risk of trafficking"),
    },
    "alert_status": {"active": N_("active"), "located": N_("located"),
                     "cancelled": N_("cancelled")},
    "sex": {"female": N_("female"), "male": N_("male"), "other": N_("other"),
            "unknown": N_("unknown")},
    "accompaniment": {"unaccompanied": N_("unaccompanied"), "separated": N_("separated"),
                      "accompanied": N_("accompanied")},
    "urgency": {"routine": N_("routine"), "urgent": N_("urgent"), "immediate": N_("immediate")},
    "service": {
        "reception": N_("reception"), "psychosocial-care": N_("psychosocial care"),
        "legal-representation": N_("legal representation"),
        "family-tracing": N_("family tracing"),
        "reintegration-follow-up": N_("reintegration follow-up"),
        "repatriation-coordination": N_("repatriation coordination"),
    },
    "role": {
        "caseworker": N_("caseworker"), "consular_officer": N_("consular officer"),
        "country_admin": N_("country administrator"),
        "regional_admin": N_("regional administrator"), "auditor": N_("auditor"),
    },
    "basis": {"consent": N_("consent"),
              "best-interests-determination": N_("best interests determination"),
              "vital-interest": N_("vital interest"), "legal-obligation": N_("legal obligation")},
    "given_by": {"child": N_("the child"), "parent": N_("a parent"), "guardian": N_("a guardian"),
                 "legal-representative": N_("the legal representative"),
                 "authority": N_("an authority")},
    "coded_views": {"agrees": N_("agrees"), "partly-agrees": N_("partly agrees"),
                    "disagrees": N_("disagrees"), "no-view-expressed": N_("no view expressed")},
    "not_heard_reason": {"too-young": N_("too young"), "unable": N_("unable"),
                         "declined": N_("declined"), "not-reachable": N_("not reachable"),
                         "urgent": N_("no time: urgent")},
    "withdrawal_reason": {"changed-mind": N_("changed their mind"),
                          "case-closed": N_("case closed"), "basis-ended": N_("basis ended"),
                          "recorded-in-error": N_("recorded in error"), "other": N_("other")},
    # The directory's (focal-point topics are institutions' competences).
    "topic": {
        "reception": N_("reception"), "psychosocial-care": N_("psychosocial care"),
        "legal-representation": N_("legal representation"),
        "best-interests-determination": N_("best interests determination"),
        "family-tracing": N_("family tracing"), "asylum": N_("asylum"),
        "trafficking-victims": N_("victims of trafficking"),
        "missing-child-alerts": N_("missing child alerts"), "repatriation": N_("repatriation"),
        "reintegration": N_("reintegration"),
    },
    "institution_type": {
        "child-protection-authority": N_("child protection authority"),
        "migration-authority": N_("migration authority"),
        "foreign-ministry": N_("foreign ministry"), "consulate": N_("consulate"),
        "shelter": N_("shelter"), "prosecutor": N_("prosecutor"),
        "civil-society": N_("civil society organisation"),
        "international-organisation": N_("international organisation"),
    },
    "channel": {"phone": N_("Phone"), "whatsapp": N_("WhatsApp"), "email": N_("E-mail"),
                "website": N_("Website"), "fax": N_("Fax"), "address": N_("Address")},
    "focal_point_kind": {"person": N_("person"), "desk": N_("desk")},
    "area_kind": {"state": N_("state"), "department": N_("department"),
                  "province": N_("province"), "municipality": N_("municipality"),
                  "district": N_("district")},
    # What a directory history line says was done.
    "directory_change": {
        "created": N_("created"), "updated": N_("changed"), "deactivated": N_("deactivated"),
        "reactivated": N_("reactivated"), "registered": N_("key registered"),
        "revoked": N_("key revoked"), "credentials-issued": N_("gateway credentials issued"),
        "credentials-revoked": N_("gateway credentials revoked"),
    },
    "agreement_status": {
        "draft": N_("draft"), "awaiting-signatures": N_("awaiting signatures"),
        "active": N_("in force"), "suspended": N_("suspended"), "expired": N_("expired"),
        "terminated": N_("terminated"), "superseded": N_("superseded by a newer version"),
    },
    "message_type": {
        "referral": N_("referral"), "receipt": N_("receipt"),
        "referral-update": N_("referral update"), "alert": N_("missing-child alert"),
        "alert-ack": N_("alert acknowledgement"), "alert-located": N_("child located"),
        "rejection": N_("rejection"),
    },
    # Why the gateway refused a message (shared.protocol.audit_events.ReasonCode).
    "quarantine_reason": {
        "malformed": N_("not a well-formed message"),
        "unknown_sender": N_("the sender is not in the directory"),
        "unsupported_algorithm": N_("signed with an algorithm Enlace does not accept"),
        "unknown_key": N_("signed with a key the directory does not list for the sender"),
        "revoked_key": N_("signed with a revoked key"),
        "unsupported_key": N_("signed with a kind of key Enlace does not accept"),
        "bad_signature": N_("the signature does not match: changed in transit or forged"),
        "unsupported_version": N_("a protocol version this gateway does not speak"),
        "unsupported_typ": N_("not an Enlace message"),
        "invalid_lifetime": N_("its lifetime is not valid"),
        "expired": N_("expired before it arrived"),
        "issued_in_future": N_("dated in the future"),
        "not_for_this_gateway": N_("addressed to an institution this gateway does not host"),
        "unsupported_type": N_("a message type this gateway does not handle"),
        "replayed_message_id": N_("a message with this id arrived before (replay)"),
        "invalid_routing_fields": N_("purpose, data categories or case reference not valid"),
        "policy_denied": N_("no agreement or legal basis allows it"),
        "agreement_mismatch": N_("the agreement it names does not cover it"),
        "category_not_allowed": N_("it carries data categories the agreement does not allow"),
        "undecryptable": N_("it cannot be decrypted"),
        "receipt_mismatch": N_("a receipt for no message this gateway sent"),
        "unknown_referral": N_("an update about no referral shared with the sender"),
        "action_not_allowed": N_("a step the referral's state does not allow"),
        "unknown_alert": N_("about no alert issued to the sender"),
        "not_the_issuer": N_("only the alert's issuer can change it"),
        "no_agreement": N_("no agreement between the parties"),
        "agreement_not_active": N_("the agreement is not in force"),
        "agreement_out_of_validity": N_("outside the agreement's validity"),
        "message_type_not_allowed": N_("the agreement does not allow this message type"),
        "purpose_not_allowed": N_("the agreement does not allow this purpose"),
        "no_case_reference": N_("no case reference"),
        "no_consent": N_("no consent or legal basis recorded for the case"),
        "consent_withdrawn": N_("the consent was withdrawn"),
        "consent_out_of_validity": N_("outside the consent's validity"),
        "legal_basis_not_accepted": N_("the agreement does not accept this legal basis"),
        "recipient_not_covered": N_("the consent does not cover the recipient"),
        "purpose_not_covered": N_("the consent does not cover the purpose"),
        "categories_not_covered": N_("the consent does not cover these data categories"),
        "processing_failed": N_("it could not be processed"),
        "service_unavailable": N_("a service it needed was unavailable"),
        "other": N_("another reason"),
    },
    "section": {
        "child": N_("Child"), "accompaniment": N_("Accompaniment"),
        "detection": N_("Where and when the child was found"), "family": N_("Family"),
        "protection": N_("Protection needs"), "health": N_("Health"),
        "child_views": N_("The child's views"), "best_interests": N_("Best interests"),
        "reception": N_("Reception"), "requested_services": N_("Requested services"),
        "documents": N_("Documents"),
    },
    # Why the registry refused an audit event (shared.protocol.audit_events.AuditRejected codes).
    "audit_rejection": {
        "unverifiable": N_("the signature could not be checked yet"),
        "unsigned": N_("not signed"), "malformed": N_("not a well-formed event"),
        "unknown_event_type": N_("an event type Enlace does not know"),
        "event_type_not_allowed": N_("an event type this sender may not report"),
        "invalid_detail": N_("details outside the event's schema"),
        "occurred_in_future": N_("dated in the future"), "too_old": N_("dated too far back"),
        "revoked_key": N_("signed with a revoked key"),
        "key_not_valid": N_("signed with a key not valid at that time"),
        "wrong_country": N_("sent for another country"),
        "unknown_institution": N_("an institution the directory does not list"),
    },
    "audit_event": {
        "sent": N_("sent"), "received": N_("received"), "receipt": N_("receipt"),
        "quarantined": N_("quarantined"), "denied": N_("denied"),
        "record-read": N_("record read"), "accepted": N_("accepted"),
        "rejected": N_("rejected"), "started": N_("started"), "closed": N_("closed"),
        "withdrawn": N_("withdrawn"), "follow-up": N_("follow-up"),
        "alert-issued": N_("alert issued"), "alert-received": N_("alert received"),
        "alert-acknowledged": N_("alert acknowledged"), "alert-updated": N_("alert updated"),
        "alert-located": N_("child located"), "alert-cancelled": N_("alert cancelled"),
        "alert-escalated": N_("alert escalated"), "refused": N_("refused"),
        "sign-in": N_("sign-in"), "sign-in-failed": N_("failed sign-in"),
        "password-changed": N_("password changed"),
        "person-unlocked": N_("account unlocked"),
        "policy-mismatch": N_("not allowed by the registry's own check"),
        "agreement-created": N_("agreement created"),
        "agreement-updated": N_("agreement updated"),
        "agreement-amended": N_("agreement amended"),
        "agreement-submitted": N_("agreement submitted for signatures"),
        "agreement-signed": N_("agreement signed"),
        "agreement-activated": N_("agreement in force"),
        "agreement-suspended": N_("agreement suspended"),
        "agreement-resumed": N_("agreement resumed"),
        "agreement-terminated": N_("agreement terminated"),
        "agreement-superseded": N_("agreement superseded"),
        "consent-recorded": N_("consent recorded"),
        "consent-withdrawn": N_("consent withdrawn"),
    },
    # The region's member countries (COUNTRY_TIME_ZONES), by ISO 3166-1 alpha-2 code.
    "country": {
        "BZ": N_("Belize"), "CA": N_("Canada"), "CR": N_("Costa Rica"),
        "DO": N_("Dominican Republic"), "GT": N_("Guatemala"), "HN": N_("Honduras"),
        "MX": N_("Mexico"), "NI": N_("Nicaragua"), "PA": N_("Panama"),
        "SV": N_("El Salvador"), "US": N_("United States"),
    },
}


def label(language: str, vocabulary: str, value: str) -> str:
    """A vocabulary value in the person's language; unknown values are shown as they are."""
    message = VOCABULARY.get(vocabulary, {}).get(value)
    if message is None:
        return value
    return str(translations(language).gettext(message))
