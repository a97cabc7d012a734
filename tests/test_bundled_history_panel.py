"""The Ticket History panel: the customer's other tickets beside a ticket, newest first."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

import plugins.ticket_history
from core.host import Host
from core.models import Agent, Contact, Department, Installation, Organisation, Ticket
from marketplace_registry import lifecycle
from plugins.ticket_history.panel import cursor_text
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


def _panel_html(
    app: Flask, host: Host, agent_id: int, ticket_id: int, **choices: object
) -> str | None:
    """The panel's HTML on the ticket as ``agent`` sees it, or ``None`` when not shown;
    ``choices`` are the panel's query arguments (``installation=`` names whose)."""
    installation = choices.pop("installation", None)
    query = urlencode({f"history{installation}.{name}": value for name, value in choices.items()})
    return ticket_panel_html(app, host, PLUGIN, agent_id, ticket_id, query)


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
    installation = _install(host, [support])
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
    # The link opens the ticket in place: on this ticket's page, in the panel.
    assert (
        f'<a href="?history{installation}.open={earlier.id}" data-history-open="{earlier.id}">'
        f'<span class="number">{earlier.number}</span> Invoice &lt;missing&gt;</a>'
    ) in html
    assert 'data-status="On Hold">On hold</dd>' in html
    assert 'data-channel="web_form">Web form</dd>' in html
    assert f'data-department="{support.id}">Support</dd>' in html
    assert 'data-assignee="">Unassigned</dd>' in html
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


# ------------------------------------------------------------------------ filters and pages


def _older_link(html: str | None) -> dict[str, str] | None:
    """The query arguments of the panel's "Older" link, or ``None`` when it has none."""
    from urllib.parse import parse_qsl

    found = re.search(r'<a href="\?([^"]+)" rel="next" data-history-page="older"', html or "")
    return None if found is None else dict(parse_qsl(found.group(1).replace("&amp;", "&")))


def test_status_filter_lists_only_tickets_of_that_status_type(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
    customer: Contact,
) -> None:
    installation = _install(host, [support])
    agent = make_agent(departments=[support])
    waiting = make_ticket("Waiting", contact=customer, status="On Hold", created_at=START)
    make_ticket("Done", contact=customer, status="Closed", created_at=START)
    current = make_ticket(contact=customer)

    html = _panel_html(app, host, agent.id, current.id, installation=installation, status="on_hold")

    assert _listed(html) == [waiting.id]
    assert '<option value="on_hold" selected>' in (html or "")


def test_keyword_search_finds_tickets_by_subject_or_number(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
    customer: Contact,
) -> None:
    installation = _install(host, [support])
    agent = make_agent(departments=[support])
    invoice = make_ticket("Invoice missing", contact=customer, created_at=START)
    printer = make_ticket("Printer jammed", contact=customer, created_at=START)
    current = make_ticket(contact=customer)

    by_subject = _panel_html(
        app, host, agent.id, current.id, installation=installation, q="invoice"
    )
    by_number = _panel_html(
        app, host, agent.id, current.id, installation=installation, q=str(printer.number)
    )
    nothing = _panel_html(app, host, agent.id, current.id, installation=installation, q="zebra")

    assert _listed(by_subject) == [invoice.id]
    assert _listed(by_number) == [printer.id]
    assert "No tickets match." in (nothing or "")


def test_older_pages_follow_by_keyset_until_the_oldest_ticket(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    installation = _install(host, [support], settings={"page_size": 5})
    agent = make_agent(departments=[support])
    *others, current = tickets_of(13)
    newest_first = [t.id for t in reversed(others)]

    pages: list[list[int]] = []
    choices: dict[str, str] = {}
    while True:
        html = _panel_html(app, host, agent.id, current.id, **choices)
        pages.append(_listed(html))
        older = _older_link(html)
        if older is None:
            break
        choices = {"installation": installation, "after": older[f"history{installation}.after"]}

    assert pages == [newest_first[:5], newest_first[5:10], newest_first[10:]]
    assert 'data-history-page="newest"' in (html or "")


def test_the_switch_lists_the_whole_accounts_tickets(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
    make_contact: Callable[..., Contact],
    make_account: Callable[..., object],
) -> None:
    installation = _install(host, [support])
    agent = make_agent(departments=[support])
    acme = make_account("Acme")
    yamada = make_contact("Yamada", account=acme)
    suzuki = make_contact("Suzuki", account=acme)
    colleague = make_ticket("Colleague's", contact=suzuki, created_at=START)
    own = make_ticket("Own", contact=yamada, created_at=START + timedelta(hours=1))
    current = make_ticket(contact=yamada)

    contact_only = _panel_html(app, host, agent.id, current.id)
    whole_account = _panel_html(
        app, host, agent.id, current.id, installation=installation, of="account"
    )

    assert _listed(contact_only) == [own.id]
    assert _listed(whole_account) == [own.id, colleague.id]
    assert 'data-history-of="account" aria-current="true"' in (whole_account or "")


def test_a_contact_without_an_account_gets_no_switch(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support])
    agent = make_agent(departments=[support])
    _, current = tickets_of(2)

    assert "data-history-of" not in (_panel_html(app, host, agent.id, current.id) or "")


def test_a_listed_ticket_opens_in_place_with_its_conversation(
    app: Flask,
    host: Host,
    db: Session,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    from core.services import tickets

    installation = _install(host, [support])
    agent = make_agent(departments=[support])
    earlier, current = tickets_of(2)
    unit = system_unit(db, host)
    tickets.add_thread(unit, db.get(Ticket, earlier.id), kind="incoming", body="It <burns>")
    tickets.add_thread(unit, db.get(Ticket, earlier.id), kind="outgoing", body="Unplug it")
    db.commit()

    html = _panel_html(app, host, agent.id, current.id, installation=installation, open=earlier.id)

    assert html is not None
    assert f'data-opened="{earlier.id}"' in html
    assert re.findall(r'data-thread-kind="(\w+)"', html) == ["incoming", "outgoing"]
    assert "It &lt;burns&gt;" in html and "Unplug it" in html
    assert 'href="?" data-history-back>Back to the list</a>' in html
    assert f'href="/tickets/{earlier.id}">Open the ticket</a>' in html


def test_only_a_ticket_the_list_could_show_opens_in_place(
    app: Flask,
    host: Host,
    support: Department,
    sales: Department,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
    make_contact: Callable[..., Contact],
    customer: Contact,
) -> None:
    installation = _install(host, [support, sales])
    agent = make_agent(departments=[support])
    stranger = make_ticket("Someone else's", contact=make_contact("Tanaka"))
    elsewhere = make_ticket("In Sales", department=sales, contact=customer)
    current = make_ticket(contact=customer)

    for ticket_id in (stranger.id, elsewhere.id, current.id, 999_999):
        html = _panel_html(
            app, host, agent.id, current.id, installation=installation, open=ticket_id
        )
        assert "That ticket is not one this panel can show." in (html or "")
        assert "data-thread-kind" not in (html or "")


def test_arguments_the_panel_cannot_read_are_ignored(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    installation = _install(host, [support])
    agent = make_agent(departments=[support])
    earlier, current = tickets_of(2)

    html = _panel_html(
        app,
        host,
        agent.id,
        current.id,
        installation=installation,
        status="gone",
        after="%%%not-a-cursor",
        open="²",
        of="everyone",
    )
    too_large = _panel_html(
        app,
        host,
        agent.id,
        current.id,
        installation=installation,
        open="9" * 30,
        after=cursor_text((START, 10**30)),
    )

    assert _listed(html) == [earlier.id]
    assert _listed(too_large) == [earlier.id]


def test_without_the_agents_scope_no_assignee_is_shown(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    _install(host, [support], scopes=["desk.tickets.read", "desk.contacts.read"])
    agent = make_agent(departments=[support])
    earlier, current = tickets_of(2)

    html = _panel_html(app, host, agent.id, current.id)

    assert _listed(html) == [earlier.id]
    assert "data-assignee" not in (html or "")


def test_japanese_agent_reads_the_filters_and_the_conversation_in_japanese(
    app: Flask,
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    tickets_of: Callable[..., list[Ticket]],
) -> None:
    installation = _install(host, [support])
    agent = make_agent(departments=[support], locale="ja")
    earlier, current = tickets_of(2)

    listed = _panel_html(app, host, agent.id, current.id) or ""
    opened = _panel_html(
        app, host, agent.id, current.id, installation=installation, open=earlier.id
    )

    assert "すべてのステータス" in listed and "絞り込む" in listed and "未割り当て" in listed
    assert "一覧に戻る" in (opened or "") and "問い合わせを開く" in (opened or "")
