"""Does the one counter row serialise confirmations? Confirmation-shaped transactions, with and without it.

Each of THREADS connections runs transactions that update a signature row of its own (as a
confirmation does) and, in the counter runs, add one to the letter's count in the same
transaction, last, as services.signing.confirm does: "one row" updates the letter row (the
design before the sharded counter), "shards" upserts one of SHARDS counter rows chosen by the
connection (what services.counting.add_to_count does on PostgreSQL). If a counter row is the
bottleneck, its run is much slower than the run without any counter.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

THREADS = 8
# COUNTER_SHARDS's defaults: SQLite's writers take turns whatever the rows.
SHARDS = {"postgresql": 8, "sqlite": 1}

ONE_ROW = "UPDATE letters SET signature_count = signature_count + 0 WHERE id = :id"
SHARD_UPSERT = {
    "postgresql": (
        "INSERT INTO letter_counter_shards (letter_id, shard, value) VALUES (:id, pg_backend_pid() % :n, 0) "
        "ON CONFLICT (letter_id, shard) DO UPDATE SET value = letter_counter_shards.value + 0"
    ),
    "sqlite": (
        "INSERT INTO letter_counter_shards (letter_id, shard, value) VALUES (:id, abs(random()) % :n, 0) "
        "ON CONFLICT (letter_id, shard) DO UPDATE SET value = letter_counter_shards.value + 0"
    ),
}


def _run(engine: sa.Engine, letter_id: int, ids: list[list[int]], *, counter: str | None) -> float:
    shards = SHARDS[engine.dialect.name]
    done = [0]
    lock = threading.Lock()

    def work(mine: list[int]) -> None:
        with engine.connect() as connection:
            for sid in mine:
                with connection.begin():
                    connection.execute(sa.text("UPDATE signatures SET locale = 'en' WHERE id = :id"), {"id": sid})
                    if counter:
                        connection.execute(sa.text(counter), {"id": letter_id, "n": shards})
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
    """Transactions per second without a counter, with the one letter row, and with the shards."""
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
    without = _run(engine, letter_id, chunks, counter=None)
    one_row = _run(engine, letter_id, chunks, counter=ONE_ROW)
    shards = _run(engine, letter_id, chunks, counter=SHARD_UPSERT[engine.dialect.name])
    engine.dispose()
    return {"threads": THREADS, "without": without, "with": one_row, "shards": shards}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(measure(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "bench")))
