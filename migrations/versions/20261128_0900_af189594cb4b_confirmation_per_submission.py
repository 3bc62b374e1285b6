"""A confirmation link per submission: signing again before confirming makes the older links stop confirming.

Signatures count their submissions (1 for every existing row, the server default); a
confirmation token records the submission its mail showed. Of the confirmation links already
sent, only each signature's newest keeps working: it is the one whose mail showed the details
stored now (an address signed again sent a newer mail), and the others answer that a newer
request was made.

Revision ID: af189594cb4b
Revises: 8e71655f34fc
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "af189594cb4b"
down_revision: str | None = "8e71655f34fc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch mode): a batch migration would rebuild the signatures table on
    # SQLite and drop the text-search triggers with it. The server default stays: it is what
    # every row written before this revision means (one submission).
    op.add_column("signatures", sa.Column("submission", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("tokens", sa.Column("submission", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE tokens SET submission = 1 WHERE purpose = 'confirm' AND id IN "
        "(SELECT max(id) FROM tokens WHERE purpose = 'confirm' GROUP BY signature_id)"
    )


def downgrade() -> None:
    op.drop_column("tokens", "submission")
    op.drop_column("signatures", "submission")
