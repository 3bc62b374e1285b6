"""Does the one counter row serialise confirmations? Confirmation-shaped transactions, with and without it.

Each of THREADS connections runs transactions that update a signature row of its own (as a
confirmation does) and, in the "counter" run, add one to the letter's count in the same
transaction, committed last as services.signing.confirm does. If the counter row were the
bottleneck, the counter run would be much slower than the run without it.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

THREADS = 8


def _run(engine: sa.Engine, letter_id: int, ids: list[list[int]], *, counter: bool) -> float:
    done = [0]
    lock = threading.Lock()

    def work(mine: list[int]) -> None:
        with engine.connect() as connection:
            for sid in mine:
                with connection.begin():
                    connection.execute(sa.text("UPDATE signatures SET locale = 'en' WHERE id = :id"), {"id": sid})
                    if counter:
                        connection.execute(
                            sa.text("UPDATE letters SET signature_count = signature_count + 0 WHERE id = :id"),
                            {"id": letter_id},
                        )
                with lock:
                    done[0] += 1

    threads = [threading.Thread(target=work, args=(chunk,)) for chunk in ids]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0] / (time.perf_counter() - started)


def measure(url: str, slug: str, per_thread: int = 300) -> dict[str, float]:
    """Transactions per second without and with the shared counter update."""
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    engine = sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), pool_size=THREADS, connect_args=connect_args
    )
    with engine.connect() as connection:
        letter_id = connection.execute(sa.text("SELECT id FROM letters WHERE slug = :s"), {"s": slug}).scalar_one()
        rows = (
            connection.execute(
                sa.text("SELECT id FROM signatures WHERE letter_id = :l ORDER BY id LIMIT :n"),
                {"l": letter_id, "n": THREADS * per_thread},
            )
            .scalars()
            .all()
        )
    chunks = [list(rows[n::THREADS]) for n in range(THREADS)]
    without = _run(engine, letter_id, chunks, counter=False)
    with_counter = _run(engine, letter_id, chunks, counter=True)
    engine.dispose()
    return {"without": without, "with": with_counter}
