"""Why a signature is off the list, in words: the one place for every label of a removal reason.

Two wordings, each where it is read: the option a moderator chooses in the queue, and the
name in the letter page's public tally (a word in a sentence, with withdrawals counted too).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.models import RemovalReason

# The options of the queue's form, for hiding or deleting.
CHOICES = {
    RemovalReason.FAKE: _l("Fake"),
    RemovalReason.DUPLICATE: _l("Duplicate"),
    RemovalReason.ABUSE: _l("Abuse"),
    RemovalReason.OTHER: _l("Other"),
}

# The public tally's names, by the reasons of services.queries.ledger.REMOVAL_REASONS.
TALLY_NAMES = {
    "fake": _l("fake"),
    "duplicate": _l("duplicate"),
    "abuse": _l("abuse"),
    "withdrawn": _l("withdrawn by the signer"),
    "other": _l("other"),
}
