"""Raw inbound mail over REST is the mail server's door: only its credential may open it.

An agent posting raw MIME could otherwise add a "customer" message to a ticket of a department
they cannot see, or open tickets in it, since the mail is processed as the desk's own.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import tokens
from core.errors import ValidationFailed
from core.models import Agent, Contact, Department, PermissionProfile, Thread, Ticket
from hostapi import scopes
from tests.intake_helpers import raw_email
from tests.page_helpers import csrf_token_of

pytest_plugins = ["tests.api_fixtures"]

INGEST = tokens.MAIL_INGEST_SCOPE
RFC822 = {"Content-Type": "message/rfc822"}


@pytest.fixture
def billing(make_department: Callable[..., Department], db: Session) -> Department:
    """A second department, with a mailbox of its own."""
    department = make_department("Billing")
    department.mailbox = "billing@desk.example"
    db.commit()
    return department


@pytest.fixture
def billing_ticket(
    make_ticket: Callable[..., Ticket], make_contact: Callable[..., Contact], billing: Department
) -> Ticket:
    """A ticket of the Billing department, raised by a customer."""
    customer = make_contact(email="kenji@example.com")
    return make_ticket("Invoice question", department=billing, contact=customer)


def _threads(db: Session, ticket: Ticket) -> int:
    db.rollback()  # a fresh snapshot: the app committed in its own session
    return db.scalar(select(func.count(Thread.id)).where(Thread.ticket_id == ticket.id)) or 0


def _reply_mail(ticket: Ticket) -> bytes:
    return raw_email(sender="kenji@example.com", subject=f"Re: [#{ticket.number}] Invoice")


def test_agent_token_with_tickets_write_cannot_forge_mail_into_another_department(
    client: FlaskClient, bearer_for, api_agent: Agent, billing_ticket: Ticket, db: Session
) -> None:
    before = _threads(db, billing_ticket)
    headers = bearer_for(api_agent, ["desk.tickets.write"]) | RFC822
    answer = client.post("/api/v1/inbound/email", data=_reply_mail(billing_ticket), headers=headers)
    assert answer.status_code == 403
    assert answer.json["scope"] == INGEST
    assert "ticket_id" not in answer.json and "contact_id" not in answer.json
    assert _threads(db, billing_ticket) == before


def test_agent_token_cannot_open_a_ticket_in_another_departments_mailbox(
    client: FlaskClient, bearer_for, api_agent: Agent, billing: Department, db: Session
) -> None:
    headers = bearer_for(api_agent, ["desk.tickets.write", "desk.tickets.read"]) | RFC822
    mail = raw_email(to="billing@desk.example")
    assert client.post("/api/v1/inbound/email", data=mail, headers=headers).status_code == 403
    assert db.scalar(select(func.count(Ticket.id))) == 0


def test_a_signed_in_browser_session_is_refused(
    client: FlaskClient, sign_in_as, admin_agent: Agent, billing: Department
) -> None:
    csrf = sign_in_as(admin_agent)
    answer = client.post("/api/v1/inbound/email", data=raw_email(), headers=csrf | RFC822)
    assert answer.status_code == 403


def test_the_mail_server_credential_delivers_to_any_departments_mailbox(
    client: FlaskClient, mail_server_headers, billing_ticket: Ticket, db: Session
) -> None:
    before = _threads(db, billing_ticket)
    answer = client.post(
        "/api/v1/inbound/email", data=_reply_mail(billing_ticket), headers=mail_server_headers
    )
    assert (answer.status_code, answer.json["ticket_id"]) == (201, billing_ticket.id)
    assert _threads(db, billing_ticket) == before + 1


def test_only_an_administrator_may_create_the_credential(db: Session, api_agent: Agent) -> None:
    with pytest.raises(ValidationFailed) as refused:
        tokens.create_personal_token(db, api_agent, "mail", [INGEST])
    assert list(refused.value.errors) == ["scopes"]


def test_the_credential_carries_no_other_scope(db: Session, admin_agent: Agent) -> None:
    with pytest.raises(ValidationFailed) as refused:
        tokens.create_personal_token(db, admin_agent, "mail", [INGEST, "desk.tickets.read"])
    assert "other scopes" in refused.value.errors["scopes"][0]


def test_the_api_refuses_the_credential_to_an_agent_with_422_on_scopes(
    client: FlaskClient, sign_in_as, api_agent: Agent
) -> None:
    csrf = sign_in_as(api_agent)
    answer = client.post(
        "/api/v1/me/tokens", json={"name": "mail", "scopes": [INGEST]}, headers=csrf
    )
    assert answer.status_code == 422
    assert "scopes" in answer.json["errors"]["json"]


def test_the_credential_stops_working_when_its_agent_is_no_longer_an_administrator(
    client: FlaskClient, mail_server_headers, admin_agent: Agent, department: Department, db
) -> None:
    admin_agent.profile = db.scalars(
        select(PermissionProfile).where(PermissionProfile.name == "Agent")
    ).one()
    db.commit()
    answer = client.post("/api/v1/inbound/email", data=raw_email(), headers=mail_server_headers)
    assert answer.status_code == 403


def test_the_credential_reads_nothing_else(client: FlaskClient, mail_server_headers) -> None:
    answer = client.get(
        "/api/v1/tickets", headers={"Authorization": mail_server_headers["Authorization"]}
    )
    assert answer.status_code == 403


def test_no_extension_may_request_the_scope() -> None:
    assert INGEST not in scopes.ALL


def test_the_tokens_page_offers_the_credential_to_administrators_only(
    client: FlaskClient, admin_agent: Agent, api_agent: Agent, sign_in_as
) -> None:
    sign_in_as(admin_agent)
    page = client.get("/settings/tokens").get_data(as_text=True)
    assert 'id="mail-server-credential"' in page and INGEST in page
    sign_in_as(api_agent)
    page = client.get("/settings/tokens").get_data(as_text=True)
    assert INGEST not in page


def test_an_agent_posting_the_credential_through_the_form_is_refused(
    client: FlaskClient, api_agent: Agent, sign_in_as, db: Session
) -> None:
    sign_in_as(api_agent)
    form = {
        "csrf_token": csrf_token_of(client, "/settings/tokens"),
        "name": "mail",
        "scopes": INGEST,
        "lifetime_days": "90",
    }
    assert client.post("/settings/tokens", data=form).status_code == 422
    assert tokens.personal_tokens(db, api_agent) == []
