"""Letters, their live counts and their public signers, as JSON."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.api.openapi import openapi_document
from app.db import db, utcnow
from app.models import Letter, Signature
from app.services import ledger, letters, listing
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


def signature_json(signature: Signature) -> dict[str, Any]:
    """The public fields of a signature (never the email)."""
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
        verified=listing.parse_flag("verified", request.args.get("verified")),
        founding=listing.parse_flag("founding", request.args.get("founding")),
    )
    return _cacheable(
        {"signatures": [signature_json(signature) for signature in page.signatures], "next_cursor": page.next_cursor}
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 description of this API."""
    return jsonify(openapi_document())
