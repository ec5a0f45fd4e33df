"""Autogenerate a migration for one service against a scratch SQLite database.

Usage: python scripts/new_migration.py <service> "<message>"
"""

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config

from shared.kit.db import migrate


def main() -> None:
    service, message = sys.argv[1], sys.argv[2]
    package = f"services.{service}"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/scratch.db"
        migrate(package, url)
        cfg = Config()
        cfg.set_main_option("script_location", str(Path("services") / service / "migrations"))
        cfg.set_main_option("sqlalchemy.url", url)
        versions = Path("services") / service / "migrations" / "versions"
        rev_id = f"{len(list(versions.glob('*.py'))) + 1:04d}"
        command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)


if __name__ == "__main__":
    main()
