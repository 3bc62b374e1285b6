"""The public JSON API, version 1 (read-only; documented at /api/v1/openapi.json)."""
