"""The Reactions tab of contact and account pages (and its REST twin): agents' replies and
comments and the customer's ratings across the visible tickets, newest first, a page at a time."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.customer_tabs.reactions import REACTIONS_TAB_LIMIT
from core.models import Account, Agent, Contact, Department, Ticket
from core.services import customer_reactions
from core.services import tickets as ticket_service
from core.services.base import Unit
from tests.page_helpers import customer_tab_html, older_query, sign_in

pytest_plugins = ["tests.api_fixtures"]

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PLUGIN = "core_customer_reactions"


@pytest.fixture
def replier(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """The agent who replies and comments (in the default department)."""
    return make_agent("hana@example.com", name="Hana Mori", departments=[department])


@pytest.fixture
def agent_client(app: Flask, replier: Agent) -> FlaskClient:
    """A client signed in as an agent of the default department only."""
    client = app.test_client()
    sign_in(client, replier.email)
    return client


@pytest.fixture
def work(unit_for: Callable[[Agent | None], Unit]) -> Unit:
    """The system's unit, recording what customers and agents did."""
    return unit_for(None)


def _at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


def _reply(work: Unit, ticket: Ticket, agent: Agent, minutes: int, body: str = "Done.") -> int:
    return ticket_service.add_thread(
        work, ticket, kind="outgoing", body=body, author_agent_id=agent.id, created_at=_at(minutes)
    ).id


def _comment(work: Unit, ticket: Ticket, agent: Agent, minutes: int) -> int:
    return ticket_service.add_thread(
        work,
        ticket,
        kind="comment",
        body="Ask IT.",
        author_agent_id=agent.id,
        created_at=_at(minutes),
    ).id


def _rating(work: Unit, ticket: Ticket, minutes: int, rating: str = "good") -> int:
    return ticket_service.add_rating(work, ticket, rating, "Thanks!", created_at=_at(minutes)).id


def _lines(html: str) -> list[str]:
    return re.findall(r'<tr data-reaction="([a-z]+-\d+)"', html)


def test_replies_comments_and_ratings_are_listed_newest_first(
    agent_client: FlaskClient,
    db: Session,
    work: Unit,
    replier: Agent,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    customer = make_contact("Yamada")
    printer = make_ticket("Printer", contact=customer, created_at=_at(0))
    invoice = make_ticket("Invoice", contact=customer, created_at=_at(0))
    reply = _reply(work, printer, replier, 10)
    comment = _comment(work, invoice, replier, 20)
    rating = _rating(work, printer, 30, "bad")
    ticket_service.add_thread(work, printer, kind="incoming", body="Hi", created_at=_at(40))
    ticket_service.add_thread(work, printer, kind="notification", body="Auto", created_at=_at(50))
    db.commit()

    html = customer_tab_html(agent_client, f"/contacts/{customer.id}", PLUGIN)

    assert _lines(html) == [f"rating-{rating}", f"comment-{comment}", f"reply-{reply}"]
    assert 'data-rating="bad"' in html
    assert "Hana Mori" in html and "Yamada" in html
    assert f'href="/tickets/{printer.id}"' in html


def test_reactions_on_tickets_of_another_department_are_not_listed(
    agent_client: FlaskClient,
    db: Session,
    work: Unit,
    replier: Agent,
    make_department: Callable[..., Department],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    customer = make_contact("Yamada")
    mine = make_ticket("Mine", contact=customer)
    theirs = make_ticket("Theirs", contact=customer, department=make_department("Legal"))
    seen = _reply(work, mine, replier, 10)
    _reply(work, theirs, replier, 20)
    _rating(work, theirs, 30)
    db.commit()

    assert _lines(customer_tab_html(agent_client, f"/contacts/{customer.id}", PLUGIN)) == [
        f"reply-{seen}"
    ]


def test_the_tab_pages_through_every_reaction_newest_first(
    agent_client: FlaskClient,
    db: Session,
    work: Unit,
    replier: Agent,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    customer = make_contact("Yamada")
    tickets = [make_ticket(f"Question {n}", contact=customer, created_at=_at(n)) for n in range(5)]
    made: list[str] = []
    # The oldest ticket gets the newest reply: a ticket's creation says nothing of its last
    # reaction, so every page must still come out in order.
    for minute in range(2 * REACTIONS_TAB_LIMIT + 3):
        ticket = tickets[minute % len(tickets)] if minute < 2 * REACTIONS_TAB_LIMIT else tickets[0]
        made.append(f"reply-{_reply(work, ticket, replier, 100 + minute)}")
    db.commit()

    pages: list[list[str]] = []
    query = ""
    while True:
        html = customer_tab_html(agent_client, f"/contacts/{customer.id}", PLUGIN, query)
        pages.append(_lines(html))
        older = older_query(html)
        if older is None:
            break
        query = older

    assert [len(page) for page in pages] == [REACTIONS_TAB_LIMIT, REACTIONS_TAB_LIMIT, 3]
    assert [line for page in pages for line in page] == list(reversed(made))
    assert 'data-reactions-page="newest"' in html


def test_an_account_lists_the_reactions_on_its_tickets(
    agent_client: FlaskClient,
    db: Session,
    work: Unit,
    replier: Agent,
    make_account: Callable[..., Account],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    acme = make_account("Acme")
    ours = make_ticket("Ours", contact=make_contact("Yamada", account=acme))
    other = make_ticket("Other", contact=make_contact("Suzuki"))
    rating = _rating(work, ours, 10)
    _rating(work, other, 20)
    db.commit()

    html = customer_tab_html(agent_client, f"/accounts/{acme.id}", PLUGIN)

    assert _lines(html) == [f"rating-{rating}"]


def test_lines_of_one_time_come_replies_first_and_page_without_loss(
    db: Session,
    work: Unit,
    replier: Agent,
    unit_for: Callable[[Agent | None], Unit],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    customer = make_contact("Yamada")
    ticket = make_ticket("Printer", contact=customer)
    rating = _rating(work, ticket, 10)
    comment = _comment(work, ticket, replier, 10)
    reply = _reply(work, ticket, replier, 10)
    db.commit()
    viewer = unit_for(replier)

    first = customer_reactions.list_reactions(viewer, contact_id=customer.id, limit=2)
    rest = customer_reactions.list_reactions(
        viewer, contact_id=customer.id, limit=2, before=first[-1].cursor.encode()
    )

    assert [(r.kind, r.id) for r in first + rest] == [
        ("reply", reply),
        ("comment", comment),
        ("rating", rating),
    ]


def test_a_ticket_bound_above_its_reactions_still_gives_full_pages(
    db: Session,
    work: Unit,
    replier: Agent,
    unit_for: Callable[[Agent | None], Unit],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    customer = make_contact("Yamada")
    tickets = [make_ticket(f"Question {n}", contact=customer) for n in range(3)]
    replies = [_reply(work, ticket, replier, 10 + n) for n, ticket in enumerate(tickets)]
    # Two bounds far above any reaction (as a reaction since removed would leave them).
    for ticket in tickets[1:]:
        ticket.last_reaction_at = _at(1_000)
    db.commit()

    found = customer_reactions.list_reactions(unit_for(replier), contact_id=customer.id, limit=2)

    assert [r.id for r in found] == [replies[2], replies[1]]


def test_the_rest_api_pages_a_contacts_reactions(
    browser: tuple[FlaskClient, dict[str, str]],
    db: Session,
    work: Unit,
    replier: Agent,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    client, _headers = browser
    customer = make_contact("Yamada")
    ticket = make_ticket("Printer", contact=customer)
    reply = _reply(work, ticket, replier, 10, body="Replaced the toner.")
    rating = _rating(work, ticket, 20, "okay")
    db.commit()

    first = client.get(f"/api/v1/contacts/{customer.id}/reactions?limit=1").json
    rest = client.get(
        f"/api/v1/contacts/{customer.id}/reactions?limit=1&cursor={first['next_cursor']}"
    ).json

    assert [(i["kind"], i["id"], i["rating"]) for i in first["items"]] == [
        ("rating", rating, "okay")
    ]
    assert [(i["kind"], i["id"], i["text"]) for i in rest["items"]] == [
        ("reply", reply, "Replaced the toner.")
    ]
    assert rest["items"][0]["agent_name"] == "Hana Mori"
    assert rest["items"][0]["ticket_status_type"] == "open"
    assert rest["next_cursor"] is None


def test_the_rest_api_lists_an_accounts_reactions(
    browser: tuple[FlaskClient, dict[str, str]],
    db: Session,
    work: Unit,
    make_account: Callable[..., Account],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    client, _headers = browser
    acme = make_account("Acme")
    rating = _rating(work, make_ticket("Ours", contact=make_contact("Yamada", account=acme)), 10)
    db.commit()

    answer = client.get(f"/api/v1/accounts/{acme.id}/reactions")

    assert answer.status_code == 200
    assert [i["id"] for i in answer.json["items"]] == [rating]


@pytest.mark.parametrize("cursor", ["%%%", "A" * 40, "bm90IGEgY3Vyc29y"])
def test_a_bad_cursor_answers_422_naming_it(
    browser: tuple[FlaskClient, dict[str, str]],
    make_contact: Callable[..., Contact],
    cursor: str,
) -> None:
    client, _headers = browser
    customer = make_contact("Yamada")

    answer = client.get(f"/api/v1/contacts/{customer.id}/reactions?cursor={cursor}")

    assert answer.status_code == 422
    assert "cursor" in answer.json["errors"]["query"]
