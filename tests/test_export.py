"""Exports: the public list as CSV and JSON for anyone, every field for operators, streamed in batches."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import export_files
from app.config import ConfigError, finalise, read_environment
from app.db import db, utcnow
from app.models import Flag, FlagKind, Letter, RemovalReason, Signature, SignatureStatus
from app.services import counting
from app.services.queries import export
from tests.support import Statement, recorded_sql

pytestmark = pytest.mark.engines

SLUG = "test-letter"


@pytest.fixture
def signatures(app: Flask, letter: Letter) -> dict[str, int]:
    """A letter with signatures in several states, some with text a spreadsheet would run."""
    start = utcnow() - timedelta(hours=1)
    rows: list[dict[str, Any]] = [
        {"name": "Ada Lovelace", "affiliation": "Engine Society", "country": "GB", "city": "London"},
        {"name": '=HYPERLINK("http://evil")', "affiliation": "+1 555", "city": "-London", "comment": "@SUM(A1)"},
        {"name": "Tab", "comment": "\tstarts with a tab", "affiliation": "\rstarts with CR"},
        {"name": "Verified Person", "verified_at": start, "verified_note": "Checked by phone"},
        {"name": "Not Public", "public": False},
        {"name": "Pending", "status": SignatureStatus.PENDING},
        {"name": "Unconfirmed", "status": SignatureStatus.UNCONFIRMED, "confirmed_at": None},
        {"name": "Hidden", "status": SignatureStatus.HIDDEN, "removal_reason": RemovalReason.FAKE},
    ]
    ids: dict[str, int] = {}
    with app.app_context(), db.transaction() as session:
        for n, fields in enumerate(rows):
            values: dict[str, Any] = {
                "letter_id": letter.id,
                "email": f"person{n}@example.org",
                "email_key": f"person{n}@example.org",
                "email_domain": "example.org",
                "status": SignatureStatus.CONFIRMED,
                "confirmed_at": start + timedelta(minutes=n),
                "network_hash": "f" * 32,
            } | fields
            signature = Signature(**values)
            session.add(signature)
            session.flush()
            ids[signature.name] = signature.id
        session.add(Flag(letter_id=letter.id, signature_id=ids["Hidden"], kind=FlagKind.REPORT, detail="fake"))
        session.add(
            Flag(letter_id=letter.id, signature_id=ids["Hidden"], kind=FlagKind.WATCHLIST, resolved_at=utcnow())
        )
        counting.add_to_count(session, letter.id, 5, now=utcnow())
    return ids


PUBLIC_NAMES = ["Ada Lovelace", '\'=HYPERLINK("http://evil")', "Tab", "Verified Person"]


def download(client: FlaskClient, path: str) -> tuple[Any, str]:
    """GET a download as a WSGI server would: streamed, read to the end, then closed."""
    response = client.get(path)
    try:
        assert response.is_streamed or response.status_code != 200, path
        return response, response.get_data(as_text=True)
    finally:
        # Ends the request, and with it the transaction the stream read in.
        response.close()


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix(export.CSV_BOM), newline="")))


def test_anyone_can_download_the_public_list_as_csv(client: FlaskClient, signatures: dict[str, int]) -> None:
    response, text = download(client, f"/letters/{SLUG}/signatures.csv")
    assert response.status_code == 200
    assert response.content_type == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{SLUG}-signatures.csv"'
    header = "name,affiliation,country,city,comment,verified,signed_at,confirmed_domain,confirmed_organisation"
    # A UTF-8 byte order mark first, so that Excel reads the names as UTF-8.
    assert response.get_data().startswith(b"\xef\xbb\xbf" + header.encode())
    assert text.splitlines()[0] == export.CSV_BOM + header
    rows = read_csv(text)
    assert [row["name"] for row in rows] == PUBLIC_NAMES  # public, confirmed, oldest first
    assert rows[0] | {"signed_at": ""} == {
        "name": "Ada Lovelace",
        "affiliation": "Engine Society",
        "country": "GB",
        "city": "London",
        "comment": "",
        "verified": "false",
        "signed_at": "",
        "confirmed_domain": "",
        "confirmed_organisation": "",
    }
    assert rows[0]["signed_at"].endswith("Z")
    assert rows[3]["verified"] == "true"
    assert "@example.org" not in text and "Checked by phone" not in text and "f" * 32 not in text


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_as_text(
    client: FlaskClient, signatures: dict[str, int]
) -> None:
    rows = read_csv(download(client, f"/letters/{SLUG}/signatures.csv")[1])
    injected, tab = rows[1], rows[2]
    assert injected["name"] == '\'=HYPERLINK("http://evil")'
    assert injected["affiliation"] == "'+1 555"
    assert injected["city"] == "'-London"
    assert injected["comment"] == "'@SUM(A1)"
    assert tab["comment"] == "'\tstarts with a tab"
    assert tab["affiliation"] == "'\rstarts with CR"
    assert all(not cell.startswith(export.FORMULA_STARTS) for row in rows for cell in row.values())


def test_anyone_can_download_the_public_list_as_json(client: FlaskClient, signatures: dict[str, int]) -> None:
    response, text = download(client, f"/letters/{SLUG}/signatures.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{SLUG}-signatures.json"'
    data = json.loads(text)
    assert data["letter"] == SLUG and data["exported_at"].endswith("Z")
    people = data["signatures"]
    # JSON is not a spreadsheet: the text is as signed.
    assert [p["name"] for p in people] == ["Ada Lovelace", '=HYPERLINK("http://evil")', "Tab", "Verified Person"]
    assert set(people[0]) == set(export.PUBLIC_FIELDS)
    assert people[3]["verified"] is True and people[0]["verified"] is False
    assert "@example.org" not in text


def test_an_empty_list_and_an_unknown_letter(client: FlaskClient, letter: Letter) -> None:
    assert json.loads(download(client, f"/letters/{SLUG}/signatures.json")[1])["signatures"] == []
    assert download(client, f"/letters/{SLUG}/signatures.csv")[1].strip() == export.CSV_BOM + ",".join(
        export.PUBLIC_FIELDS
    )
    assert download(client, "/letters/nope/signatures.csv")[0].status_code == 404
    assert download(client, "/letters/nope/signatures.json")[0].status_code == 404


def selects(seen: list[Statement]) -> list[str]:
    """The SELECTs among recorded statements, lower-cased; an OFFSET that skips nothing left out."""
    found = []
    for statement, parameters in seen:
        text = statement.lower()
        if text.lstrip().startswith("select"):
            # SQLite always writes an OFFSET after a LIMIT: record whether it skips any rows.
            if "offset" in text and isinstance(parameters, tuple | list) and parameters[-1] == 0:
                text = text.replace("offset", "")
            found.append(text)
    return found


def test_rows_are_read_lazily_in_keyset_batches(app: Flask, letter: Letter) -> None:
    same_time = utcnow() - timedelta(hours=1)
    with app.app_context(), db.transaction() as session:
        for n in range(7):  # one timestamp for all: the id breaks the ties between batches
            session.add(
                Signature(
                    letter_id=letter.id,
                    name=f"P{n}",
                    email=f"p{n}@example.org",
                    email_key=f"p{n}@example.org",
                    status=SignatureStatus.CONFIRMED,
                    confirmed_at=same_time,
                )
            )
    with app.app_context(), recorded_sql(app) as seen:
        rows = export.public_rows(db.session, letter.id, batch_size=3)
        assert selects(seen) == []  # nothing read until asked
        first = next(rows)
        assert first["name"] == "P0" and len(selects(seen)) == 1
        names = [first["name"]] + [row["name"] for row in rows]
        assert names == [f"P{n}" for n in range(7)]
        statements = selects(seen)
        assert len(statements) == 3 and not any("offset" in s for s in statements)
        assert all("signatures.id >" in s for s in statements[1:])  # each batch starts after the last
        # Every field of every signature: one statement, streamed from its cursor in batches.
        everyone = [row["name"] for row in export.all_rows(db.session, letter.id, batch_size=3)]
        assert everyone == [f"P{n}" for n in range(7)] and len(selects(seen)) == 4


def test_write_csv_streams_in_chunks() -> None:
    rows = ({"name": f"P{n}"} for n in range(250))
    chunks = list(export.write_csv(rows, ["name"]))
    assert len(chunks) == 3 and chunks[0].startswith("name\r\nP0\r\n")
    assert "".join(chunks).count("\r\n") == 251


def test_all_rows_have_every_field_but_tokens_and_network_hashes(app: Flask, signatures: dict[str, int]) -> None:
    with app.app_context():
        letter = db.session.scalar(sa.select(Letter))
        assert letter is not None
        rows = {row["name"]: row for row in export.all_rows(db.session, letter.id)}
    assert len(rows) == 8  # every state
    hidden = rows["Hidden"]
    assert hidden["email"] == "person7@example.org"
    assert (hidden["status"], hidden["removal_reason"], hidden["flags"], hidden["open_flags"]) == (
        "hidden",
        "fake",
        2,
        1,
    )
    assert (
        rows["Verified Person"]["verified"] is True and rows["Verified Person"]["verified_note"] == "Checked by phone"
    )
    assert rows["Unconfirmed"]["confirmed_at"] is None and rows["Unconfirmed"]["created_at"] is not None
    assert set(hidden) == set(export.ALL_FIELDS)
    assert not {"network_hash", "email_key", "token_hash", "tokens"} & set(hidden)


def test_the_cli_exports_every_field_as_csv_to_stdout_by_default(
    runner: FlaskCliRunner, signatures: dict[str, int]
) -> None:
    result = runner.invoke(args=["signatures", "export", SLUG])
    assert result.exit_code == 0, result.output
    rows = read_csv(result.stdout)
    assert [row["name"] for row in rows][:2] == ["Ada Lovelace", '\'=HYPERLINK("http://evil")']
    assert len(rows) == 8 and rows[0]["email"] == "person0@example.org"
    assert list(rows[0]) == list(export.ALL_FIELDS)
    assert "f" * 32 not in result.stdout


def test_the_cli_writes_the_public_list_as_json_to_a_file(
    runner: FlaskCliRunner, signatures: dict[str, int], tmp_path: Path
) -> None:
    output = tmp_path / "list.json"
    result = runner.invoke(args=["signatures", "export", SLUG, "--public", "--format", "json", "--output", str(output)])
    assert result.exit_code == 0, result.output
    data = json.loads(output.read_text(encoding="utf-8"))
    names = [p["name"] for p in data["signatures"]]
    assert names == ["Ada Lovelace", '=HYPERLINK("http://evil")', "Tab", "Verified Person"]
    assert "@example.org" not in output.read_text(encoding="utf-8")
    csv_file = tmp_path / "list.csv"
    assert runner.invoke(args=["signatures", "export", SLUG, "--public", "--output", str(csv_file)]).exit_code == 0
    assert csv_file.read_bytes().startswith(b"name,affiliation,country,city,comment,verified,signed_at,confirmed")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["signatures", "export", "nope"], "no letter with slug 'nope'"),
        (["signatures", "export", SLUG, "--format", "xml"], "'xml' is not one of 'csv', 'json'"),
    ],
)
def test_the_cli_refuses_bad_arguments(
    runner: FlaskCliRunner, letter: Letter, args: list[str], message: str, create_letter: Callable[..., Letter]
) -> None:
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output


def test_the_csv_downloads_are_the_same_text_as_the_row_by_row_writer(
    app: Flask, letter: Letter, signatures: dict[str, int]
) -> None:
    """public_csv and all_csv (cells made by the database, rows streamed) change nothing in the file."""
    whole_second = (utcnow() - timedelta(minutes=5)).replace(microsecond=0)
    with app.app_context(), db.transaction() as session:
        for n, name in enumerate(["\uff1dfull-width equals", "On the second", "", "'already quoted"]):
            session.add(
                Signature(
                    letter_id=letter.id,
                    name=name,
                    email=f"extra{n}@example.org",
                    email_key=f"extra{n}@example.org",
                    status=SignatureStatus.CONFIRMED,
                    comment="=1+1" if n else None,
                    confirmed_at=whole_second,
                )
            )
    with app.app_context():
        session = db.session
        public = "".join(export.public_csv(session, letter.id, batch_size=2))
        assert public == "".join(export.write_csv(export.public_rows(session, letter.id), export.PUBLIC_FIELDS))
        every = "".join(export.all_csv(session, letter.id, batch_size=3))
        assert every == "".join(export.write_csv(export.all_rows(session, letter.id), export.ALL_FIELDS))
    rows = read_csv(public)
    assert len(rows) == 8 and rows[4]["name"] == "'\uff1dfull-width equals" and rows[5]["comment"] == "'=1+1"
    assert rows[4]["signed_at"] == whole_second.isoformat().replace("+00:00", "Z")  # no ".000000"


# --- The downloads as files: made at most every EXPORT_CACHE_SECONDS, sent with validators ------------


def test_a_download_is_a_file_made_again_at_most_every_export_cache_seconds(
    app: Flask, client: FlaskClient, letter: Letter, signatures: dict[str, int]
) -> None:
    """Re-downloads read no rows and a client that has the file gets 304; a hidden signer goes within the bound."""
    now = [time.time()]
    app.extensions[export_files.EXTENSION].clock = lambda: now[0]
    path = f"/letters/{SLUG}/signatures.csv"
    first, text = download(client, path)
    assert first.status_code == 200 and "Ada Lovelace" in text
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert {"public", "no-cache"} <= set(first.headers["Cache-Control"].replace(" ", "").split(","))
    assert int(first.headers["Content-Length"]) == len(text.encode())

    # Within EXPORT_CACHE_SECONDS, however many ask: the same file, and not one row read again.
    now[0] += 299
    with recorded_sql(app) as seen:
        for _ in range(3):
            again, same = download(client, path)
            assert (again.status_code, same, again.headers["ETag"]) == (200, text, etag)
    assert not [statement for statement in selects(seen) if "signatures" in statement]
    for headers in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
        unchanged = client.get(path, headers=headers)
        assert (unchanged.status_code, unchanged.get_data()) == (304, b"")
        unchanged.close()

    # A moderator hides a signer: the file in hand still has them until it is EXPORT_CACHE_SECONDS old.
    with app.app_context(), db.transaction() as session:
        ada = session.get(Signature, signatures["Ada Lovelace"])
        assert ada is not None
        counting.move(session, ada, SignatureStatus.HIDDEN, now=utcnow(), reason=RemovalReason.FAKE)
    assert "Ada Lovelace" in download(client, path)[1]
    now[0] += 1
    fresh, text = download(client, path)
    assert "Ada Lovelace" not in text and [row["name"] for row in read_csv(text)] == PUBLIC_NAMES[1:]
    assert fresh.headers["ETag"] != etag
    stale = client.get(path, headers={"If-None-Match": etag})
    assert stale.status_code == 200 and "Ada Lovelace" not in stale.get_data(as_text=True)
    stale.close()
    # The JSON download is a file of its own, made from the list as it is now.
    document = json.loads(download(client, f"/letters/{SLUG}/signatures.json")[1])
    assert "Ada Lovelace" not in [person["name"] for person in document["signatures"]]


def test_a_byte_range_of_a_download_file(client: FlaskClient, signatures: dict[str, int]) -> None:
    whole = download(client, f"/letters/{SLUG}/signatures.csv")[1].encode()
    part = client.get(f"/letters/{SLUG}/signatures.csv", headers={"Range": "bytes=3-6"})
    assert (part.status_code, part.get_data()) == (206, b"name")  # after the three bytes of the BOM
    assert part.headers["Content-Range"] == f"bytes 3-6/{len(whole)}"
    part.close()


def test_one_request_makes_the_file_while_others_send_the_previous_one_whole(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    files = export_files.ExportFiles(tmp_path / "exports", 300, clock=lambda: now[0])
    made: list[str] = []

    def writer(text: str, started: threading.Event | None = None, go_on: threading.Event | None = None) -> Any:
        def write(out: Any) -> None:
            made.append(text)
            out.write(text + " begins")
            out.flush()
            if started is not None and go_on is not None:
                started.set()
                assert go_on.wait(30)
            out.write(", ends")

        return write

    def read(name: str, write: Any) -> str:
        with files.open(name, write) as handle:
            return handle.read().decode()

    assert read("list.csv", writer("first")) == "first begins, ends"
    assert read("list.csv", writer("not made")) == "first begins, ends" and made == ["first"]

    # Stale: one request makes the new file; meanwhile another sends the previous one, whole.
    now[0] += 300
    started, go_on = threading.Event(), threading.Event()
    results: dict[str, str] = {}
    maker = threading.Thread(target=lambda: results.update(maker=read("list.csv", writer("second", started, go_on))))
    maker.start()
    assert started.wait(30)
    assert read("list.csv", writer("a second maker")) == "first begins, ends"
    assert (tmp_path / "exports" / "list.csv").read_text() == "first begins, ends"  # never half a file
    go_on.set()
    maker.join(30)
    assert results["maker"] == "second begins, ends" and made == ["first", "second"]
    assert read("list.csv", writer("not made")) == "second begins, ends"

    # No file yet: a request waits for the one being made and sends it instead of making its own.
    started, go_on = threading.Event(), threading.Event()
    maker = threading.Thread(target=lambda: results.update(maker=read("other.json", writer("third", started, go_on))))
    maker.start()
    assert started.wait(30)
    waiter = threading.Thread(target=lambda: results.update(waiter=read("other.json", writer("a fourth maker"))))
    waiter.start()
    go_on.set()
    maker.join(30)
    waiter.join(30)
    assert results["maker"] == results["waiter"] == "third begins, ends" and made == ["first", "second", "third"]

    # A maker that fails leaves the previous file and no temporary file; one that died left one, cleared next time.
    now[0] += 300

    def failing(out: Any) -> None:
        out.write("half")
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        files.open("list.csv", failing)
    assert (tmp_path / "exports" / "list.csv").read_text() == "second begins, ends"
    (tmp_path / "exports" / ".list.csv.orphan.tmp").write_text("left by a process that died")
    assert read("list.csv", writer("fifth")) == "fifth begins, ends"
    left = sorted(p.name for p in (tmp_path / "exports").iterdir())
    assert left == [".list.csv.lock", ".other.json.lock", "list.csv", "other.json"]


def test_the_download_settings_are_checked_at_start(tmp_path: Path) -> None:
    def production(**env: str) -> dict[str, Any]:
        config = read_environment({"SECRET_KEY": "k" * 40, "BASE_URL": "https://a.example", "LOG_ENABLED": "0", **env})
        finalise(config, debug=False, testing=False, instance_path=str(tmp_path))
        return config

    defaults = production()
    assert defaults["EXPORT_CACHE_SECONDS"] == 300 and defaults["RATELIMIT_DOWNLOADS_PER_NETWORK"] == "10 per hour"
    assert defaults["EXPORT_CACHE_DIR"] == str(tmp_path / "exports")
    assert production(EXPORT_CACHE_DIR="/var/cache/undersigned")["EXPORT_CACHE_DIR"] == "/var/cache/undersigned"
    with pytest.raises(ConfigError, match="EXPORT_CACHE_SECONDS is how long a download file is reused: 0 or more"):
        production(EXPORT_CACHE_SECONDS="-1")
    with pytest.raises(ConfigError, match="RATELIMIT_DOWNLOADS_PER_NETWORK must be a limit like"):
        production(RATELIMIT_DOWNLOADS_PER_NETWORK="lots")
