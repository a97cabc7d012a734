"""The Tickets tab of contact and account pages: the visible tickets newest first, by status
type, a page at a time."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.customer_tabs.tickets import TICKETS_TAB_LIMIT
from core.models import Account, Agent, Contact, Department, Ticket
from tests.page_helpers import customer_tab_html, older_query, sign_in

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def agent_client(
    app: Flask, make_agent: Callable[..., Agent], department: Department
) -> FlaskClient:
    """A client signed in as an agent of the default department."""
    agent = make_agent("tabs@example.com", departments=[department])
    client = app.test_client()
    sign_in(client, agent.email)
    return client


def _tab(client: FlaskClient, path: str, query: str = "") -> str:
    """The Tickets tab's body on the customer's page (with ``query``)."""
    return customer_tab_html(client, path, "core_customer_tickets", query)


def _listed(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-ticket-id="(\d+)"', html)]


def test_the_tab_pages_through_every_ticket_newest_first(
    agent_client: FlaskClient,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    customer = make_contact("Yamada")
    made = [
        make_ticket(f"Question {n}", contact=customer, created_at=START + timedelta(minutes=n))
        for n in range(2 * TICKETS_TAB_LIMIT + 3)
    ]

    pages: list[list[int]] = []
    query = ""
    while True:
        html = _tab(agent_client, f"/contacts/{customer.id}", query)
        pages.append(_listed(html))
        older = older_query(html)
        if older is None:
            break
        query = older

    assert [len(page) for page in pages] == [TICKETS_TAB_LIMIT, TICKETS_TAB_LIMIT, 3]
    assert [ticket for page in pages for ticket in page] == [t.id for t in reversed(made)]
    assert 'data-tickets-page="newest"' in html


def test_the_status_filter_lists_one_status_type_and_keeps_the_tab(
    agent_client: FlaskClient,
    make_account: Callable[..., Account],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    acme = make_account("Acme")
    waiting = make_ticket("Waiting", contact=make_contact("Yamada", account=acme), status="On Hold")
    make_ticket("Done", contact=make_contact("Suzuki", account=acme), status="Closed")

    html = _tab(agent_client, f"/accounts/{acme.id}", "tickets_status=on_hold")

    assert _listed(html) == [waiting.id]
    assert 'data-tickets-status="on_hold" aria-current="page"' in html
    closed_link = re.search(r'href="\?([^"#]+)#customer-tabs" data-tickets-status="closed"', html)
    assert closed_link is not None and "tab=core_customer_tickets" in unescape(closed_link.group(1))


def test_tickets_of_another_department_are_not_listed(
    agent_client: FlaskClient,
    make_department: Callable[..., Department],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    customer = make_contact("Yamada")
    mine = make_ticket("Mine", contact=customer)
    make_ticket("Theirs", contact=customer, department=make_department("Legal"))

    assert _listed(_tab(agent_client, f"/contacts/{customer.id}")) == [mine.id]


@pytest.mark.parametrize(
    "query", ["tickets_status=everything", "tickets_before=%%%", "tickets_before=" + "A" * 40]
)
def test_arguments_the_tab_cannot_read_are_ignored(
    agent_client: FlaskClient,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
    query: str,
) -> None:
    customer = make_contact("Yamada")
    ticket = make_ticket("Question", contact=customer)

    assert _listed(_tab(agent_client, f"/contacts/{customer.id}", query)) == [ticket.id]
