"""The data: letters, signatures, their single-use tokens, the mail outbox and the background jobs."""

from __future__ import annotations

import enum
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from app.db import Base, utcnow

# Row ids (and version numbers) are "integer" columns, 32-bit on PostgreSQL: a bigger number
# cannot be compared with them, so it never reaches a query (see app.urls.IdConverter).
MAX_ROW_ID = 2**31 - 1


def _enum(cls: type[enum.Enum]) -> sa.Enum:
    """Store an enum by its value as a short string, portable across databases."""
    return sa.Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=20,
        values_callable=lambda members: [m.value for m in members],
    )


class LetterCounterShard(Base):
    """One of a letter's counter rows: confirmations add to one of several, so they rarely wait for each other.

    A letter's count is its folded count plus the sum of its shards (see services.counting).
    """

    __tablename__ = "letter_counter_shards"

    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"), primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(default=0)


@dataclass(frozen=True)
class LetterText:
    """What a reader sees of a letter in one language."""

    lang: str
    title: str
    summary: str
    body_html: str
    # The version of the letter's own text this text is of (a translation may lag behind).
    version: int = 1


def _primary(lang: str) -> str:
    return lang.split("-", 1)[0]


class Letter(Base):
    """An open letter: its text, its state, and its exact count of confirmed signatures."""

    __tablename__ = "letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    summary: Mapped[str] = mapped_column(sa.String(500), default="")
    body_markdown: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    lang: Mapped[str] = mapped_column(sa.String(10), default="en")
    featured: Mapped[bool] = mapped_column(default=False)
    # A draft is seen by moderators only: every public page, list and feed answers as if it did not exist.
    draft: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A private letter (a draft with invitations) launches by itself at this time, through the
    # worker (see app.services.invitations); None: only when an admin launches it.
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    goal: Mapped[int | None]
    # "post": a confirmed signature shows at once; "pre": only after a moderator approves it.
    moderation_mode: Mapped[str] = mapped_column(sa.String(10), default="post")
    # The part of the count folded into the letter's own row (by a recount); changes add to the
    # shards instead, so that concurrent confirmations do not queue for this row's lock.
    folded_count: Mapped[int] = mapped_column("signature_count", default=0)
    # The exact count, read with the letter in the same query: the folded count plus the shards
    # (a primary-key range of at most COUNTER_SHARDS rows). Kept exact in the same transaction
    # as every change that affects it; see services.counting.
    signature_count: Mapped[int] = column_property(
        folded_count
        + sa.select(sa.func.coalesce(sa.func.sum(LetterCounterShard.value), 0))
        .where(LetterCounterShard.letter_id == id)
        .correlate_except(LetterCounterShard)
        .scalar_subquery()
    )
    # The number of the newest LetterVersion, kept in step with it so that signing reads it from
    # this row (no query of its own).
    current_version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Privacy after the letter ends (app.services.after_close): a sensitive letter's downloads
    # give only the count and the tiers; noindex_signers asks search engines to leave its list and
    # signers' pages out; hide_names_after_close takes the names off every public surface once
    # signing closes (names_hidden_at: when that was done, in the log too); after
    # personal_data_until the purge erases the signers' personal data (personal_data_erased_at).
    sensitive: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    noindex_signers: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    hide_names_after_close: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    personal_data_until: Mapped[date | None]
    names_hidden_at: Mapped[datetime | None]
    personal_data_erased_at: Mapped[datetime | None]
    # Reminders REMINDER_DAYS_BEFORE_CLOSE days before closes_at (app.services.reminders): to the
    # organisers who asked (once: closing_reminded_at) and to each unconfirmed signer (once each).
    remind_before_close: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    closing_reminded_at: Mapped[datetime | None]

    translations: Mapped[list[LetterTranslation]] = relationship(
        back_populates="letter", cascade="all, delete-orphan", order_by="LetterTranslation.lang"
    )

    def text_in(self, lang: str) -> LetterText:
        """The letter in ``lang`` if it has that translation (or one in the same language), else its own text."""
        wanted = lang.replace("_", "-").lower()
        exact = [t for t in self.translations if t.lang == wanted]
        near = [t for t in self.translations if _primary(t.lang) == _primary(wanted)]
        choices: list[LetterTranslation] = []
        if self.lang != wanted:
            choices = exact or ([] if _primary(self.lang) == _primary(wanted) else near)
        if not choices:
            return LetterText(self.lang, self.title, self.summary, self.body_html, self.current_version)
        chosen = choices[0]
        return LetterText(chosen.lang, chosen.title, chosen.summary, chosen.body_html, chosen.letter_version)

    def is_closed(self, now: datetime) -> bool:
        """Whether signing has ended, by the CLI or by the closing date."""
        return self.closed_at is not None or (self.closes_at is not None and self.closes_at <= now)

    @property
    def names_hidden(self) -> bool:
        """Whether its signers' names are off every public surface (and their openings off the log)."""
        return self.names_hidden_at is not None


class LetterTranslation(Base):
    """The letter's text in another language; signatures, count and dates stay the letter's own."""

    __tablename__ = "letter_translations"
    __table_args__ = (sa.UniqueConstraint("letter_id", "lang"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"))
    lang: Mapped[str] = mapped_column(sa.String(10))
    title: Mapped[str] = mapped_column(sa.String(300))
    summary: Mapped[str] = mapped_column(sa.String(500), default="")
    body_markdown: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    # The version of the letter's own text this translation was last loaded for: a translation
    # older than the letter's current version says so on the page.
    letter_version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    letter: Mapped[Letter] = relationship(back_populates="translations")


class LetterVersion(Base):
    """One published text of a letter (in its own language); a new one whenever the text changes.

    Versions are never changed or deleted: each signature records the number of the one it was
    signed under, and the history page shows what changed from one to the next.
    """

    __tablename__ = "letter_versions"
    __table_args__ = (sa.UniqueConstraint("letter_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"))
    # 1, 2, ... in order of publication.
    number: Mapped[int]
    lang: Mapped[str] = mapped_column(sa.String(10))
    title: Mapped[str] = mapped_column(sa.String(300))
    summary: Mapped[str] = mapped_column(sa.String(500), default="")
    body_markdown: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A change of substance (as the admin judged it): the signers who asked for updates are told.
    material: Mapped[bool] = mapped_column(default=False)
    # What changed, in a sentence, shown on the history page and in the mail to signers.
    note: Mapped[str] = mapped_column(sa.String(500), default="")


def new_page_key() -> str:
    """A fresh key for a signer's own page (128 random bits, URL-safe)."""
    return secrets.token_urlsafe(16)


class SignatureStatus(enum.StrEnum):
    """Where a signature is in its life; only confirmed ones count."""

    UNCONFIRMED = "unconfirmed"
    # Held back by a bot or flood check: not mailed, not counted, not listed; purged like
    # unconfirmed ones. Signing again from the form without tripping a check releases it.
    SUSPECT = "suspect"
    CONFIRMED = "confirmed"
    # Confirmed by email on a letter in pre-moderation: counts and shows once approved.
    PENDING = "pending"
    # Hidden by a moderator (reversible): not counted, not listed.
    HIDDEN = "hidden"
    # Taken back by the signer: a tombstone without personal data, kept for the count history.
    WITHDRAWN = "withdrawn"
    # Deleted for good by a moderator: a tombstone like a withdrawal, with the reason.
    REMOVED = "removed"


class RemovalReason(enum.StrEnum):
    """Why a moderator hid or removed a signature (published as numbers only, never names)."""

    FAKE = "fake"
    DUPLICATE = "duplicate"
    ABUSE = "abuse"
    OTHER = "other"


class SuspectReason(enum.StrEnum):
    """Why a signature was held back as suspect."""

    HONEYPOT = "honeypot"
    TOO_FAST = "too_fast"
    NO_FORM_TIME = "no_form_time"
    NETWORK_FLOOD = "network_flood"
    CAPTCHA = "captcha"


class Signature(Base):
    """One person's signature on one letter; the email is private and unique per letter."""

    __tablename__ = "signatures"
    __table_args__ = (
        sa.UniqueConstraint("letter_id", "email_key"),
        # The public list and its keyset pagination: newest confirmed first. Signatures counted
        # while awaiting review have their own range, so the list never walks past them.
        sa.Index("ix_signatures_listing", "letter_id", "status", "unlisted_until_review", "confirmed_at", "id"),
        # The purge: unconfirmed and suspect signatures by age; network hashes by age.
        sa.Index("ix_signatures_status_created", "status", "created_at"),
        sa.Index("ix_signatures_created", "created_at"),
        # Moderators' queue and search: by letter, newest first; by domain; by network, to see a burst.
        sa.Index("ix_signatures_moderation", "letter_id", "created_at", "id"),
        sa.Index("ix_signatures_domain", "letter_id", "email_domain"),
        sa.Index("ix_signatures_network", "letter_id", "network_hash", "created_at"),
        # The few verified and founding signatories, newest first, without walking the whole list
        # (with the same columns as the listing index before the order, or SQLite would rather walk that).
        sa.Index(
            "ix_signatures_verified",
            "letter_id",
            "status",
            "unlisted_until_review",
            "confirmed_at",
            "id",
            sqlite_where=sa.text("verified_at IS NOT NULL"),
            postgresql_where=sa.text("verified_at IS NOT NULL"),
        ),
        sa.Index(
            "ix_signatures_founding",
            "letter_id",
            "status",
            "unlisted_until_review",
            "confirmed_at",
            "id",
            sqlite_where=sa.text("founding = 1"),
            postgresql_where=sa.text("founding = true"),
        ),
        # Signers who show the domain they confirmed with: the list filtered to them.
        sa.Index(
            "ix_signatures_confirmed_domain",
            "letter_id",
            "status",
            "unlisted_until_review",
            "confirmed_at",
            "id",
            sqlite_where=sa.text("confirmed_domain IS NOT NULL"),
            postgresql_where=sa.text("confirmed_domain IS NOT NULL"),
        ),
        # The signers of a letter who want its updates by email, for expanding an update into mail.
        sa.Index(
            "ix_signatures_update_recipients",
            "letter_id",
            "id",
            sqlite_where=sa.text("wants_updates = 1"),
            postgresql_where=sa.text("wants_updates = true"),
        ),
        # The signer's own page, found by the key its link names.
        sa.Index("ix_signatures_page_key", "page_key", unique=True),
        # The moderators' dashboard: signatures awaiting confirmation by hour (the purge keeps them few).
        sa.Index(
            "ix_signatures_unconfirmed",
            "letter_id",
            "created_at",
            sqlite_where=sa.text("status = 'unconfirmed'"),
            postgresql_where=sa.text("status = 'unconfirmed'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"))
    status: Mapped[SignatureStatus] = mapped_column(_enum(SignatureStatus), default=SignatureStatus.UNCONFIRMED)
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(320))
    # The address folded for comparison: one signature per address and letter.
    email_key: Mapped[str] = mapped_column(sa.String(320))
    affiliation: Mapped[str | None] = mapped_column(sa.String(200))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    public: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str] = mapped_column(sa.String(10), default="en")
    suspect_reason: Mapped[SuspectReason | None] = mapped_column(_enum(SuspectReason))
    # The domain of the address, for moderators' search and the automatic flags.
    email_domain: Mapped[str] = mapped_column(sa.String(255), default="")
    # Moderation: why it was hidden or removed (and a note only moderators see).
    removal_reason: Mapped[RemovalReason | None] = mapped_column(_enum(RemovalReason))
    moderator_note: Mapped[str | None] = mapped_column(sa.Text)
    # A notable signatory whose identity a moderator checked; the note says how (private).
    verified_at: Mapped[datetime | None]
    verified_note: Mapped[str | None] = mapped_column(sa.Text)
    # One of the first signatories, loaded before launch and shown apart.
    founding: Mapped[bool] = mapped_column(default=False)
    # The signer asked to show the domain of their address ("confirmed via @example.edu").
    show_domain: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Set when confirmed, if show_domain and the domain is not public webmail or disposable: the
    # domain the address that confirmed is at (never the address itself).
    confirmed_domain: Mapped[str | None] = mapped_column(sa.String(255))
    # The number of the letter's version (LetterVersion.number) in force when this was signed.
    letter_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # Which submission of the form the details come from: 1, and one more each time the address
    # signs again before confirming. A confirmation link confirms only the submission it was
    # sent for, so no one who knows the address can change what its owner confirms.
    submission: Mapped[int] = mapped_column(default=1, server_default="1")
    # The signer asked to be emailed the letter's updates and material changes of its text
    # (consent; erased with the signature).
    wants_updates: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Flagged on the watch list or as a disposable address (see app.services.flags.HOLDING): counted
    # once confirmed, but kept off the public list until a moderator approves it or dismisses the
    # flags. Not set when LIST_FLAGGED is true.
    unlisted_until_review: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Names the signature in the link to the signer's own page (app.mail.links), which adds an
    # HMAC of it made with SECRET_KEY: the key alone opens nothing. None once erased.
    page_key: Mapped[str | None] = mapped_column(sa.String(32), default=new_page_key)
    # A keyed hash of the signer's network (never the raw address), erased after IP_RETENTION_DAYS.
    network_hash: Mapped[str | None] = mapped_column(sa.String(64))
    # Seconds between the form being shown and sent back (None without a valid time stamp): what a
    # moderator reads to judge a signature held as too fast.
    fill_seconds: Mapped[float | None] = mapped_column(sa.Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    # When the one reminder before the letter closes was sent to this unconfirmed signer.
    reminded_at: Mapped[datetime | None]

    letter: Mapped[Letter] = relationship()
    tokens: Mapped[list[Token]] = relationship(back_populates="signature", cascade="all, delete-orphan")

    @hybrid_property
    def listed(self) -> bool:
        """Whether the signature is on the public list: the one rule every public reader follows.

        Confirmed (counted), shown by the signer's choice, and not waiting for a moderator's
        review. In a query it is the condition of ``listed_terms``.
        """
        return self.status == SignatureStatus.CONFIRMED and self.public and not self.unlisted_until_review

    @listed.inplace.expression
    @classmethod
    def _listed_expression(cls) -> sa.ColumnElement[bool]:
        return sa.and_(*listed_terms(cls))

    @property
    def named(self) -> bool:
        """Listed, on a letter whose names are shown: whether the public list and the log name it."""
        return self.listed and not self.letter.names_hidden


def listed_terms(columns: Any = Signature) -> tuple[sa.ColumnElement[bool], ...]:
    """The conditions of ``Signature.listed`` on ``columns`` (the Signature entity, or a subquery's ``.c``).

    Written as equalities the listing index (and the partial indexes beside it) can seek on:
    ``= false`` rather than ``IS false``.
    """
    return (
        columns.status == SignatureStatus.CONFIRMED,
        columns.public.is_(True),
        columns.unlisted_until_review == sa.false(),
    )


class TokenPurpose(enum.StrEnum):
    """What a token lets its holder do."""

    CONFIRM = "confirm"
    WITHDRAW = "withdraw"


class Token(Base):
    """A single-use, expiring token; only its SHA-256 is stored."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    signature_id: Mapped[int] = mapped_column(sa.ForeignKey("signatures.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(_enum(TokenPurpose))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # A confirmation link's submission of the signature (Signature.submission): the details its
    # mail showed. None for other purposes.
    submission: Mapped[int | None]

    signature: Mapped[Signature] = relationship(back_populates="tokens")


# Here, below the mail that states them and the services that issue them.
@dataclass(frozen=True)
class TokenLifetimes:
    """How long the links in a mail work: the only reader of CONFIRM_TOKEN_DAYS and WITHDRAW_TOKEN_DAYS."""

    confirm: timedelta
    withdraw: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TokenLifetimes:
        """The lifetimes set by CONFIRM_TOKEN_DAYS and WITHDRAW_TOKEN_DAYS."""
        return cls(
            confirm=timedelta(days=config["CONFIRM_TOKEN_DAYS"]), withdraw=timedelta(days=config["WITHDRAW_TOKEN_DAYS"])
        )


class OutboxStatus(enum.StrEnum):
    """Delivery state of an outbox message."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    # Kept for messages written before link requests became jobs; no message is discarded now.
    DISCARDED = "discarded"


class OutboxMessage(Base):
    """An email written in the same transaction as the change that caused it, sent later."""

    __tablename__ = "outbox_messages"
    __table_args__ = (sa.Index("ix_outbox_messages_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    # The signature a message is about: its mail goes when the signature is erased or purged.
    signature_id: Mapped[int | None] = mapped_column(sa.ForeignKey("signatures.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    # Stable across retries, so a receiver can drop a duplicate of an at-least-once delivery.
    message_id: Mapped[str] = mapped_column(sa.String(250), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A worker leases the rows it is sending; an expired lease means the worker died.
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # Extra headers for this message as a JSON object (e.g. List-Unsubscribe on updates).
    headers: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    signature: Mapped[Signature | None] = relationship()


class JobStatus(enum.StrEnum):
    """Where a background job stands."""

    PENDING = "pending"
    DONE = "done"
    # Tried MAX_ATTEMPTS times, failing each time: the last error says why.
    FAILED = "failed"
    # Nothing to do after all (a link asked for by an address that has none due), or refused
    # when asked (over the address's mail limit): recorded so that asking costs the same.
    DISCARDED = "discarded"


class Job(Base):
    """Background work that is not a message: a kind, its data, how far it got, and a lease.

    ``kind`` names the handler (see ``app.jobs.HANDLERS``); ``payload`` is its data, a JSON
    object; ``cursor`` is how far a job done in steps has got (the last signature id reached by
    a fan-out). A worker leases the jobs it runs (``claimed_until``); an expired lease means it
    died, and another takes the job over.
    """

    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_due", "status", "run_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    cursor: Mapped[int] = mapped_column(default=0)
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class ModeratorRole(enum.StrEnum):
    """What a moderator account may do; admins also manage letters."""

    MODERATOR = "moderator"
    ADMIN = "admin"


class Moderator(Base):
    """A person who reviews signatures; the password is stored as an Argon2 hash."""

    __tablename__ = "moderators"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[ModeratorRole] = mapped_column(_enum(ModeratorRole), default=ModeratorRole.MODERATOR)
    # Changes on a password reset or when disabled, so that every session signed in before ends.
    session_token: Mapped[str] = mapped_column(sa.String(64))
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    @property
    def is_admin(self) -> bool:
        """Whether this account may manage letters too."""
        return self.role == ModeratorRole.ADMIN


class ModeratorInvitation(Base):
    """An admin's invitation to a new moderator: a single-use link, stored as its hash, that expires.

    The invitee opens the link and sets their own password; the account is made then, with the
    role the admin chose. A new invitation to the same address replaces one not yet used.
    """

    __tablename__ = "moderator_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), index=True)
    role: Mapped[ModeratorRole] = mapped_column(_enum(ModeratorRole))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # Who invited (the address copied, as in the audit log, so it outlives the account).
    invited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("moderators.id", ondelete="SET NULL"))
    invited_by_email: Mapped[str] = mapped_column(sa.String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class FlagKind(enum.StrEnum):
    """Why a signature was put in the review queue."""

    WATCHLIST = "watchlist"
    DISPOSABLE = "disposable"
    NETWORK_BURST = "network_burst"
    SIMILAR_NAMES = "similar_names"
    AFFILIATION = "affiliation"
    REPORT = "report"
    # "That's not me": the person an entry names says they did not sign (see app.services.disputes).
    DISPUTE = "dispute"


class Flag(Base):
    """A reason to review a signature: raised automatically or reported by the public; never hides."""

    __tablename__ = "flags"
    __table_args__ = (
        sa.Index("ix_flags_open", "letter_id", "resolved_at", "signature_id"),
        # The moderators' dashboard: a letter's flags by day.
        sa.Index("ix_flags_letter_created", "letter_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"))
    signature_id: Mapped[int] = mapped_column(sa.ForeignKey("signatures.id", ondelete="CASCADE"), index=True)
    kind: Mapped[FlagKind] = mapped_column(_enum(FlagKind))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    # A reporter's optional contact (reports only), deleted with the flag.
    contact: Mapped[str | None] = mapped_column(sa.String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]

    signature: Mapped[Signature] = relationship()


class Dispute(Base):
    """ "That's not me": someone says a listed entry names them although they did not sign.

    Made when they send the form, with the address they gave; it counts for something only once
    confirmed from that address (the link mailed to it, single use, only its hash kept). Deleted
    with the signature, and by the purge once the link has expired unconfirmed or the moderators
    have settled the flag it raised (the address is personal data of someone who never signed).
    """

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"))
    signature_id: Mapped[int] = mapped_column(sa.ForeignKey("signatures.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(sa.String(320))
    statement: Mapped[str] = mapped_column(sa.Text, default="")
    locale: Mapped[str] = mapped_column(sa.String(10), default="en")
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    flag_id: Mapped[int | None] = mapped_column(sa.ForeignKey("flags.id", ondelete="SET NULL"))

    signature: Mapped[Signature] = relationship()
    letter: Mapped[Letter] = relationship()
    flag: Mapped[Flag | None] = relationship()


class InvitationKind(enum.StrEnum):
    """Who an invitation to sign a private letter is for."""

    # One person, by address: mailed to them, used once.
    PERSONAL = "personal"
    # Anyone with the link, up to ``cap`` signatures.
    SHARED = "shared"


class Invitation(Base):
    """A link to sign a letter before it is public (see app.services.invitations); only its hash is kept.

    Whoever signs through one is a founding signatory. A personal invitation holds the address
    it was mailed to (personal data, deleted with the letter); a shared one holds none.
    """

    __tablename__ = "invitations"
    __table_args__ = (sa.Index("ix_invitations_letter", "letter_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"))
    kind: Mapped[InvitationKind] = mapped_column(_enum(InvitationKind))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # How many may sign through it: 1 for a personal invitation.
    cap: Mapped[int] = mapped_column(default=1)
    uses: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When it was last used to sign.
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    letter: Mapped[Letter] = relationship()


class DeliveryFile(Base):
    """A delivery PDF made by a job, or one of its parts while the job makes it (app.letters.delivery).

    In the database like everything else, so that any worker may make the next part and any app
    server may send the file. Deleted with its job (the purge deletes finished jobs), a finished
    PDF after a week and the parts of a job that never finished after a day.
    """

    __tablename__ = "delivery_files"

    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    # "pdf" for the finished document; "part-00000", "part-00001"… while it is made.
    name: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """One moderation action: who, when, what, on which signatures, why. Never changed or deleted."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        sa.Index("ix_audit_entries_letter_at", "letter_id", "at"),
        sa.Index("ix_audit_entries_undoes_id", "undoes_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # The moderator's address is copied, so the entry still says who after an account changes.
    moderator_id: Mapped[int | None] = mapped_column(sa.ForeignKey("moderators.id", ondelete="SET NULL"))
    moderator_email: Mapped[str] = mapped_column(sa.String(320))
    action: Mapped[str] = mapped_column(sa.String(40))
    letter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("letters.id", ondelete="SET NULL"))
    # Signature ids, space-separated (ids only: an erased signature leaves no personal data here).
    signature_ids: Mapped[str] = mapped_column(sa.Text, default="")
    signature_count: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    # An undo's entry names the entry it undid (no foreign key, as the entry is never deleted); the
    # unique index makes a second undo of the same entry fail, even from two requests at once.
    undoes_id: Mapped[int | None]


class ModerationUndo(Base):
    """What an undoable action changed, so that undoing it puts every signature back exactly.

    One row per audit entry of an action that can be undone (hide, restore, approve, verify,
    unverify, dismiss), holding the states before it; deleted once the action is undone, and by
    the purge once MODERATION_UNDO_MINUTES have passed (the moderators' notes in it go with it).
    """

    __tablename__ = "moderation_undos"

    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("audit_entries.id"), primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    # {"signatures": [{"id", "status", "removal_reason", "moderator_note", "confirmed_at",
    # "verified_at", "verified_note", "after"}], "flags": [ids of the flags the action settled]}
    state: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


class WatchName(Base):
    """A public figure's name: a signature under it is flagged for review."""

    __tablename__ = "watch_names"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # Casefolded, accents and punctuation removed: what names are compared by.
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)


class Organisation(Base):
    """A known organisation and its email domain: affiliation checks and "confirmed" badges."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    domain: Mapped[str] = mapped_column(sa.String(255), unique=True)


class LetterDomainTally(Base):
    """How many counted signers of a letter confirmed through each domain; kept like the count."""

    __tablename__ = "letter_domain_tallies"
    __table_args__ = (sa.Index("ix_letter_domain_tallies_top", "letter_id", "value"),)

    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"), primary_key=True)
    domain: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class UpdateKind(enum.StrEnum):
    """What an organiser published: news of their own, or the reply of the letter's addressee."""

    UPDATE = "update"
    RESPONSE = "response"


class LetterUpdate(Base):
    """A dated update an organiser published about a letter: on the page, in a feed, by email.

    A *response* is the addressee's reply, recorded by the organisers: its ``title`` is who
    answered, ``responded_on`` the day they did, ``source_url`` where it was published. It goes
    to the same signers by the same path as any update.
    """

    __tablename__ = "letter_updates"
    __table_args__ = (sa.Index("ix_letter_updates_letter_published", "letter_id", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(300))
    body_markdown: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[UpdateKind] = mapped_column(_enum(UpdateKind), default=UpdateKind.UPDATE, server_default="update")
    responded_on: Mapped[date | None]
    source_url: Mapped[str | None] = mapped_column(sa.String(2000))

    letter: Mapped[Letter] = relationship()

    @property
    def is_response(self) -> bool:
        """Whether this is the addressee's reply rather than the organisers' own news."""
        return self.kind == UpdateKind.RESPONSE


class LetterTally(Base):
    """Public moderation numbers per letter (awaiting review, removed by reason), kept like the count."""

    __tablename__ = "letter_tallies"

    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class LogEvent(Base):
    """One change to a letter's public list, appended to its tamper-evident log (see app.log).

    Written unsequenced (``leaf_index`` NULL) by the transaction that made the change; the
    sequencer later gives it the next index of the letter's Merkle tree. ``leaf`` is the exact
    text hashed into the tree and is never changed; ``fields`` and ``salt`` open the leaf's
    commitment and are deleted when the signature is erased.
    """

    __tablename__ = "log_events"
    __table_args__ = (
        sa.UniqueConstraint("letter_id", "leaf_index"),
        # A signature's entries, latest last (inclusion proofs by signature, erasure).
        sa.Index("ix_log_events_signature", "letter_id", "signature_id", "leaf_index"),
        # The sequencer's queue: unsequenced events by letter, oldest first.
        sa.Index(
            "ix_log_events_unsequenced",
            "letter_id",
            "id",
            sqlite_where=sa.text("leaf_index IS NULL"),
            postgresql_where=sa.text("leaf_index IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"))
    # No foreign key: the log outlives what it records.
    signature_id: Mapped[int]
    event: Mapped[str] = mapped_column(sa.String(10))
    # Whether the entry puts the signature's name on the public list (False: counted, not named).
    listed: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime]
    leaf: Mapped[str] = mapped_column(sa.Text)
    leaf_hash: Mapped[str] = mapped_column(sa.String(64))
    fields: Mapped[str | None] = mapped_column(sa.Text)
    salt: Mapped[str | None] = mapped_column(sa.String(64))
    leaf_index: Mapped[int | None]


class LogNode(Base):
    """The hash of a complete subtree of a letter's log: level L, index i covers leaves [i·2^L, (i+1)·2^L)."""

    __tablename__ = "log_nodes"

    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(sa.String(64))


class LogHead(Base):
    """A signed tree head: the log's size and root hash at a moment, signed with the site's key."""

    __tablename__ = "log_heads"

    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"), primary_key=True)
    tree_size: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(sa.String(64))
    # Milliseconds since 1970 (UTC): the time the signature covers.
    timestamp: Mapped[int] = mapped_column(sa.BigInteger)
    signature: Mapped[str] = mapped_column(sa.String(100))
    key_id: Mapped[str] = mapped_column(sa.String(16))


class LogState(Base):
    """The size of a letter's log; its row is the lock that makes one sequencer run at a time."""

    __tablename__ = "log_states"

    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"), primary_key=True)
    tree_size: Mapped[int] = mapped_column(default=0)


class LogSnapshot(Base):
    """A day's open-data snapshot: the public list as the log of that size held it."""

    __tablename__ = "log_snapshots"

    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    tree_size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationSettings(Base):
    """Which organiser emails an admin asked for (milestones, a daily summary), and in which language."""

    __tablename__ = "notification_settings"

    moderator_id: Mapped[int] = mapped_column(sa.ForeignKey("moderators.id", ondelete="CASCADE"), primary_key=True)
    milestones: Mapped[bool] = mapped_column(default=False)
    daily_summary: Mapped[bool] = mapped_column(default=False)
    closing_reminders: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    locale: Mapped[str] = mapped_column(sa.String(10), default="en")
    # The day (UTC) of the last daily summary written for this account: one a day, whoever runs the job.
    last_summary_on: Mapped[date | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LetterMilestone(Base):
    """A round number a letter's count reached and its admins were told of: each one mailed once."""

    __tablename__ = "letter_milestones"

    letter_id: Mapped[int] = mapped_column(sa.ForeignKey("letters.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    reached_at: Mapped[datetime] = mapped_column(default=utcnow)
