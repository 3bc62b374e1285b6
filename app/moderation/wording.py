"""What moderators read, in their own language: states, reasons, flags, held signatures and audit entries."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import format_decimal, format_timedelta, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.models import AuditEntry, Flag, FlagKind, RemovalReason, Signature, SignatureStatus, SuspectReason
from app.services.flags import flag_params
from app.services.queries.review import NetworkFacts
from app.services.reports import ReportReason

REPORT_REASONS = {
    ReportReason.FAKE.value: _l("fake: this person did not sign"),
    ReportReason.DUPLICATE.value: _l("a duplicate of another signature"),
    ReportReason.ABUSIVE.value: _l("abusive or offensive"),
    ReportReason.OTHER.value: _l("something else"),
}

FLAG_KINDS = {
    FlagKind.WATCHLIST: _l("Watch list"),
    FlagKind.DISPOSABLE: _l("Disposable address"),
    FlagKind.NETWORK_BURST: _l("Burst from one network"),
    FlagKind.SIMILAR_NAMES: _l("Same name again"),
    FlagKind.AFFILIATION: _l("Affiliation"),
    FlagKind.REPORT: _l("Public report"),
    FlagKind.DISPUTE: _l("“That's not me”"),
}


def describe_flag(flag: Flag) -> str:
    """One sentence saying why ``flag`` was raised.

    Flags store their facts, not a sentence, so that each moderator reads the reason in their
    own language; a detail stored as plain text (before that) is shown as it is.
    """
    params = flag_params(flag.detail)
    if params is None:
        return flag.detail
    match flag.kind:
        case FlagKind.WATCHLIST:
            return str(_("The name matches “%(name)s” on the watch list.", name=params.get("name", "")))
        case FlagKind.DISPOSABLE:
            return str(
                _("The address is at %(domain)s, a disposable-address service.", domain=params.get("domain", ""))
            )
        case FlagKind.SIMILAR_NAMES:
            return str(_("The same name (ignoring case, accents and punctuation) signed just before."))
        case FlagKind.NETWORK_BURST:
            return str(_("Many signatures came from the same network within the hour."))
        case FlagKind.AFFILIATION:
            return str(
                _(
                    "Claims %(organisation)s, whose address domain is %(organisation_domain)s; "
                    "this address is at %(domain)s.",
                    organisation=params.get("organisation", ""),
                    organisation_domain=params.get("organisation_domain", ""),
                    domain=params.get("domain", ""),
                )
            )
        case FlagKind.REPORT:
            reason = REPORT_REASONS.get(params.get("reason", ""), params.get("reason", ""))
            details = params.get("details", "")
            if details:
                return str(_("Reported as %(reason)s. The reporter wrote: %(details)s", reason=reason, details=details))
            return str(_("Reported as %(reason)s.", reason=reason))
        case FlagKind.DISPUTE:
            if params.get("spells_name") == "yes":
                said = _(
                    "“That's not me”, confirmed from an address at %(domain)s that spells this name: "
                    "off the public list until you review it.",
                    domain=params.get("domain", ""),
                )
            else:
                said = _(
                    "“That's not me”, confirmed from an address at %(domain)s that does not spell this name: "
                    "still listed.",
                    domain=params.get("domain", ""),
                )
            statement = params.get("statement", "")
            if statement:
                return str(_("%(said)s They wrote: %(statement)s", said=said, statement=statement))
            return str(said)


# A signature's state, as a moderator reads it.
STATUS_LABELS = {
    SignatureStatus.UNCONFIRMED: _l("Not confirmed yet"),
    SignatureStatus.SUSPECT: _l("Held as suspect"),
    SignatureStatus.CONFIRMED: _l("Confirmed"),
    SignatureStatus.PENDING: _l("Waiting for approval"),
    SignatureStatus.HIDDEN: _l("Hidden"),
    SignatureStatus.WITHDRAWN: _l("Withdrawn by the signer"),
    SignatureStatus.REMOVED: _l("Deleted for good"),
}

# Why a hidden or deleted signature is off the list, in a phrase after its state.
REASON_WORDS = {
    RemovalReason.FAKE: _l("fake"),
    RemovalReason.DUPLICATE: _l("duplicate"),
    RemovalReason.ABUSE: _l("abuse"),
    RemovalReason.OTHER: _l("other reason"),
}


def status_words(signature: Signature) -> str:
    """The signature's state in words, with the reason when it was hidden or deleted ("Hidden: fake")."""
    status = str(STATUS_LABELS.get(signature.status, signature.status))
    if signature.removal_reason:
        return str(_("%(status)s: %(reason)s", status=status, reason=REASON_WORDS[signature.removal_reason]))
    return status


def _seconds(value: float) -> str:
    return str(format_decimal(round(value, 1), format="#,##0.0"))


def describe_held(signature: Signature, network: NetworkFacts | None) -> str:
    """Why a signature was held as suspect, with the facts recorded when it was signed."""
    match signature.suspect_reason:
        case SuspectReason.HONEYPOT:
            return str(_("A field that people do not see (a trap for bots) was filled in."))
        case SuspectReason.TOO_FAST if signature.fill_seconds is not None:
            return str(_("Sent %(seconds)s s after the form loaded.", seconds=_seconds(signature.fill_seconds)))
        case SuspectReason.TOO_FAST:
            return str(_("Sent back faster than a person fills in the form."))
        case SuspectReason.NO_FORM_TIME:
            return str(_("Sent without the form's time stamp, or with a forged one: not from the form as shown."))
        case SuspectReason.NETWORK_FLOOD if network is not None and network.count > 1:
            return network_sentence(network)
        case SuspectReason.NETWORK_FLOOD:
            return str(_("Too many signatures came from one network."))
        case SuspectReason.CAPTCHA:
            return str(_("The CAPTCHA was not passed."))
    return ""


def _duration(span: timedelta) -> str:
    return str(format_timedelta(max(span, timedelta(seconds=1)), threshold=1))


def network_sentence(network: NetworkFacts) -> str:
    """How many signatures came from this signature's network, over what time ("12 … in 5 minutes")."""
    return str(
        ngettext(
            "%(count)s signature from this network in %(span)s.",
            "%(count)s signatures from this network in %(span)s.",
            network.count,
            count=format_decimal(network.count),
            span=_duration(network.span),
        )
    )


def previous_sentence(network: NetworkFacts) -> str:
    """How soon after the previous signature from the same network this one came, if any did."""
    if network.after_previous is None:
        return ""
    return str(_("Signed %(gap)s after the previous one from the same network.", gap=_duration(network.after_previous)))


# Audit entries' actions in words (the stored codes are kept for filtering and the CSV).
ACTION_WORDS = {
    "approve": _l("Approved"),
    "hide": _l("Hidden"),
    "restore": _l("Restored"),
    "delete": _l("Deleted for good"),
    "verify": _l("Marked verified"),
    "unverify": _l("Verified mark removed"),
    "dismiss": _l("Flags dismissed"),
    "release": _l("Released (link sent)"),
    "undo": _l("Undone"),
    "export": _l("Downloaded every signature"),
    "letter.create": _l("Letter created (draft)"),
    "letter.edit": _l("Letter edited"),
    "letter.publish": _l("Letter published"),
    "letter.draft": _l("Letter back to draft"),
    "letter.open": _l("Signing opened"),
    "letter.close": _l("Signing closed"),
    "letter.feature": _l("Letter featured"),
    "letter.update": _l("Update published"),
    "letter.delivery": _l("Delivery document made"),
    "account.invite": _l("Moderator invited"),
    "account.uninvite": _l("Invitation withdrawn"),
    "account.join": _l("Invitation accepted"),
    "account.role": _l("Role changed"),
    "account.disable": _l("Account disabled"),
    "account.enable": _l("Account enabled again"),
    "dispute": _l("“That's not me” confirmed"),
    "organisation.add": _l("Organisation added"),
    "organisation.edit": _l("Organisation changed"),
    "organisation.delete": _l("Organisation removed"),
    "organisation.load": _l("Organisations loaded from CSV"),
}
# Details written in English by the code (not typed by a moderator), shown in the moderator's language.
_FIXED_DETAILS = {
    "CSV, all fields": _l("CSV, every field with addresses"),
    "hidden until reviewed": _l("Off the public list until reviewed: the address spells the name"),
    "sent to the queue": _l("Sent to the queue, still listed: the address does not spell the name"),
}


def action_words(action: str) -> str:
    """An audit entry's action in words; an unknown code as it is."""
    return str(ACTION_WORDS.get(action, action))


def entry_reason(entry: AuditEntry) -> tuple[str, str]:
    """An audit entry's reason category in words (hide, delete) and the note or detail that came with it."""
    text = entry.reason or ""
    if entry.action in {"hide", "delete"}:
        code, _sep, note = text.partition(" ")
        if code in {str(r) for r in RemovalReason}:
            return str(REASON_WORDS[RemovalReason(code)]), note
    return "", str(_FIXED_DETAILS.get(text, text))
