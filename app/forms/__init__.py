"""The base of the site's forms."""

from __future__ import annotations

from functools import cache
from typing import Any

from babel import support
from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms.i18n import messages_path


@cache
def wtforms_messages(locale: str) -> support.NullTranslations:
    """WTForms' own messages ("This field is required.") in ``locale``, read once per process."""
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class Form(FlaskForm):  # type: ignore[misc]
    """FlaskForm (untyped, hence the ignore), with WTForms' messages from a per-process cache.

    Flask-WTF reads WTForms' message catalogue from disk on every request that builds a form;
    the letter page and the signing POST build one for every visitor.
    """

    class Meta(FlaskForm.Meta):  # type: ignore[misc]
        def get_translations(self, form: Any) -> support.NullTranslations:
            return wtforms_messages(str(get_locale()))
