"""What moderators read: the reasons behind flags, in the moderator's language."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.models import Flag, FlagKind
from app.services.flags import flag_params
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
