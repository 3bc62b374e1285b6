"""A letter's dashboard for its moderators: signing and confirming over time, who signed, flags and removals."""

from __future__ import annotations

from flask import current_app, render_template
from flask_babel import lazy_gettext as _l

from app.db import db, utcnow
from app.moderation.blueprint import bp
from app.removal_reasons import CHOICES
from app.services import letters
from app.services.queries.dashboard import letter_dashboard

# The ranges of the time to confirm (app.services.stats.DELAY_BOUNDS), by their upper bound in seconds.
DELAY_WORDS = {
    60: _l("under a minute"),
    120: _l("1–2 minutes"),
    300: _l("2–5 minutes"),
    600: _l("5–10 minutes"),
    1800: _l("10–30 minutes"),
    3600: _l("30–60 minutes"),
    7200: _l("1–2 hours"),
    21600: _l("2–6 hours"),
    43200: _l("6–12 hours"),
    86400: _l("12–24 hours"),
    172800: _l("1–2 days"),
    604800: _l("2–7 days"),
    None: _l("more than a week"),
}
# Why signatures left the count (the public tallies' reasons).
REASON_WORDS = {**{str(reason): words for reason, words in CHOICES.items()}, "withdrawn": _l("Withdrawn by the signer")}


@bp.get("/letters/<slug>/dashboard")
def dashboard(slug: str) -> str:
    """The letter's numbers, drawn on the server as charts with their tables (any signed-in moderator)."""
    letter = letters.get_letter(db.session, slug)
    numbers = letter_dashboard(
        db.session, letter, now=utcnow(), retention_days=current_app.config["UNCONFIRMED_RETENTION_DAYS"]
    )
    return render_template(
        "moderate/dashboard.html",
        letter=letter,
        numbers=numbers,
        delay_rows=[(delay, delay.number) for delay in numbers.delays],
        delay_words=DELAY_WORDS,
        reason_words=REASON_WORDS,
    )
