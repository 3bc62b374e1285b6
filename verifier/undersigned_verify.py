#!/usr/bin/env python3
"""Check an Undersigned letter's public signer list against its tamper-evident log, from outside.

Needs only Python 3.11+ and the ``cryptography`` package (pip install cryptography). It downloads
everything over HTTP from the site, and trusts nothing it does not check:

* the signed tree head (Ed25519, with the site's published key, or the key you pin with --key);
* every log entry: the tree it makes must have the signed root hash (RFC 6962 / 9162 hashing);
* every opened entry: its salt and fields must hash to the commitment in its leaf;
* the public list: every listed signer's fields must be the fields of their latest log entry,
  no listed signer may be missing from the log, and nobody live in the log may be missing from
  the list. The log decides what changed while the list was read, never the clock: a tree head
  is read before the list and one after it, and a difference is excused only when the log holds
  an entry of that signature at or past the first head's tree size; that signature is then read
  again and must match its latest entry under a head read after it. When the site says changes
  wait to be logged, the verifier waits (--wait) for a larger head before deciding;
* with --signature ID: the inclusion proof of that signature's latest entry;
* with --since FILE: the consistency proof from a tree head saved earlier (--save-head FILE).

    python undersigned_verify.py https://letters.example.org/letters/SLUG --save-head today.json
    python undersigned_verify.py https://letters.example.org/letters/SLUG --since today.json --signature 42

Exit status: 0 when everything checks, 1 when something does not, 2 when the site cannot be read.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ENTRIES_PAGE = 1000
LIST_PAGE = 100
# Events that leave a signature on the list; the others take it off.
LIVE_EVENTS = {"add", "restore", "update"}
# How long to wait, at most, for the log to catch up with changes already on the list (the
# site says how many wait to be sequenced); how often to ask for a newer tree head meanwhile.
DEFAULT_WAIT = 60.0
POLL_SECONDS = 1.0
# How many times the signatures that changed while being read are read again.
SETTLE_ROUNDS = 5


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
    """A letter on a running site: where its API is, and the clock used to wait for its log."""

    base: str
    slug: str
    timeout: float = 30.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_url(cls, url: str) -> Site:
        """Site and slug from a letter's address, https://host/prefix/letters/SLUG."""
        parts = urllib.parse.urlsplit(url.rstrip("/"))
        prefix, marker, slug = parts.path.rpartition("/letters/")
        if not marker or not slug or "/" in slug:
            raise SystemExit(f"not a letter's address (…/letters/SLUG): {url}")
        return cls(urllib.parse.urlunsplit((parts.scheme, parts.netloc, prefix, "", "")), slug)

    def api(self, path: str, *, missing_ok: bool = False, **params: Any) -> Any:
        """GET a JSON document from the letter's API (None for a 404 when ``missing_ok``)."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{self.base}/api/v1/letters/{urllib.parse.quote(self.slug)}{path}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (http(s) only)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.load(response)
        except urllib.error.HTTPError as error:
            if missing_ok and error.code == 404:
                return None
            detail = error.read().decode(errors="replace")[:300]
            raise Unreadable(f"{url}: HTTP {error.code} {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise Unreadable(f"{url}: {error}") from None

    def signature(self, signature_id: int) -> dict[str, Any] | None:
        """One signature as the list shows it now, or None when it is not on the list."""
        found: dict[str, Any] | None = self.api(f"/signatures/{signature_id}", missing_ok=True)
        return found


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


def fetch_entries(site: Site, start: int, size: int) -> list[dict[str, Any]]:
    """Log entries start .. size-1."""
    entries: list[dict[str, Any]] = []
    while start + len(entries) < size:
        first = start + len(entries)
        page = site.api("/log/entries", start=first, end=min(size, first + ENTRIES_PAGE))
        got = page["entries"]
        if not got:
            raise Unreadable(f"the log served no entries from index {first} (tree size {size})")
        entries.extend(got)
    return entries[: size - start]


@dataclass
class Log:
    """The log as read so far: its entries up to the latest checked tree head, and each signature's latest entry."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    latest: dict[int, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    erased: set[int] = field(default_factory=set)

    def last_index(self, signature_id: int) -> int:
        """The index of the signature's latest entry, or -1 when the log has none."""
        found = self.latest.get(signature_id)
        return int(found[1]["index"]) if found else -1

    def extend(self, site: Site, report: Report, head: dict[str, Any]) -> bool:
        """Read the entries up to the head's tree size and check they make its root; False if they do not."""
        size = int(head["tree_size"])
        if size < len(self.entries):
            report.problem(f"the log shrank: a tree head of {len(self.entries)} entries, then one of {size}")
            return False
        for number, entry in enumerate(fetch_entries(site, len(self.entries), size), start=len(self.entries)):
            self._add(report, number, entry)
        root = root_from_leaf_hashes(self.hashes)
        if root != _hex(head["root_hash"]):
            report.problem(
                f"the {size} log entries make root {root.hex()}, not the signed root {head['root_hash']}: "
                "the log was changed after it was signed"
            )
            return False
        return True

    def _add(self, report: Report, number: int, entry: dict[str, Any]) -> None:
        if int(entry["index"]) != number:
            report.problem(f"entry {number} came with index {entry['index']}")
        self.entries.append(entry)
        self.hashes.append(leaf_hash(entry["leaf"].encode()))
        leaf = json.loads(entry["leaf"])
        signature = int(leaf["signature"])
        if entry.get("fields") is not None:
            if leaf.get("commitment") != commitment(entry["salt"], entry["fields"]):
                report.problem(f"entry {number}: the served fields and salt do not match the leaf's commitment")
            elif int(json.loads(entry["fields"]).get("id", -1)) != signature:
                report.problem(f"entry {number}: the fields are of another signature than the leaf's")
        if leaf["event"] == "erase":
            self.erased.add(signature)
        self.latest[signature] = (leaf, entry)

    def root_at(self, size: int) -> bytes:
        """The root hash of the first ``size`` entries read."""
        return root_from_leaf_hashes(self.hashes[:size])


def _signed_head(site: Site, report: Report, public_key: bytes) -> dict[str, Any] | None:
    """The current tree head, or None (with a problem reported) when its signature does not check."""
    head: dict[str, Any] = site.api("/log/head")
    if problem := check_head(head, public_key):
        report.problem(problem)
        return None
    return head


def check_log(
    site: Site,
    report: Report,
    *,
    pinned_key: bytes | None,
    signature_id: int | None,
    since: dict[str, Any] | None,
    wait: float = DEFAULT_WAIT,
) -> dict[str, Any] | None:
    """Run every check; returns the latest signed tree head it checked (None if none checked)."""
    key_doc = site.api("/log/key")
    public_key = base64.b64decode(key_doc["public_key"])
    if pinned_key is not None and public_key != pinned_key:
        report.problem(f"the site publishes key {key_id(public_key)}, not the pinned key {key_id(pinned_key)}")
        public_key = pinned_key
    # The log before the list is read: an entry past it records a change made after that.
    before = _signed_head(site, report, public_key)
    if before is None:
        return None
    listed = fetch_list(site)
    head = _signed_head(site, report, public_key)
    if head is None:
        return None
    log = Log()
    report.checked.append(
        f"tree head signed by key {key_id(public_key)}: {head['tree_size']} entries, root {head['root_hash']}"
    )
    before_size = int(before["tree_size"])
    if log.extend(site, report, head):
        report.checked.append(f"all {len(log.entries)} entries recomputed to the signed root hash")
        if before_size > len(log.entries) or log.root_at(before_size) != _hex(before["root_hash"]):
            report.problem(f"the tree head of {before_size} entries read first is not a prefix of the later one")

    on_list = {int(item["id"]): item for item in listed}
    found = _discrepancies(on_list, log)
    head, settled = _settle(site, report, public_key, log, head, on_list, found, before_size=before_size, wait=wait)
    for problem in found.values():
        report.problem(problem)
    live_listed = sum(1 for leaf, _ in log.latest.values() if leaf["event"] in LIVE_EVENTS and leaf.get("listed"))
    unlisted = sum(1 for leaf, _ in log.latest.values() if leaf["event"] in LIVE_EVENTS and not leaf.get("listed"))
    report.checked.append(
        f"{len(on_list)} listed signatures compared with the log's {live_listed} live listed entries "
        f"(and {unlisted} counted but unlisted)"
    )
    if settled:
        report.notes.append(
            f"{settled} signatures changed while the list was being read; each was read again and matches "
            f"its log entry made since (index {before_size} or later)"
        )
    uncovered = _uncovered(on_list, log)
    if uncovered:
        report.notes.append("fields on the list that the log does not cover: " + ", ".join(sorted(uncovered)))
    for number, entry in enumerate(log.entries):
        if entry.get("fields") is not None and int(json.loads(entry["leaf"])["signature"]) in log.erased:
            report.problem(f"entry {number}: the fields of an erased signature are still served")

    if signature_id is not None:
        _check_inclusion(site, report, head, signature_id, log.latest, on_list)
    if since is not None:
        _check_consistency(site, report, head, since, public_key)
    return head


def _mismatch(signature_id: int, item: dict[str, Any] | None, log: Log) -> str | None:
    """What is wrong between a signature as the list shows it (None: not on it) and its latest log entry."""
    latest = log.latest.get(signature_id)
    live = latest is not None and latest[0]["event"] in LIVE_EVENTS and bool(latest[0].get("listed"))
    if item is None:
        if latest is not None and live:
            return f"signature {signature_id} is live in the log (entry {latest[1]['index']}) but missing from the list"
        return None
    if latest is None:
        return f"signature {signature_id} ({item.get('name')!r}) is on the list but not in the log"
    leaf, entry = latest
    if not live:
        return (
            f"signature {signature_id} ({item.get('name')!r}) is on the list, but its latest log entry "
            f"({entry['index']}) is '{leaf['event']}'" + ("" if leaf.get("listed", True) else " (unlisted)")
        )
    if entry.get("fields") is None:
        return f"signature {signature_id} is listed but its log entry {entry['index']} is not opened"
    fields = json.loads(entry["fields"])
    differing = sorted(name for name, value in fields.items() if item.get(name) != value)
    if differing:
        shown = ", ".join(f"{name}: list {item.get(name)!r}, log {fields[name]!r}" for name in differing)
        return f"signature {signature_id}: the list does not match its log entry {entry['index']} ({shown})"
    return None


def _discrepancies(on_list: dict[int, dict[str, Any]], log: Log) -> dict[int, str]:
    """Every signature whose place on the list differs from its latest log entry, with what differs."""
    found = {}
    for signature_id, item in on_list.items():
        if (problem := _mismatch(signature_id, item, log)) is not None:
            found[signature_id] = problem
    for signature_id in log.latest:
        if signature_id not in on_list and (problem := _mismatch(signature_id, None, log)) is not None:
            found[signature_id] = problem
    return found


def _settle(
    site: Site,
    report: Report,
    public_key: bytes,
    log: Log,
    head: dict[str, Any],
    on_list: dict[int, dict[str, Any]],
    found: dict[int, str],
    *,
    before_size: int,
    wait: float,
) -> tuple[dict[str, Any], int]:
    """Read again the signatures whose difference the log itself explains; returns the latest head and how many.

    A difference is excused only when the log holds an entry of that signature at or past
    ``before_size``, the tree size signed before the list was read: the log proves the signature
    changed since. It is then read again and checked against a head fetched after that read. When
    the list is ahead of the log (a change made but not sequenced yet: the head's ``waiting``), the
    verifier waits for a larger tree head, at most ``wait`` seconds in all. Nothing is excused by
    the time of a change.
    """
    deadline = site.clock() + wait
    settled = 0
    for _ in range(SETTLE_ROUNDS):
        if not found:
            break
        if int(head.get("waiting") or 0) > 0:
            newer = _larger_head(site, report, public_key, head, deadline)
            if newer is not None:
                if not log.extend(site, report, newer):
                    return newer, settled
                head = newer
        explained = [signature_id for signature_id in found if log.last_index(signature_id) >= before_size]
        if not explained:
            break
        again = {signature_id: site.signature(signature_id) for signature_id in explained}
        newer = _signed_head(site, report, public_key)
        if newer is None or not log.extend(site, report, newer):
            return newer or head, settled
        head = newer
        for signature_id, item in again.items():
            if item is None:
                on_list.pop(signature_id, None)
            else:
                on_list[signature_id] = item
            problem = _mismatch(signature_id, item, log)
            if problem is None:
                del found[signature_id]
                settled += 1
            else:
                found[signature_id] = problem
    return head, settled


def _larger_head(
    site: Site, report: Report, public_key: bytes, head: dict[str, Any], deadline: float
) -> dict[str, Any] | None:
    """The first signed tree head larger than ``head``, polled until ``deadline``; None if none came."""
    size = int(head["tree_size"])
    while True:
        newer = _signed_head(site, report, public_key)
        if newer is None:
            return None
        if int(newer["tree_size"]) > size:
            return newer
        if site.clock() >= deadline:
            return None
        site.sleep(POLL_SECONDS)


def _uncovered(on_list: dict[int, dict[str, Any]], log: Log) -> set[str]:
    """Fields the list shows that the log's openings do not commit to."""
    uncovered: set[str] = set()
    for signature_id, item in on_list.items():
        latest = log.latest.get(signature_id)
        if latest is not None and latest[1].get("fields") is not None:
            uncovered |= set(item) - set(json.loads(latest[1]["fields"]))
    return uncovered


def _check_inclusion(
    site: Site,
    report: Report,
    head: dict[str, Any],
    signature_id: int,
    latest: dict[int, tuple[dict[str, Any], dict[str, Any]]],
    on_list: dict[int, dict[str, Any]],
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
    item = on_list.get(signature_id)
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
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help=f"when the list is ahead of the log, wait at most this long for the log to catch up ({DEFAULT_WAIT:g})",
    )
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
            wait=args.wait,
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
    if report.problems or head is None:
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
