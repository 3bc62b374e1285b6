"""Sign, check your inbox, confirm, ask for a new link, withdraw."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from markupsafe import Markup
from werkzeug.wrappers import Response

from app.bots import current_captcha, new_ask_stamp, read_fill_time, should_ask, suspect_reason
from app.db import db, utcnow
from app.errors import N_, LetterClosed, TokenProblem
from app.extensions import csrf
from app.forms.signing import AddressForm, AnswerForm, DetailsForm, SignForm
from app.letters.views import render_letter
from app.mail.links import page_key_of, page_token
from app.models import Letter, Signature, SignatureStatus
from app.ratelimit import client_network_key, config_limit, limiter, over_soft_limit, private_key
from app.services import disputes, flags, letters, link_requests, own_signature, signing, updates, withdrawal
from app.services.tokens import TokenLifetimes
from app.text import mask_address
from app.urls import external_url
from app.web import refuse_other_sites

bp = Blueprint("signing", __name__)


def _over_limit(setting: str, key: str) -> bool:
    """One hit in a flag's shared window (names and addresses counted by a keyed hash): is it full?"""
    return over_soft_limit(setting, private_key(key))


def _may_mail(key: str) -> bool:
    """Whether this address may get another mail now (a quiet limit: the answer is the same)."""
    return not over_soft_limit("RATELIMIT_MAIL_PER_ADDRESS", private_key(key))


# The session remembers, for the "check your inbox" page, where the link went: masked, and only
# for the letter it was sent for. The page is the same whether or not the address signed before.
SENT_TO = "sent_to"


def _remember_address(letter: Letter, address: str) -> None:
    session[SENT_TO] = [letter.slug, mask_address(address)]


def _queue(kind: str, letter: Letter, address: str) -> None:
    """Record a request for a new link; the worker answers it (see app.services.link_requests)."""
    key = signing.email_key(address)
    link_requests.queue_request(db.session, kind, letter, key, now=utcnow(), allowed=_may_mail(key))
    db.session.commit()


# Hard limits protect the server itself: past them a network gets 429 and a time to come back.
sign_limit = limiter.limit(lambda: config_limit("RATELIMIT_SIGN_PER_NETWORK"), methods=["POST"])
forms_limit = limiter.shared_limit(
    lambda: config_limit("RATELIMIT_FORMS_PER_NETWORK"), scope="address-forms", methods=["POST"]
)


@bp.post("/letters/<slug>/sign")
@sign_limit
@db.reads_first
def sign(slug: str) -> Response | str | tuple[str, int]:
    """Take a signature; the answer is the same whether or not the address signed before.

    Everything but the writes happens first, outside the write transaction: the checks, the
    flags' lookups and the new signer's mail. The writes are then a few INSERTs. The form has
    no session token (its page is the same for everyone): a browser's form from another site
    is refused by where it comes from.
    """
    refuse_other_sites()
    letter = letters.get_letter(db.session, slug)
    if letter.is_closed(utcnow()):
        raise LetterClosed()
    form = SignForm()
    if not form.validate():
        return render_letter(letter, form=form), 422
    fill_time = read_fill_time(form.started.data, form.asked.data)
    timing = fill_time.problem
    if should_ask(form.website.data, form.asked.data, timing):
        # Sent back faster than a person types: ask once, with every field kept, instead of holding it.
        return render_template(
            "signing/ask.html",
            letter=letter,
            form=form,
            asked=new_ask_stamp(),
            address=mask_address(form.normalised_email),
            captcha=current_captcha(),
        )
    data = form.to_input(str(get_locale()))
    network = client_network_key()
    raised = flags.assess(
        db.session,
        letter,
        name=data.name,
        email_domain=data.email_key.rpartition("@")[2],
        affiliation=data.affiliation,
        over_limit=_over_limit,
    )
    burst = flags.network_burst(_over_limit, letter, network)
    screening = signing.Screening(
        suspect_reason=suspect_reason(form.website.data, timing),
        network_hash=network,
        fill_seconds=fill_time.seconds,
        may_mail=_may_mail(data.email_key),
        flags=tuple(raised) + ((burst,) if burst else ()),
    )
    ttl = TokenLifetimes.from_config(current_app.config)
    mails = screening.may_mail and not screening.suspect_reason
    draft = signing.draft_confirmation(letter, data, ttl) if mails else None
    writing = db.begin_write()
    signing.sign(
        writing,
        letter,
        data,
        now=utcnow(),
        ttl=ttl,
        screening=screening,
        draft=draft,
        list_flagged=current_app.config["LIST_FLAGGED"],
    )
    writing.commit()
    _remember_address(letter, data.email)
    return redirect(url_for(".check_inbox", slug=letter.slug), 303)


csrf.exempt(sign)  # refused by where it comes from instead: see refuse_other_sites


@bp.get("/letters/<slug>/signed")
def check_inbox(slug: str) -> str:
    """After signing: the link is in the mail."""
    letter = letters.get_letter(db.session, slug)
    sent_to = session.get(SENT_TO)
    address = None
    if isinstance(sent_to, list) and len(sent_to) == 2 and sent_to[0] == slug:
        address = Markup('<strong class="sent-to">{}</strong>').format(sent_to[1])
    return render_template(
        "signing/check_inbox.html",
        letter=letter,
        address=address,
        days=TokenLifetimes.from_config(current_app.config).confirm.days,
    )


@bp.route("/letters/<slug>/resend", methods=["GET", "POST"])
@forms_limit
def resend(slug: str) -> Response | str | tuple[str, int]:
    """Ask for a new confirmation link; the answer never says whether the address signed."""
    letter = letters.get_letter(db.session, slug)
    form = AddressForm()
    if form.is_submitted():
        if not form.validate():
            return render_template("signing/resend.html", letter=letter, form=form), 422
        if letter.is_closed(utcnow()):
            raise LetterClosed()
        _queue(link_requests.RESEND, letter, form.normalised_email)
        _remember_address(letter, form.normalised_email)
        return redirect(url_for(".check_inbox", slug=letter.slug), 303)
    return render_template("signing/resend.html", letter=letter, form=form)


def _confirmed_page(outcome: signing.Confirmation, *, already: bool) -> str:
    """Thanks, the signer's place and the count, their own entry, and a way to share: no dead end."""
    signature = outcome.signature
    letter = signature.letter
    pending = signature.status == SignatureStatus.PENDING
    # A private letter (not launched yet) has no public page to link to or share.
    listed = signature.listed and not letter.draft
    return render_template(
        "signing/confirmed.html",
        letter=letter,
        private=letter.draft,
        already=already,
        pending=pending,
        # Counted, and named on the list once a moderator has looked at it.
        awaiting_review=signature.status == SignatureStatus.CONFIRMED and signature.unlisted_until_review,
        place=outcome.place,
        letter_url=external_url("letters.letter", slug=letter.slug),
        entry_url=url_for("letters.signature", slug=letter.slug, signature_id=signature.id) if listed else None,
        own_url=_own_url(signature),
    )


@bp.get("/confirm/<token:token>")
def confirm_page(token: str) -> str:
    """A page with one button: mail scanners open links, only people press buttons."""
    outcome = signing.check_confirmation_token(db.session, token, now=utcnow())
    if outcome.already_confirmed:
        return _confirmed_page(outcome, already=True)
    return render_template("signing/confirm.html", letter=outcome.signature.letter, signature=outcome.signature)


@bp.post("/confirm/<token:token>")
def confirm(token: str) -> str:
    """Confirm the signature; doing it twice is harmless."""
    outcome = signing.confirm(db.session, token, now=utcnow())
    db.session.commit()
    return _confirmed_page(outcome, already=outcome.already_confirmed)


@bp.route("/letters/<slug>/withdraw", methods=["GET", "POST"])
@forms_limit
def request_withdrawal(slug: str) -> Response | str | tuple[str, int]:
    """Ask for a link that withdraws a signature; the answer never says whether the address signed."""
    letter = letters.get_letter(db.session, slug)
    form = AddressForm()
    if form.is_submitted():
        if not form.validate():
            return render_template("signing/withdraw_request.html", letter=letter, form=form), 422
        _queue(link_requests.WITHDRAW, letter, form.normalised_email)
        return redirect(url_for(".withdrawal_requested", slug=letter.slug), 303)
    return render_template("signing/withdraw_request.html", letter=letter, form=form)


@bp.get("/letters/<slug>/withdraw/sent")
def withdrawal_requested(slug: str) -> str:
    """After asking to withdraw: the link is in the mail, if the address signed."""
    letter = letters.get_letter(db.session, slug)
    return render_template(
        "signing/withdraw_requested.html",
        letter=letter,
        days=TokenLifetimes.from_config(current_app.config).withdraw.days,
    )


@bp.get("/withdraw/<token:token>")
def withdraw_page(token: str) -> str:
    """A page with one button, as for confirming: opening the link alone changes nothing."""
    signature = withdrawal.check_withdrawal_token(db.session, token, now=utcnow())
    return render_template("signing/withdraw.html", letter=signature.letter, signature=signature)


@bp.post("/withdraw/<token:token>")
def withdraw(token: str) -> str:
    """Withdraw the signature and erase its details."""
    letter = withdrawal.withdraw(db.session, token, now=utcnow())
    db.session.commit()
    return render_template("signing/withdrawn.html", letter=letter)


def _subscriber(token: str) -> Signature:
    signature = updates.find_subscriber(db.session, current_app.config["SECRET_KEY"], token)
    if signature is None:
        raise TokenProblem(purpose="unsubscribe")
    return signature


@bp.get("/unsubscribe/<token:token>")
def unsubscribe_page(token: str) -> str:
    """A page with one button: link scanners open links, only people (and mail programs) POST."""
    signature = _subscriber(token)
    return render_template("signing/unsubscribe.html", letter=signature.letter, done=False)


# Exempt from CSRF on purpose: RFC 8058's one-click unsubscribe is a POST that the mail program
# makes with the body "List-Unsubscribe=One-Click" and no CSRF token. The token in the URL is the
# proof instead: only the signer's mailbox has it, and all it can do is stop update mail.
@bp.post("/unsubscribe/<token:token>")
def unsubscribe(token: str) -> str:
    """Stop the letter's update mail to this signer (one-click, RFC 8058); doing it twice is harmless."""
    signature = _subscriber(token)
    letter = signature.letter
    updates.unsubscribe(db.session, signature)
    db.session.commit()
    return render_template("signing/unsubscribe.html", letter=letter, done=True)


csrf.exempt(unsubscribe)


def _own_url(signature: Signature) -> str | None:
    """The address of the signer's own page (None for a signature without one)."""
    if not signature.page_key:
        return None
    return url_for("signing.own_page", token=page_token(signature.page_key))


def _own(token: str) -> Signature:
    """The signature whose page ``token`` opens, or a TokenProblem."""
    key = page_key_of(token)
    if key is None:
        raise TokenProblem(N_("This link is not valid. It may have been copied incompletely."), purpose="page")
    return own_signature.find(db.session, key)


# What the signer's page says after a change (its ?done=).
DONE = ("saved", "review", "flagged", "nothing", "updates-on", "updates-off", "answered")


@bp.get("/signature/<token:token>")
def own_page(token: str) -> str:
    """The signer's own page: where the signature stands, what it shows, and what they may change."""
    signature = _own(token)
    letter = signature.letter
    standing = own_signature.standing(signature)
    done = request.args.get("done", "")
    disputed = bool(disputes.open_flags(db.session, signature.id))
    return render_template(
        "signing/own.html",
        disputed=disputed,
        answer_form=AnswerForm() if disputed else None,
        letter=letter,
        signature=signature,
        standing=standing,
        hidden_reason=own_signature.hidden_reason(signature),
        address=mask_address(signature.email),
        done=done if done in DONE else None,
        may_change=own_signature.may_change(signature),
        may_choose_updates=own_signature.may_choose_updates(signature),
        entry_url=(
            url_for("letters.signature", slug=letter.slug, signature_id=signature.id)
            if standing == own_signature.Standing.LISTED
            else None
        ),
        token=token,
    )


@bp.post("/signature/answer/<token:token>")
def own_answer(token: str) -> Response | tuple[str, int]:
    """The signer's side of a "that's not me" dispute, put beside it in the moderators' queue."""
    signature = _own(token)
    form = AnswerForm()
    if not form.validate():
        return render_template("signing/own_answer.html", letter=signature.letter, form=form, token=token), 422
    if not disputes.answer(db.session, signature.id, form.answer.data or ""):
        return redirect(url_for(".own_page", token=token), 303)
    db.session.commit()
    return redirect(url_for(".own_page", token=token, done="answered"), 303)


@bp.route("/signature/edit/<token:token>", methods=["GET", "POST"])
def own_edit(token: str) -> Response | str | tuple[str, int]:
    """Change what the list shows of the signature: the same fields and rules as the signing form."""
    signature = _own(token)
    if not own_signature.may_change(signature):
        raise own_signature.NotChangeable()
    form = DetailsForm(obj=signature)
    if form.validate_on_submit():
        outcome = own_signature.change_details(
            db.session,
            signature,
            form.to_details(),
            now=utcnow(),
            over_limit=_over_limit,
            list_flagged=current_app.config["LIST_FLAGGED"],
        )
        db.session.commit()
        return redirect(url_for(".own_page", token=token, done=str(outcome)), 303)
    status = 422 if form.is_submitted() else 200
    return render_template(
        "signing/own_edit.html",
        letter=signature.letter,
        signature=signature,
        form=form,
        token=token,
        reviewed=signature.letter.moderation_mode == "pre",
    ), status


@bp.post("/signature/updates/<token:token>")
def own_updates(token: str) -> Response:
    """Start or stop the letter's update mail to this signer."""
    signature = _own(token)
    wanted = request.form.get("wanted") == "yes"
    own_signature.choose_updates(db.session, signature, wanted=wanted)
    db.session.commit()
    return redirect(url_for(".own_page", token=token, done="updates-on" if wanted else "updates-off"), 303)


@bp.route("/signature/withdraw/<token:token>", methods=["GET", "POST"])
def own_withdraw(token: str) -> str:
    """Withdraw from the signer's page: a page with one button, as the withdrawal link has."""
    signature = _own(token)
    if request.method == "POST":
        letter = own_signature.withdraw(db.session, signature, now=utcnow())
        db.session.commit()
        return render_template("signing/withdrawn.html", letter=letter)
    return render_template(
        "signing/withdraw.html",
        letter=signature.letter,
        signature=signature,
        back_url=url_for(".own_page", token=token),
    )


@bp.errorhandler(TokenProblem)
def token_problem(error: TokenProblem) -> tuple[str, int]:
    """A bad, used or expired link: say so, and offer a new one."""
    letter = letters.find_letter(db.session, error.letter_slug) if error.letter_slug else None
    letter = letter or letters.featured_letter(db.session)
    return render_template("signing/token_problem.html", error=error, letter=letter), error.status_code


OWN_PAGES = ("signing.own_page", "signing.own_edit", "signing.own_updates", "signing.own_withdraw")


@bp.after_request
def no_referrer_on_token_pages(response: Response) -> Response:
    """Pages under a secret link never leak it to another site through the Referer header."""
    if request.endpoint in {
        "signing.confirm_page",
        "signing.confirm",
        "signing.withdraw_page",
        "signing.withdraw",
        "signing.unsubscribe_page",
        "signing.unsubscribe",
        *OWN_PAGES,
    }:
        response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint in OWN_PAGES:
        # The signer's own: never kept by a browser or a cache, never indexed.
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Robots-Tag"] = "noindex"
    return response
