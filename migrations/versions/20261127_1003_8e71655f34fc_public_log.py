"""The public log: events, complete subtree hashes, signed tree heads, snapshots.

Each letter's list changes are appended to a Merkle tree (see app/services/log.py). New tables
only: nothing here touches the signatures table (its SQLite text-search triggers stay).

Revision ID: 8e71655f34fc
Revises: 5e2a9c41b7d3
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '8e71655f34fc'
down_revision: str | None = '5e2a9c41b7d3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('log_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('signature_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=10), nullable=False),
    sa.Column('listed', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('leaf', sa.Text(), nullable=False),
    sa.Column('leaf_hash', sa.String(length=64), nullable=False),
    sa.Column('fields', sa.Text(), nullable=True),
    sa.Column('salt', sa.String(length=64), nullable=True),
    sa.Column('leaf_index', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_log_events_letter_id_letters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_events')),
    sa.UniqueConstraint('letter_id', 'leaf_index', name=op.f('uq_log_events_letter_id_leaf_index'))
    )
    op.create_index('ix_log_events_signature', 'log_events', ['letter_id', 'signature_id', 'leaf_index'])
    op.create_index(
        'ix_log_events_unsequenced',
        'log_events',
        ['letter_id', 'id'],
        sqlite_where=sa.text('leaf_index IS NULL'),
        postgresql_where=sa.text('leaf_index IS NULL'),
    )

    op.create_table('log_heads',
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('tree_size', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.String(length=64), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('signature', sa.String(length=100), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_log_heads_letter_id_letters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('letter_id', 'tree_size', name=op.f('pk_log_heads'))
    )
    op.create_table('log_nodes',
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_log_nodes_letter_id_letters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('letter_id', 'level', 'index', name=op.f('pk_log_nodes'))
    )
    op.create_table('log_snapshots',
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('tree_size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_log_snapshots_letter_id_letters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('letter_id', 'day', name=op.f('pk_log_snapshots'))
    )
    op.create_table('log_states',
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('tree_size', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_log_states_letter_id_letters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('letter_id', name=op.f('pk_log_states'))
    )


def downgrade() -> None:
    op.drop_table('log_states')
    op.drop_table('log_snapshots')
    op.drop_table('log_nodes')
    op.drop_table('log_heads')
    op.drop_index('ix_log_events_unsequenced', table_name='log_events')
    op.drop_index('ix_log_events_signature', table_name='log_events')
    op.drop_table('log_events')
