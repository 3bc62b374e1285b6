"""Schemathesis: the JSON API answers as its own OpenAPI document says, for valid and invalid requests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from flask import Flask
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode

from app.db import db, utcnow
from app.mail.worker import sequence_logs
from app.models import Letter
from app.services import log
from tests.test_api import add_signatures  # noqa: F401  (a fixture)

SLUG = "test-letter"


# Schemathesis's pytest loader (schemathesis.pytest.from_fixture) relies on a pytest internal that
# pytest 9.2 no longer has (Node._nodeid), so the cases are drawn with Hypothesis directly: one app,
# on each database, per test.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_keeps_to_its_openapi_document(
    app: Flask,
    letter: Letter,
    add_signatures: Callable[..., None],  # noqa: F811  (the fixture imported above)
    mode: GenerationMode,
) -> None:
    add_signatures(25)
    add_signatures(3, public=False)
    with app.app_context():
        with db.transaction() as session:
            log.record_confirmed(session, letter.id, 1, now=utcnow())
        sequence_logs()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # Generated slugs almost never name a letter, so two of three strategies ask for the one that exists.
    cases = st.one_of(
        schema.as_strategy(mode),
        schema["/letters/{slug}"]["GET"].as_strategy(mode, path_parameters={"slug": SLUG}),
        schema["/letters/{slug}/signatures"]["GET"].as_strategy(mode, path_parameters={"slug": SLUG}),
        *(
            schema[f"/letters/{{slug}}/log/{path}"]["GET"].as_strategy(mode, path_parameters={"slug": SLUG})
            for path in (
                "head",
                "key",
                "entries",
                "proof/inclusion",
                "proof/signature/{signature_id}",
                "proof/consistency",
            )
        ),
    )

    @given(case=cases)
    @settings(max_examples=100, deadline=None)
    def call(case: Case) -> None:
        if mode is GenerationMode.NEGATIVE:
            # An object in a query parameter is sent exploded (form style): its keys become the
            # parameters and the parameter itself is absent, which for an optional one (the
            # consistency proof's `second`) is a valid request, not a negative case.
            assume(not any(isinstance(value, dict) for value in (case.query or {}).values()))
        # Every check: no 5xx; documented status codes, content types, headers and bodies;
        # schema-valid requests accepted (positive) and schema-violating ones refused (negative).
        case.call_and_validate()

    call()


def test_the_document_is_checked_against_real_answers(app: Flask, letter: Letter) -> None:
    # The test above must be able to fail: a document that promises a field the API never sends is caught.
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.raw_schema["components"]["schemas"]["Letter"]["required"].append("promised_but_missing")
    operation = schema["/letters/{slug}"]["GET"]

    @given(case=operation.as_strategy(path_parameters={"slug": SLUG}))
    @settings(max_examples=5, deadline=None)
    def call(case: Case) -> None:
        case.call_and_validate()

    with pytest.raises(BaseExceptionGroup) as caught:
        call()
    assert any("promised_but_missing" in str(failure) for failure in caught.value.exceptions)
