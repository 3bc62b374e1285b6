"""One small function per email; each has its own subject, text and HTML templates."""

from __future__ import annotations

from typing import Any, Protocol

from flask import current_app, render_template
from flask_babel import force_locale

from app.mail.message import Email
from app.models import Letter, LetterUpdate, LetterVersion, Signature, TokenLifetimes
from app.urls import external_url


def _render(name: str, locale: str, **context: Any) -> Email:
    """Render a message in ``locale``, with the letter's title in that language when it has a translation."""
    context.setdefault("site_name", current_app.config["SITE_NAME"])
    context.setdefault("title", context["letter"].text_in(locale).title)
    with force_locale(locale):
        subject = render_template(f"mail/{name}.subject.txt", **context)
        return Email(
            # A subject is one line, whatever a template or a title holds.
            subject=" ".join(subject.split()),
            text=render_template(f"mail/{name}.txt", **context),
            html=render_template(f"mail/{name}.html", **context),
        )


class Signer(Protocol):
    """What the confirmation mail says about the signer: a stored signature, or the form's details.

    The mail shows every one of these (see ``app.web.signature_details``): the link confirms
    them all, so none may be hidden from the owner of the address.
    """

    @property
    def name(self) -> str: ...
    @property
    def email_domain(self) -> str: ...
    @property
    def affiliation(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...
    @property
    def comment(self) -> str | None: ...
    @property
    def public(self) -> bool: ...
    @property
    def show_domain(self) -> bool: ...
    @property
    def wants_updates(self) -> bool: ...
    @property
    def locale(self) -> str: ...


def confirmation(signer: Signer, letter: Letter, confirm_token: str, withdraw_token: str) -> Email:
    """The mail with the link that confirms a signature, and the one that takes it back.

    ``signer`` may be the form's details (``SignatureInput``): a new signer's mail is written
    before the signature is stored, so that the write transaction stays short.
    """
    return _render(
        "confirm",
        signer.locale,
        signature=signer,
        letter=letter,
        # The pages behind the links speak the signer's language, whatever the browser that opens them says.
        confirm_url=external_url("signing.confirm", token=confirm_token, lang=signer.locale),
        withdraw_url=external_url("signing.withdraw", token=withdraw_token, lang=signer.locale),
        days=TokenLifetimes.from_config(current_app.config).confirm.days,
    )


def withdrawal_link(signature: Signature, raw_token: str) -> Email:
    """The mail with the single-use link that withdraws a signature."""
    return _render(
        "withdraw",
        signature.locale,
        signature=signature,
        letter=signature.letter,
        withdraw_url=external_url("signing.withdraw", token=raw_token, lang=signature.locale),
        days=TokenLifetimes.from_config(current_app.config).withdraw.days,
    )


def already_signed(signature: Signature, withdraw_token: str) -> Email:
    """The note to an address that signed already (someone used it on the form again)."""
    return _render(
        "already_signed",
        signature.locale,
        signature=signature,
        letter=signature.letter,
        letter_url=external_url("letters.letter", slug=signature.letter.slug, lang=signature.locale),
        withdraw_url=external_url("signing.withdraw", token=withdraw_token, lang=signature.locale),
    )


def update(signature: Signature, letter_update: LetterUpdate, unsubscribe_token: str) -> Email:
    """An update about a letter the signer signed, with the link (and the headers) that stop these mails."""
    url = external_url("signing.unsubscribe", token=unsubscribe_token, lang=signature.locale)
    email = _render(
        "update",
        signature.locale,
        signature=signature,
        letter=signature.letter,
        update=letter_update,
        letter_url=external_url("letters.letter", slug=signature.letter.slug, lang=signature.locale),
        unsubscribe_url=url,
    )
    # RFC 2369 and RFC 8058: mail programs show an "unsubscribe" button that POSTs to the link.
    headers = {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return Email(email.subject, email.text, email.html, headers)


def material_change(signature: Signature, version: LetterVersion, withdraw_token: str) -> Email:
    """The note to a signer who asked for updates: the letter's text changed in substance since they signed."""
    letter = signature.letter
    return _render(
        "material_change",
        signature.locale,
        signature=signature,
        letter=letter,
        version=version,
        diff_url=external_url("letters.version_diff", slug=letter.slug, number=version.number, lang=signature.locale),
        signed_url=external_url(
            "letters.version", slug=letter.slug, number=signature.letter_version, lang=signature.locale
        ),
        withdraw_url=external_url("signing.withdraw", token=withdraw_token, lang=signature.locale),
        days=TokenLifetimes.from_config(current_app.config).withdraw.days,
    )
