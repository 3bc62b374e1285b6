"""Schemathesis: the JSON API answers as its own OpenAPI document says, for valid and invalid requests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from flask import Flask
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import (
    CaseMetadata,
    ComponentInfo,
    GenerationInfo,
    PhaseInfo,
    TestPhase,
    build_phase_data,
)
from schemathesis.schemas import BaseSchema

from app.models import Letter
from app.worker import sequence_logs
from tests.factories import log_confirmed
from tests.test_api import add_signatures  # noqa: F401  (a fixture)

pytestmark = pytest.mark.engines

# Schemathesis asks for compressed answers but, calling the app directly, does not decode them.
PLAIN = {"Accept-Encoding": "identity"}
SLUG = "test-letter"


def found_case(schema: BaseSchema, path: str, mode: GenerationMode, **query: object) -> Case:
    """A request that a run once found to fail, to replay as an explicit example in ``mode``.

    The metadata says which mode it belongs to: the checks that valid requests are accepted and
    invalid ones refused read it, and skip a case without it.
    """
    operation = schema[path]["GET"]
    meta = CaseMetadata(
        generation=GenerationInfo(time=0.0, mode=mode),
        components={ParameterLocation.QUERY: ComponentInfo(mode=mode)},
        phase=PhaseInfo(name=TestPhase.EXAMPLES, data=build_phase_data(TestPhase.EXAMPLES, "found before")),
    )
    return operation.Case(path_parameters={"slug": SLUG}, query=dict(query), _meta=meta)


def found_cases(schema: BaseSchema, mode: GenerationMode) -> list[Case]:
    """Every request that a run of this test once found to fail, in ``mode``."""
    signatures = "/letters/{slug}/signatures"
    if mode is GenerationMode.POSITIVE:
        return [
            # Ids are 32-bit on PostgreSQL: the cursor overflowed the comparison (a 500).
            found_case(schema, signatures, mode, cursor="1-99999999999"),
            # A whole number written as a float is an integer to JSON Schema: it was refused with 400.
            found_case(schema, "/letters/{slug}/log/proof/consistency", mode, first=100, second=1000000000.0),
            found_case(schema, signatures, mode, limit=20.0),
        ]
    return [
        # A search that finds nothing answered a malformed cursor with an empty page, not 400.
        found_case(schema, signatures, mode, q="zzzz", cursor="1-"),
        # An empty optional number means not given (the document did not say so).
        found_case(schema, "/letters/{slug}/log/entries", mode, start="", end=""),
        # An object in the optional `second` is sent exploded (second absent): a valid request.
        found_case(schema, "/letters/{slug}/log/proof/consistency", mode, first=1, second={"0": 0}),
    ]


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
    log_confirmed(app, letter.id)
    with app.app_context():
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
        case.call_and_validate(headers=PLAIN)

    for found in found_cases(schema, mode):
        call = example(case=found)(call)
    call()


def test_the_document_is_checked_against_real_answers(app: Flask, letter: Letter) -> None:
    # The test above must be able to fail: a document that promises a field the API never sends is caught.
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.raw_schema["components"]["schemas"]["Letter"]["required"].append("promised_but_missing")
    operation = schema["/letters/{slug}"]["GET"]

    @given(case=operation.as_strategy(path_parameters={"slug": SLUG}))
    @settings(max_examples=5, deadline=None)
    def call(case: Case) -> None:
        case.call_and_validate(headers=PLAIN)

    with pytest.raises(BaseExceptionGroup) as caught:
        call()
    assert any("promised_but_missing" in str(failure) for failure in caught.value.exceptions)
