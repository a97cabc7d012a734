"""The contact and account pages in three panels: the list the record was opened from beside
it (its view, search and page kept), the details with a ticket summary, and the tabs."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.models import Account, Agent, Contact, Department, Ticket
from core.web.ui.customers import PAGE_SIZE
from tests.page_helpers import sign_in


@pytest.fixture
def agent_client(
    app: Flask, make_agent: Callable[..., Agent], department: Department
) -> FlaskClient:
    """A client signed in as an agent of the default department."""
    agent = make_agent("records@example.com", departments=[department])
    client = app.test_client()
    sign_in(client, agent.email)
    return client


def _page(client: FlaskClient, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, path
    return answer.get_data(as_text=True)


def _record_list(html: str) -> str:
    found = re.search(r'<nav class="card record-list".*?</nav>', html, re.S)
    assert found, "no list beside the record"
    return found.group(0)


def _listed_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<li data-id="(\d+)"', _record_list(html))]


def _link_of(html: str, contact_id: int) -> str:
    found = re.search(rf'<a href="(/contacts/{contact_id}\?[^"]*)">', html)
    assert found, f"no link to contact {contact_id}"
    return unescape(found.group(1))


def test_a_contact_opened_from_a_search_lists_that_search_beside_it(
    agent_client: FlaskClient, make_contact: Callable[..., Contact]
) -> None:
    sato = [
        make_contact("Sato", first_name=f"S{n}", email=f"sato{n}@example.com") for n in range(3)
    ]
    make_contact("Tanaka", email="tanaka@example.com")
    listed = _page(agent_client, "/contacts?q=Sato")

    opened = _page(agent_client, _link_of(listed, sato[1].id))

    assert sorted(_listed_ids(opened)) == sorted(c.id for c in sato)
    beside = _record_list(opened)
    assert f'<li data-id="{sato[1].id}" class="current">' in beside
    assert "<q>Sato</q>" in beside
    # Moving to a neighbour keeps the search.
    neighbour = re.search(rf'<a href="(/contacts/{sato[0].id}\?[^"]*)"', beside)
    assert neighbour and "list_q=Sato" in unescape(neighbour.group(1))
    assert '<a href="/contacts?view=all&amp;q=Sato" id="back-to-list">' in beside


def test_the_list_beside_a_record_pages_without_leaving_it(
    agent_client: FlaskClient, make_contact: Callable[..., Contact]
) -> None:
    contacts = [
        make_contact(f"Page{n:03d}", email=f"page{n}@example.com") for n in range(PAGE_SIZE + 3)
    ]
    shown = contacts[-1]
    first = _page(agent_client, f"/contacts/{shown.id}?list_view=all")
    assert len(_listed_ids(first)) == PAGE_SIZE

    next_link = re.search(r'rel="next" data-list-next href="([^"]+)"', _record_list(first))
    assert next_link, "the list beside the record offers its next page"
    second = _page(agent_client, unescape(next_link.group(1)))

    assert re.search(r'<h1 id="contact-name">', second)
    assert f"/contacts/{shown.id}?" in unescape(next_link.group(1))
    assert len(_listed_ids(second)) == 3
    assert set(_listed_ids(first)).isdisjoint(_listed_ids(second))


def test_an_unknown_list_view_falls_back_to_all(
    agent_client: FlaskClient, make_contact: Callable[..., Contact]
) -> None:
    contact = make_contact()
    opened = _page(agent_client, f"/contacts/{contact.id}?list_view=999999&list_cursor=bogus")
    assert _listed_ids(opened) == [contact.id]


def test_the_ticket_summary_counts_the_visible_tickets_by_status_type(
    agent_client: FlaskClient,
    make_contact: Callable[..., Contact],
    make_department: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
) -> None:
    contact = make_contact()
    sales = make_department("Sales")
    for status in ("Open", "Open", "On Hold", "Closed"):
        make_ticket(contact=contact, status=status)
    make_ticket(contact=contact, department=sales)  # another department's: not counted

    summary = re.search(
        r'<dl class="summary-counts" id="ticket-summary">.*?</dl>',
        _page(agent_client, f"/contacts/{contact.id}"),
        re.S,
    )

    assert summary
    counts = dict(
        re.findall(
            r'data-status-type="(\w+)">.*?<a href="[^"]*">([\d,]+)</a>', summary.group(0), re.S
        )
    )
    assert counts == {"open": "2", "on_hold": "1", "closed": "1"}


def test_an_account_page_lists_the_accounts_beside_it(
    agent_client: FlaskClient, make_account: Callable[..., Account]
) -> None:
    first, second = make_account("Hikari Trading"), make_account("Kaze Logistics")
    opened = _page(agent_client, f"/accounts/{first.id}")
    assert sorted(_listed_ids(opened)) == sorted([first.id, second.id])
    assert f'<li data-id="{first.id}" class="current">' in _record_list(opened)
