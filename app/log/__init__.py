"""The tamper-evident public log: every change to a letter's public list, in a signed Merkle tree.

How it works, in the manner of Certificate Transparency (RFC 6962 / 9162):

* **Events.** The transaction that changes a signature's place on the list appends an
  unsequenced ``LogEvent`` (``record``): ``add`` (it appears), ``hide`` (a moderator hid it),
  ``restore``, ``update`` (a public field changed: the verified mark; a signature counted while
  it awaited review is now listed, or back to awaiting review; or the signer's own change of what
  is shown, which also withdraws the openings of their earlier entries) and ``erase`` (withdrawn by
  the signer or removed for good by a moderator, with ``reason``). ``counting.move`` and
  ``signing.confirm`` call ``on_move``, so nothing changes the list without an event. Inserting
  a row takes no lock that other signings wait for.
* **Leaves.** Each event's leaf is canonical JSON (keys sorted, no spaces, UTF-8, times as in
  the API): ``{"at", "commitment", "event", "listed", "signature", "v": 1}`` and ``"reason"`` for
  an erasure. ``commitment`` is SHA-256(salt || fields), hex, where ``salt`` is 32 random bytes
  and ``fields`` the canonical JSON of the signature's public fields exactly as the API lists
  them (``public_fields``). A signature counted but not named (``public`` unticked, or kept
  off the list until a moderator reviews it: ``Signature.listed``) gets ``"listed": false`` and
  no commitment: the log counts it without naming it. Hide and erase
  entries commit to nothing.
* **Openings.** The entries API serves ``fields`` and ``salt`` for the latest entry of each
  signature on the list, so anyone can check the list against the log. Erasure deletes the salt
  and fields of every entry of the signature: the leaves (hashes of a commitment) stay, so the
  tree is unchanged, and a 256-bit salt keeps the name from being guessed back. Hiding does the
  same (``on_move``): a signature hidden as fake or abusive (an impersonation, a defamatory
  comment) is opened nowhere, neither in the entries nor in the snapshots taken before; a
  restore records a fresh opening, with a new salt, as an addition does.
* **Sequencing.** ``sequence_letter`` gives waiting events the next leaf indices, stores their
  leaf hashes and every subtree they complete (``LogNode``), and signs a tree head (``LogHead``,
  Ed25519) per batch. It holds the letter's ``LogState`` row lock (SQLite: the write
  transaction), so two workers never interleave. The mail worker runs it every poll, and
  ``flask log sequence`` on demand.
* **Proofs** read O(log n) stored subtree hashes in one query (see app.log.merkle).

The modules: ``events`` (leaves and openings, appended with each change), ``heads`` (the key
and signed tree heads), ``sequencing``, ``store`` (the size and subtree hashes the others
share), ``proofs`` (entries and proofs as the API serves them), ``audit`` (``flask log
verify``), ``snapshots`` (open data) and ``merkle`` (the tree's arithmetic). Callers use the
names below, from ``app.log``. Nothing here reads the app's configuration: the signing key is
an argument, and whether changes are logged comes with the session (``events.enabled``).
"""

from app.log.audit import Check, check
from app.log.events import (
    ERASED,
    LIVE_EVENTS,
    VERSION,
    canonical,
    commitment,
    enabled,
    erase,
    fields_of,
    new_event,
    new_events,
    on_move,
    on_names_hidden,
    on_names_shown,
    on_own_change,
    on_unlisted,
    on_update,
    public_fields,
    record,
)
from app.log.heads import SigningKey, current_head, generate_key_text, head_at, head_json, sign_head, signed_message
from app.log.proofs import (
    MAX_ENTRIES,
    MAX_POSITION,
    NotInLog,
    consistency_proof,
    entries,
    entry_at,
    inclusion_proof,
    latest_entry,
)
from app.log.sequencing import events_waiting, letters_waiting, sequence_letter
from app.log.snapshots import (
    SNAPSHOT_COLUMNS,
    SNAPSHOT_FIELDS,
    letter_snapshots,
    snapshot,
    snapshot_rows,
    take_snapshot,
)
from app.log.store import delete_letter_log, tree_size

__all__ = [
    "ERASED",
    "LIVE_EVENTS",
    "MAX_ENTRIES",
    "MAX_POSITION",
    "SNAPSHOT_COLUMNS",
    "SNAPSHOT_FIELDS",
    "VERSION",
    "Check",
    "NotInLog",
    "SigningKey",
    "canonical",
    "check",
    "commitment",
    "consistency_proof",
    "current_head",
    "delete_letter_log",
    "enabled",
    "entries",
    "entry_at",
    "erase",
    "events_waiting",
    "fields_of",
    "generate_key_text",
    "head_at",
    "head_json",
    "inclusion_proof",
    "latest_entry",
    "letter_snapshots",
    "letters_waiting",
    "new_event",
    "new_events",
    "on_move",
    "on_names_hidden",
    "on_names_shown",
    "on_own_change",
    "on_unlisted",
    "on_update",
    "public_fields",
    "record",
    "sequence_letter",
    "sign_head",
    "signed_message",
    "snapshot",
    "snapshot_rows",
    "take_snapshot",
    "tree_size",
]
