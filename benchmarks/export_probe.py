"""Stream a letter's CSV export to nowhere; print rows, seconds and peak memory (run in its own process)."""

import json
import resource
import sys
import time

from app import create_app
from app.db import db
from app.services import export, letters


def main(slug: str) -> None:
    """Measure services.export.public_csv over the letter SLUG."""
    app = create_app({"TESTING": True})
    with app.app_context():
        letter = letters.get_letter(db.session, slug)
        started = time.perf_counter()
        rows = -1  # the header
        for chunk in export.public_csv(db.session, letter.id):
            rows += chunk.count("\r\n")
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb}))


if __name__ == "__main__":
    main(sys.argv[1])
