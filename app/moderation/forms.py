"""Moderators' forms: sign-in, actions on signatures, letter editing."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app import removal_reasons
from app.db import utcnow
from app.forms import Form
from app.models import MAX_ROW_ID, RemovalReason, Signature, SignatureStatus
from app.services import updates
from app.services.moderation import MAX_BULK, NEEDS_NOTE, NEEDS_REASON, Action

ACTION_LABELS = {
    Action.APPROVE: _l("Approve"),
    Action.HIDE: _l("Hide"),
    Action.RESTORE: _l("Restore"),
    Action.DELETE: _l("Delete for good"),
    Action.VERIFY: _l("Mark verified"),
    Action.UNVERIFY: _l("Remove verified mark"),
    Action.DISMISS: _l("Dismiss flags"),
    Action.RELEASE: _l("Release (send the confirmation link)"),
}


class LoginForm(Form):
    """Sign in with an address and a password."""

    email = EmailField(_l("Email"), validators=[DataRequired(message=_l("Please enter your email address."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(message=_l("Please enter your password."))])


class SignatureIdsField(Field):
    """The ticked signatures: every value of the field's name, each a row id."""

    data: list[int]

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Read the ticked ids; anything that is not one is refused."""
        ids = []
        for value in valuelist:
            text = str(value).strip()
            if not (text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ROW_ID):
                self.data = []
                raise ValueError(_l("A ticked signature is not valid. Reload the page and try again."))
            ids.append(int(text))
        self.data = list(dict.fromkeys(ids))

    def _value(self) -> str:
        return ""


class ActionForm(Form):
    """An action on the chosen signatures, or on all that match the current search.

    The first submission of a bulk or final action shows what it would do; ``confirm`` (with the
    ``digest`` of what was shown, and the letter's slug typed when every signature would be
    deleted) carries it out.
    """

    action = SelectField(
        _l("Action"),
        choices=[SelectChoice(str(a), label) for a, label in ACTION_LABELS.items()],
        # What hiding does beyond the list, said where a moderator chooses it.
        description=_l(
            "Hiding also withdraws its name and comment from the public log's openings and the open-data "
            "snapshots; the log keeps only a hash."
        ),
    )
    reason = SelectField(
        _l("Reason"),
        choices=[
            SelectChoice("", _l("Choose a reason (hide, delete)")),
            *(SelectChoice(str(r), label) for r, label in removal_reasons.CHOICES.items()),
        ],
        default="",
    )
    note = TextAreaField(
        _l("Note for moderators"),
        description=_l("Never shown in public. For verification: how the identity was checked."),
        validators=[Length(max=2000)],
    )
    signature = SignatureIdsField(_l("Signatures"))
    all_matching = BooleanField(_l("Apply to every signature that matches this search"))
    confirm = HiddenField()
    digest = HiddenField()
    phrase = StringField(_l("Type the letter's short name to confirm"), validators=[Optional(), Length(max=100)])

    def chosen_action(self) -> Action:
        """The action chosen (once the form is valid)."""
        return Action(self.action.data)

    def chosen_reason(self) -> RemovalReason | None:
        """The reason chosen, if any."""
        return RemovalReason(self.reason.data) if self.reason.data else None

    def validate_reason(self, field: SelectField) -> None:
        """Hiding and deleting say why: the public tallies count by reason."""
        if self.action.data in {str(a) for a in NEEDS_REASON} and not field.data:
            raise ValidationError(_l("Choose a reason: hiding and deleting say why."))

    def validate_note(self, field: TextAreaField) -> None:
        """Verifying says how the identity was checked."""
        if self.action.data in {str(a) for a in NEEDS_NOTE} and not (field.data or "").strip():
            raise ValidationError(_l("Say how the identity was checked (only moderators see this note)."))

    def validate_signature(self, field: SignatureIdsField) -> None:
        """Something to act on: ticked signatures, or every one that matches the search."""
        if not field.data and not self.all_matching.data:
            raise ValidationError(_l("Tick at least one signature, or choose every signature that matches."))
        if len(field.data) > MAX_BULK:
            raise ValidationError(_l("That is more signatures than one action may change."))


# The decisions a row offers, each a button (and a key): what "looks fine" does depends on the state.
DECISIONS = ("fine", "fake", "duplicate", "verify", "unverify")
FINE_ACTIONS = {
    SignatureStatus.PENDING: Action.APPROVE,
    SignatureStatus.HIDDEN: Action.RESTORE,
    SignatureStatus.SUSPECT: Action.RELEASE,
    SignatureStatus.CONFIRMED: Action.DISMISS,
}
FINE_LABELS = {
    Action.APPROVE: _l("Approve"),
    Action.RESTORE: _l("Restore"),
    Action.RELEASE: _l("Release: send the link"),
    Action.DISMISS: _l("Looks fine"),
}


def fine_action(signature: Signature, flagged: bool) -> Action | None:
    """What "looks fine" does to this signature, if anything (a confirmed one needs open flags to dismiss)."""
    action = FINE_ACTIONS.get(signature.status)
    if action == Action.DISMISS and not flagged:
        return None
    return action


class DecisionForm(Form):
    """One row's decision: a button of the row, with the note a verification needs."""

    decision = SelectField(choices=[SelectChoice(d, d) for d in DECISIONS])
    note = StringField(
        _l("How was the identity checked?"),
        description=_l("Only moderators see this note."),
        validators=[Length(max=2000)],
    )
    next = IntegerField(validators=[Optional()])

    def validate_note(self, field: StringField) -> None:
        """Verifying says how the identity was checked."""
        if self.decision.data == "verify" and not (field.data or "").strip():
            raise ValidationError(_l("Say how the identity was checked (only moderators see this note)."))

    def resolve(self, signature: Signature, flagged: bool) -> tuple[Action, RemovalReason | None] | None:
        """The action and reason this decision means for ``signature``; None when it does not apply."""
        match self.decision.data:
            case "fine":
                action = fine_action(signature, flagged)
                return (action, None) if action else None
            case "fake":
                return Action.HIDE, RemovalReason.FAKE
            case "duplicate":
                return Action.HIDE, RemovalReason.DUPLICATE
            case "verify":
                return Action.VERIFY, None
            case "unverify":
                return Action.UNVERIFY, None
        return None


class OrganisationForm(Form):
    """An organisation and the email domain its people confirm with."""

    domain = StringField(
        _l("Domain"),
        description=_l("For example example.edu; its subdomains (cs.example.edu) count too."),
        validators=[DataRequired(message=_l("Please enter a domain.")), Length(max=255)],
    )
    name = StringField(
        _l("Name"),
        description=_l("As it is shown in the badge, e.g. “Example University”."),
        validators=[DataRequired(message=_l("Please enter a name.")), Length(max=200)],
    )


class OrganisationUploadForm(Form):
    """CSV lines of organisations, pasted (the site takes no file uploads): columns domain,name."""

    csv_text = TextAreaField(
        _l("CSV lines"),
        validators=[DataRequired(message=_l("Please paste the CSV lines.")), Length(max=60_000)],
    )
    skip_bad = BooleanField(_l("Load the good lines even if some lines are bad"))


class UpdateForm(Form):
    """An update to a letter's signers."""

    title = StringField(_l("Title"), validators=[DataRequired(message=_l("Please enter a title.")), Length(max=300)])
    body_markdown = TextAreaField(
        _l("Text (Markdown)"),
        validators=[DataRequired(message=_l("Please enter the text of the update.")), Length(max=100_000)],
    )


class ResponseForm(Form):
    """The addressee's response to a letter, as the organisers record it."""

    responder = StringField(
        _l("Who answered"),
        description=_l("As it is shown, e.g. “The Minister of Culture” or “Studio Example, its board”."),
        validators=[
            DataRequired(message=_l("Please say who answered.")),
            Length(
                max=updates.RESPONDER_MAX,
                message=_l("Please use at most %(max)d characters.", max=updates.RESPONDER_MAX),
            ),
        ],
    )
    responded_on = DateField(
        _l("Date of the response"),
        validators=[DataRequired(message=_l("Please enter the date of the response, e.g. 2026-03-01."))],
    )
    source_url = URLField(
        _l("Link to the source"),
        description=_l("Where the response was published: a web page, a statement, a post."),
        validators=[Optional()],
    )
    body_markdown = TextAreaField(
        _l("Text of the response (Markdown)"),
        description=_l("The response as it was given; quote it whole, or say where it is shortened."),
        validators=[DataRequired(message=_l("Please enter the text of the response.")), Length(max=100_000)],
    )

    def validate_responded_on(self, field: DateField) -> None:
        """A response given before it is recorded: never a day after today."""
        if field.data and field.data > utcnow().date():
            raise ValidationError(_l("The date of the response cannot be in the future."))

    def validate_source_url(self, field: URLField) -> None:
        """A web address (http or https), or nothing."""
        if field.data and not updates.is_web_address(field.data.strip()):
            raise ValidationError(_l("Please enter a web address that starts with https:// or http://."))
