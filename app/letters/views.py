"""The letter page, the front page, the list of signers, and the badge and embed for other sites."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time
from typing import IO, Any

from flask import Blueprint, abort, current_app, render_template, request, stream_with_context
from flask_babel import get_locale
from werkzeug.wrappers import Response

from app import caching, export_files, log, removal_reasons, web
from app.bots import current_captcha
from app.db import db, utcnow
from app.errors import N_
from app.extensions import LANGUAGES
from app.forms.signing import SignForm
from app.letters import preview as previews
from app.models import Letter, Organisation, Signature
from app.ratelimit import config_limit, limiter
from app.services import after_close, counting, domains, letters, textdiff, updates
from app.services import versions as letter_versions
from app.services.progress import progress
from app.services.queries import export, ledger, listing, stats
from app.timestamps import iso
from app.urls import external_url

bp = Blueprint("letters", __name__)

NEWEST_SIGNERS = 10
# The letter page's top organisations (signers confirmed through each) and latest updates.
TOP_ORGANISATIONS = 10
PAGE_UPDATES = 10
FEED_UPDATES = 50
NOTABLE_SIGNERS = 6
FOUNDING_SIGNERS = 100
LIST_PAGE_SIZE = 50
# Comments longer than this are shortened in lists, with a link to the signature's own page.
COMMENT_PREVIEW = 240
# The badge and the embed show a live count: caches may keep them this long.
# A preview picture's address names its key: one that does not may be kept only a little while.
PREVIEW_CACHE_CONTROL = "public, max-age=86400"
PREVIEW_STALE_CACHE_CONTROL = "public, max-age=300"


def letter_context(letter: Letter) -> dict[str, Any]:
    """What every view of a letter shows: its text in the visitor's language, languages, progress."""
    languages = letters.letter_languages(letter)
    # ?lang= names a translation even in a language the interface does not speak.
    asked = request.args.get("lang", "")
    text = letters.letter_text(letter, asked if asked in languages else str(get_locale() or letter.lang))
    return {
        "letter": letter,
        "text": text,
        "languages": languages,
        "progress": progress(letter.signature_count, letter.goal),
        "closed": letter.is_closed(utcnow()),
        "letter_url": letter_url(letter, text.lang),
        "preview": preview_of(letter, text.lang, text.title),
    }


def preview_of(letter: Letter, lang: str, title: str) -> dict[str, str]:
    """The address of the letter's preview picture in ``lang`` (naming the picture's key) and its words."""
    shown = previews.Preview.of(title, lang, letter.signature_count, current_app.config["SITE_NAME"])
    key = shown.key(previews.preview_files().font_path)
    args = {"lang": lang} if lang != letter.lang else {}
    return {"url": external_url("letters.preview_image", slug=letter.slug, v=key, **args), "alt": shown.alt()}


def letter_url(letter: Letter, lang: str) -> str:
    """The public address of the letter in ``lang`` (its own language needs no ?lang=)."""
    if lang == letter.lang:
        return external_url("letters.letter", slug=letter.slug)
    return external_url("letters.letter", slug=letter.slug, lang=lang)


def organisations_of(*lists: Sequence[Signature]) -> dict[str, Organisation]:
    """The organisations of the domains these signers confirmed with (one query, none if none)."""
    shown = {s.confirmed_domain for signatures in lists for s in signatures if s.confirmed_domain}
    return domains.organisations_for(db.session, shown) if shown else {}


def render_letter(letter: Letter, form: SignForm | None = None) -> str:
    """The letter with its count and ledger, its signers (notable, founding, newest) and the form."""
    session = db.session
    notable = listing.public_signatures(session, letter.id, limit=NOTABLE_SIGNERS, verified=True)
    founding = listing.public_signatures(session, letter.id, limit=FOUNDING_SIGNERS, founding=True)
    # Later signers: the founding ones have their own section.
    newest = listing.public_signatures(session, letter.id, limit=NEWEST_SIGNERS, founding=False)
    # The addressee's latest response has its own box near the top; the updates list the rest.
    response = updates.latest_response(session, letter.id)
    news = [u for u in updates.letter_updates(session, letter.id, limit=PAGE_UPDATES + 1) if u != response]
    return render_template(
        "letters/letter.html",
        **letter_context(letter),
        form=form or SignForm(),
        notable=notable,
        founding=founding,
        newest=newest.signatures,
        organisations=organisations_of(notable.signatures, founding.signatures, newest.signatures),
        top_organisations=domains.top_organisations(session, letter.id, limit=TOP_ORGANISATIONS),
        response=response,
        letter_updates=news[:PAGE_UPDATES],
        ledger=ledger.ledger(session, letter),
        reason_names=removal_reasons.TALLY_NAMES,
        poll_seconds=current_app.config["LIVE_POLL_SECONDS"],
        captcha=current_captcha(),
        comment_preview=COMMENT_PREVIEW,
        tiers=after_close.tiers(session, letter) if letter.names_hidden else None,
    )


def letter_page(find: Callable[[], Letter | None]) -> str:
    """The page of the letter ``find`` gives (or how to load one), from the page cache when fresh."""

    def render() -> str:
        letter = find()
        if letter is None:
            return render_template("letters/empty.html")
        return render_letter(letter)

    if current_captcha() is not None:
        return render()  # a CAPTCHA's widget may be per visitor
    return caching.cached_page("letter", render)


def _log_key() -> log.SigningKey:
    return log.SigningKey.from_text(current_app.config["LOG_SIGNING_KEY"])


def _log_head(letter: Letter) -> dict[str, Any]:
    """The current signed tree head of the letter's public log, as the API shows it."""
    key = _log_key()
    head = log.head_json(letter.slug, log.current_head(db.session, letter, key), key)
    return head | {"moment": datetime.fromtimestamp(head["timestamp"] / 1000, UTC)}


@bp.get("/letters/<slug>/stats")
@web.public_page
def letter_stats(slug: str) -> str:
    """Where and when people signed: by day, by hour, by country and by language (no one singled out)."""
    letter = letters.get_letter(db.session, slug)
    numbers = stats.letter_stats(db.session, letter.id, now=utcnow())
    return render_template("letters/stats.html", **letter_context(letter), stats=numbers)


@bp.get("/letters/<slug>/log")
@web.public_page
def verify_log(slug: str) -> str:
    """How to verify this list: the current tree head, the public key, the verifier command."""
    letter = letters.get_letter(db.session, slug)
    key = _log_key()
    return render_template(
        "letters/log.html",
        **letter_context(letter),
        log_head=_log_head(letter),
        ledger=ledger.ledger(db.session, letter),
        reason_names=removal_reasons.TALLY_NAMES,
        public_key=key.public_text,
        key_id=key.key_id,
        letter_address=external_url("letters.letter", slug=letter.slug),
        snapshots=log.letter_snapshots(db.session, letter.id)[:7],
    )


@bp.get("/letters/<slug>/snapshots/")
@web.public_page
def snapshots(slug: str) -> Response:
    """The daily open-data snapshots of the list, newest first."""
    letter = letters.get_letter(db.session, slug)
    return with_robots(
        render_template(
            "letters/snapshots.html", **letter_context(letter), snapshots=log.letter_snapshots(db.session, letter.id)
        )
    )


def _snapshot_stream(letter: Letter, day: date, size: int, head: dict[str, Any], file_format: str) -> Iterator[str]:
    """A snapshot's rows from the log, read in a session of the stream's own.

    The request's session is closed when the view returns, before the body is sent; a stream
    that went on with it would leave a transaction open behind the closed request.
    """
    with db.new_session() as session:
        # A sensitive letter's snapshots give the signed head and no names (see _download).
        rows = iter(()) if letter.sensitive else log.snapshot_rows(session, letter.id, size)
        if file_format == "csv":
            yield export.CSV_BOM
            yield from export.write_csv(rows, log.SNAPSHOT_COLUMNS)
        else:
            yield from export.write_json(
                rows, log.SNAPSHOT_COLUMNS, letter=letter.slug, date=day.isoformat(), tree_head=head
            )


@bp.get("/letters/<slug>/snapshots/<day>.<any(json, csv):file_format>")
def snapshot(slug: str, day: str, file_format: str) -> Response:
    """One day's snapshot of the list, with the signed tree head that covers it."""
    letter = letters.get_letter(db.session, slug)
    try:
        when = date.fromisoformat(day) if len(day) == 10 else None
    except ValueError:
        when = None
    taken = log.snapshot(db.session, letter.id, when) if when else None
    if when is None or taken is None:
        abort(404)
    key = _log_key()
    signed = log.head_at(db.session, letter, taken.tree_size, key)
    if signed is None:
        abort(404)
    head = log.head_json(letter.slug, signed, key)
    mimetype = "text/csv" if file_format == "csv" else "application/json"
    response = Response(
        stream_with_context(_snapshot_stream(letter, when, taken.tree_size, head, file_format)), mimetype=mimetype
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{letter.slug}-{day}.{file_format}"'
    # The same date always holds the same rows (until someone's erasure takes theirs out).
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/")
@web.public_page
def index() -> str:
    """The featured letter, or how to load one."""
    return letter_page(lambda: letters.featured_letter(db.session))


@bp.get("/letters/<slug>")
@web.public_page
def letter(slug: str) -> str:
    """One letter's own page."""
    return letter_page(lambda: letters.get_letter(db.session, slug))


@bp.get("/letters/<slug>/newest")
@web.public_page
def newest(slug: str) -> str:
    """The newest public signers as list items, for the letter page's live update."""

    def render() -> str:
        letter = letters.get_letter(db.session, slug)
        page = listing.public_signatures(db.session, letter.id, limit=NEWEST_SIGNERS, founding=False)
        return render_template(
            "letters/_newest.html",
            letter=letter,
            signatures=page.signatures,
            organisations=organisations_of(page.signatures),
            comment_preview=COMMENT_PREVIEW,
        )

    return caching.cached_page("newest", render)


@bp.get("/letters/<slug>/signatures")
@web.public_page
def signatures(slug: str) -> Response:
    """All public signers, newest first, a page at a time, searchable, optionally only those with comments."""
    return with_robots(caching.cached_page("signatures", lambda: _render_signatures(slug)))


# What a page whose letter asks search engines to leave its signers alone carries in its head.
NOINDEX_META = '<meta name="robots" content="noindex">'


def with_robots(html: str) -> Response:
    """The page, with ``X-Robots-Tag: noindex`` when its head asks for it (the page may come from the cache)."""
    response = current_app.make_response(html)
    head = html.partition("</head>")[0]
    if NOINDEX_META in head:
        response.headers["X-Robots-Tag"] = "noindex"
    return response


def _render_signatures(slug: str) -> str:
    letter = letters.get_letter(db.session, slug)
    query = request.args.get("q", "").strip()[: listing.MAX_QUERY_LENGTH]
    cursor = request.args.get("cursor") or None
    with_comments = request.args.get("comments") == "1"
    verified = listing.parse_flag("verified", request.args.get("verified"))
    founding = listing.parse_flag("founding", request.args.get("founding"))
    domain_confirmed = listing.parse_flag("domain_confirmed", request.args.get("domain_confirmed"))
    page = listing.public_signatures(
        db.session,
        letter.id,
        limit=LIST_PAGE_SIZE,
        cursor=cursor,
        query=query,
        with_comments=with_comments,
        verified=verified,
        founding=founding,
        domain_confirmed=domain_confirmed,
    )
    # The filters as query parameters, kept by the search form and the pager.
    filters = {
        "verified": _flag(verified),
        "founding": _flag(founding),
        "domain_confirmed": _flag(domain_confirmed),
    }
    return render_template(
        "letters/signatures.html",
        **letter_context(letter),
        page=page,
        query=query,
        cursor=cursor,
        with_comments=with_comments,
        filters=filters,
        organisations=organisations_of(page.signatures),
        comment_preview=COMMENT_PREVIEW,
        tiers=after_close.tiers(db.session, letter) if letter.names_hidden else None,
        ledger=ledger.ledger(db.session, letter) if letter.names_hidden else None,
        top_organisations=domains.top_organisations(db.session, letter.id, limit=TOP_ORGANISATIONS)
        if letter.names_hidden
        else [],
    )


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("1" if value else "0")


# Every full-list download, of any letter, counts against one allowance per network (429 past it).
download_limit = limiter.shared_limit(lambda: config_limit("RATELIMIT_DOWNLOADS_PER_NETWORK"), scope="downloads")


def _write_public_export(letter: Letter, file_format: str, out: IO[str]) -> None:
    """Write the whole public list in ``file_format`` to ``out`` (a download file being made)."""
    session = db.session
    if file_format == "csv":
        out.write(export.CSV_BOM)
        chunks = export.public_csv(session, letter.id)
    else:
        rows = export.public_rows(session, letter.id)
        chunks = export.write_json(rows, export.PUBLIC_FIELDS, letter=letter.slug, exported_at=utcnow())
    for chunk in chunks:
        out.write(chunk)


def _download(letter: Letter, file_format: str, mimetype: str) -> Response:
    """The public list from its download file, made again when older than EXPORT_CACHE_SECONDS.

    A sensitive letter, or one whose names are hidden, gives only its count and tiers (no file kept).
    """
    if letter.sensitive or letter.names_hidden:
        response = Response(_counts_only(letter, file_format), mimetype=mimetype)
        response.headers["Content-Disposition"] = f'attachment; filename="{letter.slug}-signatures.{file_format}"'
        return response
    handle = export_files.export_files().open(
        f"{letter.id}-{letter.slug}.{file_format}",
        lambda out: _write_public_export(letter, file_format, out),
    )
    return export_files.send(handle, mimetype=mimetype, download_name=f"{letter.slug}-signatures.{file_format}")


def _counts_only(letter: Letter, file_format: str) -> str:
    """The count and the tiers of a letter whose downloads carry no names, as CSV (tier, count) or JSON."""
    numbers = after_close.tiers(db.session, letter)
    organisations = domains.top_organisations(db.session, letter.id, limit=TOP_ORGANISATIONS)
    if file_format == "csv":
        rows = [("all", numbers.count), ("verified", numbers.verified), ("founding", numbers.founding)]
        rows += [(f"organisation:{item.domain}", item.count) for item in organisations]
        return export.CSV_BOM + "".join(export.write_csv(({"tier": t, "count": n} for t, n in rows), ("tier", "count")))
    return json.dumps(
        {
            "letter": letter.slug,
            "exported_at": iso(utcnow()),
            "names": "withheld",
            "signature_count": numbers.count,
            "verified": numbers.verified,
            "founding": numbers.founding,
            "organisations": [{"name": o.name, "domain": o.domain, "count": o.count} for o in organisations],
        },
        ensure_ascii=False,
    )


@bp.get("/letters/<slug>/signatures.csv")
@download_limit
def signatures_csv(slug: str) -> Response:
    """The public list as CSV (a file made at most every EXPORT_CACHE_SECONDS): never an address."""
    return _download(letters.get_letter(db.session, slug), "csv", "text/csv")


@bp.get("/letters/<slug>/signatures.json")
@download_limit
def signatures_json(slug: str) -> Response:
    """The public list as JSON (a file made at most every EXPORT_CACHE_SECONDS): never an address."""
    return _download(letters.get_letter(db.session, slug), "json", "application/json")


# Addresses with an id that emails and the list link to: a mangled one ("//", "%2F") is a 404 like a
# wrong id, never a redirect to a tidied address (the token routes do the same, see app.urls).
@bp.get("/letters/<slug>/signatures/<id:signature_id>", merge_slashes=False)
@web.public_page
def signature(slug: str, signature_id: int) -> Response:
    """One public signer with the whole of their comment."""
    letter = letters.get_letter(db.session, slug)
    found = listing.public_signature(db.session, letter.id, signature_id)
    if found is None:
        abort(404)
    return with_robots(
        render_template(
            "letters/signature.html", **letter_context(letter), signature=found, organisations=organisations_of([found])
        )
    )


@bp.get("/letters/<slug>/updates.atom")
@web.public_page
def updates_feed(slug: str) -> Response:
    """The letter's updates as an Atom 1.0 feed, newest first, in the visitor's language (?lang=)."""
    letter = letters.get_letter(db.session, slug)
    context = letter_context(letter)
    entries = updates.letter_updates(db.session, letter.id, limit=FEED_UPDATES)
    # An empty feed is as old as the letter.
    updated = entries[0].published_at if entries else letter.published_at
    asked = request.args.get("lang", "")
    # Each language's feed is a feed of its own: its own address (and so its id and rel=self).
    feed_args = {"lang": asked} if asked in context["languages"] or asked in LANGUAGES else {}
    xml = render_template(
        "letters/updates.atom.xml",
        **context,
        entries=entries,
        updated=updated,
        feed_lang=str(get_locale() or letter.lang),
        # The entries' ids stay the same in every language's feed.
        entry_base=external_url("letters.letter", slug=letter.slug),
        feed_url=external_url("letters.updates_feed", slug=letter.slug, **feed_args),
    )
    response = current_app.make_response(xml)
    response.mimetype = "application/atom+xml"
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    response.last_modified = updated
    return response.make_conditional(request.environ)


@bp.get("/letters/<slug>/preview.png")
def preview_image(slug: str) -> Response:
    """The letter's preview picture for link previews, in the language ?lang= names (default its own)."""
    letter = letters.get_letter(db.session, slug)
    asked = request.args.get("lang", "")
    text = letters.letter_text(letter, asked if asked in letters.letter_languages(letter) else letter.lang)
    shown = previews.Preview.of(text.title, text.lang, letter.signature_count, current_app.config["SITE_NAME"])
    files = previews.preview_files()
    key = shown.key(files.font_path)
    # A few tens of kilobytes: read whole, so no file stays open behind the answer.
    response = Response(files.path(letter.id, shown).read_bytes(), mimetype="image/png")
    response.set_etag(key)
    response.headers["Cache-Control"] = (
        PREVIEW_CACHE_CONTROL if request.args.get("v") == key else PREVIEW_STALE_CACHE_CONTROL
    )
    return response.make_conditional(request.environ)


_NO_EARLIER = N_("The first version has no earlier one to compare with.")


@bp.get("/letters/<slug>/versions")
@web.public_page
def versions(slug: str) -> str:
    """Every published text of the letter: when, what changed, and how many signed under each."""
    letter = letters.get_letter(db.session, slug)
    all_versions = letter_versions.versions(db.session, letter)
    counts = letter_versions.counts_by_version(letter, counting.tallies(db.session, letter.id))
    return render_template(
        "letters/versions.html", **letter_context(letter), versions=list(reversed(all_versions)), counts=counts
    )


@bp.get("/letters/<slug>/versions/<id:number>", merge_slashes=False)
@web.public_page
def version(slug: str, number: int) -> str:
    """One version's text, as it read then."""
    letter = letters.get_letter(db.session, slug)
    found = letter_versions.get_version(db.session, letter, number)
    return render_template("letters/version.html", **letter_context(letter), version=found)


@bp.get("/letters/<slug>/versions/<id:number>/diff", merge_slashes=False)
@web.public_page
def version_diff(slug: str, number: int) -> str:
    """What changed from the version before to this one: the Markdown source, added and removed."""
    letter = letters.get_letter(db.session, slug)
    if number < 2:
        raise letter_versions.VersionNotFound(_NO_EARLIER)
    new = letter_versions.get_version(db.session, letter, number)
    old = letter_versions.get_version(db.session, letter, number - 1)
    return render_template(
        "letters/version_diff.html",
        **letter_context(letter),
        version=new,
        previous=old,
        title_diff=textdiff.diff_texts(old.title, new.title),
        body_diff=textdiff.diff_texts(old.body_markdown, new.body_markdown),
    )


def _embeddable(response: Response) -> Response:
    """Let the configured sites frame or show this answer."""
    response.headers["Content-Security-Policy"] = web.content_security_policy(
        frame_ancestors=current_app.config["EMBED_ALLOWED_ORIGINS"]
    )
    return response


@bp.get("/letters/<slug>/embed")
@web.public_page
def embed(slug: str) -> Response:
    """A small page for other sites' iframes: title, count, progress and a button to the letter."""
    letter = letters.get_letter(db.session, slug)
    html = render_template(
        "letters/embed.html", **letter_context(letter), poll_seconds=current_app.config["LIVE_POLL_SECONDS"]
    )
    return _embeddable(current_app.make_response(html))


@bp.get("/letters/<slug>/badge.svg")
@web.public_page
def badge(slug: str) -> Response:
    """A small SVG image with the live count ("1,234 signatures"; "closed" beside it once closed)."""
    letter = letters.get_letter(db.session, slug)
    text = letters.letter_text(letter, str(get_locale() or letter.lang))
    label = web.count_text(letter.signature_count)
    value = str(web.badge_closed()) if letter.is_closed(utcnow()) else ""
    label_width = web.text_width(label) + 12
    value_width = web.text_width(value) + 12 if value else 0
    svg = render_template(
        "letters/badge.svg",
        letter=letter,
        title=text.title,
        label=label,
        value=value,
        label_width=label_width,
        value_width=value_width,
    )
    response = current_app.make_response(svg)
    response.mimetype = "image/svg+xml"
    return _embeddable(response)


@bp.get("/letters")
@web.public_page
def index_of_letters() -> str:
    """Every letter on this site."""
    all_letters = letters.all_letters(db.session)
    if not all_letters:
        abort(404)
    locale = str(get_locale() or "en")
    texts = {letter.id: letters.letter_text(letter, locale) for letter in all_letters}
    return render_template("letters/index.html", letters=all_letters, texts=texts, now=utcnow())


# What crawlers may read: the public pages, not the moderators' or the single-use links' pages.
ROBOTS_DISALLOWED = ("/moderate", "/confirm/", "/withdraw/", "/unsubscribe/", "/signature/", "/_dev/")
# The site-wide files crawlers and browsers ask for at fixed addresses change rarely.
SITE_FILE_CACHE_CONTROL = "public, max-age=86400"


@bp.get("/robots.txt")
def robots() -> Response:
    """Crawlers may read every public page; the moderators' pages and the mailed links are not for them."""
    lines = ["User-agent: *", "Allow: /", *(f"Disallow: {path}" for path in ROBOTS_DISALLOWED)]
    lines += ["", f"Sitemap: {external_url('letters.sitemap')}", ""]
    response = Response("\n".join(lines), mimetype="text/plain")
    response.headers["Cache-Control"] = SITE_FILE_CACHE_CONTROL
    return response


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    """Every published letter (with its translations) and its list of signers, for search engines."""
    now = utcnow()
    published = [letter for letter in letters.all_letters(db.session) if letter.published_at <= now]
    xml = render_template("letters/sitemap.xml", letters=published, letter_languages=letters.letter_languages)
    response = Response(xml, mimetype="application/xml")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The icon for browsers and feed readers that ask for /favicon.ico (pages name the SVG one)."""
    response = current_app.send_static_file("favicon.ico")
    response.headers["Cache-Control"] = SITE_FILE_CACHE_CONTROL
    return response


def _midday(day: date | None) -> datetime | None:
    """A day as a moment the date formatter shows as that day in any time zone near UTC."""
    return datetime.combine(day, time(12), tzinfo=UTC) if day else None


@bp.get("/privacy")
@web.public_page
def privacy() -> str:
    """What is stored, what is public, for how long, and how to withdraw."""
    featured = letters.featured_letter(db.session)
    text = letters.letter_text(featured, str(get_locale() or "en")) if featured else None
    locale = str(get_locale() or "en")
    protected = [
        (letter, letters.letter_text(letter, locale), _midday(letter.personal_data_until))
        for letter in after_close.protected_letters(db.session)
    ]
    return render_template("privacy.html", featured=featured, featured_text=text, protected=protected)
