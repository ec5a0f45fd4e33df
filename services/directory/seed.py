"""Demo and reference data of the directory: the CRM countries and real institutions of each
(public names; no contact details), loaded by `enlace up`."""

from __future__ import annotations

from typing import Any

from services.directory.service import DirectoryService
from shared.auth import Role, issue_token
from shared.db import make_engine, migrate, session_scope

SECRETARIAT = "crm-secretariat"

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



def country_of(institution_id: str) -> str:
    return next(i["country"] for i in INSTITUTIONS if i["id"] == institution_id)


def provision_directory(url: str, gateway_tokens: dict[str, str], admin_token: str) -> None:
    migrate("services.directory", url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        directory = DirectoryService(session)
        for code, name, name_es, member in COUNTRIES:
            directory.upsert_country(code, name, name_es, member)
        for institution in INSTITUTIONS:
            directory.upsert_institution(**institution)
        for institution_id, token in gateway_tokens.items():
            issue_token(session, institution_id, country_of(institution_id), Role.gateway, token,
                        label="gateway")
        issue_token(session, SECRETARIAT, "", Role.regional_admin, admin_token,
                    label="demo regional administrator")
    engine.dispose()
