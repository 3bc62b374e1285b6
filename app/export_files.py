"""The public downloads of a letter's list, kept as files and made again at most every EXPORT_CACHE_SECONDS.

Each download of ``/letters/<slug>/signatures.csv`` and ``.json`` used to read the whole list
from the database: a few at once of a large list kept database connections and app workers
busy for seconds, and anyone could ask. Now each app process serves the latest file of each
download from EXPORT_CACHE_DIR (``exports`` in the instance folder by default):

* **Fresh** (made less than EXPORT_CACHE_SECONDS ago): sent as it is, with an ETag and
  Last-Modified, so a client that has it gets ``304 Not Modified`` (and a byte range if asked).
* **Stale or missing**: the request that finds it so takes the file's lock (``flock`` on a lock
  file beside it: one process or thread at a time, and a process that dies lets go of it) and
  writes the new file to a temporary file in the same folder, renamed over the old one once
  complete, so a reader opens the old file or the new one, never half of one. Meanwhile other
  requests send the previous file; only when there is none yet do they wait for the lock (and
  then send the file just made).

The file's modification time is when it was begun: the list it holds is at most that old, so a
signer hidden, removed or withdrawn is gone from the download within EXPORT_CACHE_SECONDS (plus
the time one regeneration takes). The files are a cache, not state: several app servers each
keep their own (each makes its file at most once per EXPORT_CACHE_SECONDS), and deleting the
folder loses nothing.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from flask import Flask, current_app, request
from werkzeug.utils import send_file
from werkzeug.wrappers import Response

EXTENSION = "undersigned.export_files"

Writer = Callable[[IO[str]], None]


@dataclass
class ExportFiles:
    """The folder of a process's download files, how long one stays fresh, and the clock to judge it by."""

    directory: Path
    max_age: float
    clock: Callable[[], float] = time.time

    def open(self, name: str, write: Writer) -> BinaryIO:
        """The file ``name`` opened for reading, made first with ``write`` when missing or stale.

        ``write`` gets a UTF-8 text file to write the whole download to.
        """
        path = self.directory / name
        previous = _open(path)
        if previous is not None and self._fresh(previous):
            return previous
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # With a previous file to send, never wait: someone else is making the new one.
            with _locked(self.directory / f".{name}.lock", wait=previous is None) as locked:
                if not locked and previous is not None:
                    return previous
                _close(previous)
                previous = None
                # Made by the request we waited for, or just before we took the lock?
                current = _open(path)
                if current is None or not self._fresh(current):
                    _close(current)
                    self._make(path, write)
                    current = _open(path)
                    assert current is not None
                return current
        except BaseException:
            _close(previous)
            raise

    def _fresh(self, handle: BinaryIO) -> bool:
        """Whether the open file was begun less than ``max_age`` seconds ago (and not in the future)."""
        made = os.fstat(handle.fileno()).st_mtime_ns
        age = int(self.clock() * 1e9) - made
        return 0 <= age < self.max_age * 1e9

    def _make(self, path: Path, write: Writer) -> None:
        """Write a new file for ``path`` beside it, then rename it over ``path`` (we hold the lock)."""
        # Temporary files left by a process that died while writing (nobody else writes now).
        for orphan in self.directory.glob(f".{path.name}.*.tmp"):
            orphan.unlink(missing_ok=True)
        begun = int(self.clock() * 1e9)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with open(fd, "w", encoding="utf-8", newline="") as out:
                write(out)
            # The time the list was read from: what freshness and Last-Modified go by.
            os.utime(temporary, ns=(begun, begun))
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _open(path: Path) -> BinaryIO | None:
    try:
        return open(path, "rb")  # the caller sends and closes it
    except FileNotFoundError:
        return None


def _close(handle: BinaryIO | None) -> None:
    if handle is not None:
        handle.close()


@contextmanager
def _locked(lock_path: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the exclusive lock on ``lock_path`` (True), or, without ``wait``, False when another holds it.

    ``flock`` locks an open file description: two threads of one process, each with its own
    descriptor, exclude each other as two processes do. The lock file itself stays.
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def send(handle: BinaryIO, *, mimetype: str, download_name: str) -> Response:
    """An open download file as an attachment, with ETag and Last-Modified; 304 or a range when asked.

    Everything is read from the open file, not its path: a new file renamed over the path
    meanwhile changes nothing in this answer.
    """
    stat = os.fstat(handle.fileno())
    # Werkzeug's own send_file: Flask's would add the static files' long max-age.
    response = send_file(
        handle,
        request.environ,
        mimetype=mimetype,
        conditional=False,
        etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}-{stat.st_ino:x}",
        last_modified=stat.st_mtime,
    )
    response.content_length = stat.st_size
    response.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    # Caches may keep it but must ask again each time (a cheap 304): the file changes every few minutes.
    response.cache_control.public = True
    return response.make_conditional(request.environ, accept_ranges=True, complete_length=stat.st_size)


def export_files() -> ExportFiles:
    """The current app's download files."""
    files: ExportFiles = current_app.extensions[EXTENSION]
    return files


def init_app(app: Flask) -> None:
    """Keep the app's download files in EXPORT_CACHE_DIR, fresh for EXPORT_CACHE_SECONDS (made on first use)."""
    app.extensions[EXTENSION] = ExportFiles(
        Path(app.config["EXPORT_CACHE_DIR"]), float(app.config["EXPORT_CACHE_SECONDS"])
    )
