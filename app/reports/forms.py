"""The public forms about one entry: a report, and "that's not me" from the person it names."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.forms import Form
from app.forms.signing import EMAIL_MAX, EmailAddress, normalise_line, normalise_paragraphs
from app.services.reports import ReportReason

DETAILS_MAX = 500


class ReportForm(Form):
    """What is wrong with a signature, in the reporter's words."""

    reason = SelectField(
        _l("What is wrong?"),
        choices=[
            SelectChoice(ReportReason.FAKE.value, _l("It is fake: this person did not sign")),
            SelectChoice(ReportReason.DUPLICATE.value, _l("It is a duplicate of another signature")),
            SelectChoice(ReportReason.ABUSIVE.value, _l("It is abusive or offensive")),
            SelectChoice(ReportReason.OTHER.value, _l("Something else")),
        ],
        validators=[DataRequired(message=_l("Please choose what is wrong."))],
        validate_choice=True,
    )
    details = TextAreaField(
        _l("Details"),
        description=_l("At most %(max)d characters. Only moderators read this.", max=DETAILS_MAX),
        filters=[normalise_paragraphs],
        validators=[
            Optional(),
            Length(max=DETAILS_MAX, message=_l("Please use at most %(max)d characters.", max=DETAILS_MAX)),
        ],
    )
    contact = EmailField(
        _l("Your email"),
        description=_l("If moderators may ask you about this report. Only moderators see it."),
        filters=[normalise_line],
        validators=[
            Optional(),
            Length(max=EMAIL_MAX, message=_l("Please use at most %(max)d characters.", max=EMAIL_MAX)),
            EmailAddress(),
        ],
    )

    normalised_email: str = ""


class DisputeForm(Form):
    """ "That's not me": the address to confirm from, and the person's own words for the moderators."""

    email = EmailField(
        _l("Your email"),
        description=_l(
            "We send a link to confirm to this address. Only moderators see it, and it is deleted once they have "
            "decided."
        ),
        filters=[normalise_line],
        validators=[
            DataRequired(message=_l("Please enter your email address.")),
            Length(max=EMAIL_MAX, message=_l("Please use at most %(max)d characters.", max=EMAIL_MAX)),
            EmailAddress(),
        ],
    )
    statement = TextAreaField(
        _l("Anything the moderators should know"),
        description=_l("At most %(max)d characters. Only moderators read this.", max=DETAILS_MAX),
        filters=[normalise_paragraphs],
        validators=[
            Optional(),
            Length(max=DETAILS_MAX, message=_l("Please use at most %(max)d characters.", max=DETAILS_MAX)),
        ],
    )
    named = BooleanField(
        _l("This signature names me, and I did not sign this letter"),
        validators=[InputRequired(message=_l("Please tick this box if the signature names you."))],
    )

    normalised_email: str = ""
