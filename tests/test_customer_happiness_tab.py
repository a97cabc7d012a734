"""The Happiness tab of contact pages (and its REST twin): every rating on the visible tickets,
newest first, with the rater, the agent rated and the ticket, a page at a time."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.customer_tabs.happiness import HAPPINESS_TAB_LIMIT
from core.models import Account, Agent, Contact, Department, Ticket
from core.services import tickets as ticket_service
from core.services.base import Unit
from tests.page_helpers import customer_tab_html, older_query, sign_in

pytest_plugins = ["tests.api_fixtures"]

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PLUGIN = "core_customer_happiness"


@pytest.fixture
def rated_agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """The agent the tickets are assigned to, rated by the customer."""
    return make_agent("hana@example.com", name="Hana Mori", departments=[department])


@pytest.fixture
def agent_client(app: Flask, rated_agent: Agent) -> FlaskClient:
    """A client signed in as an agent of the default department only."""
    client = app.test_client()
    sign_in(client, rated_agent.email)
    return client


@pytest.fixture
def work(unit_for: Callable[[Agent | None], Unit]) -> Unit:
    return unit_for(None)


def _rate(work: Unit, ticket: Ticket, minutes: int, rating: str, feedback: str = "") -> int:
    at = START + timedelta(minutes=minutes)
    return ticket_service.add_rating(work, ticket, rating, feedback, created_at=at).id


def _ratings(html: str) -> list[tuple[int, str]]:
    return [
        (int(rating_id), rating)
        for rating_id, rating in re.findall(
            r'<tr data-rating-id="(\d+)">\s*<td><span class="rating rating-[a-z]+" '
            r'data-rating="([a-z]+)"',
            html,
        )
    ]


def test_every_rating_is_listed_newest_first_with_who_and_what(
    agent_client: FlaskClient,
    db: Session,
    work: Unit,
    rated_agent: Agent,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    customer = make_contact("Yamada")
    ticket = make_ticket("Printer", contact=customer, assignee_id=rated_agent.id)
    good = _rate(work, ticket, 10, "good", "Quick answer")
    bad = _rate(work, ticket, 20, "bad", "It broke again")
    ticket_service.add_thread(
        work, ticket, kind="outgoing", body="Sorry", author_agent_id=rated_agent.id
    )
    db.commit()

    html = customer_tab_html(agent_client, f"/contacts/{customer.id}", PLUGIN)

    assert _ratings(html) == [(bad, "bad"), (good, "good")]
    assert ">Bad<" in html and "It broke again" in html and "Hana Mori" in html
    assert f'href="/contacts/{customer.id}">Hanako Yamada' in html
    assert f'href="/tickets/{ticket.id}"' in html


def test_the_japanese_page_labels_the_ratings(
    app: Flask,
    db: Session,
    work: Unit,
    make_agent: Callable[..., Agent],
    department: Department,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    agent = make_agent("ja@example.com", departments=[department], locale="ja")
    client = app.test_client()
    sign_in(client, agent.email)
    customer = make_contact("Yamada")
    _rate(work, make_ticket("Printer", contact=customer), 10, "okay")
    db.commit()

    html = customer_tab_html(client, f"/contacts/{customer.id}", PLUGIN)

    assert "普通" in html


def test_ratings_on_tickets_of_another_department_are_not_listed(
    agent_client: FlaskClient,
    db: Session,
    work: Unit,
    make_department: Callable[..., Department],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    customer = make_contact("Yamada")
    seen = _rate(work, make_ticket("Mine", contact=customer), 10, "good")
    theirs = make_ticket("Theirs", contact=customer, department=make_department("Legal"))
    _rate(work, theirs, 20, "bad")
    db.commit()

    html = customer_tab_html(agent_client, f"/contacts/{customer.id}", PLUGIN)

    assert _ratings(html) == [(seen, "good")]


def test_the_tab_pages_through_every_rating(
    agent_client: FlaskClient,
    db: Session,
    work: Unit,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    customer = make_contact("Yamada")
    tickets = [make_ticket(f"Question {n}", contact=customer) for n in range(3)]
    made = [_rate(work, tickets[n % 3], n, "good") for n in range(2 * HAPPINESS_TAB_LIMIT + 3)]
    db.commit()

    pages: list[list[int]] = []
    query = ""
    while True:
        html = customer_tab_html(agent_client, f"/contacts/{customer.id}", PLUGIN, query)
        pages.append([rating_id for rating_id, _rating in _ratings(html)])
        older = older_query(html)
        if older is None:
            break
        query = older

    assert [len(page) for page in pages] == [HAPPINESS_TAB_LIMIT, HAPPINESS_TAB_LIMIT, 3]
    assert [rating for page in pages for rating in page] == list(reversed(made))


def test_accounts_have_no_happiness_tab(
    agent_client: FlaskClient, make_account: Callable[..., Account]
) -> None:
    page = agent_client.get(f"/accounts/{make_account('Acme').id}").get_data(as_text=True)

    assert "core_customer_happiness" not in page


def test_the_rest_api_pages_a_contacts_ratings(
    browser: tuple[FlaskClient, dict[str, str]],
    db: Session,
    work: Unit,
    rated_agent: Agent,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    client, _headers = browser
    customer = make_contact("Yamada")
    ticket = make_ticket("Printer", contact=customer, assignee_id=rated_agent.id)
    good = _rate(work, ticket, 10, "good", "Thanks")
    bad = _rate(work, ticket, 20, "bad", "Broke again")
    db.commit()

    first = client.get(f"/api/v1/contacts/{customer.id}/happiness?limit=1").json
    rest = client.get(
        f"/api/v1/contacts/{customer.id}/happiness?limit=1&cursor={first['next_cursor']}"
    ).json

    assert [(i["id"], i["rating"], i["feedback"]) for i in first["items"]] == [
        (bad, "bad", "Broke again")
    ]
    assert first["items"][0]["rated_by_id"] == customer.id
    assert first["items"][0]["agent_name"] == "Hana Mori"
    assert [i["id"] for i in rest["items"]] == [good]
    assert rest["next_cursor"] is None


def test_a_bad_cursor_answers_422_naming_it(
    browser: tuple[FlaskClient, dict[str, str]], make_contact: Callable[..., Contact]
) -> None:
    client, _headers = browser

    answer = client.get(f"/api/v1/contacts/{make_contact('Yamada').id}/happiness?cursor=xyz")

    assert answer.status_code == 422
    assert "cursor" in answer.json["errors"]["query"]
