"""Progress toward a letter's goal, and the next goal once it is reached."""

from __future__ import annotations

from dataclasses import dataclass


def next_round_number(number: int) -> int:
    """The first of 1, 2, 5, 10, 20, 50, 100, ... above ``number``."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale > number:
                return step * scale
        scale *= 10


@dataclass(frozen=True)
class Progress:
    """Where the count stands: the goal shown now, and the one that was set if it has been reached."""

    count: int
    goal: int
    reached: int | None

    @property
    def percent(self) -> int:
        """How far along, in whole percent (0 to 100)."""
        return min(100, self.count * 100 // self.goal)


def progress(count: int, goal: int | None) -> Progress | None:
    """Progress toward ``goal``; once reached, toward the next round number above the count."""
    if not goal or goal < 1:
        return None
    if count < goal:
        return Progress(count, goal, None)
    return Progress(count, next_round_number(count), goal)
