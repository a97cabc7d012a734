"""The public support form: tickets without sign-in, honeypot, rate limit, errors, languages."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.host import Host
from core.intake import spam
from core.models import Contact, Department, SpamMessage, Ticket
from tests.intake_helpers import WorkIn
from tests.page_helpers import csrf_token_of

pytest_plugins = ["tests.intake_fixtures"]

GOOD_FORM = {
    "family_name": "Yamada",
    "given_name": "Hanako",
    "email": "Hanako@Example.com",
    "phone": "03-1234-5678",
    "subject": "Cannot sign in",
    "description": "The password reset mail never arrives.",
}


def _post(client: FlaskClient, path: str = "/support", **changes: str):  # type: ignore[no-untyped-def]
    data = GOOD_FORM | {"csrf_token": csrf_token_of(client, path)} | changes
    return client.post(path, data=data)


def _count(db: Session, model: type) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_the_form_is_public_and_carries_a_hidden_honeypot(
    client: FlaskClient, department: Department
) -> None:
    page = client.get("/support")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="website"' in html and "left:-10000px" in html
    assert 'name="csrf_token"' in html


def test_a_submission_creates_a_web_form_ticket_and_registers_the_customer(
    client: FlaskClient, department: Department, db: Session
) -> None:
    answer = _post(client)
    assert answer.status_code == 200 and "Thank you" in answer.get_data(as_text=True)
    ticket = db.scalar(select(Ticket))
    assert (ticket.channel, ticket.raised_by, ticket.subject, ticket.department_id) == (
        "web_form",
        "customer",
        "Cannot sign in",
        department.id,
    )
    contact = db.get(Contact, ticket.contact_id)
    assert (contact.last_name, contact.first_name, contact.email, contact.phone_e164) == (
        "Yamada",
        "Hanako",
        "hanako@example.com",
        "+81312345678",
    )


def test_a_known_customer_is_matched_not_duplicated(
    client: FlaskClient, department: Department, make_contact: Callable[..., Contact], db: Session
) -> None:
    known = make_contact(email="hanako@example.com")
    _post(client)
    assert db.scalar(select(Ticket)).contact_id == known.id
    assert _count(db, Contact) == 1


def test_the_department_in_the_address_receives_the_ticket(
    client: FlaskClient, make_department: Callable[..., Department], db: Session
) -> None:
    make_department("Support")
    billing = make_department("Billing")
    _post(client, f"/support/{billing.id}")
    assert db.scalar(select(Ticket)).department_id == billing.id


def test_an_unknown_department_answers_404(client: FlaskClient, department: Department) -> None:
    assert client.get("/support/9999").status_code == 404


def test_bad_fields_reshow_the_form_with_messages_and_store_nothing(
    client: FlaskClient, department: Department, db: Session
) -> None:
    answer = _post(client, email="not-an-address", subject="", phone="12")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'id="error-email"' in html and 'id="error-subject"' in html
    assert 'id="error-phone"' in html and 'id="error-family-name"' not in html
    assert 'value="Yamada"' in html and 'value="Hanako"' in html  # what the visitor typed is kept
    assert (_count(db, Ticket), _count(db, Contact)) == (0, 0)


def test_a_filled_honeypot_is_dropped_silently(
    client: FlaskClient, department: Department, db: Session
) -> None:
    answer = _post(client, website="http://spam.example")
    assert answer.status_code == 200 and "Thank you" in answer.get_data(as_text=True)
    assert (_count(db, Ticket), _count(db, Contact), _count(db, SpamMessage)) == (0, 0, 0)


def test_the_form_keeps_its_csrf_protection(
    client: FlaskClient, department: Department, db: Session
) -> None:
    assert client.post("/support", data=GOOD_FORM).status_code == 400
    assert _count(db, Ticket) == 0


def test_too_many_submissions_from_one_address_answer_429(
    client: FlaskClient,
    department: Department,
    host: Host,
    monkeypatch: pytest.MonkeyPatch,
    db: Session,
) -> None:
    tight = dataclasses.replace(host.settings, webform_rate_limit=2)
    monkeypatch.setattr(host, "settings", tight)
    assert [_post(client).status_code for _ in range(2)] == [200, 200]
    refused = _post(client)
    assert refused.status_code == 429
    assert "Please wait 10 minutes" in refused.get_data(as_text=True)
    assert _count(db, Ticket) == 2


def test_a_message_matching_a_spam_rule_is_held_and_the_visitor_is_thanked(
    client: FlaskClient, department: Department, work_in: WorkIn, db: Session
) -> None:
    with work_in() as unit:
        spam.create_rule(unit, kind="content", pattern="password")
    answer = _post(client)
    assert answer.status_code == 200
    held = db.scalar(select(SpamMessage))
    assert (held.channel, held.sender, _count(db, Ticket)) == ("web_form", "hanako@example.com", 0)
    assert held.headers["X-Deskhost-Phone"] == "03-1234-5678"


def test_a_released_form_message_becomes_its_ticket(
    client: FlaskClient, department: Department, work_in: WorkIn, admin_agent, db: Session
) -> None:
    from core.intake import review

    with work_in() as unit:
        spam.create_rule(unit, kind="content", pattern="password")
    _post(client)
    with work_in(admin_agent) as unit:
        [held] = spam.list_held(unit)
        outcome = review.release(unit, held)
    ticket = db.get(Ticket, outcome.ticket.id)
    assert (ticket.channel, ticket.subject) == ("web_form", "Cannot sign in")
    assert db.get(Contact, ticket.contact_id).phone_e164 == "+81312345678"


def test_the_visitor_can_choose_japanese(client: FlaskClient, department: Department) -> None:
    html = client.get("/support?lang=ja").get_data(as_text=True)
    assert '<html lang="ja">' in html
    assert 'name="lang" value="ja"' in html


def test_the_browser_language_is_used_by_default(
    client: FlaskClient, department: Department
) -> None:
    html = client.get("/support", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert '<html lang="ja">' in html


def test_a_missing_family_name_is_asked_for_and_nothing_is_stored(
    client: FlaskClient, department: Department, db: Session
) -> None:
    answer = _post(client, family_name=" ", given_name="Hanako Yamada")
    assert answer.status_code == 422
    assert 'id="error-family-name"' in answer.get_data(as_text=True)
    assert (_count(db, Ticket), _count(db, Contact)) == (0, 0)


@pytest.mark.parametrize(
    ("lang", "first", "second"),
    [
        ("ja", "support-family-name", "support-given-name"),
        ("en", "support-given-name", "support-family-name"),
    ],
)
def test_the_form_asks_for_the_name_in_the_languages_order(
    client: FlaskClient, department: Department, lang: str, first: str, second: str
) -> None:
    html = client.get(f"/support?lang={lang}").get_data(as_text=True)
    assert html.index(f'id="{first}"') < html.index(f'id="{second}"')


def test_a_japanese_name_is_stored_in_its_parts_and_shown_family_first(
    client: FlaskClient, department: Department, db: Session
) -> None:
    _post(client, "/support?lang=ja", family_name="山田", given_name="花子")
    contact = db.get(Contact, db.scalar(select(Ticket)).contact_id)
    assert (contact.last_name, contact.first_name, contact.name) == ("山田", "花子", "山田 花子")
