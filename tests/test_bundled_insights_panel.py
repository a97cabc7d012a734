"""The Customer Insights ticket panel: the customer's open and closed tickets beside a ticket."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import pytest
from flask import Flask
from sqlalchemy.orm import Session

import plugins.customer_insights
from core.host import Host
from core.models import Agent, Contact, Department, Ticket
from plugins.customer_insights import charts, metrics
from tests.factories import TEST_PASSWORD, install_for, ticket_panel_html
from tests.insights_helpers import finish_backfills

PLUGIN = "customer_insights"


def _install(host: Host, departments: Iterable[Department], scopes: list[str] | None = None) -> int:
    with host.transaction() as session:
        return install_for(session, host, PLUGIN, [d.id for d in departments], scopes=scopes).id


def _panel_html(app: Flask, host: Host, agent_id: int, ticket_id: int) -> str | None:
    """The panel's HTML on the ticket as ``agent`` sees it once the backfill is done, or
    ``None`` when not shown."""
    finish_backfills(host)
    return ticket_panel_html(app, host, PLUGIN, agent_id, ticket_id)


def _counts(html: str | None) -> dict[str, int]:
    """The open and closed counts the panel shows."""
    assert html is not None
    return {
        name: int(value) for name, value in re.findall(r'data-metric="(open|closed)">(\d+)<', html)
    }


@pytest.fixture
def support(department: Department) -> Department:
    """The "Support" department, the one tickets are made in by default."""
    return department


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    return make_department("Sales")


@pytest.fixture
def customer(make_contact: Callable[..., Contact]) -> Contact:
    return make_contact("Yamada", email="hanako@example.com")


def test_manifest_declares_exactly_the_panels_the_extension_contributes(host: Host) -> None:
    declared = host.plugins.manifest(PLUGIN).panels
    contributed = plugins.customer_insights.deskhost_panels()
    assert [(d.key, d.location, d.title.en, d.title.ja) for d in declared] == [
        (p.key, p.location, p.title, p.title_ja) for p in contributed
    ]


def test_open_counts_open_escalated_and_on_hold_and_closed_counts_closed_and_resolved(
    app: Flask,
    host: Host,
    support: Department,
    customer: Contact,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support])
    current = make_ticket(department=support, contact=customer, status="Open")
    for status in ("Escalated", "On Hold", "Resolved", "Closed", "Closed"):
        make_ticket(department=support, contact=customer, status=status)

    html = _panel_html(app, host, agent.id, current.id)

    assert _counts(html) == {"open": 3, "closed": 3}


def test_other_customers_tickets_are_not_counted(
    app: Flask,
    host: Host,
    support: Department,
    customer: Contact,
    make_contact: Callable[..., Contact],
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support])
    someone_else = make_contact("Suzuki", email="ichiro@example.com")
    current = make_ticket(department=support, contact=customer)
    make_ticket(department=support, contact=someone_else)
    make_ticket(department=support, contact=someone_else, status="Closed")

    assert _counts(_panel_html(app, host, agent.id, current.id)) == {"open": 1, "closed": 0}


def test_tickets_of_a_department_the_agent_is_not_in_are_not_counted(
    app: Flask,
    host: Host,
    support: Department,
    sales: Department,
    customer: Contact,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support, sales])
    support_agent = make_agent("support@example.com", departments=[support])
    both_agent = make_agent("both@example.com", departments=[support, sales])
    current = make_ticket(department=support, contact=customer, status="Closed")
    make_ticket(department=sales, contact=customer)
    make_ticket(department=sales, contact=customer, status="On Hold")

    assert _counts(_panel_html(app, host, support_agent.id, current.id)) == {
        "open": 0,
        "closed": 1,
    }
    assert _counts(_panel_html(app, host, both_agent.id, current.id)) == {"open": 2, "closed": 1}


def test_tickets_of_a_department_the_installation_does_not_cover_are_not_counted(
    app: Flask,
    host: Host,
    support: Department,
    sales: Department,
    customer: Contact,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support, sales])
    current = make_ticket(department=support, contact=customer)
    make_ticket(department=sales, contact=customer)
    make_ticket(department=sales, contact=customer, status="Closed")

    assert _counts(_panel_html(app, host, agent.id, current.id)) == {"open": 1, "closed": 0}


def test_counting_goes_past_one_page_of_tickets(
    app: Flask,
    host: Host,
    support: Department,
    customer: Contact,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics, "_PAGE_SIZE", 2)
    # Without desk.threads.read the figures are not kept: the counts walk the tickets.
    _install(host, [support], scopes=["desk.tickets.read", "desk.contacts.read"])
    agent = make_agent(departments=[support])
    current = make_ticket(department=support, contact=customer)
    for status in ("Open", "Closed", "Closed", "On Hold"):
        make_ticket(department=support, contact=customer, status=status)

    html = _panel_html(app, host, agent.id, current.id)

    assert _counts(html) == {"open": 3, "closed": 2}
    assert "need this extension to be allowed to read threads" in (html or "")


def test_the_donut_states_both_counts_as_its_text_alternative(
    app: Flask,
    host: Host,
    support: Department,
    customer: Contact,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support])
    current = make_ticket(department=support, contact=customer)
    make_ticket(department=support, contact=customer, status="Closed")

    html = _panel_html(app, host, agent.id, current.id)

    assert html is not None
    label = "Open tickets: 1, closed tickets: 1"
    assert f'role="img" aria-label="{label}"' in html
    assert f"<title>{label}</title>" in html


def test_donut_segments_are_shares_of_a_hundred_starting_at_twelve_oclock() -> None:
    svg = str(charts.donut([(1, "#111111"), (3, "#333333")], label="a & b"))

    assert 'stroke="#111111" stroke-width="6" stroke-dasharray="25.000 75.000"' in svg
    assert 'stroke-dashoffset="25.000"' in svg
    assert 'stroke="#333333" stroke-width="6" stroke-dasharray="75.000 25.000"' in svg
    assert 'stroke-dashoffset="0.000"' in svg
    assert 'aria-label="a &amp; b"' in svg


def test_ticket_without_a_customer_gets_a_short_message(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support])
    ticket = make_ticket(department=support, contact=None)

    html = _panel_html(app, host, agent.id, ticket.id)

    assert html is not None
    assert "This ticket has no customer." in html
    assert "data-metric" not in html


def test_without_the_tickets_read_scope_the_panel_says_it_is_not_authorized(
    app: Flask,
    host: Host,
    support: Department,
    customer: Contact,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support], scopes=["desk.contacts.read"])
    agent = make_agent(departments=[support])
    ticket = make_ticket(department=support, contact=customer)

    html = _panel_html(app, host, agent.id, ticket.id)

    assert html is not None
    assert "This extension is not authorized to read tickets." in html
    assert "data-metric" not in html


def test_japanese_agent_reads_the_panel_in_japanese(
    app: Flask,
    host: Host,
    support: Department,
    customer: Contact,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support], locale="ja")
    current = make_ticket(department=support, contact=customer)
    make_ticket(department=support, contact=customer, status="Resolved")

    html = _panel_html(app, host, agent.id, current.id)

    assert html is not None
    assert 'lang="ja"' in html
    assert "未完了の問い合わせ：1件、完了した問い合わせ：1件" in html
    assert "Open" not in html
    assert _counts(html) == {"open": 1, "closed": 1}


def test_japanese_agent_without_a_customer_gets_the_japanese_message(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support], locale="ja")
    ticket = make_ticket(department=support, contact=None)

    assert "この問い合わせには顧客が設定されていません。" in (
        _panel_html(app, host, agent.id, ticket.id) or ""
    )


def test_ticket_page_shows_the_panel_with_the_customers_counts(
    app: Flask,
    host: Host,
    db: Session,
    support: Department,
    customer: Contact,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support])
    current = make_ticket(department=support, contact=customer)
    make_ticket(department=support, contact=customer, status="Closed")
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', login)
    assert token is not None
    client.post(
        "/login",
        data={"email": agent.email, "password": TEST_PASSWORD, "csrf_token": token.group(1)},
    )

    finish_backfills(host)
    page = client.get(f"/tickets/{current.id}").get_data(as_text=True)

    assert "<summary>Customer Insights</summary>" in page
    assert _counts(page) == {"open": 1, "closed": 1}


def test_ticket_outside_the_agents_departments_shows_no_figures(
    app: Flask,
    host: Host,
    support: Department,
    sales: Department,
    customer: Contact,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support, sales])
    sales_agent = make_agent(departments=[sales])
    ticket = make_ticket(department=support, contact=customer)

    html = _panel_html(app, host, sales_agent.id, ticket.id)

    assert html is not None
    assert "This ticket is outside the departments this extension shows you." in html
    assert "data-metric" not in html
