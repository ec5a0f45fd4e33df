from services.exchange.models import TABLES
from shared.migrations_env import metadata_of, run_migrations

run_migrations(metadata_of(TABLES))
