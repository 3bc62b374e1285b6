"""Moderation in public: reports, verified and founding signatories, and the public ledger."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import removal_reasons
from app.db import db, utcnow
from app.models import Flag, FlagKind, Letter, Moderator, RemovalReason, Signature, SignatureStatus
from app.services import counting, moderation
from app.services.flags import flag_params
from app.services.queries.ledger import REMOVAL_REASONS
from tests import factories
from tests.support import csrf_token

pytestmark = pytest.mark.engines

SLUG = "test-letter"
AddSignature = Callable[..., int]


@pytest.fixture
def add_signature(app: Flask, letter: Letter) -> AddSignature:
    """Store one signature of the test letter (confirmed and public unless told otherwise); its id."""

    def add(name: str | None = None, *, status: SignatureStatus = SignatureStatus.CONFIRMED, **fields: Any) -> int:
        with app.app_context(), db.transaction() as session:
            letter_id = fields.pop("letter_id", letter.id)
            return factories.signer(session, letter_id, status, name=name, **fields).id

    return add


def act(app: Flask, action: moderation.Action, ids: list[int], **options: Any) -> None:
    """A moderator's action, as the moderation pages will take it."""
    with app.app_context(), db.transaction() as session:
        moderator = session.scalar(sa.select(Moderator))
        if moderator is None:
            moderator = Moderator(email="mod@example.org", password_hash="x", session_token="t")
            session.add(moderator)
            session.flush()
        letter = session.scalar(sa.select(Letter).where(Letter.slug == SLUG))
        assert letter is not None
        moderation.act(session, moderator, letter, action, ids, now=utcnow(), **options)


def flags(app: Flask) -> list[Flag]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Flag).order_by(Flag.id)))


def report(client: FlaskClient, signature_id: int, **fields: str) -> Any:
    path = f"/letters/{SLUG}/signatures/{signature_id}/report"
    data = {"reason": "fake", "csrf_token": csrf_token(client, f"/letters/{SLUG}/resend")} | fields
    return client.post(path, data=data)


# Reports


def test_every_listed_signature_links_to_its_report_form(client: FlaskClient, add_signature: AddSignature) -> None:
    first, second = add_signature("Ada Lovelace"), add_signature("Grace Hopper")
    for path in (f"/letters/{SLUG}/signatures", f"/letters/{SLUG}"):
        html = client.get(path).get_data(as_text=True)
        links = re.findall(r'href="/letters/test-letter/signatures/(\d+)/report"', html)
        assert sorted(map(int, links)) == [first, second], path
    form = client.get(f"/letters/{SLUG}/signatures/{first}/report").get_data(as_text=True)
    assert "Ada Lovelace" in form and 'name="csrf_token"' in form
    assert all(f'value="{reason}"' in form for reason in ("fake", "duplicate", "abusive", "other"))


def test_a_report_adds_a_flag_and_hides_nothing(app: Flask, client: FlaskClient, add_signature: AddSignature) -> None:
    signature_id = add_signature("Ada Lovelace")
    answer = report(
        client, signature_id, reason="duplicate", details="Signed twice,\r\nonce as A. L.", contact=" Me@Example.ORG "
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/letters/{SLUG}/reported"
    thanks = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Thank you for your report" in thanks
    [flag] = flags(app)
    assert (flag.kind, flag.signature_id, flag.resolved_at) == (FlagKind.REPORT, signature_id, None)
    assert flag_params(flag.detail) == {"reason": "duplicate", "details": "Signed twice,\nonce as A. L."}
    assert flag.contact == "Me@example.org"  # normalised by email-validator
    # Still counted and listed.
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["signature_count"] == 1
    assert "Ada Lovelace" in client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    # Without details or contact.
    assert report(client, signature_id, reason="other").status_code == 303
    assert [(flag_params(f.detail), f.contact) for f in flags(app)][1] == ({"reason": "other", "details": ""}, None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reason": "spam"}, "Not a valid choice"),
        ({"reason": ""}, "Please choose what is wrong."),
        ({"details": "x" * 501}, "Please use at most 500 characters."),
        ({"contact": "not-an-address"}, "Please enter a valid email address"),
        ({"contact": "a@" + "b" * 260 + ".org"}, "Please use at most 254 characters."),
    ],
)
def test_a_bad_report_is_422_with_the_reason_and_stores_nothing(
    app: Flask, client: FlaskClient, add_signature: AddSignature, fields: dict[str, str], message: str
) -> None:
    answer = report(client, add_signature(), **fields)
    assert answer.status_code == 422
    assert message in answer.get_data(as_text=True)
    assert flags(app) == []


def test_a_report_without_its_csrf_token_is_refused(
    app: Flask, client: FlaskClient, add_signature: AddSignature
) -> None:
    answer = client.post(f"/letters/{SLUG}/signatures/{add_signature()}/report", data={"reason": "fake"})
    assert answer.status_code == 400
    assert flags(app) == []


def test_only_confirmed_public_signatures_can_be_reported(
    app: Flask, client: FlaskClient, add_signature: AddSignature, create_letter: Callable[..., Letter]
) -> None:
    other = create_letter(slug="other-letter")
    hidden = add_signature()
    act(app, moderation.Action.HIDE, [hidden], reason=RemovalReason.FAKE)
    not_listed = [
        add_signature(status=SignatureStatus.UNCONFIRMED, confirmed_at=None),
        add_signature(status=SignatureStatus.PENDING),
        add_signature(public=False),
        hidden,
        add_signature(letter_id=other.id),
        999_999,
    ]
    for signature_id in not_listed:
        path = f"/letters/{SLUG}/signatures/{signature_id}/report"
        assert client.get(path).status_code == 404, signature_id
        assert report(client, signature_id).status_code == 404, signature_id
    assert client.get(f"/letters/nope/signatures/{add_signature()}/report").status_code == 404
    assert flags(app) == []


# Verified signatories


def test_verified_signatories_have_a_badge_in_words_and_a_flag_in_the_api(
    client: FlaskClient, add_signature: AddSignature
) -> None:
    add_signature("Ada Lovelace", verified=True)
    add_signature("Grace Hopper")
    html = client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    grace, ada = re.findall(r'<li class="signer">.*?</li>', html, re.DOTALL)
    assert "Ada Lovelace" in ada and re.search(r'class="badge badge-verified"[^>]*>Verified<', ada)
    assert "Grace Hopper" in grace and "Verified" not in grace
    data = client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"]
    assert [(s["name"], s["verified"], s["founding"]) for s in data] == [
        ("Grace Hopper", False, False),
        ("Ada Lovelace", True, False),
    ]
    assert "Checked by phone" not in html + str(data)  # the moderator's note stays private


def test_the_verified_filter_pages_with_cursors_in_the_api_and_the_list(
    client: FlaskClient, add_signature: AddSignature
) -> None:
    same_time = utcnow() - timedelta(minutes=5)
    for n in range(30):
        # Every third verified; ten share one timestamp, so ids break the ties.
        add_signature(f"Person {n:02d}", verified=n % 3 == 0, **({"confirmed_at": same_time} if n >= 20 else {}))
    expected = {f"Person {n:02d}" for n in range(30) if n % 3 == 0}

    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 3, "verified": "1"} | ({"cursor": cursor} if cursor else {})
        data = client.get(f"/api/v1/letters/{SLUG}/signatures", query_string=query).get_json()
        assert all(s["verified"] for s in data["signatures"])
        seen += [s["name"] for s in data["signatures"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(expected) and set(seen) == expected

    unverified = client.get(f"/api/v1/letters/{SLUG}/signatures", query_string={"verified": "0", "limit": 100})
    assert {s["name"] for s in unverified.get_json()["signatures"]} == {f"Person {n:02d}" for n in range(30)} - expected

    html = client.get(f"/letters/{SLUG}/signatures", query_string={"verified": "1"}).get_data(as_text=True)
    assert "Verified signatories" in html
    assert sorted(re.findall(r'signer-name">(Person \d\d)<', html)) == sorted(expected)


def test_the_list_pager_and_search_keep_the_filter(client: FlaskClient, add_signature: AddSignature) -> None:
    for n in range(55):
        add_signature(f"Person {n:02d}", verified=True)
    add_signature("Not Verified")
    first = client.get(f"/letters/{SLUG}/signatures?verified=1").get_data(as_text=True)
    next_href = first.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    assert "verified=1" in next_href
    second = client.get(next_href).get_data(as_text=True)
    assert "Person 00" in second and "Not Verified" not in second
    assert '<input type="hidden" name="verified" value="1">' in first


@pytest.mark.parametrize("value", ["maybe", "2", "yes please"])
def test_a_bad_filter_value_is_400_not_500(client: FlaskClient, letter: Letter, value: str) -> None:
    api = client.get(f"/api/v1/letters/{SLUG}/signatures", query_string={"verified": value})
    assert api.status_code == 400 and api.get_json() == {
        "error": "bad_parameter",
        "message": "verified must be 1 or 0.",
    }
    page = client.get(f"/letters/{SLUG}/signatures", query_string={"founding": value})
    assert page.status_code == 400 and "founding must be 1 or 0." in page.get_data(as_text=True)


def _section(html: str, heading_id: str) -> str:
    part = html.split(f'id="{heading_id}"', 1)
    assert len(part) == 2, f"no section {heading_id}"
    return part[1].split("</section>", 1)[0]


def test_the_letter_page_shows_notable_and_founding_signatories_apart(
    client: FlaskClient, add_signature: AddSignature
) -> None:
    add_signature("Founder One", founding=True)
    add_signature("Founder Hidden Name", founding=True, public=False)
    add_signature("Famous Person", verified=True)
    add_signature("Later Signer")
    add_signature("Unconfirmed Famous", verified=True, status=SignatureStatus.PENDING)
    html = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    notable = _section(html, "notable-heading")
    founding = _section(html, "founding-heading")
    newest = _section(html, "signers-heading")
    assert "Notable signatories" in notable and "Famous Person" in notable
    assert "Later Signer" not in notable and "Unconfirmed Famous" not in notable
    assert "Founding signatories" in founding and "Founder One" in founding
    assert "Famous Person" not in founding and "Founder Hidden Name" not in html
    assert "Later Signer" in newest and "Famous Person" in newest and "Founder One" not in newest
    # The live refresh (the server-rendered newest list) keeps founders out too.
    refreshed = client.get(f"/letters/{SLUG}/newest").get_data(as_text=True)
    assert "Later Signer" in refreshed and "Founder One" not in refreshed
    data = client.get(f"/api/v1/letters/{SLUG}/signatures", query_string={"founding": "1"}).get_json()
    assert [(s["name"], s["founding"]) for s in data["signatures"]] == [("Founder One", True)]


def test_without_verified_or_founding_signatories_those_sections_are_absent(
    client: FlaskClient, add_signature: AddSignature
) -> None:
    add_signature("Later Signer")
    html = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert "Notable signatories" not in html and "Founding signatories" not in html


# The public ledger


def ledger_of(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-ledger="([^"]+)">(?:[^<:]*: )?([\d,]+)<', html))


def test_the_ledger_shows_numbers_by_reason_never_names(
    app: Flask, client: FlaskClient, add_signature: AddSignature
) -> None:
    ids = [add_signature(f"Person {n}") for n in range(7)]
    act(app, moderation.Action.HIDE, ids[:2], reason=RemovalReason.FAKE)
    act(app, moderation.Action.DELETE, ids[2:3], reason=RemovalReason.DUPLICATE)
    act(app, moderation.Action.HIDE, ids[3:4], reason=RemovalReason.ABUSE)
    act(app, moderation.Action.DELETE, ids[4:5], reason=RemovalReason.OTHER)
    html = client.get(f"/letters/{SLUG}/log").get_data(as_text=True)
    assert ledger_of(html) == {
        "confirmed": "2",
        "removed": "5",
        "removed:fake": "2",
        "removed:duplicate": "1",
        "removed:abuse": "1",
        "removed:withdrawn": "0",
        "removed:other": "1",
    }
    assert "Awaiting review" not in html  # post-moderation, nothing waiting
    ledger = _section(html, "ledger-heading")
    assert not any(f"Person {n}" in ledger for n in range(7))
    # The letter page sums it up in one line that links to these numbers.
    trust = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert "Every signature confirmed by email ·\n    5 removed ·" in trust
    assert f'<a href="/letters/{SLUG}/log">Verify this list</a>' in trust
    assert client.get(f"/api/v1/letters/{SLUG}").get_json()["moderation"] == {
        "mode": "post",
        "awaiting_review": 0,
        "removed": {"fake": 2, "duplicate": 1, "abuse": 1, "withdrawn": 0, "other": 1},
    }


def test_awaiting_review_shows_in_pre_moderation_or_while_any_wait(
    app: Flask, client: FlaskClient, letter: Letter, add_signature: AddSignature
) -> None:
    with app.app_context(), db.transaction() as session:
        waiting = Signature(
            letter_id=letter.id,
            name="Waiting",
            email="w@example.org",
            email_key="w@example.org",
            status=SignatureStatus.UNCONFIRMED,
        )
        session.add(waiting)
        session.flush()
        counting.move(session, waiting, SignatureStatus.PENDING, now=utcnow())
        waiting.confirmed_at = utcnow()
    html = client.get(f"/letters/{SLUG}/log").get_data(as_text=True)
    assert ledger_of(html)["awaiting_review"] == "1"  # post-moderation, but one waits
    act(app, moderation.Action.APPROVE, [waiting.id])
    assert "Awaiting review" not in client.get(f"/letters/{SLUG}/log").get_data(as_text=True)
    with app.app_context(), db.transaction() as session:
        session.execute(sa.update(Letter).values(moderation_mode="pre"))
    html = client.get(f"/letters/{SLUG}/log").get_data(as_text=True)
    assert ledger_of(html)["awaiting_review"] == "0" and "counts once a moderator has approved it" in html
    data = client.get("/api/v1/letters").get_json()["letters"][0]
    assert data["moderation"] == {
        "mode": "pre",
        "awaiting_review": 0,
        "removed": dict.fromkeys(("fake", "duplicate", "abuse", "withdrawn", "other"), 0),
    }
    assert data["signature_count"] == 1


def test_the_openapi_document_describes_the_new_fields(client: FlaskClient, add_signature: AddSignature) -> None:
    add_signature(verified=True, founding=True)
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    letter = client.get(f"/api/v1/letters/{SLUG}").get_json()
    signature = client.get(f"/api/v1/letters/{SLUG}/signatures").get_json()["signatures"][0]
    for name, item in (("Letter", letter), ("Signature", signature), ("Moderation", letter["moderation"])):
        assert set(item) == set(schemas[name]["properties"]), name
        assert set(schemas[name]["required"]) <= set(item), name
    assert set(letter["moderation"]["removed"]) == set(schemas["Moderation"]["properties"]["removed"]["required"])
    assert schemas["Signature"]["properties"]["verified"]["type"] == "boolean"
    parameters = client.get("/api/v1/openapi.json").get_json()["paths"]["/letters/{slug}/signatures"]["get"]
    assert {"verified", "founding"} <= {p["name"] for p in parameters["parameters"]}


def test_every_removal_reason_has_its_labels() -> None:
    assert set(removal_reasons.TALLY_NAMES) == set(REMOVAL_REASONS)
    assert set(removal_reasons.CHOICES) == set(RemovalReason)
