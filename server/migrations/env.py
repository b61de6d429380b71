"""Alembic environment for the server database (run through ``outpost-server db``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from server.models import ServerBase

config = context.config
target_metadata = ServerBase.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through server.migrate, which passes a connection")
run_migrations(connection)
