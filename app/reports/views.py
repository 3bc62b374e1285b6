"""Report a signature on the public list, or say "that's not me" about one that names you.

Moderators decide. A report hides nothing; a dispute confirmed from an address that spells the
name takes the entry off the list until they have (see app.services.disputes).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import get_locale
from werkzeug.wrappers import Response

from app.db import db, utcnow
from app.mail import compose, outbox
from app.models import Signature
from app.ratelimit import config_limit, limiter, over_soft_limit, private_key
from app.reports.forms import DisputeForm, ReportForm
from app.services import disputes, letters, reports

bp = Blueprint("reports", __name__)

# A hard limit: past it a network gets 429 (reports fill the moderators' queue).
report_limit = limiter.limit(lambda: config_limit("RATELIMIT_REPORTS_PER_NETWORK"), methods=["POST"])
# Each dispute mails an address someone typed: a hard limit per network, and the quiet limit per
# address that every form which sends mail shares (RATELIMIT_MAIL_PER_ADDRESS).
dispute_limit = limiter.limit(lambda: config_limit("RATELIMIT_DISPUTES_PER_NETWORK"), methods=["POST"])
DISPUTE_LINK_HOURS = 48


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


@bp.route("/letters/<slug>/signatures/<id:signature_id>/dispute", methods=["GET", "POST"], merge_slashes=False)
@dispute_limit
def dispute(slug: str, signature_id: int) -> Response | str | tuple[str, int]:
    """ "That's not me": the person a listed entry names asks for it to come down."""
    letter = letters.get_letter(db.session, slug)
    signature = reports.reportable_signature(db.session, letter, signature_id)
    form = DisputeForm()
    if form.is_submitted():
        if not form.validate():
            return render_template("reports/dispute.html", letter=letter, signature=signature, form=form), 422
        address = form.normalised_email
        # Past the quiet limit the answer is the same, and no mail goes out.
        if not over_soft_limit("RATELIMIT_MAIL_PER_ADDRESS", private_key(address.casefold())):
            now = utcnow()
            made, raw = disputes.start(
                db.session,
                letter,
                signature.id,
                email=address,
                statement=form.statement.data or "",
                locale=str(get_locale()),
                now=now,
                lifetime=timedelta(hours=DISPUTE_LINK_HOURS),
            )
            mail = compose.dispute_confirmation(made, raw, hours=DISPUTE_LINK_HOURS)
            outbox.enqueue(db.session, address, mail, kind="dispute", now=now)
            db.session.commit()
        return redirect(url_for(".dispute_sent", slug=letter.slug), 303)
    return render_template("reports/dispute.html", letter=letter, signature=signature, form=form)


@bp.get("/letters/<slug>/dispute-sent")
def dispute_sent(slug: str) -> str:
    """Check your inbox: the link that confirms the dispute is on its way."""
    letter = letters.get_letter(db.session, slug)
    return render_template("reports/dispute_sent.html", letter=letter)


@bp.route("/disputes/<token:token>", methods=["GET", "POST"])
@dispute_limit
def dispute_confirm(token: str) -> str:
    """The link from the mail: a button that confirms (a GET changes nothing, so link scanners do no harm)."""
    found = disputes.find(db.session, token, now=utcnow())
    outcome = None
    if request.method == "POST":
        now = utcnow()
        outcome = disputes.confirm(db.session, found, now=now)
        if outcome == disputes.Outcome.HIDDEN:
            _tell_the_signer(found.signature, found.email, now=now)
        db.session.commit()
    elif found.confirmed_at is not None:
        outcome = disputes.Outcome.ALREADY
    return render_template(
        "reports/dispute_confirm.html",
        letter=found.letter,
        name=found.signature.name,
        outcome=str(outcome) if outcome else None,
    )


def _tell_the_signer(signature: Signature, disputer: str, *, now: datetime) -> None:
    """Mail the signer whose entry a dispute took off the list: what happened, and their page to answer on.

    Quietly skipped past the address's mail limit, or for a signature without a page to answer on.
    """
    if not (signature.email and signature.page_key):
        return
    if over_soft_limit("RATELIMIT_MAIL_PER_ADDRESS", private_key(signature.email.casefold())):
        return
    domain = disputer.rpartition("@")[2].lower()
    mail = compose.dispute_notice(signature, domain)
    outbox.enqueue(db.session, signature.email, mail, kind="dispute_notice", now=now, signature=signature)
