"""Alembic environment: runs on the connection the app's ``db`` commands hand it."""

from alembic import context

import app.models  # noqa: F401  (registers every table on the metadata)
from app.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("Run migrations through the app: flask --app app db upgrade")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode recreates the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    user_module_prefix="app.db.",
)
with context.begin_transaction():
    context.run_migrations()
