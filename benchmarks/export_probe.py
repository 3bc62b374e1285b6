"""Stream a letter's CSV export to nowhere; print rows, seconds and peak memory (run in its own process).

``baseline_mb`` is the peak before the first row (the interpreter, the application, the
database driver and its connection), so ``peak_mb - baseline_mb`` is what the export itself took.
"""

import json
import resource
import sys
import time

from app import create_app
from app.db import db
from app.services import letters
from app.services.queries import export


def _peak_mb() -> float:
    """This process's peak resident memory.

    Linux keeps ``ru_maxrss`` across exec: a process started by a big parent (the benchmark,
    which has loaded the app and a million rows' worth of results) reports the parent's size.
    VmHWM belongs to the process's own address space, made new at exec.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(slug: str) -> None:
    """Measure services.queries.export.public_csv over the letter SLUG."""
    app = create_app({"TESTING": True})
    with app.app_context():
        letter = letters.get_letter(db.session, slug)
        baseline_mb = _peak_mb()
        started = time.perf_counter()
        rows = -1  # the header
        for chunk in export.public_csv(db.session, letter.id):
            rows += chunk.count("\r\n")
        seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": _peak_mb(), "baseline_mb": baseline_mb}))


if __name__ == "__main__":
    main(sys.argv[1])
