"""Alembic environment: runs on the connection the app's ``db`` commands hand it."""

import re

from alembic import context

import app.models  # noqa: F401  (registers every table on the metadata)
from app.db import Base

# Made by hand in the text-search migration; the models cannot describe them.
SEARCH_OBJECTS = re.compile(r"^(signatures_(email_)?fts(_\w+)?|ix_signatures_\w+_trgm|ix_signatures_name_nocase)$")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave the text-search tables and indexes out of autogenerate's comparison."""
    return not (name and type_ in {"table", "index"} and SEARCH_OBJECTS.match(name))


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
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
