"""The moderators' dashboard: its numbers from the tallies and small index ranges, shown without singling anyone out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import Letter, Moderator, Organisation, RemovalReason, SignatureStatus
from app.services import counting, moderation, stats
from app.services.queries import dashboard
from app.services.queries.dashboard import letter_dashboard
from app.services.queries.stats import OTHER
from tests import factories
from tests.factories import log_in, sign_and_confirm
from tests.support import query_plan, read, recorded_sql

SLUG = "test-letter"
NOW = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment in December 2026 (UTC)."""
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


def signers(session: Session, letter_id: int, n: int, status: SignatureStatus, signed: datetime, **fields: Any) -> list:
    """``n`` signatures signed at ``signed``, as signing and confirming leave them."""
    return [factories.signer(session, letter_id, status, created_at=signed, **fields) for _ in range(n)]


def hand_built(session: Session, letter: Letter) -> tuple[Letter, list]:
    """A small letter whose every number is known: see each line's comment."""
    session.add_all(
        [Organisation(name="Example University", domain="example.edu"), Organisation(name="Tiny", domain="tiny.org")]
    )
    confirmed = SignatureStatus.CONFIRMED
    # Five from France, signed 3 Dec 14:10, confirmed two minutes later, at Example University;
    # one of them signed the second version of the text.
    france = signers(
        session,
        letter.id,
        4,
        confirmed,
        at(3, 14, 10),
        country="FR",
        confirmed_at=at(3, 14, 12),
        confirmed_domain="example.edu",
    )
    france += signers(
        session,
        letter.id,
        1,
        confirmed,
        at(3, 14, 10),
        country="FR",
        confirmed_at=at(3, 14, 12),
        confirmed_domain="example.edu",
        letter_version=2,
        locale="ko",
    )
    # Four from Korea, signed 2 Dec 10:00, confirmed within a minute, at Tiny (too few to name).
    signers(
        session,
        letter.id,
        4,
        confirmed,
        at(2, 10),
        country="KR",
        confirmed_at=at(2, 10, 0, 30),
        confirmed_domain="tiny.org",
    )
    # One from Germany, signed 1 Dec 9:00, confirmed the next day at noon (27 hours).
    signers(session, letter.id, 1, confirmed, at(1, 9), country="DE", confirmed_at=at(2, 12))
    # Not yet confirmed: two signed 3 Dec 14:20, one 2 Dec 10:05; one held as suspect (in no number).
    signers(session, letter.id, 2, SignatureStatus.UNCONFIRMED, at(3, 14, 20), country="FR")
    signers(session, letter.id, 1, SignatureStatus.UNCONFIRMED, at(2, 10, 5), country="FR")
    signers(session, letter.id, 1, SignatureStatus.SUSPECT, at(3, 14, 25), country="FR")
    # Flags raised on 2 and 3 Dec; one more signer, hidden as fake on 3 Dec.
    factories.flag(session, france[0], now=at(2, 11))
    factories.flag(session, france[1], now=at(3, 15))
    (extra,) = signers(session, letter.id, 1, confirmed, at(3, 15), country="US", confirmed_at=at(3, 15, 1))
    mod = factories.moderator(session)
    stored = session.get(Letter, letter.id)
    assert stored is not None
    stored.current_version = 2
    moderation.act(
        session, mod, stored, moderation.Action.HIDE, [extra.id], now=at(3, 15, 10), reason=RemovalReason.FAKE
    )
    session.flush()
    session.refresh(stored, ["signature_count"])
    return stored, france


@pytest.mark.engines
def test_the_numbers_of_a_hand_built_letter(letter: Letter, session: Session) -> None:
    stored, _ = hand_built(session, letter)
    numbers = letter_dashboard(session, stored, now=NOW, retention_days=14)
    assert numbers.counted == 10 and numbers.unconfirmed == 3
    days = [(p.start.isoformat(), p.confirmed, p.unconfirmed) for p in numbers.days]
    assert days == [("2026-12-01", 1, 0), ("2026-12-02", 4, 1), ("2026-12-03", 5, 2)]
    # Signatures counted by the hour they were signed in, the unconfirmed apart.
    by_hour = {p.start: (p.confirmed, p.unconfirmed) for p in numbers.hours}
    assert len(numbers.hours) == 48 and numbers.hours[-1].start == at(3, 15)
    assert by_hour[at(3, 14)] == (5, 2) and by_hour[at(2, 10)] == (4, 1) and by_hour[at(3, 15)] == (0, 0)
    assert numbers.busiest_hour == 7 and numbers.busiest_day == 7
    assert numbers.rate_signed == 13 and numbers.rate_confirmed == 10 and numbers.rate == pytest.approx(10 / 13)
    assert numbers.days[-1].rate == pytest.approx(5 / 7)
    # Four within a minute, five in two to five minutes, one after a day: the median is the middle range.
    assert [(d.high, d.number) for d in numbers.delays if d.number] == [(60, 4), (300, 5), (172800, 1)]
    assert numbers.median_delay is not None and (numbers.median_delay.low, numbers.median_delay.high) == (120, 300)
    assert numbers.countries == [("FR", 5), (OTHER, 5)]  # Korea's four and Germany's one
    assert numbers.organisations == [("Example University", 5), (OTHER, 4)]
    assert numbers.versions == [(1, 9), (2, 1)]
    assert numbers.languages == [("en", 9), (OTHER, 1)]
    assert numbers.moderation_days == [(at(2, 0).date(), 1, 0), (at(3, 0).date(), 1, 1)]
    assert dict(numbers.removed) == {"fake": 1, "duplicate": 0, "abuse": 0, "other": 0, "withdrawn": 0}
    assert counting.recount(session, stored, now=NOW).exact


@pytest.mark.engines
def test_unconfirmed_signatures_are_counted_apart_and_never_as_confirmed(letter: Letter, session: Session) -> None:
    signers(session, letter.id, 3, SignatureStatus.UNCONFIRMED, at(3, 9))
    signers(session, letter.id, 2, SignatureStatus.PENDING, at(3, 9), confirmed_at=at(3, 9, 5))
    stored = session.get(Letter, letter.id)
    assert stored is not None
    numbers = letter_dashboard(session, stored, now=NOW, retention_days=14)
    assert numbers.counted == 0 and numbers.unconfirmed == 3
    assert [(p.confirmed, p.unconfirmed) for p in numbers.days] == [(0, 3)]
    assert numbers.rate == 0 and numbers.median_delay is None
    # Older than the purge's age, a day's unconfirmed may be gone: its rate is not guessed.
    later = letter_dashboard(session, stored, now=NOW + timedelta(days=20), retention_days=14)
    assert later.days[0].purged and later.days[0].rate is None and later.rate is None


@pytest.mark.engines
@pytest.mark.parametrize(("many", "named"), [(4, False), (5, True)])
def test_a_country_or_organisation_of_fewer_than_five_is_other(
    letter: Letter, session: Session, many: int, named: bool
) -> None:
    session.add(Organisation(name="Small College", domain="small.edu"))
    signers(
        session,
        letter.id,
        many,
        SignatureStatus.CONFIRMED,
        at(3, 9),
        country="IS",
        confirmed_at=at(3, 9, 1),
        confirmed_domain="small.edu",
    )
    signers(session, letter.id, 5, SignatureStatus.CONFIRMED, at(3, 9), country="FR", confirmed_at=at(3, 9, 1))
    stored = session.get(Letter, letter.id)
    assert stored is not None
    numbers = letter_dashboard(session, stored, now=NOW, retention_days=14)
    assert numbers.countries == ([("FR", 5), ("IS", 5)] if named else [("FR", 5), (OTHER, 4)])
    assert numbers.organisations == ([("Small College", 5)] if named else [(OTHER, 4)])


@pytest.mark.engines
def test_the_median_time_to_confirm_is_the_range_of_the_middle_signer(letter: Letter, session: Session) -> None:
    for minutes, n in ((0.5, 2), (7, 1), (45, 4)):
        signers(
            session,
            letter.id,
            n,
            SignatureStatus.CONFIRMED,
            at(3, 9),
            confirmed_at=at(3, 9) + timedelta(minutes=minutes),
        )
    stored = session.get(Letter, letter.id)
    assert stored is not None
    median = letter_dashboard(session, stored, now=NOW, retention_days=14).median_delay
    assert median is not None and (median.low, median.high) == (1800, 3600)  # the 4th of 7 took 45 minutes


def test_time_to_confirm_ranges() -> None:
    assert [stats.delay_range(s) for s in (-3, 0, 59, 60, 299, 300, 604799, 604800)] == [
        "60",
        "60",
        "60",
        "120",
        "300",
        "600",
        "604800",
        "longer",
    ]


@pytest.mark.engines
def test_confirming_adds_to_the_tallies_of_the_hour_signed_and_the_time_taken(
    app: Flask, client: FlaskClient, letter: Letter, session: Session
) -> None:
    sign_and_confirm(app, client, "ada@example.org", country="FR")
    tallies = stats.stored(session, letter.id)
    assert tallies[f"signed:{utcnow().strftime(stats.HOUR_FORMAT)}"] == 1
    assert sum(v for k, v in tallies.items() if k.startswith(stats.DELAY)) == 1
    stored = session.get(Letter, letter.id)
    assert stored is not None and counting.recount(session, stored, now=utcnow()).exact


@pytest.mark.engines
@pytest.mark.parametrize("broken", ["delay:300", "signed:2026-12-03T14"])
def test_the_recount_catches_and_fixes_a_broken_dashboard_tally(letter: Letter, session: Session, broken: str) -> None:
    stored, _ = hand_built(session, letter)
    counting.add_to_tally(session, letter.id, broken, -2)
    drifted = counting.recount(session, stored, now=NOW, fix=True)
    assert not drifted.exact and drifted.stored_stats[broken] == drifted.actual_stats[broken] - 2
    assert counting.recount(session, stored, now=NOW).exact


@pytest.mark.engines
@pytest.mark.parametrize(
    ("query", "index"),
    [
        (dashboard.unconfirmed_by_hour, "ix_signatures_unconfirmed"),
        (dashboard.flags_by_day, "ix_flags_letter_created"),
        (dashboard.removals_by_day, "ix_audit_entries_letter_at"),
    ],
)
def test_the_dashboard_queries_walk_an_index_range(
    app: Flask, letter: Letter, query: Callable[..., object], index: str
) -> None:
    """At a million signers, the dashboard must not scan the letter's signatures."""
    with recorded_sql(app) as seen:
        read(app, query, letter.id)
    plan = query_plan(app, seen[-1])
    if index == "ix_signatures_unconfirmed" and "ix_signatures_listing" in plan:
        # SQLite prefers the listing index's range of the letter's unconfirmed signatures: as short.
        assert "(letter_id=? AND status=?)" in plan, plan
    else:
        assert index in plan, plan


@pytest.mark.engines
def test_the_migration_fills_the_dashboard_tallies(app: Flask, letter: Letter, runner: Any) -> None:
    factories.add_confirmed(app, letter.id, 5, country="JP")
    try:
        assert runner.invoke(args=["db", "downgrade", "e1b6c8d4f2a7"]).exit_code == 0
        with app.app_context():
            from app.db import db

            assert not any(name.startswith(("signed:", "delay:")) for name in stats.stored(db.session, letter.id))
    finally:
        result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        from app.db import db

        filled = stats.stored(db.session, letter.id)
        assert filled == stats.counted(db.session, letter.id)
        assert sum(v for k, v in filled.items() if k.startswith("signed:")) == 5
        assert sum(v for k, v in filled.items() if k.startswith("delay:")) == 5


def test_the_page_shows_the_numbers_to_any_moderator_in_both_languages(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    factories.add_confirmed(app, letter.id, 5, country="KR")
    factories.add_confirmed(app, letter.id, 1, country="IS")
    path = f"/moderate/letters/{SLUG}/dashboard"
    assert client.get(path).status_code in (302, 303)  # signed out: to the sign-in page
    create_moderator()
    assert log_in(client).status_code == 303
    page = client.get(path)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert "South Korea" in html and "Other countries" in html and "Iceland" not in html
    assert '<svg class="bars"' in html and "<table>" in html and "Median time to confirm" in html
    assert "@example.org" not in html.replace("mod@example.org", "")  # no signer's address
    assert f'href="{path}"' in client.get(f"/moderate/letters/{SLUG}").get_data(as_text=True)
    korean = client.get(f"{path}?lang=ko").get_data(as_text=True)
    assert "대한민국" in korean and "확인까지 걸린 시간" in korean
    assert client.get("/moderate/letters/nope/dashboard").status_code == 404
