"""Domain-confirmed affiliations: the choice on the form, the shown domain, organisation badges, filters."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import (
    AuditEntry,
    Flag,
    FlagKind,
    Letter,
    LetterDomainTally,
    Moderator,
    ModeratorRole,
    Organisation,
    Signature,
    SignatureStatus,
)
from app.services import counting, domains
from app.services.queries.listing import public_signatures
from tests import factories
from tests.factories import add_confirmed, log_in, sign_and_confirm
from tests.support import (
    SMTPSink,
    count,
    csrf_token,
    execute,
    link_in,
    one,
    path_of,
    query_plan,
    read,
    recorded_sql,
    rows,
    sign,
    smtp_settings,
    write,
)

pytestmark = pytest.mark.engines

SLUG = "test-letter"


@pytest.fixture
def app_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    """Deliver to the test SMTP server."""
    return smtp_settings(smtp_sink)


def add_organisation(app: Flask, domain: str = "example.edu", name: str = "Example University") -> None:
    write(app, lambda session: session.add(Organisation(domain=domain, name=name)))


def top_organisations(app: Flask, letter: Letter) -> list[domains.OrganisationCount]:
    return read(app, domains.top_organisations, letter.id, limit=5)


def api_signers(client: FlaskClient, query: str = "") -> dict[str, dict[str, Any]]:
    data = client.get(f"/api/v1/letters/{SLUG}/signatures{query}").get_json()
    return {s["name"]: s for s in data["signatures"]}


def test_a_signer_at_a_listed_domain_shows_the_badge_on_the_list_and_in_the_api(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    add_organisation(app)
    sign_and_confirm(
        app, client, "grace@cs.example.edu", sink=smtp_sink, name="Grace Hopper", affiliation="Navy", show_domain="y"
    )
    sign_and_confirm(app, client, "ada@gmail.com", sink=smtp_sink, name="Ada Lovelace", show_domain="y")
    sign_and_confirm(app, client, "alan@example.edu", sink=smtp_sink, name="Alan Turing")  # did not ask

    page = client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    assert "Example University (confirmed)" in page and "@cs.example.edu" in page
    assert page.count("(confirmed)") == 1  # Ada is at gmail.com; Alan did not ask
    assert "gmail.com" not in page and "grace@" not in page
    signers = api_signers(client)
    assert signers["Grace Hopper"]["confirmed_domain"] == "cs.example.edu"
    assert signers["Grace Hopper"]["confirmed_organisation"] == "Example University"
    assert signers["Ada Lovelace"]["confirmed_domain"] is None
    assert signers["Ada Lovelace"]["confirmed_organisation"] is None
    assert signers["Alan Turing"]["confirmed_domain"] is None

    # The letter page counts signers by organisation; the filter keeps only domain-confirmed ones.
    letter_page = client.get(f"/letters/{SLUG}").get_data(as_text=True)
    assert "Confirmed through their organisation" in letter_page and "Example University" in letter_page
    assert list(api_signers(client, "?domain_confirmed=1")) == ["Grace Hopper"]
    assert set(api_signers(client, "?domain_confirmed=0")) == {"Ada Lovelace", "Alan Turing"}
    filtered = client.get(f"/letters/{SLUG}/signatures?domain_confirmed=1").get_data(as_text=True)
    assert "Grace Hopper" in filtered and "Ada Lovelace" not in filtered

    # The CSV download has the domain and the organisation, never an address.
    with client.get(f"/letters/{SLUG}/signatures.csv") as download:  # a server closes the file it sent
        text = download.get_data(as_text=True)
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))}
    assert rows["Grace Hopper"]["confirmed_domain"] == "cs.example.edu"
    assert rows["Grace Hopper"]["confirmed_organisation"] == "Example University"
    assert rows["Ada Lovelace"]["confirmed_domain"] == ""
    assert "@" not in text


def test_withdrawal_erases_the_choices_and_takes_the_signer_off_the_tally(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    add_organisation(app)
    sign_and_confirm(app, client, "grace@example.edu", sink=smtp_sink, name="Grace", show_domain="y", wants_updates="y")
    assert top_organisations(app, letter)[0].count == 1
    withdraw = path_of(link_in(smtp_sink.messages_to("grace@example.edu")[0], r"https?://\S+/withdraw/\S+"))
    assert client.post(withdraw, data={"csrf_token": csrf_token(client, withdraw)}).status_code == 200
    signature = one(app, Signature)
    assert (signature.show_domain, signature.confirmed_domain, signature.wants_updates) == (False, None, False)
    assert one(app, LetterDomainTally.value) == 0
    assert top_organisations(app, letter) == []


def test_recount_checks_and_fixes_the_per_domain_tallies(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    add_organisation(app)
    sign_and_confirm(app, client, "grace@example.edu", sink=smtp_sink, name="Grace", show_domain="y")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["letter", "recount", "test-letter"]).exit_code == 0
    execute(app, sa.update(LetterDomainTally).values(value=5))
    result = runner.invoke(args=["letter", "recount", "test-letter"])
    assert result.exit_code == 1
    assert "confirmed via example.edu: stored 5, recount 1." in result.output
    assert runner.invoke(args=["letter", "recount", "test-letter", "--fix"]).exit_code == 0
    assert one(app, LetterDomainTally.value) == 1
    assert top_organisations(app, letter)[0].count == 1
    assert "the stored count is exact" in runner.invoke(args=["letter", "recount", "test-letter"]).output


@pytest.mark.parametrize(
    ("domain", "public"),
    [
        ("gmail.com", True),
        ("naver.com", True),
        ("daum.net", True),
        ("hanmail.net", True),
        ("kakao.com", True),
        ("yahoo.co.kr", True),
        ("yahoo.fr", True),
        ("gmx.de", True),
        ("proton.me", True),
        ("mailinator.com", True),  # disposable
        ("example.edu", False),
        ("cs.example.edu", False),
        ("yahoo-research.example.org", False),
    ],
)
def test_public_webmail_and_disposable_domains_are_never_shown(domain: str, public: bool) -> None:
    assert domains.is_public_mail(domain) is public
    assert domains.shown_domain(domain, True) == (None if public else domain)
    assert domains.shown_domain(domain, False) is None


def test_the_most_specific_listed_domain_names_the_organisation(session: Session) -> None:
    session.add(Organisation(domain="example.edu", name="Example University"))
    session.add(Organisation(domain="med.example.edu", name="Example Medical School"))
    found = domains.organisations_for(session, ["a.med.example.edu", "cs.example.edu", "example.edu", "x.org"])
    assert {domain: o.name for domain, o in found.items()} == {
        "a.med.example.edu": "Example Medical School",
        "cs.example.edu": "Example University",
        "example.edu": "Example University",
    }


def test_the_domain_filter_is_served_by_its_partial_index(app: Flask, letter: Letter) -> None:
    """At a million signers, the filtered list must not walk the whole list."""
    with recorded_sql(app) as seen:
        read(app, public_signatures, letter.id, limit=50, domain_confirmed=True)
    plan = query_plan(app, seen[-1])
    assert "ix_signatures_confirmed_domain" in plan, plan


def test_the_affiliation_flag_finds_organisations_without_loading_the_table(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    add_organisation(app)
    others = [Organisation(domain=f"org{n}.example", name=f"Organisation {n}") for n in range(50)]
    write(app, lambda session: session.add_all(others))
    sign(client, SLUG, name="Faker", email="faker@elsewhere.org", affiliation="Professor, example university")
    sign(client, SLUG, name="Real", email="real@cs.example.edu", affiliation="Example University")
    sign(client, SLUG, name="Other", email="other@elsewhere.org", affiliation="Independent")
    flagged = dict(
        rows(app, sa.select(Signature.name, Flag.detail).join(Flag.signature).filter_by(kind=FlagKind.AFFILIATION))
    )
    assert list(flagged) == ["Faker"]
    assert "Example University" in flagged["Faker"] and "example.edu" in flagged["Faker"]


# --- the organisations table: the CLI loader and the moderators' editor -------------------------


def test_the_csv_loader_upserts_good_lines_and_names_each_bad_one(app: Flask, letter: Letter, tmp_path: Any) -> None:
    add_organisation(app, "old.example", "Old Name")
    good = tmp_path / "good.csv"
    good.write_text("domain,name\nexample.edu,Example University\n@OLD.example.,New Name\n", encoding="utf-8")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["organisations", "load", str(good)])
    assert result.exit_code == 0, result.output
    assert "1 added, 1 updated" in result.output

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "domain,name\nthird.example,Third\nnot a domain,X\ngmail.com,Google\nfourth.example\nexample.edu,\n"
        "third.example,Again\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["organisations", "load", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3:" in result.output and "not a domain" in result.output
    assert f"{bad}:4:" in result.output and "webmail" in result.output
    assert f"{bad}:5:" in result.output and "2 columns" in result.output
    assert f"{bad}:6:" in result.output and "name" in result.output
    assert f"{bad}:7:" in result.output and "line 2" in result.output
    assert "nothing loaded" in result.output

    def stored() -> dict[str, str]:
        return dict(rows(app, Organisation.domain, Organisation.name))

    assert stored() == {"old.example": "New Name", "example.edu": "Example University"}
    result = runner.invoke(args=["organisations", "load", "--skip-bad", str(bad)])
    assert result.exit_code == 0, result.output
    assert stored()["third.example"] == "Third"


def test_admins_edit_organisations_and_each_change_is_audited(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    create_moderator("admin@example.org", ModeratorRole.ADMIN)
    assert log_in(client, "admin@example.org").status_code == 303
    page = "/moderate/organisations"
    token = csrf_token(client, page)
    response = client.post(page, data={"csrf_token": token, "domain": "Example.EDU", "name": "Example University"})
    assert response.status_code == 303
    refused = client.post(page, data={"csrf_token": token, "domain": "gmail.com", "name": "Google"})
    assert refused.status_code == 422 and "webmail" in refused.get_data(as_text=True)
    assert client.post(page, data={"domain": "x.example", "name": "No CSRF"}).status_code == 400

    organisation = one(app, Organisation)
    assert (organisation.domain, organisation.name) == ("example.edu", "Example University")
    edit = f"/moderate/organisations/{organisation.id}/edit"
    data = {"csrf_token": csrf_token(client, edit), "domain": "example.edu", "name": "Example Univ."}
    assert client.post(edit, data=data).status_code == 303

    upload = {"csrf_token": token, "csv_text": "domain,name\nsecond.example,Second\nbad line\n"}
    refused = client.post("/moderate/organisations/upload", data=upload)
    assert refused.status_code == 422 and "Line 3" in refused.get_data(as_text=True)
    upload = {"csrf_token": token, "csv_text": "second.example,Second\n"}
    upload = {"csrf_token": token, "csv_text": "second.example,Second\n"}
    assert client.post("/moderate/organisations/upload", data=upload).status_code == 303
    assert "Second" in client.get(page).get_data(as_text=True)

    delete = f"/moderate/organisations/{organisation.id}/delete"
    assert client.post(delete, data={"csrf_token": token}).status_code == 303
    assert rows(app, Organisation.domain) == ["second.example"]
    entries = rows(app, AuditEntry)
    assert [e.action for e in entries] == [
        "organisation.add",
        "organisation.edit",
        "organisation.load",
        "organisation.delete",
    ]
    assert all(e.moderator_email == "admin@example.org" for e in entries)
    assert "Example Univ." in entries[1].reason
    assert "organisation.add" in client.get("/moderate/audit").get_data(as_text=True)


def test_a_plain_moderator_cannot_touch_organisations(
    app: Flask, client: FlaskClient, letter: Letter, create_moderator: Callable[..., Moderator]
) -> None:
    add_organisation(app)
    create_moderator("mod@example.org", ModeratorRole.MODERATOR)
    assert log_in(client, "mod@example.org").status_code == 303
    assert client.get("/moderate/organisations").status_code == 403
    token = csrf_token(client, f"/moderate/letters/{SLUG}")
    assert (
        client.post(
            "/moderate/organisations", data={"csrf_token": token, "domain": "a.example", "name": "A"}
        ).status_code
        == 403
    )
    assert client.post("/moderate/organisations/1/delete", data={"csrf_token": token}).status_code == 403
    assert client.get("/moderate/organisations/1/edit").status_code == 403
    client.post("/moderate/logout", data={"csrf_token": token})
    assert client.get("/moderate/organisations").status_code in (302, 303)
    assert count(app, Organisation) == 1
    assert count(app, AuditEntry) == 0


def test_pre_moderation_counts_the_organisation_once_approved(session: Session, letter: Letter) -> None:
    """The domain tally follows the count: moves in and out of the public list keep it exact."""
    session.add(Organisation(domain="example.edu", name="Example University"))
    factories.confirmed_signers(session, letter.id, 2, confirmed_domain="example.edu")
    counting.add_to_domain_tally(session, letter.id, "example.edu", +2)
    first = session.scalars(sa.select(Signature).order_by(Signature.id)).first()
    assert first is not None
    counting.move(session, first, SignatureStatus.HIDDEN, now=utcnow())
    [top] = domains.top_organisations(session, letter.id, limit=5)
    assert (top.name, top.count) == ("Example University", 1)


# --- look-alike domains: stored in one canonical form, shown as a browser would -----------------


@pytest.mark.parametrize(
    ("domain", "canonical", "shown"),
    [
        ("аррӏе.com", "xn--80ak6aa92e.com", "xn--80ak6aa92e.com"),  # all Cyrillic, every letter Latin-like
        ("xn--80ak6aa92e.com", "xn--80ak6aa92e.com", "xn--80ak6aa92e.com"),
        ("paypаl.com", "xn--paypl-7ve.com", "xn--paypl-7ve.com"),  # Latin with one Cyrillic а
        ("οικ.com", "xn--uxacn.com", "xn--uxacn.com"),  # Greek that reads "oik"
        ("1١.com", None, "xn--1-bqc.com"),  # two kinds of digits (and not a valid IDN at all)
        ("abcé日本.jp", "xn--abc-dma4730kcvb.jp", "xn--abc-dma4730kcvb.jp"),  # non-ASCII Latin beside Han
        ("Example.EDU.", "example.edu", "example.edu"),
        ("例え.jp", "xn--r8jz45g.jp", "例え.jp"),  # Han and Hiragana: Japanese, one script
        ("xn--r8jz45g.jp", "xn--r8jz45g.jp", "例え.jp"),
        ("日本語abc.jp", "xn--abc-s08fl0dtz6h.jp", "日本語abc.jp"),
        ("한국.kr", "xn--3e0b707e.kr", "한국.kr"),
        ("münchen.de", "xn--mnchen-3ya.de", "münchen.de"),
        ("ελληνικά.gr", "xn--hxargifdar.gr", "ελληνικά.gr"),
        ("москва.рф", "xn--80adxhks.xn--p1ai", "москва.рф"),
        ("аррӏе.ru", "xn--80ak6aa92e.ru", "аррӏе.ru"),  # Latin-like Cyrillic is at home on .ru
    ],
)
def test_domains_have_one_stored_form_and_a_safe_display(domain: str, canonical: str | None, shown: str) -> None:
    assert domains.canonical_domain(domain) == canonical
    assert domains.display_domain(domain) == shown


def test_a_look_alike_domain_is_shown_in_punycode_and_earns_no_badge(
    app: Flask, client: FlaskClient, letter: Letter, smtp_sink: SMTPSink
) -> None:
    add_organisation(app, "apple.com", "Apple")
    sign_and_confirm(app, client, "tim@аррӏе.com", sink=smtp_sink, name="Not Tim", show_domain="y")
    page = client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    assert "confirmed via @xn--80ak6aa92e.com" in page
    assert "аррӏе" not in page and "Apple (confirmed)" not in page
    (signer,) = api_signers(client).values()
    assert (signer["confirmed_domain"], signer["confirmed_organisation"]) == ("xn--80ak6aa92e.com", None)
    signature_id = one(app, Signature.id)
    own_page = client.get(f"/letters/{SLUG}/signatures/{signature_id}").get_data(as_text=True)
    assert "confirmed via @xn--80ak6aa92e.com" in own_page and "аррӏе" not in own_page


@pytest.mark.parametrize(("listed", "address"), [("例え.jp", "ken@xn--r8jz45g.jp"), ("xn--r8jz45g.jp", "ken@例え.jp")])
def test_an_organisation_with_an_international_domain_matches_either_spelling(
    app: Flask,
    client: FlaskClient,
    letter: Letter,
    smtp_sink: SMTPSink,
    create_moderator: Callable[..., Moderator],
    listed: str,
    address: str,
) -> None:
    create_moderator("admin@example.org", ModeratorRole.ADMIN)
    assert log_in(client, "admin@example.org").status_code == 303
    page = "/moderate/organisations"
    added = client.post(page, data={"csrf_token": csrf_token(client, page), "domain": listed, "name": "例え大学"})
    assert added.status_code == 303
    assert "例え.jp" in client.get(page).get_data(as_text=True)
    # The address as email-validator normalises it: the domain in Unicode, whichever way it was typed.
    sign_and_confirm(app, client, address, sink=smtp_sink, mailbox="ken@例え.jp", name="Ken", show_domain="y")
    listing = client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    assert "例え大学 (confirmed)" in listing and "confirmed via @例え.jp" in listing
    (signer,) = api_signers(client).values()
    assert (signer["confirmed_domain"], signer["confirmed_organisation"]) == ("xn--r8jz45g.jp", "例え大学")
    assert "例え大学" in client.get(f"/letters/{SLUG}").get_data(as_text=True)  # the count by organisation


def test_a_domain_stored_in_unicode_before_keeps_its_text_and_gets_its_badge(
    app: Flask, client: FlaskClient, letter: Letter
) -> None:
    """Rows confirmed before the canonical form keep the domain the public log committed to; they
    match their organisation and are shown safely all the same."""
    add_organisation(app, "xn--r8jz45g.jp", "例え大学")
    add_confirmed(app, letter.id, 1, name="Old Ken", confirmed_domain="例え.jp")
    add_confirmed(app, letter.id, 1, name="Old Spoof", confirmed_domain="аррӏе.com")
    page = client.get(f"/letters/{SLUG}/signatures").get_data(as_text=True)
    assert "例え大学 (confirmed)" in page and "confirmed via @例え.jp" in page
    assert "confirmed via @xn--80ak6aa92e.com" in page and "аррӏе" not in page
    signers = api_signers(client)
    assert signers["Old Ken"]["confirmed_domain"] == "例え.jp"  # as committed
    assert signers["Old Ken"]["confirmed_organisation"] == "例え大学"
