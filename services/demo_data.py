"""Demo data loaded by `enlace up`: the CRM member countries and some of their real
institutions (names are public; no contact details here), and one agreement."""

from __future__ import annotations

from typing import Any

# code, English name, Spanish name, CRM member (False: observer)
COUNTRIES: list[tuple[str, str, str, bool]] = [
    ("BZ", "Belize", "Belice", True),
    ("CA", "Canada", "Canadá", True),
    ("CR", "Costa Rica", "Costa Rica", True),
    ("DO", "Dominican Republic", "República Dominicana", True),
    ("SV", "El Salvador", "El Salvador", True),
    ("GT", "Guatemala", "Guatemala", True),
    ("HN", "Honduras", "Honduras", True),
    ("MX", "Mexico", "México", True),
    ("NI", "Nicaragua", "Nicaragua", True),
    ("PA", "Panama", "Panamá", True),
    ("US", "United States", "Estados Unidos", True),
    ("AR", "Argentina", "Argentina", False),
    ("CO", "Colombia", "Colombia", False),
    ("EC", "Ecuador", "Ecuador", False),
    ("JM", "Jamaica", "Jamaica", False),
    ("PE", "Peru", "Perú", False),
]

CHILD_PROTECTION = [
    "reception", "psychosocial-care", "best-interests-determination", "family-tracing",
    "repatriation", "reintegration",
]
MIGRATION = ["repatriation"]


def _inst(id: str, country: str, name: str, acronym: str, type: str,
          competences: list[str], gateway: bool = False) -> dict[str, Any]:
    return {"id": id, "country": country, "name": name, "acronym": acronym, "type": type,
            "competences": competences, "gateway_country": country if gateway else None}


INSTITUTIONS: list[dict[str, Any]] = [
    _inst("bz-dhs", "BZ", "Department of Human Services", "DHS", "child-protection-authority",
          CHILD_PROTECTION),
    _inst("bz-ind", "BZ", "Immigration and Nationality Department", "", "migration-authority",
          MIGRATION),
    _inst("ca-ircc", "CA", "Immigration, Refugees and Citizenship Canada", "IRCC",
          "migration-authority", ["asylum"]),
    _inst("ca-cbsa", "CA", "Canada Border Services Agency", "CBSA", "migration-authority",
          MIGRATION),
    _inst("cr-pani", "CR", "Patronato Nacional de la Infancia", "PANI",
          "child-protection-authority", CHILD_PROTECTION),
    _inst("cr-dgme", "CR", "Dirección General de Migración y Extranjería", "DGME",
          "migration-authority", MIGRATION),
    _inst("do-conani", "DO", "Consejo Nacional para la Niñez y la Adolescencia", "CONANI",
          "child-protection-authority", CHILD_PROTECTION),
    _inst("do-dgm", "DO", "Dirección General de Migración", "DGM", "migration-authority",
          MIGRATION),
    _inst("sv-conapina", "SV", "Consejo Nacional de la Primera Infancia, Niñez y Adolescencia",
          "CONAPINA", "child-protection-authority", CHILD_PROTECTION),
    _inst("sv-dgme", "SV", "Dirección General de Migración y Extranjería", "DGME",
          "migration-authority", MIGRATION),
    _inst("gt-sbs", "GT", "Secretaría de Bienestar Social de la Presidencia", "SBS",
          "child-protection-authority", CHILD_PROTECTION),
    _inst("gt-pgn", "GT", "Procuraduría General de la Nación", "PGN", "prosecutor",
          ["legal-representation", "missing-child-alerts", "best-interests-determination"]),
    _inst("gt-igm", "GT", "Instituto Guatemalteco de Migración", "IGM", "migration-authority",
          MIGRATION),
    _inst("gt-casa-nuestras-raices", "GT", "Casa Nuestras Raíces", "", "shelter",
          ["reception", "psychosocial-care"]),
    _inst("hn-senaf", "HN", "Secretaría de la Niñez, Adolescencia y Familia", "SENAF",
          "child-protection-authority", [*CHILD_PROTECTION, "missing-child-alerts"], True),
    _inst("hn-camr-belen", "HN", "Centro de Atención al Migrante Retornado Belén", "CAMR Belén",
          "shelter", ["reception", "psychosocial-care"]),
    _inst("mx-sndif", "MX", "Sistema Nacional para el Desarrollo Integral de la Familia",
          "SNDIF", "child-protection-authority", CHILD_PROTECTION, True),
    _inst("mx-pfpnna", "MX", "Procuraduría Federal de Protección de Niñas, Niños y Adolescentes",
          "PFPNNA", "child-protection-authority",
          ["legal-representation", "best-interests-determination"], True),
    _inst("mx-inm", "MX", "Instituto Nacional de Migración", "INM", "migration-authority",
          MIGRATION),
    _inst("mx-sre", "MX", "Secretaría de Relaciones Exteriores", "SRE", "foreign-ministry", []),
    _inst("ni-mifamilia", "NI", "Ministerio de la Familia, Adolescencia y Niñez", "MIFAMILIA",
          "child-protection-authority", CHILD_PROTECTION),
    _inst("pa-senniaf", "PA", "Secretaría Nacional de Niñez, Adolescencia y Familia", "SENNIAF",
          "child-protection-authority", CHILD_PROTECTION),
    _inst("pa-snm", "PA", "Servicio Nacional de Migración", "SNM", "migration-authority",
          MIGRATION),
    _inst("us-orr", "US", "Office of Refugee Resettlement, Unaccompanied Children Program",
          "ORR", "child-protection-authority",
          ["reception", "family-tracing", "legal-representation"]),
    _inst("us-dhs", "US", "Department of Homeland Security", "DHS", "migration-authority",
          MIGRATION),
]

# The regional secretariat acts for no country; its people administer and audit.
SECRETARIAT = "crm-secretariat"

# Which institutions each demo gateway hosts. mx-pfpnna has no agreement with SENAF:
# a referral from it shows a policy denial.
GATEWAYS: dict[str, list[str]] = {"MX": ["mx-sndif", "mx-pfpnna"], "HN": ["hn-senaf"]}

DEMO_AGREEMENT: dict[str, Any] = {
    "id": "agr-mx-sndif-hn-senaf-2026",
    "title": "Convenio de intercambio de información SNDIF (México) y SENAF (Honduras)",
    "parties": ["mx-sndif", "hn-senaf"],
    "message_types": ["referral", "receipt"],
    "purposes": ["reception-and-care", "family-tracing", "follow-up"],
    "data_categories": [
        "identity", "contact", "location", "family", "health", "protection", "child-views",
        "documents",
    ],
    "valid_from": "2026-01-01T00:00:00Z",
    "valid_to": "2029-12-31T23:59:59Z",
}

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
        "family": [{"relationship": "grandmother", "whereabouts": "San Pedro Sula",
                    "traced": False}],
    },
}
