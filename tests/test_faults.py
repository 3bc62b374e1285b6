"""The chaos run (benchmarks/faults.py) as a test: each fault on real PostgreSQL, Redis, gunicorn and SMTP.

The run starts servers of its own (initdb/pg_ctl and redis-server in a temporary folder, on free
loopback ports), never the shared ones. Without PostgreSQL's server programs or redis-server the
test is skipped with the reason; in CI that is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks import faults
from benchmarks.servers import PostgresServer, RedisServer
from tests.support import own_server

# One site for the module: its tests run on one xdist worker (scripts/test uses --dist loadgroup).
pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults"), pytest.mark.engines]

SECONDS = 2.0


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[faults.Site]:
    """One site for the module's faults, each of which leaves it whole again."""
    # A skip (a failure in CI) with the reason when PostgreSQL's or Redis's programs are missing.
    own_server(PostgresServer).destroy()
    own_server(lambda: RedisServer(tmp_path_factory.mktemp("probe")))
    with faults.running_site() as running:
        yield running


def assert_whole(outcome: faults.Outcome) -> None:
    """Nothing acknowledged was lost, no 5xx the fault does not explain, no mail stuck."""
    print(faults.table([outcome]))
    assert outcome.acknowledged > 0
    assert outcome.lost == 0
    assert outcome.stored == outcome.acknowledged
    assert outcome.unexplained == 0
    assert outcome.mail_stuck == 0
    assert outcome.notes == []


@pytest.mark.timeout(240)
def test_signing_goes_on_while_redis_is_down(site: faults.Site) -> None:
    outcome = faults.redis_down(site, SECONDS)
    assert_whole(outcome)
    # Redis being away costs nothing a signer sees: every request was acknowledged.
    assert outcome.acknowledged == outcome.sent
    assert outcome.unavailable == outcome.no_answer == 0


@pytest.mark.timeout(240)
def test_a_postgresql_restart_is_a_503_window_and_everything_acknowledged_is_stored_and_mailed(
    site: faults.Site,
) -> None:
    outcome = faults.postgres_restart(site, SECONDS)
    assert_whole(outcome)
    assert outcome.unavailable > 0  # the fault happened, and was answered 503
    # Only a batch sent while the database went away can go twice (its lease runs out).
    assert outcome.mail_twice <= faults.MAIL_BATCH
    assert outcome.recovery < 10  # the app took its requests again without a restart


@pytest.mark.timeout(240)
def test_a_killed_app_worker_loses_no_acknowledged_signature(site: faults.Site) -> None:
    before = set(site.app.workers())
    outcome = faults.gunicorn_worker_kill(site, SECONDS)
    assert_whole(outcome)
    assert outcome.unavailable == 0
    assert set(site.app.workers()) != before  # killed and replaced
    assert len(site.app.workers()) == site.app_workers


@pytest.mark.timeout(240)
def test_a_killed_mail_worker_leaves_nothing_stuck_and_repeats_at_most_its_batch(site: faults.Site) -> None:
    outcome = faults.mail_worker_kill(site, signers=40)
    assert_whole(outcome)
    assert outcome.mail_twice <= faults.MAIL_BATCH
    assert site.mail.runs >= 2  # the killed one, then the one that sent the rest
    assert site.mail.process is not None and site.mail.process.poll() is None


def test_the_chaos_script_refuses_a_fault_it_does_not_know(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        faults.main(["power-cut"])
    assert exit_.value.code == 2
    assert "no such fault: power-cut" in capsys.readouterr().err
