"""A stand-in CAPTCHA for the hook's tests: a third-party service is out of reach here."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask
from markupsafe import Markup


class SumCaptcha:
    """Asks what 2 + 2 is."""

    def widget(self) -> Markup:
        return Markup('<label>2 + 2 = <input name="captcha-answer"></label>')

    def verify(self, form: Mapping[str, str], remote_addr: str | None) -> bool:
        return form.get("captcha-answer") == "4"


def create_captcha(app: Flask) -> SumCaptcha:
    return SumCaptcha()
