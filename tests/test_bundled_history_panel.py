"""The Ticket History panel: the customer's other tickets beside a ticket, newest first."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

import plugins.ticket_history
from core.host import Host
from core.models import Agent, Contact, Department, Installation, Organisation, Ticket
from marketplace_registry import lifecycle
from tests.factories import TEST_PASSWORD, install_for, system_unit, ticket_panel_html

PLUGIN = "ticket_history"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _install(
    host: Host,
    departments: Iterable[Department],
    *,
    scopes: list[str] | None = None,
    settings: dict[str, object] | None = None,
) -> int:
    with host.transaction() as session:
        installation = install_for(
            session, host, PLUGIN, [d.id for d in departments], scopes=scopes
        )
        if settings:
            lifecycle.update_settings(system_unit(session, host), installation, settings)
        return installation.id


def _panel_html(app: Flask, host: Host, agent_id: int, ticket_id: int) -> str | None:
    """The panel's HTML on the ticket as ``agent`` sees it, or ``None`` when not shown."""
    return ticket_panel_html(app, host, PLUGIN, agent_id, ticket_id)


def _listed(html: str | None) -> list[int]:
    """The ticket ids the panel lists, in order."""
    assert html is not None
    return [int(found) for found in re.findall(r'<li data-ticket-id="(\d+)"', html)]


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


@pytest.fixture
def tickets_of(
    make_ticket: Callable[..., Ticket], customer: Contact, support: Department
) -> Callable[..., list[Ticket]]:
    """``tickets_of(count, department=support, contact=customer)``: tickets an hour apart,
    oldest first."""

    def make(
        count: int, *, department: Department = support, contact: Contact = customer
    ) -> list[Ticket]:
        return [
            make_ticket(
                f"Question {n}",
                department=department,
                contact=contact,
                created_at=START + timedelta(hours=n),
            )
            for n in range(count)
        ]

    return make


def test_manifest_declares_exactly_the_panels_the_extension_contributes(host: Host) -> None:
    declared = host.plugins.manifest(PLUGIN).panels
    contributed = plugins.ticket_history.deskhost_panels()
    assert [(d.key, d.location, d.title.en, d.title.ja) for d in declared] == [
        (p.key, p.location, p.title, p.title_ja) for p in contributed
    ]


def test_lists_the_customers_other_tickets_newest_first(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support])
    first, second, current, fourth = tickets_of(4)

    html = _panel_html(app, host, agent.id, current.id)

    assert _listed(html) == [fourth.id, second.id, first.id]


def test_each_ticket_shows_number_subject_status_channel_and_created_time_with_a_link(
    app: Flask,
    host: Host,
    support: Department,
    customer: Contact,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support])
    earlier = make_ticket(
        "Invoice <missing>",
        department=support,
        contact=customer,
        status="On Hold",
        channel="web_form",
        created_at=START,
    )
    current = make_ticket(department=support, contact=customer)

    html = _panel_html(app, host, agent.id, current.id)

    assert html is not None
    assert (
        f'<a href="/tickets/{earlier.id}"><span class="number">{earlier.number}</span> '
        "Invoice &lt;missing&gt;</a>"
    ) in html
    assert 'data-status="On Hold">On hold</dd>' in html
    assert 'data-channel="web_form">Web form</dd>' in html
    assert '<time datetime="2026-01-05T09:00:00+00:00">2026-01-05 09:00</time>' in html


def test_created_time_is_shown_in_the_organisations_time_zone(
    app: Flask,
    host: Host,
    db: Session,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    organisation = db.scalars(select(Organisation)).one()
    organisation.timezone = "Asia/Tokyo"
    db.commit()
    _install(host, [support])
    agent = make_agent(departments=[support])
    earlier, current = tickets_of(2)

    html = _panel_html(app, host, agent.id, current.id)

    assert html is not None
    assert f'<time datetime="{earlier.created_at.isoformat()}">2026-01-05 18:00</time>' in html


def test_page_size_setting_limits_the_list_and_says_more_exist(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support], settings={"page_size": 5})
    agent = make_agent(departments=[support])
    *others, current = tickets_of(8)

    html = _panel_html(app, host, agent.id, current.id)

    assert _listed(html) == [t.id for t in reversed(others)][:5]
    assert "Showing the 5 most recent." in (html or "")


def test_default_page_size_is_ten(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support])
    current, *others = tickets_of(12)

    assert (
        _listed(_panel_html(app, host, agent.id, current.id))
        == [t.id for t in reversed(others)][:10]
    )


def test_a_full_page_without_more_tickets_does_not_say_there_are_more(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support], settings={"page_size": 5})
    agent = make_agent(departments=[support])
    current = tickets_of(6)[-1]

    html = _panel_html(app, host, agent.id, current.id)

    assert len(_listed(html)) == 5
    assert "most recent" not in (html or "")


def test_other_customers_tickets_are_not_listed(
    app: Flask,
    host: Host,
    support: Department,
    make_contact: Callable[..., Contact],
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support])
    someone_else = make_contact("Suzuki", email="ichiro@example.com")
    (theirs,) = tickets_of(1, contact=someone_else)
    (current,) = tickets_of(1)

    html = _panel_html(app, host, agent.id, current.id)

    assert _listed(html) == []
    assert f"/tickets/{theirs.id}" not in (html or "")
    assert "No other tickets from this customer." in (html or "")


def test_tickets_of_a_department_the_agent_is_not_in_are_hidden(
    app: Flask,
    host: Host,
    support: Department,
    sales: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support, sales])
    support_agent = make_agent("support@example.com", departments=[support])
    both_agent = make_agent("both@example.com", departments=[support, sales])
    (in_sales,) = tickets_of(1, department=sales)
    (current,) = tickets_of(1)

    assert _listed(_panel_html(app, host, support_agent.id, current.id)) == []
    assert _listed(_panel_html(app, host, both_agent.id, current.id)) == [in_sales.id]


def test_tickets_of_a_department_the_installation_does_not_cover_are_hidden(
    app: Flask,
    host: Host,
    support: Department,
    sales: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support, sales])
    (in_support,) = tickets_of(1)
    tickets_of(1, department=sales)
    (current,) = tickets_of(1)

    assert _listed(_panel_html(app, host, agent.id, current.id)) == [in_support.id]


def test_ticket_without_a_customer_gets_a_short_message(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support])
    make_ticket(department=support, contact=None)
    ticket = make_ticket(department=support, contact=None)

    html = _panel_html(app, host, agent.id, ticket.id)

    assert html is not None
    assert "This ticket has no customer." in html
    assert "<li" not in html


def test_without_the_tickets_read_scope_the_panel_says_it_is_not_authorized(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support], scopes=["desk.contacts.read"])
    agent = make_agent(departments=[support])
    _earlier, current = tickets_of(2)

    html = _panel_html(app, host, agent.id, current.id)

    assert html is not None
    assert "This extension is not authorized to read tickets." in html
    assert "<li" not in html


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
    make_ticket(department=support, contact=customer, status="Closed", created_at=START)
    current = make_ticket(department=support, contact=customer)

    html = _panel_html(app, host, agent.id, current.id)

    assert html is not None
    assert 'lang="ja"' in html
    assert 'aria-label="この顧客の他の問い合わせ（新しい順）"' in html
    assert 'data-status="Closed">完了</dd>' in html
    assert 'data-channel="email">メール</dd>' in html


def test_japanese_agent_without_the_scope_gets_the_japanese_message(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support], scopes=["desk.contacts.read"])
    agent = make_agent(departments=[support], locale="ja")
    (current,) = tickets_of(1)

    assert "この拡張機能には問い合わせを参照する権限がありません。" in (
        _panel_html(app, host, agent.id, current.id) or ""
    )


def test_ticket_page_shows_the_panel_with_links_to_the_other_tickets(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support])
    earlier, current = tickets_of(2)
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', login)
    assert token is not None
    client.post(
        "/login",
        data={"email": agent.email, "password": TEST_PASSWORD, "csrf_token": token.group(1)},
    )

    page = client.get(f"/tickets/{current.id}").get_data(as_text=True)

    assert "<summary>Ticket History</summary>" in page
    assert _listed(page) == [earlier.id]
    assert client.get(f"/tickets/{earlier.id}").status_code == 200


def test_archived_installation_shows_no_panel(
    app: Flask,
    host: Host,
    db: Session,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    installation_id = _install(host, [support])
    agent = make_agent(departments=[support])
    _earlier, current = tickets_of(2)
    with host.transaction() as session:
        lifecycle.uninstall(
            system_unit(session, host),
            session.get(Installation, installation_id),
            confirmed=True,
            keep_data=True,
        )

    assert _panel_html(app, host, agent.id, current.id) is None


def test_ticket_outside_the_agents_departments_lists_nothing(
    app: Flask,
    host: Host,
    support: Department,
    sales: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support, sales])
    sales_agent = make_agent(departments=[sales])
    tickets_of(1, department=sales)
    (current,) = tickets_of(1)

    html = _panel_html(app, host, sales_agent.id, current.id)

    assert html is not None
    assert "This ticket is outside the departments this extension shows you." in html
    assert "<li" not in html
