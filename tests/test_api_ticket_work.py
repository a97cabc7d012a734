"""REST API of ticket work: POST /api/v1/tickets/bulk with per-ticket results, the threads'
``delivery`` field, the status-name filter, and moves out of the caller's departments."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Agent, AuditEntry, Department, MailDirection, MailMessage, Ticket
from hostapi import scopes

pytest_plugins = ["tests.api_fixtures"]


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    return make_department("Sales")


def test_bulk_answers_what_became_of_each_ticket(
    browser,  # type: ignore[no-untyped-def]
    api_agent: Agent,
    make_ticket: Callable[..., Ticket],
    sales: Department,
    db: Session,
) -> None:
    client, csrf = browser
    mine = make_ticket("Mine")
    hidden = make_ticket("Hidden", department=sales)
    answer = client.post(
        "/api/v1/tickets/bulk",
        json={"ticket_ids": [mine.id, hidden.id], "action": "priority", "priority": "urgent"},
        headers=csrf,
    )
    assert answer.status_code == 200
    assert answer.json["items"] == [
        {
            "ticket_id": mine.id,
            "number": mine.number,
            "ok": True,
            "failure": None,
            "permission": None,
            "errors": {},
        },
        {
            "ticket_id": hidden.id,
            "number": None,
            "ok": False,
            "failure": "not_found",
            "permission": None,
            "errors": {},
        },
    ]
    db.commit()
    db.expire_all()
    assert db.get(Ticket, mine.id).priority == "urgent"
    assert db.get(Ticket, hidden.id).priority == "medium"
    audited = db.scalars(
        select(AuditEntry.entity_id).where(
            AuditEntry.entity_type == "ticket", AuditEntry.action == "update"
        )
    ).all()
    assert audited == [str(mine.id)]


def test_bulk_assign_with_a_token_unassigns_with_null(
    client,  # type: ignore[no-untyped-def]
    bearer_for: Callable[..., dict[str, str]],
    api_agent: Agent,
    make_ticket: Callable[..., Ticket],
) -> None:
    ticket = make_ticket(assignee_id=api_agent.id)
    answer = client.post(
        "/api/v1/tickets/bulk",
        json={"ticket_ids": [ticket.id], "action": "assign", "assignee_id": None},
        headers=bearer_for(api_agent, [scopes.TICKETS_WRITE]),
    )
    assert answer.status_code == 200
    assert answer.json["items"][0]["ok"] is True


def test_bulk_needs_the_write_scope(
    client,  # type: ignore[no-untyped-def]
    bearer_for: Callable[..., dict[str, str]],
    api_agent: Agent,
    make_ticket: Callable[..., Ticket],
) -> None:
    answer = client.post(
        "/api/v1/tickets/bulk",
        json={"ticket_ids": [make_ticket().id], "action": "close"},
        headers=bearer_for(api_agent, [scopes.TICKETS_READ]),
    )
    assert answer.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ticket_ids": [], "action": "close"}, "ticket_ids"),
        ({"ticket_ids": [1], "action": "delete"}, "action"),
        ({"ticket_ids": [1], "action": "status"}, "status"),
        ({"ticket_ids": [1], "action": "assign"}, "assignee_id"),
        ({"ticket_ids": [1], "action": "priority", "priority": "soon"}, "priority"),
    ],
)
def test_a_bad_bulk_request_answers_422_naming_the_field(
    browser,  # type: ignore[no-untyped-def]
    body: dict[str, object],
    field: str,
) -> None:
    client, csrf = browser
    answer = client.post("/api/v1/tickets/bulk", json=body, headers=csrf)
    assert answer.status_code == 422
    assert field in answer.json["errors"]["json"]


def test_threads_carry_their_delivery(
    browser,  # type: ignore[no-untyped-def]
    make_ticket: Callable[..., Ticket],
    db: Session,
) -> None:
    client, csrf = browser
    ticket = make_ticket(channel="email")
    posted = client.post(
        f"/api/v1/tickets/{ticket.id}/threads",
        json={"kind": "outgoing", "body": "On it"},
        headers=csrf,
    )
    assert posted.status_code == 201
    assert posted.json["delivery"]["state"] == "not_configured"
    client.post(
        f"/api/v1/tickets/{ticket.id}/threads",
        json={"kind": "comment", "body": "Internal"},
        headers=csrf,
    )
    db.commit()
    mail = db.scalars(
        select(MailMessage).where(MailMessage.direction == MailDirection.OUTBOUND.value)
    ).one()
    mail.attempts, mail.last_error = 5, "SMTPRecipientsRefused"
    db.commit()
    items = client.get(f"/api/v1/tickets/{ticket.id}/threads").json["items"]
    by_kind = {item["kind"]: item["delivery"] for item in items}
    assert by_kind["comment"] is None
    assert by_kind["outgoing"] == {
        "state": "failed",
        "reason": "SMTPRecipientsRefused",
        "sent_at": None,
        "attempts": 5,
    }


def test_tickets_filter_by_status_name(
    browser,  # type: ignore[no-untyped-def]
    make_ticket: Callable[..., Ticket],
) -> None:
    client, _csrf = browser
    held = make_ticket("Held", status="On Hold")
    make_ticket("Open one")
    items = client.get("/api/v1/tickets?status=On Hold").json["items"]
    assert [item["id"] for item in items] == [held.id]


def test_a_ticket_moves_to_a_department_the_caller_is_not_in(
    browser,  # type: ignore[no-untyped-def]
    make_ticket: Callable[..., Ticket],
    sales: Department,
) -> None:
    client, csrf = browser
    ticket = make_ticket()
    answer = client.patch(
        f"/api/v1/tickets/{ticket.id}", json={"department_id": sales.id}, headers=csrf
    )
    assert answer.status_code == 200
    assert answer.json["department_id"] == sales.id
    assert client.get(f"/api/v1/tickets/{ticket.id}").status_code == 404
