"""The streamed CSV export: public fields only, formula-safe, every public signer once."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask import Flask

from app.db import db, utcnow
from app.models import Letter, Signature, SignatureStatus
from app.services import export


def add(app: Flask, letter: Letter, count: int, **fields: object) -> None:
    start = utcnow() - timedelta(days=1)
    with app.app_context(), db.transaction() as session:
        first = session.query(Signature).count()
        for n in range(first, first + count):
            values = {
                "name": f"Signer {n}",
                "status": SignatureStatus.CONFIRMED,
                "confirmed_at": start + timedelta(seconds=n),
            } | fields
            session.add(
                Signature(letter_id=letter.id, email=f"s{n}@example.org", email_key=f"s{n}@example.org", **values)
            )


def exported(app: Flask, letter: Letter) -> list[list[str]]:
    with app.app_context():
        text = "".join(export.public_csv(db.session, letter.id))
    return list(csv.reader(io.StringIO(text)))


def test_public_signers_only_in_batches_oldest_first(app: Flask, letter: Letter, monkeypatch: object) -> None:
    monkeypatch.setattr(export, "BATCH", 7)  # type: ignore[attr-defined]
    add(app, letter, 20, affiliation="Lab", country="KR", city="Seoul", comment="Yes")
    add(app, letter, 3, public=False)
    add(app, letter, 2, status=SignatureStatus.UNCONFIRMED, confirmed_at=None)
    rows = exported(app, letter)
    assert rows[0] == list(export.PUBLIC_COLUMNS)
    assert [row[0] for row in rows[1:]] == [f"Signer {n}" for n in range(20)]
    assert rows[1][1:5] == ["Lab", "KR", "Seoul", "Yes"]
    assert rows[1][5].endswith("Z")
    assert "@" not in str(rows)


def test_cells_that_a_spreadsheet_would_run_are_defused(app: Flask, letter: Letter) -> None:
    add(app, letter, 1, name='=HYPERLINK("http://x")', affiliation="+1 lab", comment="@SUM(A1)")
    add(app, letter, 1, name="-2", affiliation="\tTab", comment="\rCR", city="Normal")
    first, second = exported(app, letter)[1:]
    assert first[0] == '\'=HYPERLINK("http://x")' and first[1] == "'+1 lab" and first[4] == "'@SUM(A1)"
    assert second[0] == "'-2" and second[1] == "'\tTab" and second[4] == "'\rCR" and second[3] == "Normal"


def test_formula_safe_leaves_plain_text_alone() -> None:
    assert export.formula_safe(None) == ""
    assert export.formula_safe("Ada") == "Ada"
