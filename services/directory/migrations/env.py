from services.directory.models import MODELS
from shared.migrations_env import metadata_of, run_migrations

run_migrations(metadata_of(MODELS))
