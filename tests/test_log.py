"""The public log: every change to the list is an event, sequenced into a signed Merkle tree.

Signing, confirming, hiding, restoring, verifying, withdrawing and deleting go through the
usual paths (the web and the moderation service); the sequencer and ``flask log verify`` run as
the worker and an operator would run them.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import log
from app.config import ConfigError, finalise, read_environment
from app.db import db, utcnow
from app.models import (
    Letter,
    LogEvent,
    LogHead,
    LogNode,
    Moderator,
    ModeratorRole,
    RemovalReason,
    Signature,
    SignatureStatus,
)
from app.moderation import accounts
from app.services import counting, moderation
from app.services.moderation import Action
from app.timestamps import iso
from app.worker import log_key, sequence_logs
from tests.factories import add_confirmed, log_confirmed, sign_and_confirm
from tests.support import csrf_token

pytestmark = pytest.mark.engines


SLUG = "test-letter"


def moderate(app: Flask, letter: Letter, action: Action, ids: list[int], **kwargs: Any) -> None:
    """A moderator's action through the moderation service, as the queue's buttons call it."""
    with app.app_context(), db.transaction() as session:
        moderator = session.scalar(sa.select(Moderator).limit(1)) or accounts.create_moderator(
            session, "mod@example.org", "a long enough password", ModeratorRole.ADMIN
        )
        outcome = moderation.act(
            session, moderator, session.get(Letter, letter.id), action, ids, now=utcnow(), **kwargs
        )
        assert outcome.changed == len(ids)


def events(app: Flask) -> list[LogEvent]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(LogEvent).order_by(LogEvent.id)))
        db.session.expunge_all()
        return rows


def sequenced(app: Flask) -> int:
    with app.app_context():
        return sequence_logs()


def test_every_change_to_the_list_is_logged_and_erasure_keeps_only_the_commitment(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    signed = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace", city="London")
    ada, ada_withdraw = signed.id, signed.withdraw
    grace = sign_and_confirm(app, client, "grace@example.org", name="Grace Hopper", affiliation="Navy").id
    quiet = sign_and_confirm(app, client, "quiet@example.org", name="Quiet Person", public=False).id
    fake = sign_and_confirm(app, client, "fake@example.org", name="Not Really Famous").id
    moderate(app, letter, Action.HIDE, [grace], reason=RemovalReason.OTHER)
    moderate(app, letter, Action.RESTORE, [grace])
    moderate(app, letter, Action.VERIFY, [grace], note="Phoned her")
    moderate(app, letter, Action.DELETE, [fake], reason=RemovalReason.FAKE)
    assert client.post(ada_withdraw, data={"csrf_token": csrf_token(client, ada_withdraw)}).status_code == 200

    logged = [(row.signature_id, row.event, row.listed) for row in events(app)]
    assert logged == [
        (ada, "add", True),
        (grace, "add", True),
        (quiet, "add", False),  # counted, not named: an entry without fields
        (fake, "add", True),
        (grace, "hide", False),
        (grace, "restore", True),
        (grace, "update", True),
        (fake, "erase", False),
        (ada, "erase", False),
    ]
    rows = events(app)
    # Until sequenced, events wait outside the tree (no lock shared by signers).
    assert all(row.leaf_index is None for row in rows)
    assert sequenced(app) == 9 and sequenced(app) == 0
    rows = events(app)
    assert [row.leaf_index for row in rows] == list(range(9))

    # Erased signatures keep their leaves (the tree is unchanged) but no salt and no fields.
    for row in rows:
        leaf = json.loads(row.leaf)
        assert leaf["signature"] == row.signature_id and leaf["event"] == row.event and leaf["v"] == 1
        if row.signature_id in (ada, fake):
            assert row.fields is None and row.salt is None
            assert "Ada" not in row.leaf and "Famous" not in row.leaf
        elif row.signature_id == grace and row.event == "add":
            # Hidden after this entry: the hide withdrew its opening, the restore made a fresh one.
            assert row.fields is None and row.salt is None
        elif row.listed:
            assert row.fields is not None and row.salt is not None
            assert leaf["commitment"] == log.commitment(bytes.fromhex(row.salt), row.fields)
        else:  # counted but not named, or hidden: an entry that commits to nothing
            assert row.fields is None and row.salt is None and leaf["commitment"] is None
    erasures = [json.loads(row.leaf) for row in rows if row.event == "erase"]
    assert [leaf["reason"] for leaf in erasures] == ["removed", "withdrawn"]
    latest_grace = json.loads(rows[6].fields or "{}")
    assert latest_grace["name"] == "Grace Hopper" and latest_grace["verified"] is True

    result = runner.invoke(args=["log", "verify", SLUG])
    assert result.exit_code == 0, result.output
    assert "9 log entries" in result.output and "VERIFIED" in result.output


def test_a_commitment_covers_the_signature_exactly_as_the_api_renders_it(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    # The log promises "the public fields exactly as the API lists them": the API's own JSON of a
    # signature (times included, to the microsecond) must hash to the leaf's commitment.
    signature = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace", city="London").id
    (row,) = events(app)
    shown = client.get(f"/api/v1/letters/{SLUG}/signatures/{signature}").get_json()
    shown.pop("confirmed_organisation")  # the site's table of domains, not the signature's own
    assert shown["signed_at"].endswith("Z")
    leaf = json.loads(row.leaf)
    assert row.salt is not None
    assert leaf["commitment"] == log.commitment(bytes.fromhex(row.salt), log.canonical(shown))
    assert leaf["at"] == iso(row.at)


def test_pre_moderation_logs_a_signature_when_it_is_approved(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, create_letter: Any
) -> None:
    letter = create_letter(moderation_mode="pre")
    signature = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace").id
    assert events(app) == []  # confirmed by email, not on the list yet
    moderate(app, letter, Action.APPROVE, [signature])
    (row,) = events(app)
    assert row.event == "add"
    with app.app_context():
        shown = db.session.get(Signature, signature)
        assert shown is not None and json.loads(row.fields or "{}")["signed_at"] == iso(shown.confirmed_at)
    sequenced(app)
    assert runner.invoke(args=["log", "verify", SLUG]).exit_code == 0


def test_log_verify_fails_when_the_database_is_edited_behind_the_apps_back(
    app: Flask, runner: FlaskCliRunner, letter: Letter
) -> None:
    with app.app_context(), db.transaction() as session:
        signer = Signature(
            letter_id=letter.id,
            name="Honest Signer",
            email="h@example.org",
            email_key="h@example.org",
            confirmed_at=utcnow(),
        )
        session.add(signer)
        session.flush()
        counting.move(session, signer, SignatureStatus.CONFIRMED, now=utcnow())
    sequenced(app)
    assert runner.invoke(args=["log", "verify", SLUG]).exit_code == 0

    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE signatures SET name = 'Padded Name'"))
    result = runner.invoke(args=["log", "verify", SLUG])
    assert result.exit_code == 1
    assert "its public fields differ from its log entry 0" in result.output and "FAILED" in result.output

    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE signatures SET name = 'Honest Signer'"))
        connection.execute(sa.text("UPDATE log_events SET leaf = replace(leaf, '\"add\"', '\"hide\"')"))
    result = runner.invoke(args=["log", "verify", SLUG])
    assert result.exit_code == 1
    assert "does not hash to the stored leaf hash" in result.output


@pytest.mark.settings(LOG_BATCH_SIZE=7)
def test_two_sequencers_at_once_build_one_consistent_log(app: Flask, runner: FlaskCliRunner, letter: Letter) -> None:
    add_confirmed(app, letter.id, 60)
    assert log_confirmed(app, letter.id) == 60
    errors: list[BaseException] = []
    done: list[int] = []

    def run() -> None:
        try:
            with app.app_context():
                done.append(sequence_logs())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and sum(done) == 60
    with app.app_context():
        indices = sorted(db.session.scalars(sa.select(LogEvent.leaf_index)))
        heads = list(db.session.scalars(sa.select(LogHead.tree_size).order_by(LogHead.tree_size)))
        nodes = db.session.scalar(sa.select(sa.func.count()).select_from(LogNode))
    assert indices == list(range(60))
    # A head per batch of 7; 60 leaves complete 60 + 30 + 15 + 7 + 3 + 1 subtrees.
    assert heads == [7, 14, 21, 28, 35, 42, 49, 56, 60] and nodes == 116
    result = runner.invoke(args=["log", "verify", SLUG])
    assert result.exit_code == 0, result.output


def test_the_signing_key_comes_from_configuration(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["log", "keygen"])
    assert result.exit_code == 0
    match = re.search(r"^LOG_SIGNING_KEY=(\S+)$", result.stdout, re.M)
    assert match
    key = log.SigningKey.from_text(match.group(1))
    assert len(base64.b64decode(key.public_text)) == 32

    def production(**env: str) -> dict[str, Any]:
        config = read_environment({"SECRET_KEY": "k" * 40, "BASE_URL": "https://a.example", **env})
        finalise(config, debug=False, testing=False, instance_path=str(tmp_path))
        return config

    with pytest.raises(ConfigError, match=r"LOG_SIGNING_KEY must be set outside debug mode.*log keygen"):
        production()
    with pytest.raises(ConfigError, match="LOG_SIGNING_KEY must be an Ed25519 private key"):
        production(LOG_SIGNING_KEY="too-short")
    assert production(LOG_SIGNING_KEY=match.group(1))["LOG_SIGNING_KEY"] == match.group(1)
    # Off (benchmarks only), the log needs no key.
    assert production(LOG_ENABLED="false")["LOG_SIGNING_KEY"]

    # Development needs no step: a key is made once in the instance folder and kept.
    first: dict[str, Any] = read_environment({})
    finalise(first, debug=True, testing=False, instance_path=str(tmp_path))
    second: dict[str, Any] = read_environment({})
    finalise(second, debug=True, testing=False, instance_path=str(tmp_path))
    assert first["LOG_SIGNING_KEY"] == second["LOG_SIGNING_KEY"]
    assert (tmp_path / "log-signing.key").stat().st_mode & 0o777 == 0o600
    with app.app_context():
        assert log_key().key_id != log.SigningKey.from_text(first["LOG_SIGNING_KEY"]).key_id


@pytest.mark.settings(LOG_ENABLED=False)
def test_with_the_log_off_nothing_is_logged(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign_and_confirm(app, client, "ada@example.org")
    assert events(app) == [] and sequenced(app) == 0


def test_a_letter_with_an_empty_log_has_a_signed_empty_tree_head(app: Flask, letter: Letter) -> None:
    with app.app_context():
        head = log.current_head(db.session, db.session.get(Letter, letter.id), log_key())  # type: ignore[arg-type]
    assert head.tree_size == 0 and head.root_hash == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_daily_snapshots_carry_the_signed_head_that_covers_them(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    signed = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace")
    ada, ada_withdraw = signed.id, signed.withdraw
    grace = sign_and_confirm(app, client, "grace@example.org", name="Grace Hopper", city="Arlington").id
    sign_and_confirm(app, client, "quiet@example.org", name="Quiet Person", public=False)
    result = runner.invoke(args=["log", "snapshot"])
    assert result.exit_code == 0 and "Took 1 snapshots." in result.output
    assert runner.invoke(args=["log", "snapshot"]).output.startswith("Took 0 snapshots.")  # once a day
    day = utcnow().date().isoformat()
    sign_and_confirm(app, client, "later@example.org", name="Signed Later")  # after the snapshot
    sequenced(app)

    index = client.get(f"/letters/{SLUG}/snapshots/").get_data(as_text=True)
    assert f"/letters/{SLUG}/snapshots/{day}.json" in index and f"/letters/{SLUG}/snapshots/{day}.csv" in index
    document = json.loads(client.get(f"/letters/{SLUG}/snapshots/{day}.json").get_data(as_text=True))
    head = document["tree_head"]
    assert document["date"] == day and head["tree_size"] == 3
    assert [row["name"] for row in document["signatures"]] == ["Ada Lovelace", "Grace Hopper"]
    # Each row opens its entry's commitment, and the head is signed by the site's key.
    from tests.test_merkle import verifier

    key = base64.b64decode(client.get(f"/api/v1/letters/{SLUG}/log/key").get_json()["public_key"])
    assert verifier.check_head(head, key) is None
    for row in document["signatures"]:
        fields = log.canonical({name: row[name] for name in log.SNAPSHOT_FIELDS})
        proof = client.get(
            f"/api/v1/letters/{SLUG}/log/proof/inclusion?leaf_index={row['leaf_index']}&tree_size=3"
        ).get_json()
        assert json.loads(proof["leaf"])["commitment"] == verifier.commitment(row["salt"], fields)
        path = [bytes.fromhex(item) for item in proof["audit_path"]]
        leaf_hash = verifier.leaf_hash(proof["leaf"].encode())
        assert verifier.verify_inclusion(row["leaf_index"], 3, leaf_hash, path, bytes.fromhex(head["root_hash"]))
    csv_text = client.get(f"/letters/{SLUG}/snapshots/{day}.csv").get_data(as_text=True)
    assert csv_text.splitlines()[0] == "\ufeff" + ",".join(log.SNAPSHOT_COLUMNS)
    assert "Grace Hopper,,,Arlington," in csv_text

    # A withdrawal takes the signer out of earlier snapshots too: their fields are gone from the log.
    assert client.post(ada_withdraw, data={"csrf_token": csrf_token(client, ada_withdraw)}).status_code == 200
    document = json.loads(client.get(f"/letters/{SLUG}/snapshots/{day}.json").get_data(as_text=True))
    assert [row["id"] for row in document["signatures"]] == [grace] and ada != grace
    assert client.get(f"/letters/{SLUG}/snapshots/2001-01-01.json").status_code == 404
    assert client.get(f"/letters/{SLUG}/snapshots/not-a-day.csv").status_code == 404


def test_a_hidden_signature_is_opened_nowhere_and_a_restore_opens_it_afresh(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, letter: Letter
) -> None:
    """Hiding withdraws the name and comment from the log's openings and every snapshot; the hashes stay."""
    ada = sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace").id
    fake = sign_and_confirm(
        app, client, "fake@example.org", name="Famous Impersonated", comment="A defamatory comment"
    ).id
    sequenced(app)
    assert runner.invoke(args=["log", "snapshot"]).exit_code == 0
    day = utcnow().date().isoformat()
    snapshot_json = f"/letters/{SLUG}/snapshots/{day}.json"
    snapshot = json.loads(client.get(snapshot_json).get_data(as_text=True))
    assert [row["name"] for row in snapshot["signatures"]] == ["Ada Lovelace", "Famous Impersonated"]
    first_salt = next(row["salt"] for row in snapshot["signatures"] if row["id"] == fake)
    leaves_before = [(row.leaf_index, row.leaf, row.leaf_hash) for row in events(app)]

    def served() -> str:
        """Everything the public log and the snapshots serve, as text."""
        entries = client.get(f"/api/v1/letters/{SLUG}/log/entries").get_json()["entries"]
        return json.dumps(entries, ensure_ascii=False) + "".join(
            client.get(f"/letters/{SLUG}/snapshots/{day}.{kind}").get_data(as_text=True) for kind in ("json", "csv")
        )

    moderate(app, letter, Action.HIDE, [fake], reason=RemovalReason.FAKE)
    # At once, before the sequencer has taken the hide into the tree.
    for text in (served(), *(str((row.fields, row.salt)) for row in events(app))):
        assert "Famous Impersonated" not in text and "defamatory" not in text and first_salt not in text
    sequenced(app)
    assert "Famous Impersonated" not in served() and first_salt not in served()
    # The leaves, and so every signed tree head, are unchanged; the snapshot's head still covers Ada's row.
    assert [(row.leaf_index, row.leaf, row.leaf_hash) for row in events(app)][:2] == leaves_before
    snapshot = json.loads(client.get(snapshot_json).get_data(as_text=True))
    assert [row["id"] for row in snapshot["signatures"]] == [ada]
    proof = client.get(f"/api/v1/letters/{SLUG}/log/proof/inclusion?leaf_index=0&tree_size=2").get_json()
    ada_row = snapshot["signatures"][0]
    fields = log.canonical({name: ada_row[name] for name in log.SNAPSHOT_FIELDS})
    assert json.loads(proof["leaf"])["commitment"] == log.commitment(bytes.fromhex(ada_row["salt"]), fields)
    assert runner.invoke(args=["log", "verify", SLUG]).exit_code == 0

    # Restored: a fresh opening (a new salt) in the restore entry, served as the latest one.
    moderate(app, letter, Action.RESTORE, [fake])
    sequenced(app)
    entries = client.get(f"/api/v1/letters/{SLUG}/log/entries").get_json()["entries"]
    opened = [entry for entry in entries if entry["fields"] and json.loads(entry["leaf"])["signature"] == fake]
    assert [json.loads(entry["leaf"])["event"] for entry in opened] == ["restore"]
    assert opened[0]["salt"] != first_salt and "Famous Impersonated" in opened[0]["fields"]
    # The earlier snapshot held the old opening, which is gone: it leaves the signer out.
    assert [row["id"] for row in json.loads(client.get(snapshot_json).get_data(as_text=True))["signatures"]] == [ada]
    result = runner.invoke(args=["log", "verify", SLUG])
    assert result.exit_code == 0, result.output


def test_the_letter_page_links_to_verify_this_list_which_shows_the_tree_head(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    sign_and_confirm(app, client, "ada@example.org", name="Ada Lovelace")
    sequenced(app)
    head = client.get(f"/api/v1/letters/{SLUG}/log/head").get_json()
    page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    # The letter page has one compact line of trust; the details are a click away.
    assert f'<a href="/letters/{SLUG}/log">Verify this list</a>' in page
    assert head["root_hash"][:16] not in page
    verify_page = client.get(f"/letters/{SLUG}/log").get_data(as_text=True)
    assert f"<dt>Entries</dt><dd>{head['tree_size']}</dd>" in verify_page
    key = client.get(f"/api/v1/letters/{SLUG}/log/key").get_json()["public_key"]
    assert key in verify_page and head["root_hash"] in verify_page
    assert f"undersigned_verify.py http://localhost/letters/{SLUG} --key {key}" in verify_page


def test_bad_log_requests_get_a_clear_answer_never_a_500(app: Flask, client: FlaskClient, letter: Letter) -> None:
    sign_and_confirm(app, client, "ada@example.org")
    sequenced(app)
    base = f"/api/v1/letters/{SLUG}/log"
    cases = {
        "/entries?start=-1": (400, "start must be a whole number"),
        "/entries?end=x": (400, "end must be a whole number"),
        "/proof/inclusion": (400, "leaf_index is required"),
        "/proof/inclusion?leaf_index=5": (404, "has no entry 5"),
        # Larger than the log's 32-bit positions (PostgreSQL would refuse the query).
        "/proof/inclusion?leaf_index=2147483648&tree_size=2147483649": (400, "from 0 to 2147483647"),
        "/proof/inclusion?leaf_index=0&tree_size=9": (404, "no tree of 9 entries"),
        "/proof/signature/999": (404, "Signature 999 has no entry"),
        "/proof/consistency": (400, "first is required"),
        "/proof/consistency?first=2&second=1": (404, "first must be from 1 to 1"),
        "/proof/consistency?first=1&second=2": (404, "no tree of 2 entries"),
    }
    for path, (status, message) in cases.items():
        answer = client.get(base + path)
        assert answer.status_code == status, (path, answer.get_data(as_text=True))
        assert message in answer.get_json()["message"], (path, answer.get_json())
    assert client.get("/api/v1/letters/nope/log/head").status_code == 404
    assert client.get(base + "/entries?start=0&end=5000").get_json()["entries"][0]["index"] == 0


def test_the_log_package_reads_no_app_configuration() -> None:
    # The key is an argument and "is the log on" comes with the session: app.log knows no Flask.
    for module in Path(log.__file__).parent.glob("*.py"):
        source = module.read_text()
        assert not re.search(r"^\s*(from|import) flask\b", source, re.M), module.name
        assert "current_app" not in source, module.name
