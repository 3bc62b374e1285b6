"""The standalone verifier against a real running site with over a thousand signatures.

The site is served over HTTP on a free port (werkzeug in a thread); the verifier runs as an
outsider would run it, in its own Python process, and knows only the letter's address.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.models import Letter, RemovalReason, Signature, SignatureStatus
from app.services.moderation import Action
from app.worker import sequence_logs
from tests.factories import sign_and_confirm
from tests.support import csrf_token, execute, rows
from tests.test_log import moderate

pytestmark = pytest.mark.engines

ROOT = Path(__file__).resolve().parent.parent
VERIFIER = ROOT / "verifier" / "undersigned_verify.py"
SLUG = "test-letter"
# Enough for the verifier to read the log in two pages of entries and the list in a dozen.
SIGNERS = 1500


@pytest.fixture
def site(live_server: str) -> str:
    """The letter's address on the app served over HTTP on a free loopback port."""
    return f"{live_server}/letters/{SLUG}"


def verify(url: str, *args: str | Path) -> tuple[int, str]:
    """Run the verifier in its own process, as an outsider would; its exit status and output."""
    result = subprocess.run(
        [sys.executable, str(VERIFIER), url, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    return result.returncode, result.stdout + result.stderr


def sequence(app: Flask) -> None:
    with app.app_context():
        sequence_logs()


def listed_ids(app: Flask) -> list[int]:
    """The ids of the signatures on the public list, oldest first."""
    return rows(app, Signature.id, status=SignatureStatus.CONFIRMED, public=True)


def test_the_verifier_needs_no_flask_and_nothing_of_the_app() -> None:
    tree = ast.parse(VERIFIER.read_text(encoding="utf-8"))
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


def test_an_outsider_verifies_the_list_inclusion_and_consistency_and_catches_tampering(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter, site: str, tmp_path: Path
) -> None:
    seeded = runner.invoke(args=["dev", "seed", SLUG, "--signatures", str(SIGNERS)])
    assert seeded.exit_code == 0, seeded.output
    sequence(app)
    listed = listed_ids(app)
    assert len(listed) > 1000
    first_head, second_head = tmp_path / "first.json", tmp_path / "second.json"

    status, output = verify(site, "--save-head", first_head, "--signature", listed[0])
    assert status == 0, output
    size = json.loads(first_head.read_text())["tree_size"]
    assert size > 1000  # the verifier's pages of log entries hold 1000
    assert f"VERIFIED: the list of '{SLUG}' matches its signed log of {size} entries" in output
    assert f"{len(listed)} listed signatures compared" in output
    assert f"signature {listed[0]} is entry 0 of the signed tree (inclusion proof" in output

    # The list changes in every way it can: a new signer, hidden, restored, verified, withdrawn, deleted.
    signed = sign_and_confirm(app, client, "newcomer@example.org", name="Newcomer")
    newcomer, withdraw = signed.id, signed.withdraw
    moderate(app, letter, Action.HIDE, listed[1:4], reason=RemovalReason.FAKE)
    moderate(app, letter, Action.RESTORE, listed[2:3])
    moderate(app, letter, Action.VERIFY, listed[4:5], note="Checked in person")
    moderate(app, letter, Action.DELETE, listed[5:6], reason=RemovalReason.ABUSE)
    assert client.post(withdraw, data={"csrf_token": csrf_token(client, withdraw)}).status_code == 200
    again = sign_and_confirm(app, client, "again@example.org", name="Signs Again").id
    sequence(app)

    status, output = verify(site, "--since", first_head, "--save-head", second_head, "--signature", again)
    assert status == 0, output
    assert f"extends the saved one of {size}" in output and "nothing logged before was changed" in output
    assert f"signature {again} is entry" in output and "'Signs Again', as logged" in output
    second_size = json.loads(second_head.read_text())["tree_size"]
    assert second_size == size + 9  # 2 adds, 3 hides, 1 restore, 1 update, 2 erasures

    # A newcomer's withdrawal is an erasure event, not a silent gap; its name is nowhere in the log.
    entries = client.get(f"/api/v1/letters/{SLUG}/log/entries?start={size}").get_json()["entries"]
    assert [json.loads(entry["leaf"])["event"] for entry in entries] == [
        "add",
        "hide",
        "hide",
        "hide",
        "restore",
        "update",
        "erase",
        "erase",
        "add",
    ]
    assert "Newcomer" not in json.dumps(entries)
    assert client.get(f"/api/v1/letters/{SLUG}/log/proof/signature/{newcomer}").status_code == 200

    # Between two saved tree heads: the later one extends the earlier.
    status, output = verify(site, "--since", second_head)
    assert status == 0 and f"log of {second_size} entries extends the saved one of {second_size}" in output
    status, output = verify(site, "--since", first_head)
    assert status == 0 and f"of {second_size} entries extends the saved one of {size}" in output

    # Someone edits a name in the database, around the app.
    victim = listed[10]
    execute(app, "UPDATE signatures SET name = 'Famous Person' WHERE id = :id", id=victim)
    status, output = verify(site)
    assert status == 1, output
    assert f"FAIL  signature {victim}: the list does not match its log entry" in output
    assert "name: list 'Famous Person', log" in output
    assert f"FAILED: the list of '{SLUG}' does not match its log (1 problems)." in output
    assert runner.invoke(args=["log", "verify", SLUG]).exit_code == 1

    # Someone slips a name into the list without the log.
    hidden = rows(app, Signature.id, status=SignatureStatus.HIDDEN)[0]
    execute(
        app,
        "UPDATE signatures SET name = 'Restored' WHERE id = :victim",
        "UPDATE signatures SET status = 'confirmed' WHERE id = :hidden",
        victim=victim,
        hidden=hidden,
    )
    status, output = verify(site)
    assert status == 1 and f"signature {hidden} " in output, output

    # Someone rewrites an old log entry: the tree no longer has the signed root, and no longer
    # extends the saved head.
    execute(
        app,
        "UPDATE signatures SET status = 'hidden' WHERE id = :id",
        "UPDATE log_events SET leaf = replace(leaf, '\"add\"', '\"hide\"') WHERE leaf_index = 7",
        id=hidden,
    )
    status, output = verify(site, "--since", first_head)
    assert status == 1
    assert "not the signed root" in output and "the log was changed after it was signed" in output

    # A forged saved head is refused by its signature.
    forged = json.loads(first_head.read_text()) | {"tree_size": size - 1}
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    status, output = verify(site, "--since", tmp_path / "forged.json")
    assert "saved head: the tree head of size" in output and status == 1


def test_a_name_awaiting_review_is_counted_unnamed_and_verifies_before_and_after_approval(
    app: Flask, client: FlaskClient, letter: Letter, site: str
) -> None:
    sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace")
    elon = sign_and_confirm(app, client, "elon@example.net", name="Elon Musk").id
    sequence(app)
    status, output = verify(site)
    assert status == 0, output
    assert "1 listed signatures compared with the log's 1 live listed entries (and 1 counted but unlisted)" in output
    moderate(app, letter, Action.APPROVE, [elon])
    sequence(app)
    status, output = verify(site, "--signature", elon)
    assert status == 0, output
    assert "2 listed signatures compared with the log's 2 live listed entries (and 0 counted but unlisted)" in output
    assert f"signature {elon} is entry 2 of the signed tree" in output  # its update, which opened the name


def test_the_verifier_says_when_the_site_cannot_be_read(tmp_path: Path) -> None:
    status, output = verify("http://127.0.0.1:9/letters/nowhere")
    assert status == 2 and output.startswith("CANNOT VERIFY:")


# --- The log decides what changed while the list was read, never the clock -----------------------


def load_verifier() -> ModuleType:
    """The standalone verifier as a module, to drive it in this process with hooks and a fake clock."""
    spec = importlib.util.spec_from_file_location("undersigned_verify", VERIFIER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


class FakeClock:
    """A monotonic clock that moves only when the verifier sleeps; each sleep may run a hook."""

    def __init__(self, on_sleep: Callable[[], None] | None = None) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.on_sleep = on_sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        if self.on_sleep is not None:
            self.on_sleep()


def run_verifier(url: str, *, after_list: Callable[[], None], clock: FakeClock, wait: float = 30.0) -> Any:
    """Run the verifier's checks in this process; ``after_list`` runs once the whole list was read."""
    verifier = load_verifier()
    site = verifier.Site.from_url(url)
    site.clock, site.sleep = clock, clock.sleep
    reading = site.api

    def api(path: str, **params: Any) -> Any:
        answer = reading(path, **params)
        if path == "/signatures" and not answer["next_cursor"]:
            after_list()
        return answer

    site.api = api
    report = verifier.Report()
    verifier.check_log(site, report, pinned_key=None, signature_id=None, since=None, wait=wait)
    return report


def seeded(app: Flask, runner: FlaskCliRunner, signers: int = 40) -> list[int]:
    """A letter with ``signers`` fake signers, all in the log; the ids of the listed ones."""
    result = runner.invoke(args=["dev", "seed", SLUG, "--signatures", str(signers)])
    assert result.exit_code == 0, result.output
    sequence(app)
    return listed_ids(app)


def test_a_signature_slipped_back_onto_the_list_right_after_it_was_hidden_is_caught(
    app: Flask, runner: FlaskCliRunner, letter: Letter, site: str
) -> None:
    listed = seeded(app, runner)
    victim = listed[3]
    moderate(app, letter, Action.HIDE, [victim], reason=RemovalReason.FAKE)
    sequence(app)
    # At once, with no pause: someone with the database puts the hidden name back on the list.
    execute(app, "UPDATE signatures SET status = 'confirmed' WHERE id = :id", id=victim)

    status, output = verify(site)
    assert status == 1, output
    assert f"FAIL  signature {victim} " in output and "its latest log entry" in output and "is 'hide'" in output
    assert runner.invoke(args=["log", "verify", SLUG]).exit_code == 1


def test_a_change_logged_while_the_list_is_read_is_read_again_and_verified(
    app: Flask, runner: FlaskCliRunner, letter: Letter, site: str
) -> None:
    listed = seeded(app, runner)
    hidden = listed[5]

    def hide_and_sequence() -> None:
        moderate(app, letter, Action.HIDE, [hidden], reason=RemovalReason.FAKE)
        sequence(app)

    clock = FakeClock()
    report = run_verifier(site, after_list=hide_and_sequence, clock=clock)
    assert report.problems == []
    assert report.notes[0].startswith("1 signatures changed while the list was being read; each was read again")
    assert clock.sleeps == 0  # the log already showed the change: nothing to wait for


def test_a_change_on_the_list_not_logged_yet_is_waited_for_on_the_log_not_on_the_clock(
    app: Flask, runner: FlaskCliRunner, letter: Letter, site: str
) -> None:
    listed = seeded(app, runner)
    hidden = listed[6]
    # A moderator hid a signer: the list shows it at once, the sequencer logs it a moment later.
    moderate(app, letter, Action.HIDE, [hidden], reason=RemovalReason.FAKE)
    clock = FakeClock(on_sleep=lambda: sequence(app))
    report = run_verifier(site, after_list=lambda: None, clock=clock)
    assert report.problems == []
    assert clock.sleeps == 1
    assert report.notes[0].startswith("1 signatures changed while the list was being read")


def test_a_change_the_log_never_records_fails_after_the_wait(
    app: Flask, runner: FlaskCliRunner, letter: Letter, site: str
) -> None:
    listed = seeded(app, runner)
    hidden = listed[7]
    # Hidden, and the sequencer never runs: the log cannot vouch for the list, however long one waits.
    moderate(app, letter, Action.HIDE, [hidden], reason=RemovalReason.FAKE)
    clock = FakeClock()
    report = run_verifier(site, after_list=lambda: None, clock=clock, wait=10)
    assert len(report.problems) == 1, report.problems
    assert report.problems[0].startswith(f"signature {hidden} is live in the log (entry ")
    assert report.problems[0].endswith("but missing from the list")
    assert clock.now == 10 and clock.sleeps == 10


def test_the_verifier_has_no_clock_windows() -> None:
    source = VERIFIER.read_text(encoding="utf-8")
    assert "CLOCK_SLACK" not in source and "MERGE_DELAY" not in source and "timedelta" not in source


def test_log_verify_counts_waiting_events_and_excuses_nothing(
    app: Flask, runner: FlaskCliRunner, letter: Letter
) -> None:
    listed = seeded(app, runner, signers=20)
    moderate(app, letter, Action.HIDE, listed[1:2], reason=RemovalReason.FAKE)
    moderate(app, letter, Action.VERIFY, listed[2:3], note="Checked")
    # Both events wait to be sequenced; the stored log still agrees with the signatures.
    result = runner.invoke(args=["log", "verify", SLUG])
    assert result.exit_code == 0, result.output
    assert "2 events waiting to be sequenced" in result.output
    # Slipped back while its hide waits in the queue: caught all the same.
    execute(app, "UPDATE signatures SET status = 'confirmed' WHERE id = :id", id=listed[1])
    result = runner.invoke(args=["log", "verify", SLUG])
    assert result.exit_code == 1, result.output
    assert f"FAIL  signature {listed[1]} is counted but its latest log event does not say so" in result.output
