"""Report a signature on the public list; moderators decide, nothing is hidden by a report."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from app.db import db, utcnow
from app.ratelimit import config_limit, limiter
from app.reports.forms import ReportForm
from app.services import letters, reports

bp = Blueprint("reports", __name__)

# A hard limit: past it a network gets 429 (reports fill the moderators' queue).
report_limit = limiter.limit(lambda: config_limit("RATELIMIT_REPORTS_PER_NETWORK"), methods=["POST"])


@bp.route("/letters/<slug>/signatures/<id:signature_id>/report", methods=["GET", "POST"], merge_slashes=False)
@report_limit
def report(slug: str, signature_id: int) -> Response | str | tuple[str, int]:
    """Ask moderators to look at one listed signature."""
    letter = letters.get_letter(db.session, slug)
    signature = reports.reportable_signature(db.session, letter, signature_id)
    form = ReportForm()
    if form.is_submitted():
        if not form.validate():
            return render_template("reports/report.html", letter=letter, signature=signature, form=form), 422
        reports.report_signature(
            db.session,
            letter,
            signature.id,
            reason=reports.ReportReason(form.reason.data),
            details=form.details.data or "",
            contact=form.normalised_email or None,
            now=utcnow(),
        )
        db.session.commit()
        return redirect(url_for(".reported", slug=letter.slug), 303)
    return render_template("reports/report.html", letter=letter, signature=signature, form=form)


@bp.get("/letters/<slug>/reported")
def reported(slug: str) -> str:
    """Thank you: moderators will look at it."""
    letter = letters.get_letter(db.session, slug)
    return render_template("reports/reported.html", letter=letter)
