"""How alike the forms answer in time, whether or not an address has signed.

Runs the app in-process on a temporary SQLite database and posts each form (sign, resend,
withdraw) many times with an address that has not signed and with one that has, alternating
so that both see the same machine load. Prints the median times and their ratio; a ratio
near 1.0 means response times say nothing about who signed.

    .venv/bin/python -m benchmarks.enumeration_timing [--rounds 200]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from app import create_app
from app.db import db, utcnow
from app.models import Signature, SignatureStatus
from app.services import letters

LETTER = """---
title: Timing
slug: timing
---
Text.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    folder = Path(tempfile.mkdtemp())
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "SECRET_KEY": "bench-" + "x" * 40,
            "MAIL_OUTBOX_DIR": str(folder / "mail"),
            "EMAIL_CHECK_DELIVERABILITY": False,
            "RATELIMIT_ENABLED": False,
            "SIGN_MIN_SECONDS": 0,
        }
    )
    with app.app_context():
        assert app.test_cli_runner().invoke(args=["db", "upgrade"]).exit_code == 0
        with db.transaction() as session:
            letters.load_letter(session, letters.parse_letter_file(LETTER), now=utcnow())
    client = app.test_client()
    # The resend and withdrawal forms carry the session's token (the signing form ignores it).
    page = client.get("/letters/timing/resend").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    csrf = token.group(1)

    def post(form: str, email: str) -> float:
        path = "/letters/timing/sign" if form == "sign" else f"/letters/timing/{form}"
        data = {"csrf_token": csrf, "email": email, "name": "Timing Test", "public": "y"}
        start = time.perf_counter()
        response = client.post(path, data=data)
        elapsed = time.perf_counter() - start
        assert response.status_code == 303, (form, response.status_code)
        return elapsed

    # One confirmed signer and one pending signer; "nobody" has never signed.
    post("sign", "signed@example.org")
    with app.app_context():
        db.session.execute(sa.update(Signature).values(status=SignatureStatus.CONFIRMED, confirmed_at=utcnow()))
        db.session.commit()

    print(f"{'form':10} {'not signed (ms)':>16} {'signed (ms)':>12} {'ratio':>7}")
    for form in ("sign", "resend", "withdraw"):
        unknown: list[float] = []
        known: list[float] = []
        for n in range(rounds):
            # A fresh address each time for "not signed" on the signing form (it stores one).
            stranger = f"nobody{n}@example.org" if form == "sign" else "nobody@example.org"
            unknown.append(post(form, stranger))
            known.append(post(form, "signed@example.org"))
        a, b = statistics.median(unknown) * 1000, statistics.median(known) * 1000
        print(f"{form:10} {a:16.2f} {b:12.2f} {b / a:7.2f}")


if __name__ == "__main__":
    main()
