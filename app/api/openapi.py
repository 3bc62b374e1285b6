"""The OpenAPI 3.1 document of the public API (kept beside the views it describes)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.services.ledger import REMOVAL_REASONS

_NULLABLE_STRING = {"type": ["string", "null"]}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

_ERROR = {
    "description": "An error, with a message for a person",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}

_SLUG = {
    "name": "slug",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$"},
}

_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "description": "The ETag of a copy you have: if it is still current, the answer is 304 without a body",
    "schema": {"type": "string"},
}

_CACHED = {
    "ETag": {"schema": {"type": "string"}, "description": "Send it back in If-None-Match to get 304"},
    "Cache-Control": {"schema": {"type": "string"}},
}


def openapi_document() -> dict[str, Any]:
    """The document, with this site's name and address."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{current_app.config['SITE_NAME']} API",
            "version": "1.0.0",
            "description": "Open letters, their live signature counts and their public signers. Read-only; "
            "email addresses are never published.",
        },
        "servers": [{"url": current_app.config["BASE_URL"] + "/api/v1"}],
        "paths": {
            "/letters": {
                "get": {
                    "operationId": "listLetters",
                    "summary": "Every letter on this site",
                    "parameters": [_IF_NONE_MATCH],
                    "responses": {
                        "200": {
                            "description": "The letters",
                            "headers": _CACHED,
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["letters"],
                                        "properties": {
                                            "letters": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Letter"},
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        "304": {"description": "Not modified since the ETag sent in If-None-Match"},
                    },
                }
            },
            "/letters/{slug}": {
                "get": {
                    "operationId": "getLetter",
                    "summary": "One letter and its live signature count",
                    "parameters": [_SLUG, _IF_NONE_MATCH],
                    "responses": {
                        "200": {
                            "description": "The letter",
                            "headers": _CACHED,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Letter"}}},
                        },
                        "304": {"description": "Not modified since the ETag sent in If-None-Match"},
                        "404": _ERROR,
                    },
                }
            },
            "/letters/{slug}/signatures": {
                "get": {
                    "operationId": "listSignatures",
                    "summary": "Public signers, newest first (keyset pagination)",
                    "parameters": [
                        _SLUG,
                        _IF_NONE_MATCH,
                        {
                            "name": "limit",
                            "in": "query",
                            "allowEmptyValue": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "allowEmptyValue": True,
                            "description": "next_cursor from the previous page; without one, the newest signers",
                            "schema": {"type": "string", "pattern": "^[0-9]{1,17}-[0-9]{1,18}$"},
                        },
                        {
                            "name": "q",
                            "in": "query",
                            "allowEmptyValue": True,
                            "description": "Search in names and affiliations (only the first 100 characters are used)",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "verified",
                            "in": "query",
                            "description": "1: only signatories a moderator verified; 0: only the others",
                            "schema": {"type": "string", "enum": ["1", "0", "true", "false"]},
                        },
                        {
                            "name": "founding",
                            "in": "query",
                            "description": "1: only founding signatories; 0: only later signers",
                            "schema": {"type": "string", "enum": ["1", "0", "true", "false"]},
                        },
                        {
                            "name": "domain_confirmed",
                            "in": "query",
                            "description": "1: only signers who show the domain they confirmed with; 0: the others",
                            "schema": {"type": "string", "enum": ["1", "0", "true", "false"]},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of signatures",
                            "headers": _CACHED,
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["signatures", "next_cursor"],
                                        "properties": {
                                            "signatures": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Signature"},
                                            },
                                            "next_cursor": _NULLABLE_STRING,
                                        },
                                    }
                                }
                            },
                        },
                        "304": {"description": "Not modified since the ETag sent in If-None-Match"},
                        "400": _ERROR,
                        "404": _ERROR,
                    },
                }
            },
            "/letters/{slug}/updates": {
                "get": {
                    "operationId": "listUpdates",
                    "summary": "The letter's published updates, newest first (also an Atom feed at "
                    "/letters/{slug}/updates.atom)",
                    "parameters": [_SLUG, _IF_NONE_MATCH],
                    "responses": {
                        "200": {
                            "description": "The updates",
                            "headers": _CACHED,
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["updates"],
                                        "properties": {
                                            "updates": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Update"},
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        "304": {"description": "Not modified since the ETag sent in If-None-Match"},
                        "404": _ERROR,
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Letter": {
                    "type": "object",
                    "required": ["slug", "title", "signature_count", "updated_at", "moderation", "version", "versions"],
                    "properties": {
                        "slug": {"type": "string"},
                        "title": {"type": "string"},
                        "summary": {"type": "string"},
                        "signature_count": {"type": "integer", "minimum": 0},
                        "goal": {"type": ["integer", "null"]},
                        "featured": {"type": "boolean"},
                        "open": {"type": "boolean", "description": "Whether the letter accepts signatures"},
                        "published_at": _NULLABLE_TIME,
                        "closes_at": _NULLABLE_TIME,
                        "updated_at": {"type": "string", "format": "date-time"},
                        "url": {"type": "string", "format": "uri"},
                        "moderation": {"$ref": "#/components/schemas/Moderation"},
                        "version": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "The number of the letter's current text; every change of the text makes a "
                            "new version",
                        },
                        "versions": {
                            "type": "array",
                            "description": "Every version of the text, oldest first, with how many counted signatures "
                            "were signed under it (they add up to signature_count)",
                            "items": {"$ref": "#/components/schemas/LetterVersion"},
                        },
                    },
                },
                "LetterVersion": {
                    "type": "object",
                    "required": ["version", "signature_count", "url"],
                    "properties": {
                        "version": {"type": "integer", "minimum": 1},
                        "signature_count": {"type": "integer", "minimum": 0},
                        "url": {"type": "string", "format": "uri", "description": "The page with this version's text"},
                    },
                },
                "Moderation": {
                    "type": "object",
                    "description": "Public moderation numbers: never names. signature_count is the confirmed count.",
                    "required": ["mode", "awaiting_review", "removed"],
                    "properties": {
                        "mode": {
                            "type": "string",
                            "enum": ["post", "pre"],
                            "description": "post: a confirmed signature counts at once; pre: after a moderator "
                            "approves it",
                        },
                        "awaiting_review": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Confirmed by email, waiting for a moderator",
                        },
                        "removed": {
                            "type": "object",
                            "description": "Signatures hidden or removed by moderators, by reason, and withdrawn by "
                            "their signers",
                            "required": list(REMOVAL_REASONS),
                            "properties": {reason: {"type": "integer", "minimum": 0} for reason in REMOVAL_REASONS},
                            "additionalProperties": False,
                        },
                    },
                },
                "Signature": {
                    "type": "object",
                    "required": [
                        "id",
                        "name",
                        "affiliation",
                        "country",
                        "city",
                        "comment",
                        "signed_at",
                        "verified",
                        "founding",
                        "confirmed_domain",
                        "confirmed_organisation",
                        "version",
                    ],
                    "properties": {
                        "id": {"type": "integer", "description": "For the report link"},
                        "name": {"type": "string"},
                        "affiliation": _NULLABLE_STRING,
                        "country": {"type": ["string", "null"], "description": "ISO 3166-1 alpha-2"},
                        "city": _NULLABLE_STRING,
                        "comment": _NULLABLE_STRING,
                        "signed_at": {"type": "string", "format": "date-time"},
                        "verified": {
                            "type": "boolean",
                            "description": "A moderator checked that this signatory is who the name says",
                        },
                        "founding": {"type": "boolean", "description": "One of the letter's founding signatories"},
                        "confirmed_domain": {
                            "type": ["string", "null"],
                            "description": "The domain of the address the signer confirmed with, if they chose to "
                            "show it (never for webmail or disposable domains; never the address)",
                        },
                        "confirmed_organisation": {
                            "type": ["string", "null"],
                            "description": "The listed organisation that confirmed_domain belongs to, if any",
                        },
                        "version": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "The version of the letter's text this signature was signed under",
                        },
                    },
                },
                "Update": {
                    "type": "object",
                    "required": ["id", "title", "published_at", "body_html", "body_markdown", "url"],
                    "properties": {
                        "id": {"type": "integer"},
                        "title": {"type": "string"},
                        "published_at": {"type": "string", "format": "date-time"},
                        "body_html": {"type": "string", "description": "Rendered and sanitised like a letter's text"},
                        "body_markdown": {"type": "string"},
                        "url": {"type": "string", "format": "uri"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                },
            }
        },
    }
