"""A directory created before areas and focal points existed upgrades in place, and its
institutions are found by the new search at once."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from services.directory.service import DirectoryService
from shared.kit.db import make_engine, migrate, session_scope
from tests.inprocess import database_fixture

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "directory" / "migrations"


database_url = database_fixture("directory")


def test_institutions_of_the_first_schema_are_found_after_the_upgrade(database_url: str):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    config.attributes["configure_logging"] = False
    command.upgrade(config, "0001")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO countries (code, name, name_es, crm_member) "
                          "VALUES ('HN', 'Honduras', 'Honduras', true)"))
        conn.execute(text(
            "INSERT INTO institutions (id, country, name, acronym, type, competences, active, "
            "created_at) VALUES ('hn-senaf', 'HN', 'Secretaría de la Niñez', 'SENAF', "
            "'child-protection-authority', '[\"reception\", \"family-tracing\"]', true, "
            "CURRENT_TIMESTAMP)"))
    engine.dispose()

    migrate("services.directory", database_url)

    engine = make_engine(database_url)
    with engine.begin() as conn:  # an area added after the upgrade
        conn.execute(text("INSERT INTO areas (id, country, name, kind, active, created_at, "
                          "updated_at) VALUES ('HN-CR', 'HN', 'Cortés', 'department', true, "
                          "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    with session_scope(engine) as session:
        directory = DirectoryService(session)
        found, _ = directory.search_institutions(q="secretaria ninez",
                                                 competence="family-tracing")
        assert [i.id for i in found] == ["hn-senaf"]
        assert found[0].areas == [] and found[0].channels == []
        assert directory.repo.version() == 0
        # National coverage: found in any area of its country.
        assert [i.id for i in directory.search_institutions(area="HN-CR")[0]] == ["hn-senaf"]
    engine.dispose()
