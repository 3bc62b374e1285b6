"""Operator commands: ``flask --app app db|letter|mail ...``."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import log
from app.db import MIGRATIONS, db, utcnow
from app.dev.seed import seed_letter_text, seed_signatures
from app.errors import DomainError, LetterClosed, LetterNotFound
from app.extensions import LANGUAGES
from app.models import Letter, Moderator, ModeratorRole
from app.moderation import accounts
from app.services import counting, founding, invitations, letters, organisations, retention, updates
from app.services.queries import export
from app.services.tokens import TokenLifetimes
from app.signing.founding import FoundingFileError, read_founding_csv
from app.urls import external_url
from app.worker import log_key, run_worker, send_pending, sequence_logs, snapshot_logs

db_cli = AppGroup("db", help="The database schema (Alembic migrations).")
letter_cli = AppGroup("letter", help="Load, list, open, close and check letters.")
mail_cli = AppGroup("mail", help="Send the mail waiting in the outbox.")
moderator_cli = AppGroup("moderator", help="Moderator accounts.")
dev_cli = AppGroup("dev", help="Development aids: fake data for trying the site at scale.")
signatures_cli = AppGroup("signatures", help="Export signatures; import founding signatories.")
organisations_cli = AppGroup("organisations", help="Organisations and their email domains (confirmed badges).")
log_cli = AppGroup("log", help="The tamper-evident public log: keys, sequencing, checks, snapshots.")


def run_alembic(command_name: str, *args: Any, **kwargs: Any) -> None:
    """Run Alembic's ``command_name`` (upgrade, check...) on the app's database connection.

    Alembic is imported here, not with the module: every process that builds the app (each
    gunicorn worker, the mail worker, an export) would otherwise carry its ~10 MB.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Date and time (UTC) first, so that `ls` lists the files in the order they chain.
    config.set_main_option(
        "file_template", "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s"
    )
    config.set_main_option("timezone", "UTC")
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        # A migration that applies a setting to the rows already stored reads it here (the
        # flagged-until-reviewed one leaves flagged signatures listed under LIST_FLAGGED=true).
        config.attributes["list_flagged"] = current_app.config["LIST_FLAGGED"]
        getattr(command, command_name)(config, *args, **kwargs)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    run_alembic("upgrade", revision)
    click.echo(f"Database upgraded to {revision}.")


@db_cli.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Undo migrations down to REVISION (e.g. -1, or base)."""
    run_alembic("downgrade", revision)
    click.echo(f"Database downgraded to {revision}.")


@db_cli.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    run_alembic("current")


@db_cli.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    run_alembic("check")
    click.echo("The models match the migrations.")


@db_cli.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
@click.option("--autogenerate", is_flag=True, help="Draft it from the models (review it by hand).")
def db_revision(message: str, autogenerate: bool) -> None:
    """Create a new migration file in migrations/versions."""
    run_alembic("revision", message=message, autogenerate=autogenerate)


def _letter_or_fail(session: Session, slug: str) -> Letter:
    try:
        return letters.get_letter(session, slug, drafts=True)
    except LetterNotFound:
        raise click.ClickException(f"no letter with slug {slug!r} (see 'letter list')") from None


@letter_cli.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--slug", help="The letter's address: /letters/SLUG (default: front matter, else the title).")
@click.option("--lang", help="The file's language, e.g. ko (default: front matter 'lang:', else en).")
@click.option("--featured", is_flag=True, help="Show this letter at /.")
@click.option("--if-empty", is_flag=True, help="Do nothing if the site has a letter already (for set-up scripts).")
@click.option(
    "--material", is_flag=True, help="The text changed in substance: email the signers who asked for updates."
)
@click.option(
    "--note", default="", help="What changed, in a sentence (shown in the history; required with --material)."
)
def letter_load(
    paths: tuple[Path, ...],
    slug: str | None,
    lang: str | None,
    featured: bool,
    if_empty: bool,
    material: bool,
    note: str,
) -> None:
    """Create or update a letter, or its translation, from Markdown files with YAML front matter.

    A file in another language than an existing letter with the same slug becomes its
    translation. Several files (a letter and its translations) load in one transaction. A
    changed text of a letter becomes its next version; --material and --note describe it.
    """
    if lang and len(paths) > 1:
        raise click.UsageError("--lang applies to one file; give each file a 'lang:' in its front matter instead")
    if material and not note.strip():
        raise click.UsageError("--material needs a --note that says what changed (it goes to the signers)")
    with db.transaction() as session:
        if if_empty and session.scalar(select(Letter.id).limit(1)) is not None:
            click.echo("A letter exists already; nothing loaded.")
            return
        first_slug: str | None = None
        versioned = False
        for path in paths:
            try:
                source = letters.parse_letter_file(path.read_text(encoding="utf-8"))
                # A file after the first, without a slug of its own, is about the first file's letter.
                file_slug = slug or source.slug or first_slug
                result = letters.load_file(
                    session,
                    source,
                    now=utcnow(),
                    slug=file_slug,
                    lang=lang,
                    featured=featured,
                    material=material,
                    note=note,
                )
            except (letters.LetterFileError, UnicodeDecodeError) as exc:
                raise click.ClickException(f"{path}: {exc}") from None
            done = "Created" if result.created else "Updated"
            if result.translation:
                click.echo(f"{done} the '{result.translation}' translation of '{result.letter.slug}': {source.title}")
            else:
                click.echo(f"{done} letter '{result.letter.slug}': {result.letter.title}")
                if result.version is not None and not result.created:
                    kind = "material: signers who asked for updates will be emailed" if material else "not material"
                    click.echo(f"  The text changed: version {result.version} ({kind}).")
                elif not result.created:
                    click.echo(f"  The text is unchanged: still version {result.letter.current_version}.")
            first_slug = first_slug or result.letter.slug
            versioned = versioned or result.version is not None
        if material and not versioned:
            # Leaving the transaction by an exception stores nothing.
            raise click.ClickException(
                "--material, but no file changed a letter's own text (translations have no versions)"
            )


@letter_cli.command("dump")
@click.argument("slug")
@click.option("--lang", help="Write this translation instead of the letter's own text.")
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), help="Write to FILE (default: stdout)."
)
def letter_dump(slug: str, lang: str | None, output: Path | None) -> None:
    """Write a letter (or a translation) as the Markdown file with front matter that 'letter load' reads.

    Loading what it writes gives back the same letter: its text, summary, dates, goal, moderation,
    whether it is featured or a draft. Each translation is a file of its own (--lang).
    """
    letter = _letter_or_fail(db.session, slug)
    try:
        text = letters.dump_letter_file(letter, letters.normalise_lang(lang) if lang else None)
    except letters.LetterFileError as exc:
        raise click.ClickException(str(exc)) from None
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote '{slug}'{f' ({lang})' if lang else ''} to {output}.", err=True)


@letter_cli.command("list")
def letter_list() -> None:
    """List the letters with their counts and state."""
    now = utcnow()
    rows = letters.all_letters(db.session, drafts=True)
    if not rows:
        click.echo("No letters yet. Load one with: flask --app app letter load FILE.md")
    for letter in rows:
        state = "draft" if letter.draft else "closed" if letter.is_closed(now) else "open"
        star = "*" if letter.featured else " "
        click.echo(f"{star} {letter.slug:30} {letter.signature_count:>9} signatures  {state:6}  {letter.title}")


@letter_cli.command("close")
@click.argument("slug")
def letter_close(slug: str) -> None:
    """Stop taking signatures; the count and the list become final."""
    with db.transaction() as session:
        letters.close_letter(session, _letter_or_fail(session, slug), now=utcnow())
    click.echo(f"Signing closed for '{slug}'.")


@letter_cli.command("open")
@click.argument("slug")
def letter_open(slug: str) -> None:
    """Take signatures again."""
    with db.transaction() as session:
        letters.reopen_letter(session, _letter_or_fail(session, slug), now=utcnow())
    click.echo(f"Signing open for '{slug}'.")


@letter_cli.command("feature")
@click.argument("slug")
def letter_feature(slug: str) -> None:
    """Show this letter at /."""
    with db.transaction() as session:
        letters.feature_letter(session, _letter_or_fail(session, slug))
    click.echo(f"'{slug}' is now the featured letter.")


@letter_cli.command("update")
@click.argument("slug")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def letter_update(slug: str, path: Path) -> None:
    """Publish an update (Markdown, with a 'title:' in front matter or a first '# Title') and email it.

    Every confirmed signer who asked for updates gets it through the mail worker.
    """
    try:
        title, body = updates.parse_update_file(path.read_text(encoding="utf-8"))
    except (updates.BadUpdate, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    with db.transaction() as session:
        letter = _letter_or_fail(session, slug)
        try:
            update = updates.publish(session, letter, title=title, body_markdown=body, now=utcnow())
        except updates.BadUpdate as exc:
            raise click.ClickException(f"{path}: {exc}") from None
    click.echo(f"Published update {update.id} to '{slug}': {title}. The mail worker emails the signers who asked.")


def _normalised_addresses(emails: tuple[str, ...]) -> list[str]:
    """Each address normalised as the signing form does, or a ClickException naming the bad ones."""
    good, bad = [], []
    for email in emails:
        try:
            good.append(validate_email(email.strip(), check_deliverability=False).normalized)
        except EmailNotValidError:
            bad.append(email)
    if bad:
        raise click.ClickException("not valid email addresses: " + ", ".join(repr(b) for b in bad))
    return good


@letter_cli.command("invite")
@click.argument("slug")
@click.option("--email", "emails", multiple=True, help="Invite this address (repeat for several): mailed, signs once.")
@click.option("--shared", is_flag=True, help="Make one link to share instead, signing up to --cap times.")
@click.option("--cap", type=click.IntRange(1, invitations.MAX_CAP), help="How many may sign through the shared link.")
@click.option("--lang", default=None, help="The language of the invitation mails (default: the site's).")
@click.option(
    "--opens-at",
    type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"]),
    default=None,
    help="Launch the letter by itself at this time (UTC), through the mail worker.",
)
@click.option("--mail-founders", is_flag=True, help="With --opens-at: mail the founders when it launches.")
def letter_invite(
    slug: str,
    emails: tuple[str, ...],
    shared: bool,
    cap: int | None,
    lang: str | None,
    opens_at: datetime | None,
    mail_founders: bool,
) -> None:
    """Invite founding signatories to sign the draft SLUG before it is public; print their links.

    Personal invitations (--email) are mailed and sign once; a shared link (--shared --cap N)
    signs up to N times. Each link is printed once: only its hash is stored.
    """
    if shared == bool(emails):
        raise click.ClickException("give either --email (one or more) or --shared with --cap")
    if shared and cap is None:
        raise click.ClickException("a shared link needs --cap: how many may sign through it")
    locale = lang or current_app.config["DEFAULT_LOCALE"]
    if locale not in LANGUAGES:
        raise click.ClickException(f"--lang must be one of {', '.join(LANGUAGES)}")
    addresses = _normalised_addresses(emails)
    now = utcnow()
    with db.transaction() as session:
        letter = _letter_or_fail(session, slug)
        try:
            if shared:
                assert cap is not None
                made = [invitations.invite_shared(session, letter, cap=cap, now=now)]
            else:
                made = invitations.invite_people(session, letter, addresses, now=now, locale=locale)
            if opens_at is not None:
                invitations.schedule(
                    session, letter, opens_at.replace(tzinfo=UTC), now=now, mail_founders=mail_founders
                )
        except (DomainError, ValueError) as exc:
            raise click.ClickException(f"'{slug}': {_message(exc)}") from None
        links = [(item.invitation.email, external_url("invitations.invitation", token=item.token)) for item in made]
    for email, link in links:
        click.echo(f"{email or f'shared, up to {cap}'}: {link}")
    if not shared:
        click.echo(f"{len(links)} invitations queued for mailing (the mail worker sends them).")
    if opens_at is not None:
        click.echo(f"'{slug}' launches by itself at {opens_at:%Y-%m-%d %H:%M} UTC.")


def _message(exc: Exception) -> str:
    return str(exc.message) if isinstance(exc, DomainError) else str(exc)


@letter_cli.command("launch")
@click.argument("slug")
@click.option("--mail-founders", is_flag=True, help="Email each founding signatory that the letter is public.")
def letter_launch(slug: str, mail_founders: bool) -> None:
    """Make the private letter SLUG public now, with its founding signatories, in one transaction."""
    with db.transaction() as session:
        letter = _letter_or_fail(session, slug)
        try:
            done = invitations.launch(
                session, letter, now=utcnow(), moderator=None, mail_founders=mail_founders, how="from the command line"
            )
        except DomainError as exc:
            raise click.ClickException(f"'{slug}': {_message(exc)}") from None
    click.echo(f"'{slug}' is public, with {done.counted} signatures; {done.mailed} founders are mailed.")


@letter_cli.command("recount")
@click.argument("slug")
@click.option("--fix", is_flag=True, help="Store the recounted number if it differs.")
def letter_recount(slug: str, fix: bool) -> None:
    """Count the signatures again and compare with the stored count (exit 1 if they differ)."""
    with db.transaction() as session:
        letter = _letter_or_fail(session, slug)
        result = counting.recount(session, letter, now=utcnow(), fix=fix)
    if result.exact:
        click.echo(f"'{slug}': {result.stored} signatures; the stored count is exact.")
        return
    click.echo(f"'{slug}': stored count {result.stored}, recount {result.actual}." + (" Fixed." if fix else ""))
    for name in sorted(result.stored_tallies.keys() | result.actual_tallies.keys()):
        stored, actual = result.stored_tallies.get(name, 0), result.actual_tallies.get(name, 0)
        if stored != actual:
            click.echo(f"  {name}: stored {stored}, recount {actual}.")
    for domain in sorted(result.stored_domains.keys() | result.actual_domains.keys()):
        stored, actual = result.stored_domains.get(domain, 0), result.actual_domains.get(domain, 0)
        if stored != actual:
            click.echo(f"  confirmed via {domain}: stored {stored}, recount {actual}.")
    for name in sorted(result.stored_stats.keys() | result.actual_stats.keys()):
        stored, actual = result.stored_stats.get(name, 0), result.actual_stats.get(name, 0)
        if stored != actual:
            click.echo(f"  {name}: stored {stored}, recount {actual}.")
    if not fix:
        raise SystemExit(1)


@signatures_cli.command("export")
@click.argument("slug")
@click.option("--public", "public_only", is_flag=True, help="Only the public list (no addresses), as on the site.")
@click.option("--format", "file_format", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), help="Default: stdout.")
def signatures_export(slug: str, public_only: bool, file_format: str, output: Path | None) -> None:
    """Write a letter's signatures: every field but tokens and network hashes, or --public ones."""
    session = db.session
    letter = _letter_or_fail(session, slug)
    chunks: Iterator[str]
    if file_format == "csv":
        chunks = export.public_csv(session, letter.id) if public_only else export.all_csv(session, letter.id)
    elif public_only:
        chunks = export.write_json(
            export.public_rows(session, letter.id), export.PUBLIC_FIELDS, letter=letter.slug, exported_at=utcnow()
        )
    else:
        chunks = export.write_json(
            export.all_rows(session, letter.id), export.ALL_FIELDS, letter=letter.slug, exported_at=utcnow()
        )
    if output is None:
        for chunk in chunks:
            click.echo(chunk, nl=False)
        return
    # newline="": the CSV writer ends rows with CRLF itself, as RFC 4180 says.
    with output.open("w", encoding="utf-8", newline="") as handle:
        for chunk in chunks:
            handle.write(chunk)
    click.echo(f"Wrote {output}.", err=True)


@signatures_cli.command("import-founding")
@click.argument("slug")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def signatures_import_founding(slug: str, path: Path) -> None:
    """Sign SLUG for each founding signatory in a CSV file (name, email, affiliation, country, city).

    Each gets the usual confirmation mail and counts once confirmed. A file with a bad row
    stores nothing: every problem is listed by line number.
    """
    config = current_app.config
    ttl = TokenLifetimes.from_config(config)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException(f"{path}: not UTF-8 text; save the file as CSV UTF-8") from None
    try:
        rows = read_founding_csv(text, locale=config["DEFAULT_LOCALE"])
    except FoundingFileError as exc:
        raise click.ClickException(
            f"{path}: nothing imported; fix these and try again:\n  " + "\n  ".join(exc.problems)
        ) from None
    with db.transaction() as session:
        letter = _letter_or_fail(session, slug)
        try:
            count = founding.sign_founding(session, letter, [row.data for row in rows], now=utcnow(), ttl=ttl)
        except LetterClosed:
            raise click.ClickException(f"'{slug}' is closed to signatures; open it first ('letter open').") from None
    click.echo(f"Imported {count} founding signatories into '{slug}'; each has been sent a confirmation link.")


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@mail_cli.command("worker")
@click.option("--interval", type=float, help="Seconds between looks at the outbox when it is empty.")
def mail_worker(interval: float | None) -> None:
    """Run background jobs and send outbox mail until stopped (Ctrl-C or SIGTERM finishes the current batch first)."""
    with _stop_on_signals() as stop:
        run_worker(stop, poll_interval=interval)


@mail_cli.command("send")
def mail_send() -> None:
    """Run the jobs and send the mail that are due now, then exit (exit 1 if some mail could not be sent)."""
    result = send_pending()
    click.echo(f"{result.sent} sent, {result.retrying} to retry later, {result.failed} failed.")
    if result.errors:
        click.echo(f"Last error: {result.errors[-1]}", err=True)
    if result.retrying or result.failed:
        raise SystemExit(1)


def _read_password(from_stdin: bool) -> str:
    """A new password from standard input or a hidden prompt, never from an argument."""
    if from_stdin:
        line: str = sys.stdin.readline()
        return line.rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def _moderator_or_fail(session: Session, email: str) -> Moderator:
    moderator = session.scalar(select(Moderator).where(Moderator.email == accounts.normalise_email(email)))
    if moderator is None:
        raise click.ClickException(f"no moderator account for {email} (see 'moderator list')")
    return moderator


@moderator_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["moderator", "admin"]), default="moderator", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def moderator_create(email: str, role: str, password_stdin: bool) -> None:
    """Create a moderator account (admins also manage letters)."""
    password = _read_password(password_stdin)
    with db.transaction() as session:
        try:
            moderator = accounts.create_moderator(session, email, password, ModeratorRole(role))
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Created {moderator.role} account {moderator.email}.")


@moderator_cli.command("list")
def moderator_list() -> None:
    """List the moderator accounts."""
    rows = list(db.session.scalars(select(Moderator).order_by(Moderator.email)))
    if not rows:
        click.echo("No moderators yet. Create one with: flask --app app moderator create EMAIL --role admin")
    for moderator in rows:
        state = "disabled" if moderator.disabled_at else "active"
        last = moderator.last_login_at.strftime("%Y-%m-%d %H:%M") if moderator.last_login_at else "never"
        click.echo(f"{moderator.email:40} {moderator.role:10} {state:9} last sign-in {last}")


@moderator_cli.command("disable")
@click.argument("email")
def moderator_disable(email: str) -> None:
    """Refuse an account from now on and end its sessions."""
    with db.transaction() as session:
        accounts.disable(_moderator_or_fail(session, email))
    click.echo(f"Disabled {email}.")


@moderator_cli.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def moderator_reset_password(email: str, password_stdin: bool) -> None:
    """Set a new password (and end the account's sessions)."""
    password = _read_password(password_stdin)
    with db.transaction() as session:
        try:
            accounts.set_password(_moderator_or_fail(session, email), password)
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"New password set for {email}.")


@dev_cli.command("seed")
@click.argument("slug")
@click.option("--signatures", "count", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--seed", "rng_seed", type=int, default=1, show_default=True, help="Same seed, same signers.")
def dev_seed(slug: str, count: int, rng_seed: int) -> None:
    """Fill the letter SLUG (made if missing) with COUNT fake signers, in bulk."""
    started = time.monotonic()
    with db.transaction() as session:
        letter = letters.find_letter(session, slug, drafts=True)
        if letter is None:
            source = letters.parse_letter_file(seed_letter_text(slug))
            letter, _ = letters.load_letter(session, source, now=utcnow(), slug=slug)
        result = seed_signatures(session, letter, count, now=utcnow(), seed=rng_seed)
    click.echo(
        f"Added {result.signatures} signers to '{slug}' ({result.confirmed} confirmed) "
        f"in {time.monotonic() - started:.1f} s."
    )


@log_cli.command("keygen")
def log_keygen() -> None:
    """Print a new Ed25519 key for LOG_SIGNING_KEY, and its public half."""
    text = log.generate_key_text()
    key = log.SigningKey.from_text(text)
    click.echo(f"LOG_SIGNING_KEY={text}")
    click.echo(
        f"# public key {key.public_text} (key id {key.key_id}); keep the private key as safe as SECRET_KEY", err=True
    )


@log_cli.command("sequence")
def log_sequence() -> None:
    """Give waiting log events their places in the tree and sign new tree heads (the mail worker does this too)."""
    click.echo(f"Sequenced {sequence_logs()} log events.")


@log_cli.command("snapshot")
def log_snapshot() -> None:
    """Take today's open-data snapshot of each letter that has none yet (the mail worker does this daily)."""
    click.echo(f"Took {snapshot_logs()} snapshots.")


@log_cli.command("verify")
@click.argument("slug")
def log_verify(slug: str) -> None:
    """Check SLUG's stored log against its entries, tree heads and signatures (exit 1 on any problem)."""
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for every query of the check: a change made meanwhile is either wholly
            # seen (the signature and its event) or not at all, so nothing needs excusing.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        letter = _letter_or_fail(session, slug)
        result = log.check(session, letter, log_key())
    click.echo(
        f"'{slug}': {result.size} log entries, {result.heads} signed tree heads, {result.live} signatures live"
        + (f", {result.waiting} events waiting to be sequenced" if result.waiting else "")
        + "."
    )
    for problem in result.problems:
        click.echo(f"  FAIL  {problem}")
    if result.problems:
        click.echo(f"FAILED: the log of '{slug}' does not match ({len(result.problems)} problems).")
        raise SystemExit(1)
    click.echo(f"VERIFIED: the log of '{slug}' matches its tree heads and its signatures.")


@click.command("purge")
@with_appcontext
def purge() -> None:
    """Delete what is kept no longer than needed (the mail worker also does this every PURGE_INTERVAL_HOURS)."""
    with db.transaction() as session:
        result = retention.purge(session, retention.policy_from_config(current_app.config), now=utcnow())
    click.echo(
        f"Purged {result.signatures} unconfirmed or held signatures, {result.tokens} expired links, "
        f"{result.messages} old mail messages, {result.jobs} finished jobs, {result.disputes} settled or expired "
        f"disputes; cleared {result.networks} network hashes."
    )
    for slug in result.erased_letters:
        click.echo(f"Erased the personal data of the signers of '{slug}' (its retention date passed).")


@organisations_cli.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="Load the good lines even if some lines are bad.")
def organisations_load(path: Path, skip_bad: bool) -> None:
    """Add or update organisations from a CSV file with columns domain,name (a header line is optional).

    A bad line stops the load (nothing is stored) unless --skip-bad; every bad line is listed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{path}: not UTF-8 text") from None
    with db.transaction() as session:
        report = organisations.load_csv(session, text, now=utcnow(), skip_bad=skip_bad)
    for line, reason in report.errors:
        click.echo(f"{path}:{line}: {reason}", err=True)
    if report.errors and not skip_bad:
        raise click.ClickException(f"{len(report.errors)} bad lines; nothing loaded (fix them, or use --skip-bad)")
    click.echo(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged"
        + (f", {len(report.errors)} bad lines skipped." if report.errors else ".")
    )


@organisations_cli.command("list")
def organisations_list() -> None:
    """List the organisations by domain."""
    for organisation in organisations.all_organisations(db.session):
        click.echo(f"{organisation.domain:40} {organisation.name}")


def register(app: Flask) -> None:
    """Attach the command groups to the app's CLI."""
    for group in (db_cli, letter_cli, mail_cli, moderator_cli, dev_cli, signatures_cli, organisations_cli, log_cli):
        app.cli.add_command(group)
    app.cli.add_command(purge)
