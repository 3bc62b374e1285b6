"""One small function per email; each has its own subject, text and HTML templates."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from flask import render_template
from flask_babel import force_locale

from app.mail.links import page_url
from app.mail.message import Email
from app.mail.outbox import sender_domain
from app.models import Dispute, Letter, LetterUpdate, LetterVersion, ModeratorRole, Signature
from app.text import markdown_as_text
from app.urls import external_url


def _render(name: str, locale: str, **context: Any) -> Email:
    """Render a message in ``locale``, with the letter's title in that language when it has a translation."""
    if "title" not in context and "letter" in context:
        context["title"] = context["letter"].text_in(locale).title
    with force_locale(locale):
        subject = render_template(f"mail/{name}.subject.txt", **context)
        return Email(
            # A subject is one line, whatever a template or a title holds.
            subject=" ".join(subject.split()),
            text=render_template(f"mail/{name}.txt", **context),
            html=render_template(f"mail/{name}.html", **context),
        )


def list_headers(letter: Letter, unsubscribe_url: str) -> dict[str, str]:
    """The headers of a letter's update mail: which list it is (RFC 2919) and how to leave it (RFC 2369, 8058).

    Mail programs show an "unsubscribe" button that POSTs to the link; spam filters expect a
    List-Id beside List-Unsubscribe. The list's name is the letter's title when it is ASCII
    (a header's words would otherwise be encoded, angle brackets and all).
    """
    list_id = f"<{letter.slug}.letters.{sender_domain()}>"
    title = letter.title.replace("\\", "").replace('"', "")
    return {
        "List-Id": f'"{title}" {list_id}' if title.isascii() and title.isprintable() else list_id,
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


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


def confirmation(
    signer: Signer, letter: Letter, confirm_token: str, withdraw_token: str, *, days: int, page_key: str | None
) -> Email:
    """The mail with the link that confirms a signature, the one that takes it back, and the signer's page.

    ``signer`` may be the form's details (``SignatureInput``): a new signer's mail is written
    before the signature is stored, so that the write transaction stays short; ``page_key`` is
    the one it will be stored with. ``days`` is how long the confirmation link works.
    """
    return _render(
        "confirm",
        signer.locale,
        signature=signer,
        letter=letter,
        # The pages behind the links speak the signer's language, whatever the browser that opens them says.
        confirm_url=external_url("signing.confirm", token=confirm_token, lang=signer.locale),
        withdraw_url=external_url("signing.withdraw", token=withdraw_token, lang=signer.locale),
        page_url=page_url(page_key, signer.locale),
        days=days,
    )


def withdrawal_link(signature: Signature, raw_token: str, *, days: int) -> Email:
    """The mail with the single-use link that withdraws a signature, working for ``days`` days."""
    return _render(
        "withdraw",
        signature.locale,
        signature=signature,
        letter=signature.letter,
        withdraw_url=external_url("signing.withdraw", token=raw_token, lang=signature.locale),
        page_url=page_url(signature.page_key, signature.locale),
        days=days,
    )


def already_signed(signature: Signature, withdraw_token: str) -> Email:
    """The note to an address that signed already (someone used it on the form again)."""
    return _render(
        "already_signed",
        signature.locale,
        signature=signature,
        letter=signature.letter,
        # A private letter (signed by invitation before its launch) has no public page to link to yet.
        letter_url=(
            None
            if signature.letter.draft
            else external_url("letters.letter", slug=signature.letter.slug, lang=signature.locale)
        ),
        withdraw_url=external_url("signing.withdraw", token=withdraw_token, lang=signature.locale),
        page_url=page_url(signature.page_key, signature.locale),
    )


def _news(name: str, signature: Signature, letter_update: LetterUpdate, unsubscribe_token: str) -> Email:
    """News about a letter the signer signed, with the link (and the headers) that stop these mails."""
    url = external_url("signing.unsubscribe", token=unsubscribe_token, lang=signature.locale)
    email = _render(
        name,
        signature.locale,
        signature=signature,
        letter=signature.letter,
        update=letter_update,
        # The text part is text: the Markdown's markup gone, each link's address on a line of its own.
        update_text=markdown_as_text(letter_update.body_markdown),
        letter_url=external_url("letters.letter", slug=signature.letter.slug, lang=signature.locale),
        page_url=page_url(signature.page_key, signature.locale),
        unsubscribe_url=url,
    )
    return Email(email.subject, email.text, email.html, list_headers(signature.letter, url))


def update(signature: Signature, letter_update: LetterUpdate, unsubscribe_token: str) -> Email:
    """An update about a letter the signer signed, with the link (and the headers) that stop these mails."""
    return _news("update", signature, letter_update, unsubscribe_token)


def response(signature: Signature, letter_update: LetterUpdate, unsubscribe_token: str) -> Email:
    """The addressee's response to a letter the signer signed: who answered, when, where it was published.

    It is update mail: the same signers get it, and the same link and headers stop it.
    """
    return _news("response", signature, letter_update, unsubscribe_token)


def material_change(
    signature: Signature, version: LetterVersion, withdraw_token: str, unsubscribe_token: str, *, days: int
) -> Email:
    """The note to a signer who asked for updates: the letter's text changed in substance since they signed.

    It is update mail too: the link and headers that stop the updates stop it as well. The
    withdrawal link works for ``days`` days.
    """
    letter = signature.letter
    url = external_url("signing.unsubscribe", token=unsubscribe_token, lang=signature.locale)
    email = _render(
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
        page_url=page_url(signature.page_key, signature.locale),
        days=days,
        unsubscribe_url=url,
    )
    return Email(email.subject, email.text, email.html, list_headers(letter, url))


def dispute_confirmation(dispute: Dispute, raw_token: str, *, hours: int) -> Email:
    """The mail that asks whoever disputed an entry ("that's not me") to confirm it from this address."""
    return _render(
        "dispute",
        dispute.locale,
        letter=dispute.letter,
        signer_name=dispute.signature.name,
        lang=dispute.locale,
        confirm_url=external_url("reports.dispute_confirm", token=raw_token, lang=dispute.locale),
        hours=hours,
    )


def dispute_notice(signature: Signature, domain: str) -> Email:
    """The mail to a signer whose entry a "that's not me" took off the list: what happened, and where to answer."""
    return _render(
        "dispute_notice",
        signature.locale,
        letter=signature.letter,
        domain=domain,
        lang=signature.locale,
        page_url=page_url(signature.page_key, signature.locale),
    )


def notification_headers(unsubscribe_url: str) -> dict[str, str]:
    """The headers of an organiser notification: the site's notifications list, and one-click unsubscribe (RFC 8058)."""
    return {
        "List-Id": f"<notifications.letters.{sender_domain()}>",
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def _notification(name: str, locale: str, token: str, **context: Any) -> Email:
    """An organiser notification in ``locale``, with the links to its settings and to turn it off."""
    url = external_url("moderation.notifications_unsubscribe", token=token, lang=locale)
    email = _render(
        name,
        locale,
        unsubscribe_url=url,
        settings_url=external_url("moderation.notification_settings", lang=locale),
        **context,
    )
    return Email(email.subject, email.text, email.html, notification_headers(url))


def milestone(letter: Letter, number: int, count: int, *, locale: str, token: str) -> Email:
    """The mail to an admin who asked: the letter's count has reached ``number`` (it is ``count`` now)."""
    return _notification(
        "milestone",
        locale,
        token,
        letter=letter,
        number=number,
        count=count,
        letter_url=external_url("letters.letter", slug=letter.slug, lang=locale),
        dashboard_url=external_url("moderation.dashboard", slug=letter.slug, lang=locale),
    )


def daily_summary(summary: Any, day: date, *, locale: str, token: str) -> Email:
    """The daily summary to an admin who asked: ``summary`` is ``app.services.notifications.Summary``."""
    dashboards = {
        item.letter.id: external_url("moderation.dashboard", slug=item.letter.slug, lang=locale)
        for item in summary.letters
    }
    titles = {item.letter.id: item.letter.text_in(locale).title for item in summary.letters}
    return _notification(
        "daily_summary", locale, token, title="", summary=summary, day=day, dashboards=dashboards, titles=titles
    )


def closing_reminder(letter: Letter, days_left: int, count: int, *, locale: str, token: str) -> Email:
    """The mail to an admin who asked: the letter closes in ``days_left`` days with ``count`` signatures."""
    return _notification(
        "closing_reminder",
        locale,
        token,
        letter=letter,
        days_left=days_left,
        count=count,
        letter_url=external_url("letters.letter", slug=letter.slug, lang=locale),
        dashboard_url=external_url("moderation.dashboard", slug=letter.slug, lang=locale),
    )


def signer_reminder(
    signature: Signature, letter: Letter, confirm_token: str, withdraw_token: str, *, days_left: int
) -> Email:
    """The one reminder to a signer who never confirmed: a fresh confirmation link, before the letter closes."""
    return _render(
        "reminder",
        signature.locale,
        signature=signature,
        letter=letter,
        days_left=days_left,
        confirm_url=external_url("signing.confirm", token=confirm_token, lang=signature.locale),
        withdraw_url=external_url("signing.withdraw", token=withdraw_token, lang=signature.locale),
        page_url=page_url(signature.page_key, signature.locale),
    )


def invitation(email: str, role: ModeratorRole, raw_token: str, *, inviter: str, days: int, locale: str) -> Email:
    """The invitation to moderate, with the single-use link where the invitee sets their own password."""
    return _render(
        "invitation",
        locale,
        email=email,
        admin=role == ModeratorRole.ADMIN,
        inviter=inviter,
        invitation_url=external_url("moderation.invitation", token=raw_token, lang=locale),
        days=days,
        lang=locale,
    )


def founder_invitation(letter: Letter, raw_token: str, *, locale: str) -> Email:
    """The personal invitation to sign a letter before it is public, with the single-use link."""
    return _render(
        "founder_invitation",
        locale,
        letter=letter,
        lang=locale,
        invitation_url=external_url("invitations.invitation", token=raw_token, lang=locale),
    )


def launched(signature: Signature) -> Email:
    """The note to a founding signatory that the letter they signed before it opened is public now."""
    letter = signature.letter
    return _render(
        "launch",
        signature.locale,
        signature=signature,
        letter=letter,
        lang=signature.locale,
        count=letter.signature_count,
        letter_url=external_url("letters.letter", slug=letter.slug, lang=signature.locale),
        page_url=page_url(signature.page_key, signature.locale),
    )
