"""Differences between two texts: lines first, then words within changed lines.

The result is plain text in pieces marked equal, inserted or deleted; the template escapes each
piece and wraps the changes in <ins> and <del>, so nothing from the text is ever taken as markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

Op = Literal["equal", "insert", "delete"]
# Words, runs of spaces, and single other characters (punctuation, Markdown marks).
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


@dataclass(frozen=True)
class Piece:
    """A stretch of text that is the same in both, only in the new one, or only in the old one."""

    op: Op
    text: str


@dataclass(frozen=True)
class Diff:
    """The pieces in reading order, and how many were added and removed."""

    pieces: tuple[Piece, ...]

    @property
    def changed(self) -> bool:
        """Whether the two texts differ at all."""
        return any(piece.op != "equal" for piece in self.pieces)

    @property
    def insertions(self) -> int:
        """How many stretches of text were added."""
        return sum(piece.op == "insert" for piece in self.pieces)

    @property
    def deletions(self) -> int:
        """How many stretches of text were removed."""
        return sum(piece.op == "delete" for piece in self.pieces)


def _append(pieces: list[Piece], op: Op, text: str) -> None:
    if not text:
        return
    if pieces and pieces[-1].op == op:
        pieces[-1] = Piece(op, pieces[-1].text + text)
    else:
        pieces.append(Piece(op, text))


def _words(pieces: list[Piece], old: str, new: str) -> None:
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            _append(pieces, "equal", "".join(a[i1:i2]))
        else:
            _append(pieces, "delete", "".join(a[i1:i2]))
            _append(pieces, "insert", "".join(b[j1:j2]))


def diff_texts(old: str, new: str) -> Diff:
    """The differences from ``old`` to ``new``: unchanged lines whole, changed lines word by word.

    Comparing lines first keeps the work small for a long letter with a few edits; only the
    changed stretches are compared word by word.
    """
    pieces: list[Piece] = []
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            _append(pieces, "equal", "".join(a[i1:i2]))
        elif tag == "delete":
            _append(pieces, "delete", "".join(a[i1:i2]))
        elif tag == "insert":
            _append(pieces, "insert", "".join(b[j1:j2]))
        else:
            _words(pieces, "".join(a[i1:i2]), "".join(b[j1:j2]))
    return Diff(tuple(pieces))
