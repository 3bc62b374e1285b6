"""The signing and resend forms: validation and normalisation of what people type."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from babel import Locale
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import BooleanField, EmailField, Field, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import Select

from app.bots import new_form_stamp
from app.forms import Form
from app.services.own_signature import Details
from app.services.signing import SignatureInput, email_key
from app.text import clean_name, clean_paragraphs, looks_like_url

NAME_MAX = 120
AFFILIATION_MAX = 160
CITY_MAX = 80
COMMENT_MAX = 500
EMAIL_MAX = 254

# Codes Babel lists as territories that are not countries a person lives in.
NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"}


def normalise_line(value: Any) -> Any:
    """NFC and trimmed; control characters are left for the validator to refuse."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value).strip()
    return value


def normalise_paragraphs(value: Any) -> Any:
    """Free text with line breaks kept and other control characters dropped."""
    return clean_paragraphs(value) if isinstance(value, str) else value


class SingleLine:
    """Refuse line breaks, NUL and other control characters inside a one-line field."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message

    def __call__(self, form: Form, field: Field) -> None:
        if field.data and any(unicodedata.category(char) == "Cc" for char in field.data):
            raise ValidationError(self.message or _l("Please use one line, without line breaks or control characters."))


# Something that looks like an HTML tag or comment: "<b", "</", "<!", "<?". ("I <3 this" is fine.)
_MARKUP = re.compile(r"<\s*[A-Za-z!/?]")


class PlainText:
    """Refuse HTML: these fields are shown as plain text, so markup is a mistake or an attack."""

    def __call__(self, form: Form, field: Field) -> None:
        if field.data and _MARKUP.search(field.data):
            raise ValidationError(_l("Please use plain text: HTML tags are not allowed here."))


class NotAWebAddress:
    """Refuse a web address where a name belongs (names are shown in public lists, links are spam)."""

    def __call__(self, form: Form, field: Field) -> None:
        if field.data and looks_like_url(field.data):
            raise ValidationError(_l("Please enter your name, not a web address."))


def _too_long(limit: int) -> Length:
    return Length(max=limit, message=_l("Please use at most %(max)d characters.", max=limit))


class EmailAddress:
    """A deliverable-looking address, normalised by email-validator (DNS checked if configured)."""

    def __call__(self, form: SignForm | AddressForm, field: Field) -> None:
        if not field.data:
            return
        try:
            result = validate_email(
                field.data,
                check_deliverability=current_app.config["EMAIL_CHECK_DELIVERABILITY"],
            )
        except EmailNotValidError:
            raise ValidationError(_l("Please enter a valid email address, like name@example.org.")) from None
        form.normalised_email = result.normalized


@lru_cache(maxsize=32)
def _countries(locale_name: str) -> tuple[tuple[str, str], ...]:
    territories = Locale.parse(locale_name).territories
    names = [
        (code, str(name))
        for code, name in territories.items()
        if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
    ]
    return tuple(sorted(names, key=lambda item: item[1]))


@lru_cache(maxsize=32)
def _country_codes(locale_name: str) -> frozenset[str]:
    return frozenset(code for code, _name in _countries(locale_name))


def country_choices() -> list[tuple[str, Any]]:
    """Countries by ISO code, named and sorted in the visitor's language."""
    locale = str(get_locale() or "en")
    return [("", _l("Choose a country (optional)")), *_countries(locale)]


class CachedSelect(Select):
    """A select rendered once per process for each language, value and set of attributes.

    The country list has some 250 options; rendering them through WTForms took most of the
    letter page's time, and the HTML is the same for every visitor who speaks the language.
    """

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[tuple[Any, ...], Markup] = {}

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        attributes = tuple(sorted((name, str(value)) for name, value in kwargs.items()))
        key = (field.id, field.name, str(get_locale()), str(field.data or ""), attributes)
        html = self._cache.get(key)
        if html is None:
            html = super().__call__(field, **kwargs)
            if len(self._cache) < self.MAX_ENTRIES:
                self._cache[key] = html
        return html


class CountryField(SelectField):
    """The country select, checked against a set of codes rather than by walking its 250 options."""

    def pre_validate(self, form: Any) -> None:
        """Refuse a code that is not one of the countries offered (no country is fine)."""
        if self.data and self.data not in _country_codes(str(get_locale() or "en")):
            raise ValidationError(_l("Not a valid choice."))


class AddressForm(Form):
    """Just an address: to ask for a new confirmation link, or for a link that withdraws."""

    email = EmailField(
        _l("Email"),
        filters=[normalise_line],
        validators=[DataRequired(message=_l("Please enter your email address.")), _too_long(EMAIL_MAX), EmailAddress()],
    )

    normalised_email: str = ""


class SignForm(Form):
    """The signature: a name and an address are required, the rest is optional.

    It carries no CSRF token: the letter page it is drawn on is the same for every visitor, so
    that any HTTP cache can hold it. The signing view refuses a form sent from another site
    instead (``app.web.refuse_other_sites``; the README's "Forms without a session" says why
    that is enough for this form).
    """

    class Meta(Form.Meta):
        csrf = False

    name = StringField(
        _l("Full name"),
        filters=[clean_name],
        validators=[
            DataRequired(message=_l("Please enter your name.")),
            _too_long(NAME_MAX),
            SingleLine(),
            PlainText(),
            NotAWebAddress(),
        ],
    )
    email = EmailField(
        _l("Email"),
        description=_l("Never shown publicly. We send you a link to confirm your signature."),
        filters=[normalise_line],
        validators=[DataRequired(message=_l("Please enter your email address.")), _too_long(EMAIL_MAX), EmailAddress()],
    )
    affiliation = StringField(
        _l("Affiliation or title"),
        description=_l("For example “illustrator” or “Studio Ghibli”."),
        filters=[clean_name],
        validators=[Optional(), _too_long(AFFILIATION_MAX), SingleLine(), PlainText()],
    )
    country = CountryField(_l("Country"), validators=[Optional()], widget=CachedSelect())
    city = StringField(
        _l("City"), filters=[normalise_line], validators=[Optional(), _too_long(CITY_MAX), SingleLine(), PlainText()]
    )
    comment = TextAreaField(
        _l("Comment"),
        description=_l("At most %(max)d characters. Shown with your name if it is public.", max=COMMENT_MAX),
        filters=[normalise_paragraphs],
        validators=[Optional(), _too_long(COMMENT_MAX), PlainText()],
    )
    public = BooleanField(_l("Show my name on the public list"), default=True)
    show_domain = BooleanField(
        _l("Show the domain of my email address, e.g. “confirmed via @example.edu”"), default=False
    )
    wants_updates = BooleanField(_l("Email me updates about this letter"), default=False)
    # Bot checks (see app.bots): a field people never see, and when the form was shown.
    website = StringField(_l("Leave this field empty"))
    started = HiddenField(default=new_form_stamp)
    # Set only on the "is this you?" page that a too-fast form gets (see app.bots).
    asked = HiddenField()

    normalised_email: str = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.country.choices = country_choices()

    def to_input(self, locale: str) -> SignatureInput:
        """The validated details, ready for the signing service."""
        return SignatureInput(
            name=self.name.data,
            email=self.normalised_email,
            email_key=email_key(self.normalised_email),
            affiliation=self.affiliation.data or None,
            country=self.country.data or None,
            city=self.city.data or None,
            comment=self.comment.data or None,
            public=bool(self.public.data),
            locale=locale,
            show_domain=bool(self.show_domain.data),
            wants_updates=bool(self.wants_updates.data),
        )


class DetailsForm(Form):
    """What a signer may change on their own page: the same fields, with the same rules, as on the form.

    Unlike the signing form it carries a CSRF token: the page is the signer's own, never cached.
    """

    name = SignForm.name
    affiliation = SignForm.affiliation
    comment = SignForm.comment
    public = SignForm.public
    show_domain = SignForm.show_domain

    def to_details(self) -> Details:
        """The validated details, ready for the service."""
        return Details(
            name=self.name.data,
            affiliation=self.affiliation.data or None,
            comment=self.comment.data or None,
            public=bool(self.public.data),
            show_domain=bool(self.show_domain.data),
        )


ANSWER_MAX = 500


class AnswerForm(Form):
    """The signer's side of a "that's not me" dispute of their signature, for the moderators."""

    answer = TextAreaField(
        _l("Your answer"),
        description=_l("At most %(max)d characters. Only moderators read this.", max=ANSWER_MAX),
        filters=[normalise_paragraphs],
        validators=[
            DataRequired(message=_l("Please write your answer.")),
            Length(max=ANSWER_MAX, message=_l("Please use at most %(max)d characters.", max=ANSWER_MAX)),
        ],
    )
