"""Moderation: moderator accounts, flags, an append-only audit log, a watch list, public tallies.

Revision ID: 3b05f134c923
Revises: 6fadebd11c8e
Create Date: 2026-11-25 15:24:57.135324
"""

from collections.abc import Sequence

import unicodedata

import sqlalchemy as sa
from alembic import op

revision: str = "3b05f134c923"
down_revision: str | None = "6fadebd11c8e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Public figures whose names are often faked on open letters; moderators can add more.
WATCH_LIST = (
    "Elon Musk", "Sam Altman", "Mark Zuckerberg", "Sundar Pichai", "Satya Nadella", "Tim Cook",
    "Jeff Bezos", "Bill Gates", "Larry Page", "Sergey Brin", "Jensen Huang", "Demis Hassabis",
    "Dario Amodei", "Mustafa Suleyman", "Ilya Sutskever", "Greg Brockman", "Geoffrey Hinton",
    "Yoshua Bengio", "Yann LeCun", "Warren Buffett", "Xi Jinping", "Vladimir Putin", "Joe Biden",
    "Donald Trump", "Barack Obama", "Kamala Harris", "Emmanuel Macron", "Keir Starmer", "Rishi Sunak",
    "Olaf Scholz", "Ursula von der Leyen", "Justin Trudeau", "Narendra Modi", "Shigeru Ishiba",
    "Volodymyr Zelensky", "Benjamin Netanyahu", "Recep Tayyip Erdoğan", "Kim Jong Un", "Lee Jae-myung",
    "Yoon Suk Yeol", "Moon Jae-in", "Pope Francis", "Pope Leo XIV", "Taylor Swift", "Hayao Miyazaki",
    "Steven Spielberg", "Greta Thunberg", "Oprah Winfrey",
    "김정은", "이재명", "윤석열", "문재인",
)  # fmt: skip


def _name_key(name: str) -> str:
    """A frozen copy of app.text.name_key at the time of this migration."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    kept = "".join(c if c.isalnum() else " " for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(kept.split())


def upgrade() -> None:
    op.create_table('moderators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('moderator', 'admin', name='moderatorrole', native_enum=False, length=20), nullable=False),
    sa.Column('session_token', sa.String(length=64), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderators')),
    sa.UniqueConstraint('email', name=op.f('uq_moderators_email'))
    )
    op.create_table('organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('domain', name=op.f('uq_organisations_domain'))
    )
    op.create_table('watch_names',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_watch_names')),
    sa.UniqueConstraint('key', name=op.f('uq_watch_names_key'))
    )
    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('moderator_id', sa.Integer(), nullable=True),
    sa.Column('moderator_email', sa.String(length=320), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=True),
    sa.Column('signature_ids', sa.Text(), nullable=False),
    sa.Column('signature_count', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_audit_entries_letter_id_letters'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['moderator_id'], ['moderators.id'], name=op.f('fk_audit_entries_moderator_id_moderators'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_letter_at', ['letter_id', 'at'], unique=False)

    op.create_table('letter_tallies',
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_letter_tallies_letter_id_letters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('letter_id', 'name', name=op.f('pk_letter_tallies'))
    )
    op.create_table('flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('signature_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('watchlist', 'disposable', 'network_burst', 'similar_names', 'affiliation', 'report', name='flagkind', native_enum=False, length=20), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('contact', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_flags_letter_id_letters'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signature_id'], ['signatures.id'], name=op.f('fk_flags_signature_id_signatures'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flags'))
    )
    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.create_index('ix_flags_open', ['letter_id', 'resolved_at', 'signature_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_flags_signature_id'), ['signature_id'], unique=False)

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moderation_mode', sa.String(length=10), nullable=False, server_default='post'))

    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_domain', sa.String(length=255), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('removal_reason', sa.Enum('fake', 'duplicate', 'abuse', 'other', name='removalreason', native_enum=False, length=20), nullable=True))
        batch_op.add_column(sa.Column('moderator_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('verified_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('founding', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index('ix_signatures_domain', ['letter_id', 'email_domain'], unique=False)
        batch_op.create_index('ix_signatures_moderation', ['letter_id', 'created_at', 'id'], unique=False)

    # The defaults above fill existing rows; new rows get their values from the application.
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.alter_column("moderation_mode", server_default=None)
    with op.batch_alter_table("signatures", schema=None) as batch_op:
        batch_op.alter_column("email_domain", server_default=None)
        batch_op.alter_column("founding", server_default=None)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("UPDATE signatures SET email_domain = lower(split_part(email, '@', 2)) WHERE email LIKE '%@%'")
        op.execute(
            """
            CREATE FUNCTION audit_entries_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit entries cannot be changed or deleted';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries "
            "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()"
        )
    else:
        op.execute(
            "UPDATE signatures SET email_domain = lower(substr(email, instr(email, '@') + 1)) WHERE email LIKE '%@%'"
        )
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_entries_no_{event.lower()} BEFORE {event} ON audit_entries "
                "BEGIN SELECT RAISE(ABORT, 'audit entries cannot be changed or deleted'); END"
            )

    watch_names = sa.table("watch_names", sa.column("name", sa.String), sa.column("key", sa.String))
    op.bulk_insert(watch_names, [{"name": name, "key": _name_key(name)} for name in WATCH_LIST])



def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries")
        op.execute("DROP FUNCTION IF EXISTS audit_entries_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_delete")
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_index('ix_signatures_moderation')
        batch_op.drop_index('ix_signatures_domain')
        batch_op.drop_column('founding')
        batch_op.drop_column('verified_note')
        batch_op.drop_column('verified_at')
        batch_op.drop_column('moderator_note')
        batch_op.drop_column('removal_reason')
        batch_op.drop_column('email_domain')

    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_column('moderation_mode')

    with op.batch_alter_table('flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flags_signature_id'))
        batch_op.drop_index('ix_flags_open')

    op.drop_table('flags')
    op.drop_table('letter_tallies')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_letter_at')

    op.drop_table('audit_entries')
    op.drop_table('watch_names')
    op.drop_table('organisations')
    op.drop_table('moderators')
