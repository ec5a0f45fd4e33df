"""What `enlace up` runs: which gateways host which institutions, and a sample referral.
Each service's own demo data is in its seed module."""

from __future__ import annotations

from typing import Any

from services.directory.seed import INSTITUTIONS

# Which institutions each demo gateway hosts. mx-pfpnna has no agreement with SENAF:
# a referral from it shows a policy denial.
GATEWAYS: dict[str, list[str]] = {"MX": ["mx-sndif", "mx-pfpnna"], "HN": ["hn-senaf"]}
# What another member's gateway hosts when `enlace up --countries` adds it: the country's
# child-protection authorities and whoever receives its missing-child alerts.
HOSTED_TYPES = frozenset({"child-protection-authority"})
HOSTED_COMPETENCES = frozenset({"missing-child-alerts"})


def hosted_institutions(country: str) -> list[str]:
    """The institutions a demo gateway of `country` hosts (none: not a country it can run)."""
    if country in GATEWAYS:
        return GATEWAYS[country]
    return [i["id"] for i in INSTITUTIONS if i["country"] == country and i["parent_id"] is None
            and (i["type"] in HOSTED_TYPES or HOSTED_COMPETENCES & set(i["competences"]))]

SAMPLE_REFERRAL: dict[str, Any] = {
    "recipient_id": "hn-senaf",
    "case_reference": "MX-DIF-2026-000123",
    "purpose": "reception-and-care",
    "record": {
        "child": {
            "given_names": "Ana Lucía",
            "family_names": "Ejemplo Ficticio",
            "sex": "female",
            "date_of_birth": "2012-05-14",
            "nationalities": ["HN"],
            "languages": ["es"],
        },
        "accompaniment": {"status": "unaccompanied"},
        "protection": {"urgency": "urgent", "asylum_intent": False,
                       "notes": "Returned by land; needs reception at arrival."},
        "requested_services": ["reception", "family-tracing", "psychosocial-care"],
        "child_views": {"heard": True, "views": "Wants to live with her grandmother."},
        "reception": {"planned_arrival": "2026-12-01T14:00:00-06:00", "transport": "bus",
                      "reception_place": "CAMR Belén, San Pedro Sula"},
        "family": {"relatives": [{"relationship": "grandmother",
                                  "whereabouts": "San Pedro Sula", "traced": False}],
                   "wants_reunification_with": "grandmother"},
        "detection": {"at": "2026-11-18T09:30:00-06:00", "country": "MX",
                      "admin_area": "Chiapas", "locality": "Tapachula",
                      "by_institution": "mx-inm"},
        # Legal status is outside the demo agreement: the gateway withholds it, and says so.
        "best_interests": {"status": "bia-done", "by_institution": "mx-sndif"},
    },
}
