"""Delivery PDFs and their parts in the database, not on a worker's disk.

App servers and workers may run on different machines; a PDF made by one worker, part by part
over several jobs' steps, must be readable by whichever app server sends it.

Revision ID: b8d2f4a6c1e3
Revises: f3c1a5e7b9d2
Create Date: 2026-12-03 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b8d2f4a6c1e3"
down_revision: str | None = "f3c1a5e7b9d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table (PDFs made before it were files: their pages make them again)."""
    op.create_table(
        "delivery_files",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_delivery_files_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "name", name=op.f("pk_delivery_files")),
    )


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("delivery_files")
