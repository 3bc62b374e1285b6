"""The app's clock: the system's by default, one that a test sets and moves in tests.

Checks that depend on time passing (the signing form's minimum fill time, how long a cached
answer is kept) read it from here, so a test can move the time on instead of sleeping.
"""

from __future__ import annotations

import time

from flask import Flask, current_app

EXTENSION = "undersigned.clock"


class Clock:
    """The system's clock."""

    def time(self) -> float:
        """Seconds since the epoch (for time stamps that other processes read too)."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds from a fixed point in this process, never going back (for lifetimes)."""
        return time.monotonic()


def init_app(app: Flask, clock: Clock | None = None) -> Clock:
    """Give the app its clock (the system's unless one is passed in) and return it."""
    chosen = clock or Clock()
    app.extensions[EXTENSION] = chosen
    return chosen


def clock_of(app: Flask) -> Clock:
    """The clock of ``app``."""
    clock: Clock = app.extensions[EXTENSION]
    return clock


def current_clock() -> Clock:
    """The current app's clock."""
    return clock_of(current_app)
