from services.exchange.models import MODELS
from shared.kit.migrations_env import metadata_of, run_migrations

run_migrations(metadata_of(MODELS))
