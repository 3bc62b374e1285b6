"""Render a letter's moderators' dashboard again and again; print the median and slowest times (own process).

The page is fetched as a signed-in moderator through the whole application (the request, the
queries, the template), with the test client: the time is the server's, without a network.
Usage: python -m benchmarks.dashboard_probe SLUG [REPEATS]   (DATABASE_URL names the database)
"""

from __future__ import annotations

import json
import re
import secrets
import statistics
import sys
import time

from app import create_app
from app.db import db
from app.models import ModeratorRole
from app.moderation import accounts


def main(slug: str, repeats: int = 20) -> None:
    """Sign in as a new moderator and time GET /moderate/letters/SLUG/dashboard ``repeats`` times."""
    app = create_app({"TESTING": True, "RATELIMIT_ENABLED": False})
    email, password = f"bench-{secrets.token_hex(4)}@example.org", secrets.token_urlsafe(16)
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, email, password, ModeratorRole.MODERATOR)
    client = app.test_client()
    form = client.get("/moderate/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    signed_in = client.post("/moderate/login", data={"email": email, "password": password, "csrf_token": token})
    assert signed_in.status_code == 303, signed_in.status_code
    path = f"/moderate/letters/{slug}/dashboard"
    first = client.get(path)  # the first request also loads the templates and the catalogues
    assert first.status_code == 200, first.status_code
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        page = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert page.status_code == 200
    print(json.dumps({"median_ms": statistics.median(times), "max_ms": max(times), "repeats": repeats}))


if __name__ == "__main__":
    main(sys.argv[1], *(int(n) for n in sys.argv[2:3]))
