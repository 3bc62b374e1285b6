#!/usr/bin/env python3
"""Check an Undersigned letter's public signer list against its tamper-evident log, from outside.

Needs only Python 3.11+ and the ``cryptography`` package (pip install cryptography). It downloads
everything over HTTP from the site, and trusts nothing it does not check:

* the signed tree head (Ed25519, with the site's published key, or the key you pin with --key);
* every log entry: the tree it makes must have the signed root hash (RFC 6962 / 9162 hashing);
* every opened entry: its salt and fields must hash to the commitment in its leaf;
* the public list: every listed signer's fields must be the fields of their latest log entry,
  no listed signer may be missing from the log, and nobody live in the log may be missing from
  the list (changes made while the download ran are noted, not failed);
* with --signature ID: the inclusion proof of that signature's latest entry;
* with --since FILE: the consistency proof from a tree head saved earlier (--save-head FILE).

    python undersigned_verify.py https://letters.example.org/letters/SLUG --save-head today.json
    python undersigned_verify.py https://letters.example.org/letters/SLUG --since today.json --signature 42

Exit status: 0 when everything checks, 1 when something does not, 2 when the site cannot be read.
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import hashlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ENTRIES_PAGE = 1000
LIST_PAGE = 100
# Events that leave a signature on the list; the others take it off.
LIVE_EVENTS = {"add", "restore", "update"}
# A listed signature confirmed this shortly before the tree head may not be in the log yet.
MERGE_DELAY = timedelta(minutes=10)
# Changes this close to the start of the download count as made while it ran.
CLOCK_SLACK = timedelta(seconds=2)


class Unreadable(Exception):
    """The site did not answer as the API says it should."""


# --- RFC 6962 / RFC 9162 -------------------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_leaf_hashes(hashes: list[bytes]) -> bytes:
    """The Merkle Tree Hash of the leaves, in one pass with a stack of complete subtrees."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    stack: list[tuple[int, bytes]] = []  # (size, hash), sizes strictly decreasing
    for value in hashes:
        size, current = 1, value
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, current = left_size + size, node_hash(left, current)
        stack.append((size, current))
    result = stack[-1][1]
    for _size, left in reversed(stack[:-1]):
        result = node_hash(left, result)
    return result


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2: whether ``path`` proves the leaf hash ``leaf`` at ``index`` in the tree."""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2: whether ``path`` proves the tree of ``second`` leaves extends the first."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


# --- Tree heads ----------------------------------------------------------------------------------


def signed_message(head: dict[str, Any]) -> bytes:
    """The exact bytes a tree head's Ed25519 signature covers."""
    return (
        "undersigned tree head v1\n"
        f"letter: {head['letter']}\n"
        f"tree_size: {int(head['tree_size'])}\n"
        f"root_hash: {head['root_hash']}\n"
        f"timestamp: {int(head['timestamp'])}\n"
    ).encode()


def key_id(public_key: bytes) -> str:
    """The short name of a public key: the first 8 bytes of its SHA-256, in hex."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def check_head(head: dict[str, Any], public_key: bytes) -> str | None:
    """None when the tree head is signed by ``public_key``, else what is wrong."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(base64.b64decode(head["signature"]), signed_message(head))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return f"the tree head of size {head.get('tree_size')} is not signed by key {key_id(public_key)}"
    return None


def commitment(salt_hex: str, fields: str) -> str:
    """SHA-256(salt || fields), the commitment a leaf holds to a signature's public fields."""
    return hashlib.sha256(bytes.fromhex(salt_hex) + fields.encode()).hexdigest()


# --- Reading the site ----------------------------------------------------------------------------


@dataclass
class Site:
    """A letter on a running site: where its API is."""

    base: str
    slug: str
    timeout: float = 30.0
    first_date: datetime | None = None

    @classmethod
    def from_url(cls, url: str) -> Site:
        """Site and slug from a letter's address, https://host/prefix/letters/SLUG."""
        parts = urllib.parse.urlsplit(url.rstrip("/"))
        prefix, marker, slug = parts.path.rpartition("/letters/")
        if not marker or not slug or "/" in slug:
            raise SystemExit(f"not a letter's address (…/letters/SLUG): {url}")
        return cls(urllib.parse.urlunsplit((parts.scheme, parts.netloc, prefix, "", "")), slug)

    def api(self, path: str, **params: Any) -> Any:
        """GET a JSON document from the letter's API."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{self.base}/api/v1/letters/{urllib.parse.quote(self.slug)}{path}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (http(s) only)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                if self.first_date is None and response.headers.get("Date"):
                    self.first_date = email.utils.parsedate_to_datetime(response.headers["Date"])
                return json.load(response)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:300]
            raise Unreadable(f"{url}: HTTP {error.code} {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise Unreadable(f"{url}: {error}") from None


def _hex(value: str) -> bytes:
    return bytes.fromhex(value)


@dataclass
class Report:
    """What was checked: problems fail the verdict, notes do not."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        """Something that does not hold."""
        self.problems.append(text)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def fetch_list(site: Site) -> list[dict[str, Any]]:
    """Every signature on the public list, page after page."""
    signatures: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = site.api("/signatures", limit=LIST_PAGE, cursor=cursor)
        signatures.extend(page["signatures"])
        cursor = page.get("next_cursor")
        if not cursor:
            return signatures


def fetch_entries(site: Site, size: int) -> list[dict[str, Any]]:
    """Log entries 0 .. size-1."""
    entries: list[dict[str, Any]] = []
    while len(entries) < size:
        page = site.api("/log/entries", start=len(entries), end=min(size, len(entries) + ENTRIES_PAGE))
        got = page["entries"]
        if not got:
            raise Unreadable(f"the log served no entries from index {len(entries)} (tree size {size})")
        entries.extend(got)
    return entries[:size]


def check_log(
    site: Site, report: Report, *, pinned_key: bytes | None, signature_id: int | None, since: dict[str, Any] | None
) -> dict[str, Any]:
    """Run every check; returns the current signed tree head."""
    key_doc = site.api("/log/key")
    public_key = base64.b64decode(key_doc["public_key"])
    if pinned_key is not None and public_key != pinned_key:
        report.problem(f"the site publishes key {key_id(public_key)}, not the pinned key {key_id(pinned_key)}")
        public_key = pinned_key
    listed = fetch_list(site)
    listing_started = (site.first_date or datetime.now(UTC)) - CLOCK_SLACK
    head = site.api("/log/head")
    if problem := check_head(head, public_key):
        report.problem(problem)
        return head
    size = int(head["tree_size"])
    head_time = datetime.fromtimestamp(int(head["timestamp"]) / 1000, UTC)
    report.checked.append(f"tree head signed by key {key_id(public_key)}: {size} entries, root {head['root_hash']}")

    entries = fetch_entries(site, size)
    hashes = []
    latest: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    erased: set[int] = set()
    bad_openings = 0
    for number, entry in enumerate(entries):
        if int(entry["index"]) != number:
            report.problem(f"entry {number} came with index {entry['index']}")
        hashes.append(leaf_hash(entry["leaf"].encode()))
        leaf = json.loads(entry["leaf"])
        signature = int(leaf["signature"])
        if entry.get("fields") is not None:
            if leaf.get("commitment") != commitment(entry["salt"], entry["fields"]):
                bad_openings += 1
                report.problem(f"entry {number}: the served fields and salt do not match the leaf's commitment")
            elif int(json.loads(entry["fields"]).get("id", -1)) != signature:
                report.problem(f"entry {number}: the fields are of another signature than the leaf's")
        if leaf["event"] == "erase":
            erased.add(signature)
        latest[signature] = (leaf, entry)
    root = root_from_leaf_hashes(hashes)
    if root != _hex(head["root_hash"]):
        report.problem(
            f"the {size} log entries make root {root.hex()}, not the signed root {head['root_hash']}: "
            "the log was changed after it was signed"
        )
    else:
        report.checked.append(f"all {size} entries recomputed to the signed root hash")
    for number, entry in enumerate(entries):
        if entry.get("fields") is not None and int(json.loads(entry["leaf"])["signature"]) in erased:
            report.problem(f"entry {number}: the fields of an erased signature are still served")

    _compare_list(report, listed, latest, listing_started=listing_started, head_time=head_time)

    if signature_id is not None:
        _check_inclusion(site, report, head, signature_id, latest, listed)
    if since is not None:
        _check_consistency(site, report, head, since, public_key)
    return head


def _compare_list(
    report: Report,
    listed: list[dict[str, Any]],
    latest: dict[int, tuple[dict[str, Any], dict[str, Any]]],
    *,
    listing_started: datetime,
    head_time: datetime,
) -> None:
    """The public list against the live set of the log."""
    on_list = {int(item["id"]): item for item in listed}
    changing = pending = 0
    uncovered: set[str] = set()
    for signature_id, item in on_list.items():
        if signature_id not in latest:
            if _parse_time(item["signed_at"]) >= head_time - MERGE_DELAY:
                pending += 1
            else:
                report.problem(f"signature {signature_id} ({item.get('name')!r}) is on the list but not in the log")
            continue
        leaf, entry = latest[signature_id]
        recent = _parse_time(leaf["at"]) >= listing_started
        if leaf["event"] not in LIVE_EVENTS or not leaf.get("listed"):
            if recent:
                changing += 1
            else:
                report.problem(
                    f"signature {signature_id} ({item.get('name')!r}) is on the list, but its latest log entry "
                    f"({entry['index']}) is '{leaf['event']}'" + ("" if leaf.get("listed", True) else " (unlisted)")
                )
            continue
        if entry.get("fields") is None:
            report.problem(f"signature {signature_id} is listed but its log entry {entry['index']} is not opened")
            continue
        fields = json.loads(entry["fields"])
        differing = sorted(name for name, value in fields.items() if item.get(name) != value)
        uncovered |= set(item) - set(fields)
        if differing:
            if recent:
                changing += 1
            else:
                shown = ", ".join(f"{name}: list {item.get(name)!r}, log {fields[name]!r}" for name in differing)
                report.problem(
                    f"signature {signature_id}: the list does not match its log entry {entry['index']} ({shown})"
                )
    live_listed = 0
    unlisted = 0
    for signature_id, (leaf, entry) in latest.items():
        if leaf["event"] not in LIVE_EVENTS:
            continue
        if not leaf.get("listed"):
            unlisted += 1
            continue
        live_listed += 1
        if signature_id not in on_list:
            if _parse_time(leaf["at"]) >= listing_started:
                changing += 1
            else:
                report.problem(
                    f"signature {signature_id} is live in the log (entry {entry['index']}) but missing from the list"
                )
    report.checked.append(
        f"{len(on_list)} listed signatures compared with the log's {live_listed} live listed entries "
        f"(and {unlisted} counted but unlisted)"
    )
    if changing:
        report.notes.append(f"{changing} signatures changed while the list was being read; run again to check them")
    if pending:
        report.notes.append(f"{pending} signatures confirmed in the last minutes are not in the log yet; run again")
    if uncovered:
        report.notes.append("fields on the list that the log does not cover: " + ", ".join(sorted(uncovered)))


def _check_inclusion(
    site: Site,
    report: Report,
    head: dict[str, Any],
    signature_id: int,
    latest: dict[int, tuple[dict[str, Any], dict[str, Any]]],
    listed: list[dict[str, Any]],
) -> None:
    """The inclusion proof of one signature's latest entry in the signed tree."""
    try:
        proof = site.api(f"/log/proof/signature/{signature_id}", tree_size=head["tree_size"])
    except Unreadable as error:
        report.problem(f"no inclusion proof for signature {signature_id}: {error}")
        return
    leaf = proof["leaf"].encode()
    path = [_hex(item) for item in proof["audit_path"]]
    if not verify_inclusion(
        int(proof["leaf_index"]), int(head["tree_size"]), leaf_hash(leaf), path, _hex(head["root_hash"])
    ):
        report.problem(f"the inclusion proof of signature {signature_id} does not lead to the signed root")
        return
    report.checked.append(
        f"signature {signature_id} is entry {proof['leaf_index']} of the signed tree (inclusion proof, "
        f"{len(path)} hashes)"
    )
    if signature_id in latest and latest[signature_id][1]["leaf"] != proof["leaf"]:
        report.problem(f"the inclusion proof of signature {signature_id} is for another entry than its latest")
    item = next((item for item in listed if int(item["id"]) == signature_id), None)
    opened = latest.get(signature_id, ({}, {}))[1]
    if item is not None and opened.get("fields"):
        fields = json.loads(opened["fields"])
        if all(item.get(name) == value for name, value in fields.items()):
            report.checked.append(f"signature {signature_id} on the list is {item.get('name')!r}, as logged")


def _check_consistency(
    site: Site, report: Report, head: dict[str, Any], since: dict[str, Any], public_key: bytes
) -> None:
    """The current tree extends the saved one."""
    if problem := check_head(since, public_key):
        report.problem(f"saved head: {problem}")
        return
    first, second = int(since["tree_size"]), int(head["tree_size"])
    if first > second:
        report.problem(f"the log shrank: the saved head has {first} entries, the current one {second}")
        return
    if first == 0:
        report.checked.append("the saved head was of the empty log: any log extends it")
        return
    if first == second:
        path: list[bytes] = []
    else:
        try:
            proof = site.api("/log/proof/consistency", first=first, second=second)
        except Unreadable as error:
            report.problem(f"no consistency proof from {first} to {second}: {error}")
            return
        path = [_hex(item) for item in proof["consistency_path"]]
    if verify_consistency(first, second, _hex(since["root_hash"]), _hex(head["root_hash"]), path):
        report.checked.append(
            f"the log of {second} entries extends the saved one of {first} (consistency proof, {len(path)} hashes): "
            "nothing logged before was changed or removed"
        )
    else:
        report.problem(
            f"the saved tree head ({first} entries) is not a prefix of the current one ({second}): "
            "the log was rewritten"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the checks and print a verdict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the letter's address, e.g. https://letters.example.org/letters/SLUG")
    parser.add_argument("--key", help="the site's public key (base64) to pin, instead of the one it serves")
    parser.add_argument("--signature", type=int, metavar="ID", help="check the inclusion proof of this signature")
    parser.add_argument("--since", metavar="FILE", help="a tree head saved before: check the log only grew")
    parser.add_argument("--save-head", metavar="FILE", help="save the checked tree head to FILE")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer")
    args = parser.parse_args(argv)

    site = Site.from_url(args.url)
    site.timeout = args.timeout
    since = None
    if args.since:
        with open(args.since, encoding="utf-8") as handle:
            since = json.load(handle)
    report = Report()
    try:
        head = check_log(
            site,
            report,
            pinned_key=base64.b64decode(args.key) if args.key else None,
            signature_id=args.signature,
            since=since,
        )
    except Unreadable as error:
        print(f"CANNOT VERIFY: {error}")
        return 2
    for line in report.checked:
        print(f"  ok    {line}")
    for line in report.notes:
        print(f"  note  {line}")
    for line in report.problems:
        print(f"  FAIL  {line}")
    if report.problems:
        print(f"FAILED: the list of '{site.slug}' does not match its log ({len(report.problems)} problems).")
        return 1
    if args.save_head:
        with open(args.save_head, "w", encoding="utf-8") as handle:
            json.dump(head, handle, indent=2)
        print(f"  saved the tree head to {args.save_head}")
    print(f"VERIFIED: the list of '{site.slug}' matches its signed log of {head['tree_size']} entries.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
