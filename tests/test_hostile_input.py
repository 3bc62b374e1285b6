"""Hostile input at every public endpoint: never a 5xx, a refused POST stores nothing, what is shown is escaped."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.db import db, utcnow
from app.models import Letter, ModeratorRole, Organisation, Signature, SignatureStatus
from app.moderation import accounts
from app.text import clean_name
from tests.support import csrf_token, table_counts

# Hundreds of requests from one address: the rate limits would answer 429 long before the
# input is looked at (they have tests of their own in test_rate_limits.py).
pytestmark = [pytest.mark.settings(RATELIMIT_ENABLED=False), pytest.mark.engines]

SLUG = "test-letter"
NOTHING = {"signatures": 0, "tokens": 0, "outbox_messages": 0, "jobs": 0}
# Each test has one app (per database) for all its examples, so every example must leave it as it found it,
# or compare counts before and after.
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# What an attacker would like to see come back unescaped.
PAYLOAD = '<script>alert(1)</script>"onload="alert(2)'
RAW_PAYLOAD_PARTS = ("<script>alert(1)", '"onload="alert(2)')
NASTY = [
    PAYLOAD,
    "\x00",
    "\r\n",
    "\nBcc: victim@example.org",
    "\u202e",
    "\u2066\u2069",
    "\u200b\u200d",
    "\ufeff",
    "%00",
    "%ZZ",
    "%E2%80",
    "../../etc/passwd",
    "' OR 1=1 --",
    "{{ 7*7 }}",
    "${jndi:ldap://x}",
    '=HYPERLINK("http://evil.example")',
    "👩\u200d🔬",
    "محمد",
    "김민지",
    "e\u0301\u0301\u0301",
]

# Any Unicode scalar value (surrogates cannot be sent as UTF-8), mixed with known troublemakers.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=40),
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=5)), max_size=6).map("".join),
    st.sampled_from(NASTY),
    st.builds(lambda char, n: char * n, st.sampled_from(["x", "é", "漢", "\u200b", "<", "%"]), st.integers(121, 3000)),
)
slugish = st.one_of(hostile_text, st.sampled_from(["no-such-letter", SLUG.upper(), SLUG + "-", "a" * 300]))
METHODS = ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"]


def segment(text: str) -> str:
    """``text`` as one path segment, percent-encoded (the client would otherwise read ? and # itself)."""
    return quote(text, safe="") or "-"


def assert_safe(response: Any) -> str:
    """Not a server error, and no payload echoed back unescaped."""
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body[:500]
    for part in RAW_PAYLOAD_PARTS:
        assert part not in body
    return str(body)


def sign_data(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    return {"csrf_token": token, "name": "Ada Lovelace", "email": "ada@example.org", "public": "y", **fields}


@FUZZ
@given(slug=slugish, token=hostile_text, query=hostile_text, cursor=hostile_text, limit=hostile_text)
def test_every_get_endpoint_survives_hostile_paths_and_queries(
    app: Flask, client: FlaskClient, letter: Letter, slug: str, token: str, query: str, cursor: str, limit: str
) -> None:
    before = table_counts(app)
    paths = [
        "/",
        f"/letters/{SLUG}",
        f"/letters/{segment(slug)}",
        f"/letters/{SLUG}/signatures?" + urlencode({"q": query, "cursor": cursor}),
        f"/letters/{segment(slug)}/signatures?" + urlencode({"q": query}),
        f"/letters/{SLUG}/resend",
        f"/letters/{segment(slug)}/resend",
        f"/letters/{SLUG}/signed",
        f"/confirm/{segment(token)}",
        "/api/v1/letters",
        f"/api/v1/letters/{SLUG}",
        f"/api/v1/letters/{segment(slug)}",
        f"/api/v1/letters/{SLUG}/signatures?" + urlencode({"q": query, "cursor": cursor, "limit": limit}),
        f"/api/v1/letters/{segment(slug)}/signatures?" + urlencode({"limit": limit}),
        "/api/v1/openapi.json",
        f"/{segment(slug)}",
    ]
    for path in paths:
        response = client.get(path)
        body = assert_safe(response)
        # The API answers in JSON (errors too), the pages in HTML; only Werkzeug's redirect of a
        # path with "//" in it (a slug of "/") is neither.
        assert response.is_json is path.startswith("/api/") or response.status_code == 308, (path, body[:200])
    assert table_counts(app) == before


@FUZZ
@given(raw=st.one_of(st.sampled_from(NASTY), hostile_text))
def test_raw_query_strings_and_invalid_escapes_are_answered(
    app: Flask, client: FlaskClient, letter: Letter, raw: str
) -> None:
    # Sent as they are: invalid percent-escapes, invalid UTF-8 once decoded, duplicate and empty keys.
    for query in (
        f"q={raw}&cursor={raw}&limit={raw}",
        "q=%ZZ&cursor=%FF%FE&limit=%E2%80",
        "q=a&q=b&limit=1&limit=2&cursor=&cursor=1-1",
        "&&=&q",
    ):
        encoded = query.encode("utf-8", "surrogateescape").decode("latin-1")
        assert_safe(client.get(f"/letters/{SLUG}/signatures", query_string=encoded))
        assert_safe(client.get(f"/api/v1/letters/{SLUG}/signatures", query_string=encoded))
    assert_safe(client.get("/letters/%ZZ"))
    assert_safe(client.get("/letters/%FF%FE/signatures"))
    assert_safe(client.get("/confirm/%E2%80%AE%00"))


@FUZZ
@given(
    name=hostile_text,
    email=st.one_of(hostile_text, st.sampled_from(["ada@example.org", "ADA@EXAMPLE.ORG", "a@b"])),
    affiliation=hostile_text,
    city=hostile_text,
    comment=hostile_text,
    country=st.one_of(hostile_text, st.sampled_from(["", "KR", "IR", "XX"])),
    public=st.sampled_from(["y", "", "false", PAYLOAD]),
)
def test_signing_with_hostile_fields_stores_only_what_validates(
    app: Flask,
    client: FlaskClient,
    letter: Letter,
    name: str,
    email: str,
    affiliation: str,
    city: str,
    comment: str,
    country: str,
    public: str,
) -> None:
    before = table_counts(app)
    data = sign_data(
        client, name=name, email=email, affiliation=affiliation, city=city, comment=comment, country=country
    )
    data["public"] = public
    response = client.post(f"/letters/{SLUG}/sign", data=data)
    body = assert_safe(response)
    if response.status_code == 303:
        # A valid signature (or the same address again): the mail goes out, a signature may be added.
        after = table_counts(app)
        assert after["outbox_messages"] == before["outbox_messages"] + 1
        assert after["signatures"] - before["signatures"] in (0, 1)
    else:
        assert response.status_code in (413, 422), body[:300]
        assert table_counts(app) == before
        # A refused form is shown again with its mistakes marked; a body too large is not read at all.
        assert ('aria-invalid="true"' in body) is (response.status_code == 422), body[:300]


@FUZZ
@given(name=hostile_text)
def test_a_refused_name_is_shown_back_escaped(app: Flask, client: FlaskClient, letter: Letter, name: str) -> None:
    # An invalid email makes sure the form is refused and shown again with what was typed.
    typed = name + PAYLOAD
    response = client.post(f"/letters/{SLUG}/sign", data=sign_data(client, name=typed, email="not an address"))
    body = assert_safe(response)
    assert response.status_code in (413, 422)
    assert table_counts(app) == NOTHING
    # Shown back escaped, unless it was too large to be read at all.
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&#34;onload=&#34;alert(2)"
    assert (escaped in body) is (response.status_code == 422), body[:300]


def _names_an_address(body: bytes) -> bool:
    """Whether a body is a form with an address field (random bytes can be: ``email=!%400.a``)."""
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return any(key.strip().lower() == "email" for key in fields)


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.sampled_from(
            [
                b"name=%ZZ&email=%E2%28%A1",
                b"name=\xff\xfe\xfd&email=ada%40example.org",
                b"name=Ada%00Lovelace&email=ada%40example.org",
                b"name=%C0%AE%C0%AE&email=%F0%28%8C%BC%40example.org",
                b"name=%ZZ&name=\xff&email=%&email=%4",
                b"=&&==&name",
            ]
        ),
    ),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=latin-1",
            "multipart/form-data; boundary=xyz",
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded; charset=\u202e",
        ]
    ),
)
# Found before: random bytes that spell a form with a valid address (a good resend request, see
# _names_an_address); a multipart part without a name and a file in place of a field (both were 500s).
@example(body=b"email=!%400.a", content_type="application/x-www-form-urlencoded")
@example(
    body=b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--xyz--\r\n",
    content_type="multipart/form-data; boundary=xyz",
)
@example(
    body=b'--xyz\r\nContent-Disposition: form-data; name="email"; filename="x.exe"\r\n\r\nMZ\r\n--xyz--\r\n',
    content_type="multipart/form-data; boundary=xyz",
)
def test_malformed_form_bodies_are_refused_and_store_nothing(
    app: Flask, client: FlaskClient, letter: Letter, body: bytes, content_type: str
) -> None:
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    # The CSRF token goes in a header, so that the garbage body itself reaches the form.
    headers = {"X-CSRFToken": token}
    paths = [f"/letters/{SLUG}/sign", "/confirm/not-a-token"]
    if not _names_an_address(body):
        # The resend form wants an address only: a body with a good one is a good request.
        paths.append(f"/letters/{SLUG}/resend")
    for path in paths:
        response = client.post(path, data=body, content_type=content_type, headers=headers)
        assert_safe(response)
        assert response.status_code in (400, 404, 413, 422), (path, response.status_code, body, content_type)
    assert table_counts(app) == NOTHING


def test_multipart_garbage_and_duplicate_fields_are_answered(app: Flask, client: FlaskClient, letter: Letter) -> None:
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    headers = {"X-CSRFToken": token}
    garbage = [
        b'--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nAda\r\n',  # never closed
        b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--xyz--\r\n",
        b'--xyz\r\nContent-Disposition: form-data; name="name"; filename="x.exe"\r\n\r\nMZ\x00\x00\r\n--xyz--\r\n',
        b"--xyz--\r\n",
        b"\r\n\r\n--xyz\r\n\x00\x00\x00",
    ]
    for body in garbage:
        response = client.post(
            f"/letters/{SLUG}/sign", data=body, content_type="multipart/form-data; boundary=xyz", headers=headers
        )
        assert_safe(response)
        assert response.status_code in (400, 422)
    assert table_counts(app) == NOTHING

    # Duplicate fields: the first of each is taken, so this is one well-formed signature.
    body = urlencode(
        [("name", "Ada Lovelace"), ("name", PAYLOAD), ("email", "ada@example.org"), ("email", "x"), ("public", "y")]
    )
    response = client.post(
        f"/letters/{SLUG}/sign", data=body, content_type="application/x-www-form-urlencoded", headers=headers
    )
    assert response.status_code == 303
    assert table_counts(app)["signatures"] == 1


@FUZZ
@given(email=hostile_text, token=hostile_text)
# Found before: "/0" is sent as %2F0, which Werkzeug answered with a 308 to /confirm/0.
@example(email="", token="/0")
def test_resend_and_confirm_posts_with_hostile_values_store_nothing(
    app: Flask, client: FlaskClient, letter: Letter, email: str, token: str
) -> None:
    csrf = csrf_token(client, f"/letters/{SLUG}/resend")
    response = client.post(f"/letters/{SLUG}/resend", data={"csrf_token": csrf, "email": email})
    body = assert_safe(response)
    # No one has signed, so even a valid address queues nothing; the answer does not say so.
    assert response.status_code in (303, 413, 422), body[:300]
    assert_safe(client.get(f"/confirm/{segment(token)}"))
    response = client.post(f"/confirm/{segment(token)}", data={"csrf_token": csrf})
    assert_safe(response)
    # A token that begins with "/" makes "/confirm//…" once %2F is decoded: Werkzeug sends that to
    # the address with one slash (308) before any view runs.
    merged = (308,) if token.startswith("/") else ()
    assert response.status_code in (400, 404, 413, *merged)
    assert table_counts(app) == NOTHING


@pytest.mark.parametrize("method", METHODS)
def test_odd_methods_are_refused_everywhere(app: Flask, client: FlaskClient, letter: Letter, method: str) -> None:
    paths = [
        "/",
        f"/letters/{SLUG}",
        "/letters/no-such-letter",
        f"/letters/{SLUG}/signatures",
        f"/letters/{SLUG}/sign",
        f"/letters/{SLUG}/resend",
        "/confirm/not-a-token",
        "/api/v1/letters",
        f"/api/v1/letters/{SLUG}",
        "/api/v1/letters/no-such-letter",
        f"/api/v1/letters/{SLUG}/signatures",
        "/api/v1/openapi.json",
    ]
    token = csrf_token(client, f"/letters/{SLUG}/resend")
    for path in paths:
        response = client.open(
            path, method=method, data={"csrf_token": token, "name": "Ada", "email": "ada@example.org"}
        )
        assert_safe(response)
        if method == "OPTIONS":
            assert response.status_code == 200
            assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]
        else:
            assert response.status_code == 405, (method, path, response.status_code)
            assert method not in response.headers["Allow"]
    assert table_counts(app) == NOTHING


@FUZZ
@given(name=st.text(min_size=1, max_size=60))
def test_a_stored_name_is_the_cleaned_name(app: Flask, client: FlaskClient, letter: Letter, name: str) -> None:
    # Whatever is accepted is stored exactly as clean_name makes it: nothing else is changed on the way.
    before = table_counts(app)
    email = f"s{before['outbox_messages']}@example.org"
    response = client.post(f"/letters/{SLUG}/sign", data=sign_data(client, name=name, email=email))
    body = assert_safe(response)
    with app.app_context():
        stored = db.session.scalar(sa.select(Signature.name).where(Signature.email_key == email))
    if response.status_code == 303:
        assert stored == clean_name(name)
        assert stored and not re.search(r"[\u202a-\u202e\u2066-\u2069]", stored)
    else:
        # Refused (a name that is empty once cleaned, too long, or starts like a formula): nothing stored.
        assert response.status_code == 422 and 'aria-invalid="true"' in body, body[:300]
        assert stored is None and table_counts(app) == before


# What a path parameter may be sent instead of a number: too big for the columns (2**31, 2**63,
# more digits than Python converts), negative, zero, not a number, another script's digits.
HOSTILE_IDS = [
    "99999999999999999999",
    "2147483648",
    "9223372036854775808",
    "9" * 5000,
    "-1",
    "0",
    "abc",
    "1.5",
    "1e9",
    "١٢",
    "%00",
]


def _fill(rule: str, values: dict[str, str]) -> str:
    """The rule's path with each <converter:name> replaced by the value given for name."""
    return re.sub(r"<(?:[^<>]*:)?(\w+)>", lambda match: values[match.group(1)], rule)


def test_every_route_with_a_path_parameter_answers_hostile_ids_without_a_server_error(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    """Every route of the site (pages, API, moderation, as a signed-in admin so the views run) with
    each of its path parameters in turn out of range or not a number: a 4xx, never a 5xx, nothing
    stored; a row id is no address at all (404). Built from the URL map: a new route is covered."""
    with app.app_context(), db.transaction() as session:
        accounts.create_moderator(session, "admin@example.org", "correct horse battery staple", ModeratorRole.ADMIN)
        organisation = Organisation(name="Example University", domain="example.edu")
        signature = Signature(
            letter_id=letter.id,
            name="Ada Lovelace",
            email="ada@example.org",
            email_key="ada@example.org",
            status=SignatureStatus.CONFIRMED,
            confirmed_at=utcnow(),
        )
        session.add_all([organisation, signature])
        session.flush()
        existing = {
            "slug": SLUG,
            "signature_id": str(signature.id),
            "organisation_id": str(organisation.id),
            "entry_id": "1",
            "number": "1",
            "day": "2026-01-01",
            "file_format": "json",
            "filename": "style.css",
            "token": "not-a-token",
            "job_id": "1",
            "moderator_id": "1",
            "invitation_id": "1",
        }
    token = csrf_token(client, "/moderate/login")
    signed_in = client.post(
        "/moderate/login",
        data={"email": "admin@example.org", "password": "correct horse battery staple", "csrf_token": token},
    )
    assert signed_in.status_code == 303, signed_in.get_data(as_text=True)[:300]
    before = table_counts(app)

    routes = [rule for rule in app.url_map.iter_rules() if rule.arguments]
    assert len(routes) >= 40, [rule.rule for rule in routes]
    unknown = {name for rule in routes for name in rule.arguments} - existing.keys()
    assert not unknown, f"give these path parameters a usual value above: {unknown}"
    csrf = csrf_token(client, "/moderate/organisations")
    failures = []
    sent = 0
    for rule in routes:
        for name in sorted(rule.arguments):
            for hostile in HOSTILE_IDS:
                path = _fill(rule.rule, existing | {name: quote(hostile, safe="%")})
                for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                    response = client.open(path, method=method, data={"csrf_token": csrf} if method == "POST" else None)
                    sent += 1
                    expected = 404 if name in ("signature_id", "organisation_id", "entry_id", "number") else None
                    status = response.status_code
                    if status >= 500 or (expected and status != expected):
                        failures.append((method, path[:80], status))
                    elif path.startswith("/api/") and status >= 400 and not response.is_json:
                        failures.append((method, path[:80], "not JSON"))
    assert sent > 400
    assert failures == []
    assert table_counts(app) == before
    # Every number in a path is an <id:...>: Werkzeug's own <int:...> takes any size.
    assert not [rule.rule for rule in routes if "<int" in rule.rule], "use <id:name> for numbers in paths"
