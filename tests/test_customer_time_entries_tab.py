"""The Time entries tab of contact and account pages (and its REST twin): the time logged on the
visible tickets, latest first, filtered by billing, agent and period, with the filtered totals."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.customer_tabs.time_entries import TIME_TAB_LIMIT, humanised_duration
from core.models import Account, Agent, Contact, Department, Ticket
from core.services import tickets as ticket_service
from core.services.base import Unit
from tests.page_helpers import customer_tab_html, older_query, sign_in

pytest_plugins = ["tests.api_fixtures"]

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PLUGIN = "core_customer_time_entries"


@pytest.fixture
def worker(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """The agent who logs time (in the default department)."""
    return make_agent("hana@example.com", name="Hana Mori", departments=[department])


@pytest.fixture
def other_worker(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("ken@example.com", name="Ken Sato", departments=[department])


@pytest.fixture
def agent_client(app: Flask, worker: Agent) -> FlaskClient:
    """A client signed in as an agent of the default department only."""
    client = app.test_client()
    sign_in(client, worker.email)
    return client


@pytest.fixture
def work(unit_for: Callable[[Agent | None], Unit]) -> Unit:
    return unit_for(None)


@pytest.fixture
def customer(
    db: Session,
    work: Unit,
    worker: Agent,
    other_worker: Agent,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> Contact:
    """A contact with four entries on two tickets: billed, billable, non-billable, and one on
    the 3rd of January by the other agent."""
    contact = make_contact("Yamada")
    printer = make_ticket("Printer", contact=contact, created_at=START - timedelta(days=5))
    invoice = make_ticket("Invoice", contact=contact, created_at=START - timedelta(days=5))
    entries = [
        (printer, 3600, True, True, worker, START),
        (printer, 900, True, False, worker, START + timedelta(hours=1)),
        (invoice, 1800, False, False, worker, START + timedelta(hours=2)),
        (invoice, 8100, True, False, other_worker, START - timedelta(days=2)),
    ]
    for ticket, seconds, billable, billed, agent, logged_at in entries:
        ticket_service.add_time_entry(
            work,
            ticket,
            seconds=seconds,
            billable=billable,
            billed=billed,
            agent_id=agent.id,
            description="Toner" if billed else "",
            logged_at=logged_at,
        )
    db.commit()
    return contact


def _entries(html: str) -> list[tuple[int, str]]:
    """``(seconds, billing)`` of each listed entry, in order."""
    return [
        (int(seconds), billing)
        for seconds, billing in re.findall(
            r'<td data-seconds="(\d+)">[^<]*</td>\s*<td data-billing="([a-z_]+)"', html
        )
    ]


def _totals(html: str) -> dict[str, int]:
    return {
        name: int(seconds)
        for name, seconds in re.findall(
            r'data-total="([a-z_]+)"><dt>[^<]*</dt><dd data-seconds="(\d+)"', html
        )
    }


def test_entries_are_listed_latest_first_with_every_total(
    agent_client: FlaskClient, customer: Contact
) -> None:
    html = customer_tab_html(agent_client, f"/contacts/{customer.id}", PLUGIN)

    assert _entries(html) == [
        (1800, "non_billable"),
        (900, "billable"),
        (3600, "billed"),
        (8100, "billable"),
    ]
    assert _totals(html) == {
        "logged": 14400,
        "billable": 12600,
        "billed": 3600,
        "non_billable": 1800,
    }
    assert "2 h 15 min" in html and "Ken Sato" in html and "Toner" in html


@pytest.mark.parametrize(
    ("billing", "listed"),
    [("billable", [900, 3600, 8100]), ("billed", [3600]), ("non_billable", [1800])],
)
def test_the_billing_filter_narrows_the_entries_and_the_totals(
    agent_client: FlaskClient, customer: Contact, billing: str, listed: list[int]
) -> None:
    html = customer_tab_html(
        agent_client, f"/contacts/{customer.id}", PLUGIN, f"time_billing={billing}"
    )

    assert [seconds for seconds, _billing in _entries(html)] == listed
    assert _totals(html)["logged"] == sum(listed)


def test_the_agent_and_period_filters_narrow_the_entries_and_the_totals(
    agent_client: FlaskClient, customer: Contact, worker: Agent
) -> None:
    html = customer_tab_html(
        agent_client,
        f"/contacts/{customer.id}",
        PLUGIN,
        f"time_agent={worker.id}&time_from=2026-01-04&time_to=2026-01-05",
    )

    assert [seconds for seconds, _billing in _entries(html)] == [1800, 900, 3600]
    assert _totals(html) == {"logged": 6300, "billable": 4500, "billed": 3600, "non_billable": 1800}


def test_the_period_keeps_only_its_days(agent_client: FlaskClient, customer: Contact) -> None:
    html = customer_tab_html(
        agent_client, f"/contacts/{customer.id}", PLUGIN, "time_from=2026-01-03&time_to=2026-01-03"
    )

    assert _entries(html) == [(8100, "billable")]


def test_entries_on_tickets_of_another_department_are_not_counted(
    agent_client: FlaskClient,
    db: Session,
    work: Unit,
    worker: Agent,
    make_department: Callable[..., Department],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    customer = make_contact("Yamada")
    mine = make_ticket("Mine", contact=customer)
    theirs = make_ticket("Theirs", contact=customer, department=make_department("Legal"))
    ticket_service.add_time_entry(work, mine, seconds=600, billable=False, agent_id=worker.id)
    ticket_service.add_time_entry(work, theirs, seconds=7200, billable=True, agent_id=worker.id)
    db.commit()

    html = customer_tab_html(agent_client, f"/contacts/{customer.id}", PLUGIN)

    assert _entries(html) == [(600, "non_billable")]
    assert _totals(html)["logged"] == 600


def test_the_tab_pages_through_every_entry_and_keeps_the_totals_whole(
    agent_client: FlaskClient,
    db: Session,
    work: Unit,
    worker: Agent,
    make_account: Callable[..., Account],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    acme = make_account("Acme")
    ticket = make_ticket("Ours", contact=make_contact("Yamada", account=acme))
    count = 2 * TIME_TAB_LIMIT + 3
    for n in range(count):
        ticket_service.add_time_entry(
            work,
            ticket,
            seconds=60 * (n + 1),
            billable=False,
            agent_id=worker.id,
            logged_at=START + timedelta(minutes=n),
        )
    db.commit()

    pages: list[list[int]] = []
    query = "time_billing=non_billable"
    while True:
        html = customer_tab_html(agent_client, f"/accounts/{acme.id}", PLUGIN, query)
        pages.append([seconds for seconds, _billing in _entries(html)])
        assert _totals(html)["logged"] == sum(60 * (n + 1) for n in range(count))
        older = older_query(html)
        if older is None:
            break
        assert "time_billing=non_billable" in older
        query = older

    assert [len(page) for page in pages] == [TIME_TAB_LIMIT, TIME_TAB_LIMIT, 3]
    assert [s for page in pages for s in page] == [60 * n for n in range(count, 0, -1)]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(45, "45 s"), (60, "1 min"), (2700, "45 min"), (7200, "2 h"), (8100, "2 h 15 min")],
)
def test_durations_read_as_hours_and_minutes(app: Flask, seconds: int, shown: str) -> None:
    with app.test_request_context():
        assert humanised_duration(seconds) == shown


def test_the_rest_api_lists_entries_with_the_filtered_totals(
    browser: tuple[FlaskClient, dict[str, str]], customer: Contact, worker: Agent
) -> None:
    client, _headers = browser

    answer = client.get(
        f"/api/v1/contacts/{customer.id}/time-entries"
        f"?billing=billable&agent_id={worker.id}&from=2026-01-05&to=2026-01-05&limit=1"
    )

    assert answer.status_code == 200
    assert [(i["seconds"], i["billing"]) for i in answer.json["items"]] == [(900, "billable")]
    assert answer.json["totals"] == {
        "entries": 2,
        "logged": 4500,
        "billable": 4500,
        "billed": 3600,
        "non_billable": 0,
    }
    rest = client.get(
        f"/api/v1/contacts/{customer.id}/time-entries?billing=billable&agent_id={worker.id}"
        f"&from=2026-01-05&to=2026-01-05&limit=1&cursor={answer.json['next_cursor']}"
    ).json
    assert [(i["seconds"], i["billing"]) for i in rest["items"]] == [(3600, "billed")]
    assert rest["next_cursor"] is None


def test_the_rest_api_lists_an_accounts_entries(
    browser: tuple[FlaskClient, dict[str, str]],
    db: Session,
    work: Unit,
    make_account: Callable[..., Account],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    client, _headers = browser
    acme = make_account("Acme")
    ticket = make_ticket("Ours", contact=make_contact("Yamada", account=acme))
    ticket_service.add_time_entry(work, ticket, seconds=300, billable=False)
    db.commit()

    answer = client.get(f"/api/v1/accounts/{acme.id}/time-entries")

    assert answer.status_code == 200
    assert [i["seconds"] for i in answer.json["items"]] == [300]
    assert answer.json["totals"]["non_billable"] == 300


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("billing=paid", "billing"),
        ("agent_id=abc", "agent_id"),
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-01-05&to=2026-01-04", "to"),
        ("cursor=%25%25%25", "cursor"),
    ],
)
def test_a_bad_filter_answers_422_naming_it(
    browser: tuple[FlaskClient, dict[str, str]], customer: Contact, query: str, field: str
) -> None:
    client, _headers = browser

    answer = client.get(f"/api/v1/contacts/{customer.id}/time-entries?{query}")

    assert answer.status_code == 422
    assert field in answer.json["errors"]["query"]
