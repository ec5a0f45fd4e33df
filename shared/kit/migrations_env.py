"""The body of every service's Alembic env.py: online migrations against one URL."""

from __future__ import annotations

from collections.abc import Iterable

from alembic import context
from sqlalchemy import MetaData, create_engine, pool
from sqlmodel import SQLModel


def metadata_of(models: Iterable[type[SQLModel]]) -> MetaData:
    """A MetaData holding only one service's tables (SQLModel keeps all in one)."""
    metadata = MetaData()
    for model in models:
        SQLModel.metadata.tables[str(model.__tablename__)].to_metadata(metadata)
    return metadata


def run_migrations(target_metadata: MetaData) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by the caller"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
