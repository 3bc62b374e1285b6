"""Founding signatories from a CSV file, checked by the same rules as the signing form."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from app.forms.signing import SignForm
from app.services.signing import SignatureInput

COLUMNS = ("name", "email", "affiliation", "country", "city")
REQUIRED_COLUMNS = ("name", "email")


@dataclass(frozen=True)
class FoundingRow:
    """One valid row: where it is in the file and the signer's normalised details."""

    line: int
    data: SignatureInput


class FoundingFileError(ValueError):
    """A file that cannot be imported; ``problems`` lists each, with its line number."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _validate(values: dict[str, str], locale: str) -> tuple[SignatureInput | None, list[str]]:
    formdata = MultiDict({name: value for name, value in values.items() if value is not None})
    # Shown on the public list, like anyone who leaves "show my name" ticked.
    formdata["public"] = "y"
    if formdata.get("country"):
        formdata["country"] = formdata["country"].strip().upper()
    form = SignForm(formdata=formdata, meta={"csrf": False})
    if not form.validate():
        return None, [f"{name}: {errors[0]}" for name, errors in form.errors.items()]
    return form.to_input(locale), []


def read_founding_csv(text: str, *, locale: str) -> list[FoundingRow]:
    """Every row of a founding file, validated; FoundingFileError lists all problems at once.

    The first row names the columns: name and email are required; affiliation, country
    (ISO code) and city may be there. Needs an app context (the form reads the settings).
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if not header:
        raise FoundingFileError(["the file is empty: the first line must name the columns (name, email, ...)"])
    if missing or unknown or len(set(header)) != len(header):
        header_problems = [f"line 1: missing column {name!r}" for name in missing]
        header_problems += [f"line 1: unknown column {name!r} (known: {', '.join(COLUMNS)})" for name in unknown]
        if len(set(header)) != len(header):
            header_problems.append("line 1: a column is named twice")
        raise FoundingFileError(header_problems)
    reader.fieldnames = header
    rows: list[FoundingRow] = []
    problems: list[str] = []
    first_line_of: dict[str, int] = {}
    line = reader.line_num + 1
    for record in reader:
        if None in record:
            problems.append(f"line {line}: more fields than columns")
        else:
            data, errors = _validate({name: record.get(name) or "" for name in COLUMNS}, locale)
            problems += [f"line {line}: {error}" for error in errors]
            if data is not None:
                if data.email_key in first_line_of:
                    problems.append(f"line {line}: the same address as line {first_line_of[data.email_key]}")
                else:
                    first_line_of[data.email_key] = line
                    rows.append(FoundingRow(line, data))
        line = reader.line_num + 1
    if problems:
        raise FoundingFileError(problems)
    if not rows:
        raise FoundingFileError(["the file has no signatories below its header"])
    return rows
