"""Ticket History in a real browser: an agent of one department opens a ticket, sees the
customer's earlier tickets page by page, filters them, and reads one in place, in English and
Japanese."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from core.host import Host
from core.models import Agent, Contact, Department, Ticket
from core.services import tickets
from tests.factories import install_for, system_unit

pytestmark = pytest.mark.browser

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _listed(page: object) -> list[str]:
    items = page.locator(".ticket-history li[data-ticket-id]")  # type: ignore[attr-defined]
    return [items.nth(i).get_attribute("data-ticket-id") or "" for i in range(items.count())]


@pytest.mark.parametrize(
    ("locale", "status_label", "back_label"),
    [("en", "On hold", "Back to the list"), ("ja", "保留中", "一覧に戻る")],
)
def test_agent_pages_filters_and_reads_an_earlier_ticket_in_place(
    page: object,
    live_server: str,
    sign_in: Callable[[str], None],
    host: Host,
    support: Department,
    make_agent: Callable[..., Agent],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
    locale: str,
    status_label: str,
    back_label: str,
) -> None:
    customer = make_contact("Yamada")
    earlier = [
        make_ticket(f"Question {n}", contact=customer, created_at=START + timedelta(hours=n))
        for n in range(12)
    ]
    waiting = make_ticket(
        "Invoice missing", contact=customer, status="On Hold", created_at=START - timedelta(days=1)
    )
    current = make_ticket("Printer again", contact=customer)
    with host.transaction() as session:
        unit = system_unit(session, host)
        ticket = session.get(Ticket, waiting.id)
        tickets.add_thread(unit, ticket, kind="incoming", body="The invoice never came.")
        tickets.add_thread(unit, ticket, kind="outgoing", body="Sent it again today.")
        install_for(session, host, "ticket_history", [support.id])
    agent = make_agent(f"desk-{locale}@example.com", departments=[support], locale=locale)
    sign_in(agent.email)

    page.goto(f"{live_server}/tickets/{current.id}")  # type: ignore[attr-defined]
    newest_first = [str(t.id) for t in reversed(earlier)] + [str(waiting.id)]
    assert _listed(page) == newest_first[:10]
    page.locator('[data-history-page="older"]').click()  # type: ignore[attr-defined]
    page.wait_for_selector('[data-history-page="newest"]')  # type: ignore[attr-defined]
    assert _listed(page) == newest_first[10:]

    page.locator("[data-history-status]").select_option("on_hold")  # type: ignore[attr-defined]
    page.locator("[data-history-search]").fill("invoice")  # type: ignore[attr-defined]
    page.locator("[data-history-search]").press("Enter")  # type: ignore[attr-defined]
    page.wait_for_url("**status=on_hold**")  # type: ignore[attr-defined]
    assert _listed(page) == [str(waiting.id)]
    assert status_label in (page.locator(".ticket-history li").first.text_content() or "")  # type: ignore[attr-defined]

    page.locator(f'[data-history-open="{waiting.id}"]').click()  # type: ignore[attr-defined]
    page.wait_for_selector(f'[data-opened="{waiting.id}"]')  # type: ignore[attr-defined]
    assert page.url.split("?")[0] == f"{live_server}/tickets/{current.id}"  # type: ignore[attr-defined]
    conversation = page.locator(".history-opened").text_content() or ""  # type: ignore[attr-defined]
    assert "The invoice never came." in conversation and "Sent it again today." in conversation

    page.get_by_role("link", name=back_label).click()  # type: ignore[attr-defined]
    page.wait_for_selector("[data-history-search]")  # type: ignore[attr-defined]
    assert _listed(page) == [str(waiting.id)]
