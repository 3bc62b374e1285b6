"""Each letter's preview image for link previews (``og:image``): its title, its count and the site's name.

A shared link shows this picture in chats and social networks. It is drawn with Pillow, 1200×630
(the size Open Graph readers crop least), in the letter's language and script: a CJK font
(Debian's fonts-noto-cjk by default, PREVIEW_FONT) draws Latin, Hangul, kana and Han alike.
Without that font the previews use Pillow's built-in font, which has no CJK glyphs: a warning at
start-up says so, and a Korean title then shows as boxes.

The count on the picture is a band ("1,000+ signatures"), not the exact number, so the picture
changes a few times in a letter's life rather than with every signature: networks fetch it once
per address, and the address carries the picture's key. Pictures are files in PREVIEW_DIR (the
instance folder's ``previews`` by default), named by that key: a cache, not state. Several app
servers each draw their own once, and deleting the folder loses nothing.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flask import Flask, current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from PIL import Image, ImageDraw, ImageFont

from app.web import format_count

log = logging.getLogger(__name__)

EXTENSION = "undersigned.previews"
WIDTH, HEIGHT = 1200, 630
# Drawn anew when this changes (a new layout): it is part of every picture's key.
LAYOUT_VERSION = "1"
MARGIN = 72
TITLE_SIZES = (72, 60, 50)
TITLE_LINES = 4
BACKGROUND, INK, MUTED, ACCENT = "#ffffff", "#1b1b1b", "#52525b", "#1d4ed8"

# A CJK collection holds one face per region; each draws its own language's forms of shared characters.
TTC_FACES = {"ja": 0, "ko": 1, "zh": 2, "zh-hans": 2, "zh-cn": 2, "zh-hant": 3, "zh-tw": 3, "zh-hk": 4}


def count_band(count: int) -> int:
    """The round number the picture shows for ``count``: 10, 20, 50, 100, 200, 500, ... (0 below ten)."""
    band, step = 0, 10
    while step <= count:
        band = step
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2
    return band


@dataclass(frozen=True)
class Preview:
    """What one picture shows: the title, the count line and the site's name, in the language ``lang``."""

    lang: str
    title: str
    count_line: str
    site_name: str

    @classmethod
    def of(cls, title: str, lang: str, count: int, site_name: str) -> Preview:
        """The picture for a letter's ``title`` in ``lang`` with ``count`` signatures (as its band)."""
        band = count_band(count)
        with force_locale(lang):
            first = _("Be among the first to sign")
            line = _("%(count)s+ signatures", count=format_count(band)) if band else first
        return cls(lang, title, str(line), site_name)

    def key(self, font: str) -> str:
        """A short name for this picture drawn with ``font``: it changes when anything shown changes."""
        parts = [LAYOUT_VERSION, font, self.lang, self.title, self.count_line, self.site_name]
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]

    def alt(self) -> str:
        """The picture in words, for ``og:image:alt``."""
        return f"{self.title} — {self.count_line} · {self.site_name}"


def load_font(path: str, lang: str, size: int) -> ImageFont.FreeTypeFont:
    """The font at ``path`` (its face for ``lang`` in a collection), else Pillow's built-in font."""
    return _font(path, TTC_FACES.get(lang.lower(), TTC_FACES.get(lang.lower()[:2], 0)), size)


@lru_cache(maxsize=64)
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    if path and os.path.isfile(path):
        # The basic layout: the same picture whether or not libraqm is installed.
        return ImageFont.truetype(
            path, size, index=index if path.lower().endswith(".ttc") else 0, layout_engine=ImageFont.Layout.BASIC
        )
    built_in = ImageFont.load_default(size)
    assert isinstance(built_in, ImageFont.FreeTypeFont)  # Pillow is built with FreeType
    return built_in


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """``text`` in lines no wider than ``width``, broken at spaces, or anywhere in a word too long for a line."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for char in word:
            if font.getlength(line + char) > width and line:
                lines.append(line)
                line = ""
            line += char
    if line:
        lines.append(line)
    return lines


def _title_lines(title: str, path: str, lang: str, width: int) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest title size whose lines fit, the last line cut with an ellipsis if it still does not."""
    for size in TITLE_SIZES:
        font = load_font(path, lang, size)
        lines = _wrap(title, font, width)
        if len(lines) <= TITLE_LINES:
            return font, lines
    kept = lines[:TITLE_LINES]
    last = kept[-1]
    while last and font.getlength(last + "…") > width:
        last = last[:-1]
    kept[-1] = last.rstrip() + "…"
    return font, kept


def draw(preview: Preview, font_path: str) -> bytes:
    """The picture as PNG bytes."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    canvas = ImageDraw.Draw(image)
    canvas.rectangle((0, 0, WIDTH, 16), fill=ACCENT)
    inner = WIDTH - 2 * MARGIN
    site_font = load_font(font_path, preview.lang, 34)
    canvas.text((MARGIN, 60), preview.site_name, font=site_font, fill=MUTED)
    title_font, lines = _title_lines(preview.title, font_path, preview.lang, inner)
    y = 140
    for line in lines:
        canvas.text((MARGIN, y), line, font=title_font, fill=INK)
        y += int(title_font.size * 1.25)
    count_font = load_font(font_path, preview.lang, 52)
    canvas.text((MARGIN, HEIGHT - MARGIN - 60), preview.count_line, font=count_font, fill=ACCENT)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


@dataclass(frozen=True)
class PreviewFiles:
    """The folder of drawn pictures and the font they are drawn with."""

    directory: Path
    font_path: str

    def path(self, letter_id: int, preview: Preview) -> Path:
        """The picture's file, drawn first if this picture was never drawn here."""
        key = preview.key(self.font_path)
        prefix = f"{letter_id}-{preview.lang}-"
        path = self.directory / f"{prefix}{key}.png"
        if path.exists():
            return path
        self.directory.mkdir(parents=True, exist_ok=True)
        data = draw(preview, self.font_path)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".preview.", suffix=".tmp")
        try:
            with open(fd, "wb") as out:
                out.write(data)
            os.replace(temporary, path)  # a reader sees the whole picture or none
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        # The letter's earlier pictures in this language: nobody is sent their address any more.
        for old in self.directory.glob(f"{prefix}*.png"):
            if old != path:
                old.unlink(missing_ok=True)
        return path


def preview_files() -> PreviewFiles:
    """The current app's pictures."""
    files: PreviewFiles = current_app.extensions[EXTENSION]
    return files


def init_app(app: Flask) -> None:
    """Keep pictures in PREVIEW_DIR, drawn with PREVIEW_FONT; say so at start when that font is missing."""
    font = app.config["PREVIEW_FONT"]
    if not os.path.isfile(font):
        log.warning(
            "PREVIEW_FONT %r not found: link preview pictures use Pillow's built-in font, which has no "
            "Korean, Japanese or Chinese letters (install fonts-noto-cjk or set PREVIEW_FONT)",
            font,
        )
    app.extensions[EXTENSION] = PreviewFiles(Path(app.config["PREVIEW_DIR"]), font)
