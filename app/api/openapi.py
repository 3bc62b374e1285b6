"""The OpenAPI 3.1 document of the public API (kept beside the views it describes)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app import public_signature
from app.models import MAX_ROW_ID
from app.services.queries.ledger import REMOVAL_REASONS

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


_HEX = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 999_999_999_999}
# A row id in a path: anything outside this range is no address on the site (404).
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}


def _query(name: str, description: str, *, required: bool = False, minimum: int = 0) -> dict[str, Any]:
    parameter: dict[str, Any] = {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        # The log's positions are 32-bit integers; a larger one is answered 400.
        "schema": {**_COUNT, "minimum": minimum, "maximum": 2_147_483_647},
    }
    if not required:
        # An empty value (start=) means not given, as for the list's limit and cursor.
        parameter["allowEmptyValue"] = True
    return parameter


def _log_get(operation_id: str, summary: str, schema: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["log"],
            "parameters": [_SLUG, *parameters],
            "responses": {
                "200": {
                    "description": summary,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
                },
                "400": _ERROR,
                "404": _ERROR,
            },
        }
    }


LOG_PATHS: dict[str, Any] = {
    "/letters/{slug}/log/head": _log_get(
        "getLogHead",
        "The latest signed tree head of the letter's public log",
        "TreeHead",
        [],
    ),
    "/letters/{slug}/log/key": _log_get("getLogKey", "The public key that signs the tree heads", "LogKey", []),
    "/letters/{slug}/log/entries": _log_get(
        "getLogEntries",
        "Log entries by index, from start to end - 1 (at most 1000 at once: a longer range gets its first 1000)",
        "LogEntries",
        [
            _query("start", "The first index (default 0)"),
            _query("end", "One past the last index (default: start + 1000, at most the tree size)"),
        ],
    ),
    "/letters/{slug}/log/proof/inclusion": _log_get(
        "getInclusionProof",
        "The audit path of an entry in the tree of tree_size entries (RFC 6962 2.1.1)",
        "InclusionProof",
        [
            _query("leaf_index", "The entry to prove", required=True),
            _query("tree_size", "The tree the proof is for (default: the current size)", minimum=1),
        ],
    ),
    "/letters/{slug}/log/proof/signature/{signature_id}": _log_get(
        "getSignatureInclusionProof",
        "The audit path of a signature's latest entry in the tree of tree_size entries",
        "InclusionProof",
        [
            {"name": "signature_id", "in": "path", "required": True, "schema": _ID},
            _query("tree_size", "The tree the proof is for (default: the current size)", minimum=1),
        ],
    ),
    "/letters/{slug}/log/proof/consistency": _log_get(
        "getConsistencyProof",
        "The consistency proof between the trees of first and second entries (RFC 6962 2.1.2)",
        "ConsistencyProof",
        [
            _query("first", "The size of the earlier tree", required=True, minimum=1),
            _query("second", "The size of the later tree (default: the current size)", minimum=1),
        ],
    ),
}

LOG_SCHEMAS: dict[str, Any] = {
    "TreeHead": {
        "type": "object",
        "description": "Ed25519 signature, with the key published at /log/key, over the UTF-8 text "
        "'undersigned tree head v1\\nletter: SLUG\\ntree_size: N\\nroot_hash: HEX\\ntimestamp: MS\\n'",
        "required": ["letter", "tree_size", "root_hash", "timestamp", "time", "signature", "algorithm", "key_id"],
        "properties": {
            "letter": {"type": "string"},
            "tree_size": {"type": "integer", "minimum": 0, "maximum": 2_147_483_647},
            "root_hash": {**_HEX, "description": "The RFC 6962 Merkle Tree Hash of the entries, hex"},
            "timestamp": {"type": "integer", "description": "Milliseconds since 1970-01-01T00:00Z"},
            "time": {"type": "string", "format": "date-time"},
            "signature": {"type": "string", "description": "Base64"},
            "algorithm": {"type": "string", "enum": ["Ed25519"]},
            "key_id": {"type": "string", "description": "The first 8 bytes of the public key's SHA-256, hex"},
            "public_key": {"type": ["string", "null"], "description": "Base64 (null if signed by an older key)"},
            "waiting": {
                "type": "integer",
                "minimum": 0,
                "description": "Not signed: how many changes already made to the list wait to be sequenced into "
                "the log (counted up to 10,000). A verifier that finds the list ahead of the log waits for a "
                "newer head while this is above 0",
            },
        },
    },
    "LogKey": {
        "type": "object",
        "required": ["algorithm", "public_key", "key_id"],
        "properties": {
            "algorithm": {"type": "string", "enum": ["Ed25519"]},
            "public_key": {"type": "string", "description": "The raw 32-byte Ed25519 public key, base64"},
            "key_id": {"type": "string"},
        },
    },
    "LogEntries": {
        "type": "object",
        "required": ["tree_size", "entries"],
        "properties": {
            "tree_size": {"type": "integer", "minimum": 0, "maximum": 2_147_483_647},
            "entries": {"type": "array", "items": {"$ref": "#/components/schemas/LogEntry"}},
        },
    },
    "LogEntry": {
        "type": "object",
        "description": "leaf is the exact text hashed into the tree: canonical JSON (sorted keys, no spaces, "
        "UTF-8) of v, event (add, hide, restore, update, erase), signature (its id), at, listed, commitment "
        "(hex SHA-256 of salt bytes then fields text, or null) and reason (erase only: withdrawn or removed). "
        "fields (canonical JSON of the signature as the list shows it) and salt (hex) open the commitment of "
        "each listed signature's latest entry; they are null otherwise, and deleted for good on erasure.",
        "required": ["index", "leaf", "fields", "salt"],
        "properties": {
            "index": {"type": "integer", "minimum": 0, "maximum": 2_147_483_647},
            "leaf": {"type": "string"},
            "fields": _NULLABLE_STRING,
            "salt": _NULLABLE_STRING,
        },
    },
    "InclusionProof": {
        "type": "object",
        "required": ["tree_size", "leaf_index", "leaf", "leaf_hash", "audit_path"],
        "properties": {
            "tree_size": {"type": "integer", "minimum": 1, "maximum": 2_147_483_647},
            "leaf_index": {"type": "integer", "minimum": 0, "maximum": 2_147_483_647},
            "leaf": {"type": "string"},
            "leaf_hash": _HEX,
            "audit_path": {"type": "array", "items": _HEX},
        },
    },
    "ConsistencyProof": {
        "type": "object",
        "required": ["first", "second", "consistency_path"],
        "properties": {
            "first": {"type": "integer", "minimum": 1, "maximum": 2_147_483_647},
            "second": {"type": "integer", "minimum": 1, "maximum": 2_147_483_647},
            "consistency_path": {"type": "array", "items": _HEX},
        },
    },
}


def _counts(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An array of ``{key: ..., count: n}``."""
    return {
        "type": "array",
        "items": {
            "type": "object",
            "required": [key, "count"],
            "properties": {key: schema, "count": {"type": "integer", "minimum": 0}},
        },
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
            "/letters/{slug}/signatures/{signature_id}": {
                "get": {
                    "operationId": "getSignature",
                    "summary": "One signature as the public list shows it (404 when it is not on the list)",
                    "parameters": [
                        _SLUG,
                        {"name": "signature_id", "in": "path", "required": True, "schema": _ID},
                        _IF_NONE_MATCH,
                    ],
                    "responses": {
                        "200": {
                            "description": "The signature",
                            "headers": _CACHED,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Signature"}}},
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
            "/letters/{slug}/stats": {
                "get": {
                    "operationId": "getLetterStats",
                    "summary": "Where and when people signed: counted signatures by day, hour, country and language",
                    "description": "A country or language with fewer than small_count_threshold signers is not "
                    "named: it is added to 'other'. Days and hours are UTC.",
                    "parameters": [_SLUG, _IF_NONE_MATCH],
                    "responses": {
                        "200": {
                            "description": "The numbers",
                            "headers": _CACHED,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stats"}}},
                        },
                        "304": {"description": "Not modified since the ETag sent in If-None-Match"},
                        "404": _ERROR,
                    },
                }
            },
            **LOG_PATHS,
        },
        "components": {
            "schemas": {
                "Letter": {
                    "type": "object",
                    "required": [
                        "slug",
                        "title",
                        "signature_count",
                        "updated_at",
                        "moderation",
                        "version",
                        "versions",
                        "response",
                    ],
                    "properties": {
                        "slug": {"type": "string"},
                        "title": {"type": "string"},
                        "summary": {"type": "string"},
                        "signature_count": {"type": "integer", "minimum": 0},
                        "goal": {"type": ["integer", "null"]},
                        "progress": {
                            "oneOf": [{"$ref": "#/components/schemas/Progress"}, {"type": "null"}],
                            "description": "Progress toward the goal as the letter's page shows it (null without one)",
                        },
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
                        "response": {
                            "oneOf": [{"$ref": "#/components/schemas/Update"}, {"type": "null"}],
                            "description": "The addressee's latest response as the organisers recorded it (an update "
                            "of kind 'response'), or null until they answer",
                        },
                    },
                },
                "Progress": {
                    "type": "object",
                    "required": ["goal", "percent", "reached"],
                    "properties": {
                        "goal": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "The goal shown: the letter's own, or once that is reached the next of "
                            "1, 2, 5, 10, 20, 50, ... above the count",
                        },
                        "percent": {"type": "integer", "minimum": 0, "maximum": 100},
                        "reached": {
                            "type": ["integer", "null"],
                            "description": "The letter's own goal once the count has reached it",
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
                    "required": ["mode", "awaiting_review", "awaiting_review_counted", "removed"],
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
                            "description": "Confirmed by email, waiting for a moderator before the name is "
                            "listed: in pre-moderation, not counted yet; or counted (awaiting_review_counted)",
                        },
                        "awaiting_review_counted": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Of awaiting_review, those already counted in signature_count but not "
                            "listed until a moderator has reviewed them (a name on the watch list or a disposable "
                            "address; unless the site sets LIST_FLAGGED)",
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
                "Signature": public_signature.schema(),
                "Update": {
                    "type": "object",
                    "description": "News the organisers published, or the addressee's response they recorded",
                    "required": [
                        "id",
                        "kind",
                        "title",
                        "published_at",
                        "body_html",
                        "body_markdown",
                        "url",
                        "responder",
                        "response_date",
                        "source_url",
                    ],
                    "properties": {
                        "id": {"type": "integer"},
                        "kind": {
                            "type": "string",
                            "enum": ["update", "response"],
                            "description": "update: the organisers' own news; response: the addressee's reply",
                        },
                        "title": {"type": "string", "description": "A response's title is who answered"},
                        "published_at": {"type": "string", "format": "date-time"},
                        "body_html": {"type": "string", "description": "Rendered and sanitised like a letter's text"},
                        "body_markdown": {"type": "string"},
                        "url": {"type": "string", "format": "uri"},
                        "responder": {
                            "type": ["string", "null"],
                            "description": "Who answered (a response only)",
                        },
                        "response_date": {
                            "type": ["string", "null"],
                            "format": "date",
                            "description": "The day they answered (a response only)",
                        },
                        "source_url": {
                            "type": ["string", "null"],
                            "format": "uri",
                            "description": "Where the response was published, if the organisers gave it",
                        },
                    },
                },
                "Stats": {
                    "type": "object",
                    "required": [
                        "slug",
                        "signature_count",
                        "small_count_threshold",
                        "by_day",
                        "by_hour",
                        "by_country",
                        "by_language",
                    ],
                    "properties": {
                        "slug": {"type": "string"},
                        "signature_count": {"type": "integer", "minimum": 0},
                        "small_count_threshold": {"type": "integer", "minimum": 1},
                        "by_day": _counts("date", {"type": "string", "format": "date"}),
                        "by_hour": _counts("hour", {"type": "string", "format": "date-time"}),
                        "by_country": _counts(
                            "country",
                            {
                                "type": "string",
                                "description": "ISO 3166 code; 'none' for signers who gave none; 'other' for "
                                "countries too small to name",
                            },
                        ),
                        "by_language": _counts("language", {"type": "string"}),
                    },
                },
                **LOG_SCHEMAS,
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                },
            }
        },
    }
