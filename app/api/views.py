"""Letters, their live counts and their public signers, as JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api.openapi import openapi_document
from app.db import db, utcnow
from app.models import Letter, LetterUpdate, Organisation, Signature
from app.services import domains, ledger, letters, listing, updates
from app.services.errors import DomainError
from app.services.ledger import Ledger
from app.urls import external_url

bp = Blueprint("api", __name__, url_prefix="/api/v1")

DEFAULT_LIMIT = 20
# Clients poll the count; a short shared cache lifetime keeps them cheap and fresh.
POLL_CACHE_CONTROL = "public, max-age=2"


class BadParameter(DomainError):
    """A query parameter that is not of the documented form."""

    code = "bad_parameter"


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def moderation_json(ledger: Ledger) -> dict[str, Any]:
    """The public moderation numbers of a letter (never names)."""
    return {"mode": ledger.mode, "awaiting_review": ledger.awaiting_review, "removed": dict(ledger.removed)}


def letter_json(letter: Letter, ledger: Ledger) -> dict[str, Any]:
    """The public fields of a letter."""
    return {
        "slug": letter.slug,
        "title": letter.title,
        "summary": letter.summary,
        "signature_count": letter.signature_count,
        "goal": letter.goal,
        "featured": letter.featured,
        "open": not letter.is_closed(utcnow()),
        "published_at": _iso(letter.published_at),
        "closes_at": _iso(letter.closes_at),
        "updated_at": _iso(letter.updated_at),
        "url": external_url("letters.letter", slug=letter.slug),
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
    }


def signature_json(signature: Signature, organisations: Mapping[str, Organisation] | None = None) -> dict[str, Any]:
    """The public fields of a signature (never the email).

    ``organisations`` maps confirmed domains to their organisations (see
    ``domains.organisations_for``), for the "confirmed" badge.
    """
    domain = signature.confirmed_domain
    organisation = (organisations or {}).get(domain) if domain else None
    return {
        "id": signature.id,
        "name": signature.name,
        "affiliation": signature.affiliation,
        "country": signature.country,
        "city": signature.city,
        "comment": signature.comment,
        "signed_at": _iso(signature.confirmed_at),
        "verified": signature.verified_at is not None,
        "founding": signature.founding,
        "version": signature.letter_version,
        "confirmed_domain": domain,
        "confirmed_organisation": organisation.name if organisation else None,
    }


def signatures_json(signatures: Sequence[Signature]) -> list[dict[str, Any]]:
    """The public fields of several signatures, their organisations found in one query."""
    owners = domains.organisations_for(db.session, (s.confirmed_domain for s in signatures if s.confirmed_domain))
    return [signature_json(signature, owners) for signature in signatures]


def update_json(update: LetterUpdate, letter_url: str) -> dict[str, Any]:
    """A published update to a letter."""
    return {
        "id": update.id,
        "title": update.title,
        "published_at": _iso(update.published_at),
        "body_html": update.body_html,
        "body_markdown": update.body_markdown,
        "url": f"{letter_url}#update-{update.id}",
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
    return _cacheable({"letters": [letter_json(letter, numbers[letter.id]) for letter in all_letters]})


@bp.get("/letters/<slug>")
def get_letter(slug: str) -> Response:
    """One letter with its count; supports If-None-Match."""
    letter = letters.get_letter(db.session, slug)
    return _cacheable(letter_json(letter, ledger.ledger(db.session, letter)))


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= listing.MAX_LIMIT:
        raise BadParameter(f"limit must be a whole number from 1 to {listing.MAX_LIMIT}.")
    return int(raw)


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
