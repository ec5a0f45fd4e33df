"""Reference and demo data of the directory, loaded by `enlace up`.

Countries, areas and institutions are real (public names). Consular districts are given at
state level and are illustrative: check them with each foreign ministry before relying on
them. Focal points are invented, and so is every contact detail: e-mail and web addresses
on example.org, phone numbers starting +000.
"""

from __future__ import annotations

from typing import Any

from services.directory.schemas import InstitutionUpdate
from services.directory.service import EDITABLE, DirectoryService, Kind
from shared.kit.db import make_engine, migrate, session_scope
from shared.protocol.auth import Principal, Role, issue_token

SECRETARIAT = "crm-secretariat"
SEED_ACTOR = Principal(SECRETARIAT, "", Role.regional_admin)
REGISTRY_SERVICE = "crm-registry"  # whom the registry's own token at the directory names

# Demo people of the directory (stack.json, "directory" -> "tokens"): name -> (institution,
# role). Country administrators of Mexico and Honduras, and a Honduran consular officer in
# Tapachula.
DEMO_USERS: dict[str, tuple[str, Role]] = {
    "country_admin_MX": ("mx-sndif", Role.country_admin),
    "country_admin_HN": ("hn-senaf", Role.country_admin),
    "consular_officer_HN": ("hn-consulado-tapachula", Role.consular_officer),
}

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

# Phone country codes, only to make the fake numbers readable (+000 504 ... for Honduras).
DIAL = {"BZ": "501", "CA": "1", "CR": "506", "DO": "1809", "SV": "503", "GT": "502",
        "HN": "504", "MX": "52", "NI": "505", "PA": "507", "US": "1"}


def _areas(country: str, kind: str, names: dict[str, str],
           parent: str | None = None) -> list[dict[str, Any]]:
    return [{"id": code, "country": country, "name": name, "kind": kind, "parent_id": parent}
            for code, name in names.items()]


# ISO 3166-2 codes for the first level; codes of our own below it.
AREA_ENTRIES: list[dict[str, Any]] = [
    *_areas("HN", "department", {
        "HN-AT": "Atlántida", "HN-CH": "Choluteca", "HN-CL": "Colón", "HN-CM": "Comayagua",
        "HN-CP": "Copán", "HN-CR": "Cortés", "HN-EP": "El Paraíso",
        "HN-FM": "Francisco Morazán", "HN-GD": "Gracias a Dios", "HN-IN": "Intibucá",
        "HN-IB": "Islas de la Bahía", "HN-LP": "La Paz", "HN-LE": "Lempira",
        "HN-OC": "Ocotepeque", "HN-OL": "Olancho", "HN-SB": "Santa Bárbara", "HN-VA": "Valle",
        "HN-YO": "Yoro"}),
    *_areas("HN", "municipality", {"HN-CR-SPS": "San Pedro Sula"}, parent="HN-CR"),
    *_areas("MX", "state", {
        "MX-CHP": "Chiapas", "MX-TAB": "Tabasco", "MX-VER": "Veracruz", "MX-OAX": "Oaxaca",
        "MX-CMX": "Ciudad de México", "MX-NLE": "Nuevo León", "MX-TAM": "Tamaulipas",
        "MX-COA": "Coahuila", "MX-CHH": "Chihuahua", "MX-SON": "Sonora",
        "MX-BCN": "Baja California", "MX-ROO": "Quintana Roo"}),
    *_areas("MX", "municipality", {"MX-CHP-TAPACHULA": "Tapachula",
                                   "MX-CHP-SUCHIATE": "Suchiate"}, parent="MX-CHP"),
    *_areas("GT", "department", {
        "GT-01": "Guatemala", "GT-09": "Quetzaltenango", "GT-12": "San Marcos",
        "GT-13": "Huehuetenango", "GT-17": "Petén"}),
    *_areas("SV", "department", {"SV-SS": "San Salvador", "SV-SA": "Santa Ana",
                                 "SV-SM": "San Miguel"}),
    *_areas("US", "state", {"US-TX": "Texas", "US-LA": "Louisiana", "US-OK": "Oklahoma",
                            "US-CA": "California", "US-FL": "Florida", "US-NY": "New York"}),
]

CHILD_PROTECTION = ["reception", "psychosocial-care", "best-interests-determination",
                    "family-tracing", "repatriation", "reintegration"]
MIGRATION = ["repatriation"]
FOREIGN_MINISTRY = ["repatriation", "family-tracing"]
CONSULATE = ["repatriation", "family-tracing", "missing-child-alerts"]
OFFICE_HOURS = "Mon-Fri 08:00-16:00 local time"


def _contact(institution_id: str, country: str, n: int, mailbox: str = "contacto"
             ) -> list[dict[str, str]]:
    return [
        {"kind": "phone", "value": f"+000 {DIAL[country]} 555 {n:04d}", "note": ""},
        {"kind": "email", "value": f"{mailbox}@{institution_id}.example.org", "note": ""},
    ]


def _inst(id: str, name: str, acronym: str, type: str, competences: list[str], *,
          areas: list[str] | None = None, languages: list[str] | None = None,
          parent: str | None = None, gateway: bool = False, open_24_7: bool = False,
          translations: dict[str, str] | None = None) -> dict[str, Any]:
    country = id[:2].upper()
    langs = languages or ["es"]
    return {
        "id": id, "country": country, "name": name, "name_language": langs[0],
        "translations": translations or {}, "acronym": acronym, "type": type,
        "competences": competences, "areas": areas or [], "languages": langs,
        "channels": [*_contact(id, country, 100 + len(id)),
                     {"kind": "website", "value": f"https://{id}.example.org", "note": ""}],
        "hours": "24/7" if open_24_7 else OFFICE_HOURS, "open_24_7": open_24_7,
        "parent_id": parent, "gateway_country": country if gateway else None,
    }


def _consulate(country: str, city: str, areas: list[str], ministry: str, name: str
               ) -> dict[str, Any]:
    return _inst(f"{country.lower()}-consulado-{city.lower()}", name, "", "consulate", CONSULATE,
                 areas=areas, parent=ministry)


INSTITUTIONS: list[dict[str, Any]] = [
    _inst("bz-dhs", "Department of Human Services", "DHS", "child-protection-authority",
          CHILD_PROTECTION, languages=["en", "es"]),
    _inst("bz-ind", "Immigration and Nationality Department", "", "migration-authority",
          MIGRATION, languages=["en", "es"]),
    _inst("bz-mfa", "Ministry of Foreign Affairs", "MFA", "foreign-ministry", FOREIGN_MINISTRY,
          languages=["en"]),
    _inst("ca-ircc", "Immigration, Refugees and Citizenship Canada", "IRCC",
          "migration-authority", ["asylum"], languages=["en", "fr"],
          translations={"fr": "Immigration, Réfugiés et Citoyenneté Canada"}),
    _inst("ca-cbsa", "Canada Border Services Agency", "CBSA", "migration-authority", MIGRATION,
          languages=["en", "fr"], translations={"fr": "Agence des services frontaliers du Canada"}),
    _inst("ca-gac", "Global Affairs Canada", "GAC", "foreign-ministry", FOREIGN_MINISTRY,
          languages=["en", "fr"], translations={"fr": "Affaires mondiales Canada"}),
    _inst("cr-pani", "Patronato Nacional de la Infancia", "PANI", "child-protection-authority",
          CHILD_PROTECTION),
    _inst("cr-dgme", "Dirección General de Migración y Extranjería", "DGME",
          "migration-authority", MIGRATION),
    _inst("cr-mrec", "Ministerio de Relaciones Exteriores y Culto", "MREC", "foreign-ministry",
          FOREIGN_MINISTRY),
    _inst("do-conani", "Consejo Nacional para la Niñez y la Adolescencia", "CONANI",
          "child-protection-authority", CHILD_PROTECTION),
    _inst("do-dgm", "Dirección General de Migración", "DGM", "migration-authority", MIGRATION),
    _inst("do-mirex", "Ministerio de Relaciones Exteriores", "MIREX", "foreign-ministry",
          FOREIGN_MINISTRY),
    _inst("sv-conapina", "Consejo Nacional de la Primera Infancia, Niñez y Adolescencia",
          "CONAPINA", "child-protection-authority", CHILD_PROTECTION),
    _inst("sv-dgme", "Dirección General de Migración y Extranjería", "DGME",
          "migration-authority", MIGRATION),
    _inst("sv-rree", "Ministerio de Relaciones Exteriores", "RREE", "foreign-ministry",
          FOREIGN_MINISTRY),
    _consulate("SV", "Tapachula", ["MX-CHP"], "sv-rree",
               "Consulado de El Salvador en Tapachula"),
    _consulate("SV", "Houston", ["US-TX"], "sv-rree", "Consulado de El Salvador en Houston"),
    _inst("gt-sbs", "Secretaría de Bienestar Social de la Presidencia", "SBS",
          "child-protection-authority", CHILD_PROTECTION),
    _inst("gt-pgn", "Procuraduría General de la Nación", "PGN", "prosecutor",
          ["legal-representation", "missing-child-alerts", "best-interests-determination"]),
    _inst("gt-igm", "Instituto Guatemalteco de Migración", "IGM", "migration-authority",
          MIGRATION),
    _inst("gt-casa-nuestras-raices", "Casa Nuestras Raíces", "", "shelter",
          ["reception", "psychosocial-care"], parent="gt-sbs", open_24_7=True),
    _inst("gt-minex", "Ministerio de Relaciones Exteriores", "MINEX", "foreign-ministry",
          FOREIGN_MINISTRY),
    _consulate("GT", "Tapachula", ["MX-CHP"], "gt-minex",
               "Consulado de Guatemala en Tapachula"),
    _consulate("GT", "Houston", ["US-TX"], "gt-minex", "Consulado de Guatemala en Houston"),
    _inst("hn-senaf", "Secretaría de la Niñez, Adolescencia y Familia", "SENAF",
          "child-protection-authority", [*CHILD_PROTECTION, "missing-child-alerts"],
          gateway=True),
    _inst("hn-camr-belen", "Centro de Atención al Migrante Retornado Belén", "CAMR Belén",
          "shelter", ["reception", "psychosocial-care"], areas=["HN-CR"], open_24_7=True),
    _inst("hn-inm", "Instituto Nacional de Migración", "INM", "migration-authority", MIGRATION),
    _inst("hn-sreci", "Secretaría de Relaciones Exteriores y Cooperación Internacional",
          "SRECI", "foreign-ministry", FOREIGN_MINISTRY),
    _consulate("HN", "Tapachula", ["MX-CHP"], "hn-sreci", "Consulado de Honduras en Tapachula"),
    _consulate("HN", "Houston", ["US-TX"], "hn-sreci", "Consulado de Honduras en Houston"),
    _inst("mx-sndif", "Sistema Nacional para el Desarrollo Integral de la Familia", "SNDIF",
          "child-protection-authority", CHILD_PROTECTION, gateway=True),
    _inst("mx-pfpnna", "Procuraduría Federal de Protección de Niñas, Niños y Adolescentes",
          "PFPNNA", "child-protection-authority",
          ["legal-representation", "best-interests-determination"], parent="mx-sndif",
          gateway=True),
    _inst("mx-inm", "Instituto Nacional de Migración", "INM", "migration-authority", MIGRATION),
    _inst("mx-comar", "Comisión Mexicana de Ayuda a Refugiados", "COMAR",
          "migration-authority", ["asylum"]),
    _inst("mx-sre", "Secretaría de Relaciones Exteriores", "SRE", "foreign-ministry",
          FOREIGN_MINISTRY),
    _consulate("MX", "Houston", ["US-TX"], "mx-sre", "Consulado General de México en Houston"),
    _inst("ni-mifamilia", "Ministerio de la Familia, Adolescencia y Niñez", "MIFAMILIA",
          "child-protection-authority", CHILD_PROTECTION),
    _inst("ni-dgme", "Dirección General de Migración y Extranjería", "DGME",
          "migration-authority", MIGRATION),
    _inst("ni-minrex", "Ministerio de Relaciones Exteriores", "MINREX", "foreign-ministry",
          FOREIGN_MINISTRY),
    _inst("pa-senniaf", "Secretaría Nacional de Niñez, Adolescencia y Familia", "SENNIAF",
          "child-protection-authority", CHILD_PROTECTION),
    _inst("pa-snm", "Servicio Nacional de Migración", "SNM", "migration-authority", MIGRATION),
    _inst("pa-mire", "Ministerio de Relaciones Exteriores", "MIRE", "foreign-ministry",
          FOREIGN_MINISTRY),
    _inst("us-orr", "Office of Refugee Resettlement, Unaccompanied Children Program", "ORR",
          "child-protection-authority", ["reception", "family-tracing", "legal-representation"],
          languages=["en", "es"]),
    _inst("us-dhs", "Department of Homeland Security", "DHS", "migration-authority", MIGRATION,
          languages=["en", "es"]),
    _inst("us-dos", "U.S. Department of State", "DOS", "foreign-ministry", FOREIGN_MINISTRY,
          languages=["en"]),
]


def _fp(id: str, institution_id: str, kind: str, name: str, topics: list[str], *,
        title: str = "", areas: list[str] | None = None, languages: list[str] | None = None,
        always: bool = False, n: int = 0) -> dict[str, Any]:
    country = institution_id[:2].upper()
    return {
        "id": id, "institution_id": institution_id, "kind": kind, "name": name, "title": title,
        "topics": topics, "areas": areas or [], "languages": languages or ["es"],
        "channels": _contact(institution_id, country, n or 200 + len(id), id.split("-")[-1]),
        "availability": "24/7" if always else OFFICE_HOURS, "available_24_7": always,
    }


def _national_desk(institution: dict[str, Any], n: int) -> dict[str, Any]:
    english = "en" in institution["languages"][:1]
    name = "National referral desk" if english else "Mesa nacional de referencias"
    topics = [t for t in institution["competences"] if t != "missing-child-alerts"]
    return _fp(f"{institution['id']}-referencias", institution["id"], "desk", name, topics,
               languages=institution["languages"], n=n)


FOCAL_POINTS: list[dict[str, Any]] = [
    *(_national_desk(i, 300 + n) for n, i in enumerate(INSTITUTIONS)
      if i["type"] == "child-protection-authority"),
    _fp("hn-senaf-alertas", "hn-senaf", "desk", "Guardia de niñez no localizada",
        ["missing-child-alerts"], always=True, n=911),
    _fp("hn-senaf-sps", "hn-senaf", "person", "Karla Ejemplo Reyes",
        ["reception", "family-tracing", "missing-child-alerts"],
        title="Coordinadora regional, San Pedro Sula (ficticia)", areas=["HN-CR"], n=912),
    _fp("hn-camr-belen-guardia", "hn-camr-belen", "desk", "Recepción de niñez retornada",
        ["reception", "psychosocial-care"], always=True, n=913),
    _fp("hn-consulado-tapachula-proteccion", "hn-consulado-tapachula", "person",
        "Luis Ejemplo Turcios", ["repatriation", "family-tracing", "missing-child-alerts"],
        title="Cónsul de protección (ficticio)", always=True, n=914),
    _fp("gt-pgn-alertas", "gt-pgn", "desk", "Guardia del sistema de alerta Alba-Keneth",
        ["missing-child-alerts"], always=True, n=915),
    _fp("gt-consulado-tapachula-proteccion", "gt-consulado-tapachula", "desk",
        "Protección consular", ["repatriation", "family-tracing", "missing-child-alerts"],
        languages=["es", "mam"], always=True, n=916),
    _fp("sv-consulado-tapachula-proteccion", "sv-consulado-tapachula", "person",
        "Ana Ejemplo Martínez", ["repatriation", "family-tracing", "missing-child-alerts"],
        title="Cónsul (ficticia)", n=917),
    *(_fp(f"{c}-consulado-houston-proteccion", f"{c}-consulado-houston", "desk",
          "Protección consular", CONSULATE, languages=["es", "en"], n=918 + i)
      for i, c in enumerate(["gt", "hn", "sv", "mx"])),
    _fp("mx-sndif-chiapas", "mx-sndif", "person", "Rosa Ejemplo Hernández",
        ["reception", "best-interests-determination"],
        title="Enlace en Chiapas (ficticia)", areas=["MX-CHP"], n=922),
    _fp("us-orr-intake", "us-orr", "desk", "Intake", ["reception", "family-tracing"],
        languages=["en", "es"], always=True, n=923),
]

SEED: list[tuple[Kind, list[dict[str, Any]]]] = [
    (EDITABLE["areas"], AREA_ENTRIES), (EDITABLE["institutions"], INSTITUTIONS),
    (EDITABLE["focal-points"], FOCAL_POINTS),
]


def country_of(institution_id: str) -> str:
    return next(i["country"] for i in INSTITUTIONS if i["id"] == institution_id)


def serve_at_own_gateway(directory: DirectoryService, institution_id: str) -> None:
    """A hosted institution is reached through its country's gateway (a country added to
    the demo with `enlace up --countries` has none named in the seed)."""
    if directory.institution(institution_id).gateway_country is None:
        directory.update(SEED_ACTOR, EDITABLE["institutions"], institution_id,
                         InstitutionUpdate(gateway_country=country_of(institution_id)))


def provision_directory(url: str, gateway_tokens: dict[str, str], admin_token: str,
                        demo_tokens: dict[str, str] | None = None,
                        registry_token: str | None = None) -> None:
    """Migrate, load what is missing of the seed (entries changed since are left alone),
    and issue the tokens: gateways', the regional administrator's, `demo_tokens` (names
    of DEMO_USERS) and the registry's own (`regional_service`: reads and introspects)."""
    migrate("services.directory", url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        directory = DirectoryService(session)
        for code, name, name_es, member in COUNTRIES:
            directory.upsert_country(SEED_ACTOR, code, name, name_es, member)
        for kind, entries in SEED:
            known = directory.repo.existing_ids(kind.model, (e["id"] for e in entries))
            missing = [e for e in entries if e["id"] not in known]
            if missing:
                directory.import_entries(SEED_ACTOR, kind, list(enumerate(missing, start=1)))
        for institution_id, token in gateway_tokens.items():
            serve_at_own_gateway(directory, institution_id)
            issue_token(session, institution_id, country_of(institution_id), Role.gateway, token,
                        label="gateway")
        issue_token(session, SECRETARIAT, "", Role.regional_admin, admin_token,
                    label="demo regional administrator")
        if registry_token:
            issue_token(session, REGISTRY_SERVICE, "", Role.regional_service, registry_token,
                        label="the registry")
        for name, token in (demo_tokens or {}).items():
            institution_id, role = DEMO_USERS[name]
            issue_token(session, institution_id, country_of(institution_id), role, token,
                        label=f"demo {name}")
    engine.dispose()
