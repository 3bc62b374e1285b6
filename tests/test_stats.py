"""Where and when people signed: tallies kept like the count, shown without singling anyone out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Letter, RemovalReason, Signature, SignatureStatus
from app.services import counting, moderation, stats
from app.services.queries.stats import OTHER, grouped, letter_stats
from tests import factories
from tests.factories import sign_and_confirm

pytestmark = pytest.mark.engines
SLUG = "test-letter"


def test_small_groups_are_not_named() -> None:
    assert grouped({"FR": 7, "KR": 5, "IS": 4, "LU": 1}) == [("FR", 7), ("KR", 5), (OTHER, 5)]
    assert grouped({"FR": 3}) == [(OTHER, 3)]
    assert grouped({}) == []


def test_confirming_hiding_and_withdrawing_keep_the_tallies_exact(
    app: Flask, client: FlaskClient, letter: Letter, session: Session
) -> None:
    sign_and_confirm(app, client, "ada@example.org", country="FR")
    sign_and_confirm(app, app.test_client(), "minji@example.org", country="KR")
    grace = sign_and_confirm(app, app.test_client(), "grace@example.org")
    hour = utcnow().strftime(stats.HOUR_FORMAT)
    assert stats.stored(session, letter.id) == {
        "country:FR": 1,
        "country:KR": 1,
        "country:-": 1,
        f"hour:{hour}": 3,
        "lang:en": 3,
        # The moderators' dashboard's: the hour signed in, and the time taken to confirm.
        f"signed:{hour}": 3,
        "delay:60": 3,
    }
    mod = factories.moderator(session)
    moderation.act(session, mod, letter, moderation.Action.HIDE, [grace.id], now=utcnow(), reason=RemovalReason.FAKE)
    assert stats.stored(session, letter.id)["country:FR"] == 1
    assert "country:-" not in stats.stored(session, letter.id)
    assert stats.stored(session, letter.id)[f"hour:{hour}"] == 2
    moderation.act(session, mod, letter, moderation.Action.RESTORE, [grace.id], now=utcnow() + timedelta(days=2))
    # Restored, it counts again in the hour it was confirmed in, not the hour of the restore.
    assert stats.stored(session, letter.id)[f"hour:{hour}"] == 3
    result = counting.recount(session, session.get(Letter, letter.id), now=utcnow())  # type: ignore[arg-type]
    assert result.exact, (result.stored_stats, result.actual_stats)


def test_the_recount_finds_and_fixes_stats_that_drifted(letter: Letter, session: Session) -> None:
    factories.confirmed_signers(session, letter.id, 6, country="DE")
    stored = session.get(Letter, letter.id)
    assert stored is not None
    assert counting.recount(session, stored, now=utcnow()).exact
    counting.add_to_tally(session, letter.id, "country:DE", -2)
    drifted = counting.recount(session, stored, now=utcnow(), fix=True)
    assert not drifted.exact and drifted.stored_stats["country:DE"] == 4 and drifted.actual_stats["country:DE"] == 6
    assert counting.recount(session, stored, now=utcnow()).exact


def test_the_numbers_fill_every_day_and_group_small_countries(letter: Letter, session: Session) -> None:
    now = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)
    for day, country, n in ((0, "FR", 5), (2, "KR", 6), (2, "LU", 1), (3, None, 2)):
        for _ in range(n):
            factories.signer(session, letter.id, country=country, confirmed_at=now - timedelta(days=day, hours=1))
    numbers = letter_stats(session, letter.id, now=now)
    assert numbers.total == 14
    assert [(day.isoformat(), n) for day, n in numbers.days] == [
        ("2026-11-30", 2),
        ("2026-12-01", 7),
        ("2026-12-02", 0),
        ("2026-12-03", 5),
    ]
    assert numbers.countries == [("KR", 6), ("FR", 5), (OTHER, 3)]  # Luxembourg's one and the two "none"
    assert numbers.hours[-2] == (datetime(2026, 12, 3, 14, tzinfo=UTC), 5)
    assert len(numbers.hours) == 48 and numbers.busiest_hour == 5


def many(app: Flask, letter: Letter, **fields: Any) -> None:
    factories.add_confirmed(app, letter.id, 5, **fields)


def test_the_public_page_and_the_api_show_the_numbers_and_name_no_small_country(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    many(app, letter, country="KR")
    factories.add_confirmed(app, letter.id, 1, country="IS")
    page = client.get(f"/letters/{SLUG}/stats")
    assert page.status_code == 200
    assert "Set-Cookie" not in page.headers and page.headers["Cache-Control"].startswith("public, max-age=")
    html = page.get_data(as_text=True)
    assert "South Korea" in html and "Other countries" in html and "Iceland" not in html
    assert '<svg class="bars"' in html and "<table>" in html  # a chart, and its numbers
    korean = client.get(f"/letters/{SLUG}/stats?lang=ko").get_data(as_text=True)
    assert "대한민국" in korean and "기타 국가" in korean
    data = client.get(f"/api/v1/letters/{SLUG}/stats")
    assert data.status_code == 200 and data.headers["ETag"]
    body = data.get_json()
    assert body["signature_count"] == 6 and body["small_count_threshold"] == 5
    assert body["by_country"] == [{"country": "KR", "count": 5}, {"country": "other", "count": 1}]
    assert sum(day["count"] for day in body["by_day"]) == 6
    assert (
        client.get(f"/api/v1/letters/{SLUG}/stats", headers={"If-None-Match": data.headers["ETag"]}).status_code == 304
    )
    assert client.get("/api/v1/letters/nope/stats").status_code == 404
    assert f'href="/letters/{SLUG}/stats"' in client.get(f"/letters/{SLUG}").get_data(as_text=True)


def test_the_migration_fills_the_tallies_of_signatures_counted_before_it(
    app: Flask, letter: Letter, runner: Any
) -> None:
    many(app, letter, country="JP")
    factories.add_confirmed(app, letter.id, 2, locale="ko")
    assert runner.invoke(args=["db", "downgrade", "2a6a419b552e"]).exit_code == 0
    with app.app_context():
        from app.db import db

        assert stats.stored(db.session, letter.id) == {}
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        from app.db import db

        filled = stats.stored(db.session, letter.id)
        assert filled == stats.counted(db.session, letter.id)
        assert filled["country:JP"] == 5 and filled["lang:ko"] == 2 and filled["country:-"] == 2


def test_signatures_not_counted_are_in_no_tally(letter: Letter, session: Session) -> None:
    factories.signer(session, letter.id, SignatureStatus.UNCONFIRMED, country="FR")
    factories.signer(session, letter.id, SignatureStatus.PENDING, country="FR")
    factories.signer(session, letter.id, SignatureStatus.HIDDEN, country="FR")
    assert stats.stored(session, letter.id) == {} == stats.counted(session, letter.id)
    assert session.scalar(sa.select(sa.func.count()).select_from(Signature)) == 3
