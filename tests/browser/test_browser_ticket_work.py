"""Ticket work in a real browser, in English and Japanese: a new ticket with a new contact,
a bulk assignment from the list with its per-ticket result, and assign-to-me and priority on
the ticket page, both told in the timeline."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Agent, Contact, Department, Ticket
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.browser

#: What each language's pages say, where the tests read the wording.
WORDS = {
    "en": {
        "summary": "2 of 2 tickets changed.",
        "assigned": "assigned",
        "assigned_line": "Aiko Tanaka assigned this to Aiko Tanaka",
        "priority_line": "Aiko Tanaka changed the priority: Medium → High",
    },
    "ja": {
        "summary": "2 件中 2 件の問い合わせを変更しました。",
        "assigned": "割り当てました",
        "assigned_line": "Aiko Tanaka が Aiko Tanaka に割り当て",
        "priority_line": "Aiko Tanaka が優先度を変更: 中 → 高",
    },
}


@pytest.fixture(params=["en", "ja"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def worker(make_agent: Callable[..., Agent], support: Department, language: str) -> Agent:
    """An agent of "Support" whose pages are in ``language``."""
    return make_agent(
        "aiko@example.com", name="Aiko Tanaka", departments=[support], locale=language
    )


def _sign_in(page, live_server: str, agent: Agent) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server}/login")
    page.fill("#email", agent.email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/tickets")


def test_new_ticket_with_a_new_contact(  # type: ignore[no-untyped-def]
    page, live_server: str, worker: Agent, support: Department, db: Session
) -> None:
    _sign_in(page, live_server, worker)
    page.click("#new-ticket")
    page.wait_for_url(f"{live_server}/tickets/new")
    page.fill("#contact-name", "伊藤 純")
    page.fill("#contact-email", "jun@example.com")
    page.fill("#ticket-subject", "ログインできません")
    page.fill("#ticket-description", "今朝から")
    page.select_option("#ticket-priority", "high")
    page.click("#create-ticket")
    page.wait_for_url(re.compile(r"/tickets/\d+$"))
    assert page.inner_text("#ticket-subject") == "ログインできません"
    db.commit()
    ticket = db.scalars(select(Ticket)).one()
    contact = db.get(Contact, ticket.contact_id)
    assert contact is not None and contact.email == "jun@example.com"
    assert ticket.priority == "high"


def test_bulk_assign_two_tickets_from_the_list(  # type: ignore[no-untyped-def]
    page,
    live_server: str,
    worker: Agent,
    make_ticket: Callable[..., Ticket],
    support: Department,
    language: str,
    db: Session,
) -> None:
    first = make_ticket("Printer", department=support)
    second = make_ticket("Scanner", department=support)
    make_ticket("Untouched", department=support)
    _sign_in(page, live_server, worker)
    page.check(f"#select-{first.id}")
    page.check(f"#select-{second.id}")
    page.select_option("#bulk-assignee", str(worker.id))
    page.click("#bulk-assign")
    result = page.locator("#bulk-result")
    result.wait_for()
    assert page.inner_text("#bulk-summary") == WORDS[language]["summary"]
    assert WORDS[language]["assigned"] in page.inner_text(f"#bulk-line-{first.id}")
    assert WORDS[language]["assigned"] in page.inner_text(f"#bulk-line-{second.id}")
    db.commit()
    db.expire_all()
    assigned = db.scalars(select(Ticket.subject).where(Ticket.assignee_id == worker.id)).all()
    assert sorted(assigned) == ["Printer", "Scanner"]


def test_select_all_ticks_every_ticket_on_the_page(  # type: ignore[no-untyped-def]
    page, live_server: str, worker: Agent, make_ticket: Callable[..., Ticket], support
) -> None:
    tickets = [make_ticket(f"T{n}", department=support) for n in range(3)]
    _sign_in(page, live_server, worker)
    page.check("#select-all")
    assert all(page.is_checked(f"#select-{t.id}") for t in tickets)
    page.uncheck(f"#select-{tickets[0].id}")
    assert page.evaluate("document.getElementById('select-all').indeterminate") is True


def test_assign_to_me_and_priority_show_in_the_timeline(  # type: ignore[no-untyped-def]
    page,
    live_server: str,
    worker: Agent,
    make_ticket: Callable[..., Ticket],
    support: Department,
    language: str,
) -> None:
    ticket = make_ticket("Printer", department=support)
    _sign_in(page, live_server, worker)
    page.goto(f"{live_server}/tickets/{ticket.id}")
    page.click("#assign-to-me")
    page.wait_for_url(f"{live_server}/tickets/{ticket.id}")
    page.select_option("#priority-select", "high")
    page.click("#priority-form button[type=submit]")
    page.wait_for_url(f"{live_server}/tickets/{ticket.id}")
    changes = page.locator(".timeline-change").all_inner_texts()
    assert any(WORDS[language]["assigned_line"] in text for text in changes), changes
    assert any(WORDS[language]["priority_line"] in text for text in changes), changes
    assert page.inner_text("#ticket-assignee") == "Aiko Tanaka"
