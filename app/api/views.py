"""Letters, their live counts and their public signers, as JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from app import log
from app.api.openapi import openapi_document
from app.db import db, utcnow
from app.errors import DomainError
from app.models import Letter, LetterUpdate, LogEvent, Organisation, Signature
from app.services import domains, letters, updates
from app.services.progress import Progress, progress
from app.services.queries import ledger, listing, stats
from app.services.queries.ledger import Ledger
from app.timestamps import iso
from app.urls import external_url

bp = Blueprint("api", __name__, url_prefix="/api/v1")

DEFAULT_LIMIT = 20
# Clients poll the count; a short shared cache lifetime keeps them cheap and fresh.
POLL_CACHE_CONTROL = "public, max-age=2"


class BadParameter(DomainError):
    """A query parameter that is not of the documented form."""

    code = "bad_parameter"


def moderation_json(ledger: Ledger) -> dict[str, Any]:
    """The public moderation numbers of a letter (never names)."""
    return {
        "mode": ledger.mode,
        "awaiting_review": ledger.awaiting_review,
        "awaiting_review_counted": ledger.awaiting_review_counted,
        "removed": dict(ledger.removed),
    }


def progress_json(shown: Progress | None) -> dict[str, Any] | None:
    """Progress toward the goal as the letter page shows it (live.js draws it from this)."""
    if shown is None:
        return None
    return {"goal": shown.goal, "percent": shown.percent, "reached": shown.reached}


def letter_json(letter: Letter, ledger: Ledger, response: LetterUpdate | None) -> dict[str, Any]:
    """The public fields of a letter, and the addressee's latest response (None until they answer)."""
    url = external_url("letters.letter", slug=letter.slug)
    return {
        "slug": letter.slug,
        "title": letter.title,
        "summary": letter.summary,
        "signature_count": letter.signature_count,
        "goal": letter.goal,
        "progress": progress_json(progress(letter.signature_count, letter.goal)),
        "featured": letter.featured,
        "open": not letter.is_closed(utcnow()),
        "published_at": iso(letter.published_at),
        "closes_at": iso(letter.closes_at),
        "updated_at": iso(letter.updated_at),
        "url": url,
        "moderation": moderation_json(ledger),
        "version": letter.current_version,
        "versions": [
            {
                "version": number,
                "signature_count": count,
                "url": external_url("letters.version", slug=letter.slug, number=number),
            }
            for number, count in sorted(ledger.by_version.items())
        ],
        "response": update_json(response, url) if response else None,
    }


def signature_json(signature: Signature, organisations: Mapping[str, Organisation] | None = None) -> dict[str, Any]:
    """The public fields of a signature (never the email).

    ``organisations`` maps confirmed domains to their organisations (see
    ``domains.organisations_for``), for the "confirmed" badge.
    """
    domain = signature.confirmed_domain
    organisation = (organisations or {}).get(domain) if domain else None
    # Exactly the fields the public log commits to (so an outsider can check the list against
    # it), and the organisation's name, which comes from the site's table of domains.
    return log.public_fields(signature) | {"confirmed_organisation": organisation.name if organisation else None}


def signatures_json(signatures: Sequence[Signature]) -> list[dict[str, Any]]:
    """The public fields of several signatures, their organisations found in one query."""
    owners = domains.organisations_for(db.session, (s.confirmed_domain for s in signatures if s.confirmed_domain))
    return [signature_json(signature, owners) for signature in signatures]


def update_json(update: LetterUpdate, letter_url: str) -> dict[str, Any]:
    """A published update to a letter."""
    return {
        "id": update.id,
        "kind": str(update.kind),
        "title": update.title,
        "published_at": iso(update.published_at),
        "body_html": update.body_html,
        "body_markdown": update.body_markdown,
        "url": f"{letter_url}#update-{update.id}",
        # A response's: who answered (its title), the day they did, where it was published.
        "responder": update.title if update.is_response else None,
        "response_date": update.responded_on.isoformat() if update.responded_on else None,
        "source_url": update.source_url,
    }


def _cacheable(payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    response.headers["Cache-Control"] = POLL_CACHE_CONTROL
    response.add_etag()
    response.make_conditional(request)
    return response


@bp.get("/letters")
def list_letters() -> Response:
    """Every letter."""
    all_letters = letters.all_letters(db.session)
    numbers = ledger.ledgers(db.session, all_letters)
    responses = updates.latest_responses(db.session, (letter.id for letter in all_letters))
    return _cacheable(
        {"letters": [letter_json(letter, numbers[letter.id], responses.get(letter.id)) for letter in all_letters]}
    )


@bp.get("/letters/<slug>")
def get_letter(slug: str) -> Response:
    """One letter with its count; supports If-None-Match."""
    letter = letters.get_letter(db.session, slug)
    response = updates.latest_response(db.session, letter.id)
    return _cacheable(letter_json(letter, ledger.ledger(db.session, letter), response))


WHOLE_NUMBER = re.compile(r"([0-9]{1,12})(?:\.0{1,6})?")


def _digits(raw: str) -> str | None:
    """The digits of a whole number as the OpenAPI document allows it: "5", or "5.0" (JSON Schema counts
    5.0 as an integer, so a client generated from the document may send it); None for anything else."""
    match = WHOLE_NUMBER.fullmatch(raw)
    return match.group(1) if match else None


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    digits = _digits(raw)
    if digits is None or not 1 <= int(digits) <= listing.MAX_LIMIT:
        raise BadParameter(f"limit must be a whole number from 1 to {listing.MAX_LIMIT}.")
    return int(digits)


FLAG_VALUES = frozenset({"1", "0", "true", "false"})


def _flag(name: str) -> bool | None:
    """A yes/no filter exactly as the OpenAPI document spells it (1, 0, true, false), or BadParameter."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw not in FLAG_VALUES:
        raise BadParameter(f"{name} must be 1 or 0.")
    return listing.parse_flag(name, raw)


@bp.get("/letters/<slug>/signatures")
def list_signatures(slug: str) -> Response:
    """Public signers, newest first, with a cursor for the next page."""
    letter = letters.get_letter(db.session, slug)
    page = listing.public_signatures(
        db.session,
        letter.id,
        limit=_limit(),
        cursor=request.args.get("cursor") or None,
        query=request.args.get("q") or None,
        verified=_flag("verified"),
        founding=_flag("founding"),
        domain_confirmed=_flag("domain_confirmed"),
    )
    return _cacheable({"signatures": signatures_json(page.signatures), "next_cursor": page.next_cursor})


class NotListed(DomainError):
    """A signature that is not on the public list (never listed, hidden, withdrawn or unknown)."""

    status_code = 404
    code = "not_listed"


@bp.get("/letters/<slug>/signatures/<id:signature_id>")
def get_signature(slug: str, signature_id: int) -> Response:
    """One signature as the public list shows it; 404 when it is not on the list."""
    letter = letters.get_letter(db.session, slug)
    found = listing.public_signature(db.session, letter.id, signature_id)
    if found is None:
        raise NotListed(f"Signature {signature_id} is not on the public list of this letter.")
    return _cacheable(signatures_json([found])[0])


def stats_json(letter: Letter, numbers: stats.LetterStats) -> dict[str, Any]:
    """Where and when a letter's counted signers signed; countries of fewer than ``small_count`` are "other"."""
    return {
        "slug": letter.slug,
        "signature_count": numbers.total,
        "small_count_threshold": numbers.small_count,
        "by_day": [{"date": day.isoformat(), "count": number} for day, number in numbers.days],
        "by_hour": [{"hour": iso(hour), "count": number} for hour, number in numbers.hours],
        "by_country": [{"country": code, "count": number} for code, number in numbers.countries],
        "by_language": [{"language": code, "count": number} for code, number in numbers.languages],
    }


@bp.get("/letters/<slug>/stats")
def letter_stats(slug: str) -> Response:
    """Signatures by day, hour, country and language; supports If-None-Match."""
    letter = letters.get_letter(db.session, slug)
    return _cacheable(stats_json(letter, stats.letter_stats(db.session, letter.id, now=utcnow())))


@bp.get("/letters/<slug>/updates")
def list_updates(slug: str) -> Response:
    """The letter's published updates, newest first."""
    letter = letters.get_letter(db.session, slug)
    letter_url = external_url("letters.letter", slug=letter.slug)
    found = updates.letter_updates(db.session, letter.id)
    return _cacheable({"updates": [update_json(update, letter_url) for update in found]})


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 description of this API."""
    return jsonify(openapi_document())


def _key() -> log.SigningKey:
    return log.SigningKey.from_text(current_app.config["LOG_SIGNING_KEY"])


def _whole(name: str, *, default: int | None = None) -> int:
    """A whole-number query parameter, or BadParameter that says what is expected."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadParameter(f"{name} is required (a whole number).")
        return default
    digits = _digits(raw)
    if digits is None or int(digits) > log.MAX_POSITION:
        raise BadParameter(f"{name} must be a whole number from 0 to {log.MAX_POSITION}.")
    return int(digits)


def _log_json(payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    response.headers["Cache-Control"] = POLL_CACHE_CONTROL
    return response


@bp.get("/letters/<slug>/log/key")
def log_key(slug: str) -> Response:
    """The public key that signs this site's tree heads."""
    letters.get_letter(db.session, slug)
    key = _key()
    return _log_json({"algorithm": "Ed25519", "public_key": key.public_text, "key_id": key.key_id})


@bp.get("/letters/<slug>/log/head")
def log_head(slug: str) -> Response:
    """The latest signed tree head of the letter's log."""
    letter = letters.get_letter(db.session, slug)
    key = _key()
    head = log.head_json(letter.slug, log.current_head(db.session, letter, key), key)
    # Not signed: a hint for verifiers that changes already on the list are about to be logged.
    head["waiting"] = log.events_waiting(db.session, letter.id)
    return _log_json(head)


@bp.get("/letters/<slug>/log/entries")
def log_entries(slug: str) -> Response:
    """Log entries from start to end - 1 (at most 1000 at once: fewer when asked for more)."""
    letter = letters.get_letter(db.session, slug)
    size = log.tree_size(db.session, letter.id)
    start = _whole("start", default=0)
    # Like Certificate Transparency's get-entries: a long range gets its first page; ask on from there.
    end = min(_whole("end", default=size), size, start + log.MAX_ENTRIES)
    found = log.entries(db.session, letter.id, start, end) if start < end else []
    return _log_json({"tree_size": size, "entries": found})


def _proof_json(letter: Letter, entry: LogEvent | None, size: int, missing: str) -> Response:
    if entry is None or entry.leaf_index is None or entry.leaf_index >= size:
        raise log.NotInLog(missing)
    path = log.inclusion_proof(db.session, letter.id, entry.leaf_index, size)
    return _log_json(
        {
            "tree_size": size,
            "leaf_index": entry.leaf_index,
            "leaf": entry.leaf,
            "leaf_hash": entry.leaf_hash,
            "audit_path": path,
        }
    )


@bp.get("/letters/<slug>/log/proof/inclusion")
def log_inclusion(slug: str) -> Response:
    """The audit path of entry leaf_index in the tree of tree_size entries."""
    letter = letters.get_letter(db.session, slug)
    size = _whole("tree_size", default=log.tree_size(db.session, letter.id))
    index = _whole("leaf_index")
    entry = log.entry_at(db.session, letter.id, index) if index < 2**62 else None
    return _proof_json(letter, entry, size, f"The tree of {size} entries has no entry {index}.")


@bp.get("/letters/<slug>/log/proof/signature/<id:signature_id>")
def log_signature_inclusion(slug: str, signature_id: int) -> Response:
    """The audit path of a signature's latest entry in the tree of tree_size entries."""
    letter = letters.get_letter(db.session, slug)
    size = _whole("tree_size", default=log.tree_size(db.session, letter.id))
    entry = log.latest_entry(db.session, letter.id, signature_id, size)
    return _proof_json(letter, entry, size, f"Signature {signature_id} has no entry in the first {size} entries.")


@bp.get("/letters/<slug>/log/proof/consistency")
def log_consistency(slug: str) -> Response:
    """The consistency proof between the trees of first and second entries."""
    letter = letters.get_letter(db.session, slug)
    second = _whole("second", default=log.tree_size(db.session, letter.id))
    first = _whole("first")
    path = log.consistency_proof(db.session, letter.id, first, second)
    return _log_json({"first": first, "second": second, "consistency_path": path})
