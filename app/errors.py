"""Domain errors: what a request cannot do and why; app.web turns each into a page or a JSON answer."""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark a message for translation where it is defined; it is translated where it is shown."""
    return message


class DomainError(Exception):
    """A request that cannot be carried out, with a status and a message for a person."""

    status_code = 400
    code = "bad_request"
    message = N_("The request could not be carried out.")

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class LetterNotFound(DomainError):
    """No letter has that slug."""

    status_code = 404
    code = "letter_not_found"
    message = N_("There is no letter at this address.")


class LetterClosed(DomainError):
    """The letter no longer accepts signatures."""

    status_code = 409
    code = "letter_closed"
    message = N_("Signing has closed for this letter; the list is final.")


class BadCursor(DomainError):
    """A pagination cursor that this site did not make."""

    code = "bad_cursor"
    message = N_("The page cursor is not valid. Start again from the first page.")


class TokenProblem(DomainError):
    """A link that cannot be used; ``letter_slug`` says where to ask for a new one.

    ``purpose`` is what the link was for ("confirm" or "withdraw"), so the page offers the
    right way to get a new one.
    """

    status_code = 404
    code = "invalid_token"
    message = N_("This link is not valid. It may have been copied incompletely.")

    def __init__(self, message: str | None = None, *, letter_slug: str | None = None, purpose: str = "confirm") -> None:
        super().__init__(message)
        self.letter_slug = letter_slug
        self.purpose = purpose


class TokenExpired(TokenProblem):
    """The link was real but is too old."""

    status_code = 410
    code = "expired_token"
    message = N_("This link has expired.")


class TokenSuperseded(TokenProblem):
    """A confirmation link sent before the address signed again: only the newest mail's link confirms."""

    status_code = 410
    code = "superseded_token"
    message = N_(
        "A newer request was made with this address after this email was sent, so this link no longer "
        "confirms anything. Use the link in the latest email you received: it shows every detail it confirms."
    )
