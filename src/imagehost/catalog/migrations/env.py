"""Alembic environment: the connection is handed in by imagehost.catalog.database.migrate.

After the migrations, what they must not lose is checked: the triggers keeping the counts per
status, and (SQLite) the data-key indexes a migration rebuilding `images` dropped and the
planner's statistics."""

from alembic import context
from sqlalchemy import inspect

from imagehost.catalog import data_indexes
from imagehost.catalog.models import Base
from imagehost.catalog.status_counts import ensure_count_triggers

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    indexed = (data_indexes.listing(connection) if inspect(connection).has_table("images")
               else [])
    context.run_migrations()
    if inspect(connection).has_table("images"):
        ensure_count_triggers(connection)
        data_indexes.restore(connection, indexed)
        data_indexes.ensure_statistics(connection)
