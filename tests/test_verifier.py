"""The standalone verifier against a real running site with a few thousand signatures.

The site is served over HTTP on a free port (werkzeug in a thread); the verifier runs as an
outsider would run it, in its own Python process, and knows only the letter's address.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.serving import make_server

from app.db import db
from app.mail.worker import sequence_logs
from app.models import Letter, RemovalReason, Signature, SignatureStatus
from app.services.moderation import Action
from tests.support import csrf_token
from tests.test_log import moderate, signed_and_confirmed

ROOT = Path(__file__).resolve().parent.parent
VERIFIER = ROOT / "verifier" / "undersigned_verify.py"
SLUG = "test-letter"
SIGNERS = 3000


@pytest.fixture
def site(app: Flask) -> Iterator[str]:
    """The app served over HTTP on a free loopback port; yields the letter's address."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/letters/{SLUG}"
    server.shutdown()
    thread.join(10)


def verify(url: str, *args: str | Path) -> tuple[int, str]:
    """Run the verifier in its own process, as an outsider would; its exit status and output."""
    result = subprocess.run(
        [sys.executable, str(VERIFIER), url, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    return result.returncode, result.stdout + result.stderr


def sequence(app: Flask) -> None:
    with app.app_context():
        sequence_logs()


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
    with app.app_context():
        listed = list(
            db.session.scalars(
                sa.select(Signature.id)
                .where(Signature.status == SignatureStatus.CONFIRMED, Signature.public.is_(True))
                .order_by(Signature.id)
            )
        )
    assert len(listed) > 2500
    first_head, second_head = tmp_path / "first.json", tmp_path / "second.json"

    status, output = verify(site, "--save-head", first_head, "--signature", listed[0])
    assert status == 0, output
    size = json.loads(first_head.read_text())["tree_size"]
    assert f"VERIFIED: the list of '{SLUG}' matches its signed log of {size} entries" in output
    assert f"{len(listed)} listed signatures compared" in output
    assert f"signature {listed[0]} is entry 0 of the signed tree (inclusion proof" in output

    # The list changes in every way it can: a new signer, hidden, restored, verified, withdrawn, deleted.
    newcomer, withdraw = signed_and_confirmed(app, client, "newcomer@example.org", name="Newcomer")
    moderate(app, letter, Action.HIDE, listed[1:4], reason=RemovalReason.FAKE)
    moderate(app, letter, Action.RESTORE, listed[2:3])
    moderate(app, letter, Action.VERIFY, listed[4:5], note="Checked in person")
    moderate(app, letter, Action.DELETE, listed[5:6], reason=RemovalReason.ABUSE)
    assert client.post(withdraw, data={"csrf_token": csrf_token(client, withdraw)}).status_code == 200
    again, _ = signed_and_confirmed(app, client, "again@example.org", name="Signs Again")
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
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE signatures SET name = 'Famous Person' WHERE id = :id"), {"id": victim})
    status, output = verify(site)
    assert status == 1, output
    assert f"FAIL  signature {victim}: the list does not match its log entry" in output
    assert "name: list 'Famous Person', log" in output
    assert f"FAILED: the list of '{SLUG}' does not match its log (1 problems)." in output
    assert runner.invoke(args=["log", "verify", SLUG]).exit_code == 1

    # Someone slips a name into the list without the log.
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE signatures SET name = 'Restored' WHERE id = :id"), {"id": victim})
        hidden = connection.execute(
            sa.text("SELECT id FROM signatures WHERE status = 'hidden' ORDER BY id LIMIT 1")
        ).scalar_one()
        connection.execute(sa.text("UPDATE signatures SET status = 'confirmed' WHERE id = :id"), {"id": hidden})
    status, output = verify(site)
    assert status == 1 and f"signature {hidden} " in output, output

    # Someone rewrites an old log entry: the tree no longer has the signed root, and no longer
    # extends the saved head.
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE signatures SET status = 'hidden' WHERE id = :id"), {"id": hidden})
        connection.execute(
            sa.text("UPDATE log_events SET leaf = replace(leaf, '\"add\"', '\"hide\"') WHERE leaf_index = 7")
        )
    status, output = verify(site, "--since", first_head)
    assert status == 1
    assert "not the signed root" in output and "the log was changed after it was signed" in output

    # A forged saved head is refused by its signature.
    forged = json.loads(first_head.read_text()) | {"tree_size": size - 1}
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    status, output = verify(site, "--since", tmp_path / "forged.json")
    assert "saved head: the tree head of size" in output and status == 1


def test_the_verifier_says_when_the_site_cannot_be_read(tmp_path: Path) -> None:
    status, output = verify("http://127.0.0.1:9/letters/nowhere")
    assert status == 2 and output.startswith("CANNOT VERIFY:")
