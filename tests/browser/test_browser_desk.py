"""An agent in a real browser: signs in, opens a ticket, sees the extension panel area."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Department, Ticket
from hostapi import Location, Panel, hookimpl
from tests.factories import install_for

pytestmark = pytest.mark.browser


class _NotesPanelPlugin:
    """A minimal extension contributing one ticket side panel."""

    @hookimpl
    def deskhost_panels(self) -> list[Panel]:
        return [
            Panel(
                key="notes",
                location=Location.TICKET_RIGHT_PANEL,
                title="Browser test notes",
                render=lambda _context, target: (
                    f'<p class="notes-panel">Notes for ticket {target.id}</p>'
                ),
            )
        ]


_MANIFEST = {
    "id": "browser_notes",
    "name": "Browser notes",
    "version": "1.0.0",
    "publisher": "tests",
    "category": "testing",
    "description": {"en": "A test extension.", "ja": "テスト用の拡張機能。"},
    "scopes": ["desk.tickets.read"],
    "panels": [
        {
            "key": "notes",
            "location": Location.TICKET_RIGHT_PANEL,
            "title": {"en": "Browser test notes", "ja": "ブラウザーテストのメモ"},
        }
    ],
    "settings": [],
    "jobs": [],
    "permissions": [],
    "hostapi": ">=1.0,<2",
    "terms": {"en": "Test terms.", "ja": "テスト規約。"},
    "single_install": False,
}


@pytest.fixture
def notes_extension(host: Host, db: Session, support: Department) -> Iterator[None]:
    """The test extension loaded, installed for "Support" and authorized."""
    host.plugins.register_plugin(_NotesPanelPlugin(), _MANIFEST)
    try:
        # Through the test session: a second connection would leave its snapshot stale.
        install_for(db, host, "browser_notes", [support.id], scopes=["desk.tickets.read"])
        db.commit()
        yield
    finally:
        host.plugins.unregister_plugin("browser_notes")


def test_wrong_password_shows_the_error_in_the_page(
    page, live_server: str, desk_agent: Agent
) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server}/login")
    page.fill("#email", desk_agent.email)
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    assert "incorrect" in page.inner_text("#login-error")


def test_agent_signs_in_opens_a_ticket_and_sees_the_empty_panel_area(  # type: ignore[no-untyped-def]
    page,
    live_server: str,
    sign_in: Callable[[str], None],
    desk_agent: Agent,
    make_ticket: Callable[..., Ticket],
    support: Department,
) -> None:
    ticket = make_ticket("Printer on fire", department=support, description="It smokes.")
    sign_in(desk_agent.email)
    page.click("text=Printer on fire")
    page.wait_for_url(f"{live_server}/tickets/{ticket.id}")
    assert page.inner_text("#ticket-subject") == "Printer on fire"
    area = page.locator("aside#extension-panels")
    assert area.get_attribute("data-location") == "desk.ticket.detail.rightpanel"
    assert area.is_visible()
    assert page.locator("#no-panels").is_visible()


def test_installed_extension_panel_is_rendered_in_the_panel_area(  # type: ignore[no-untyped-def]
    page,
    live_server: str,
    sign_in: Callable[[str], None],
    desk_agent: Agent,
    make_ticket: Callable[..., Ticket],
    support: Department,
    notes_extension: None,
) -> None:
    ticket = make_ticket("Printer on fire", department=support)
    sign_in(desk_agent.email)
    page.goto(f"{live_server}/tickets/{ticket.id}")
    panel = page.locator("#extension-panels details.panel")
    assert panel.locator("summary").inner_text() == "Browser test notes"
    assert panel.locator(".notes-panel").inner_text() == f"Notes for ticket {ticket.id}"
    panel.locator("summary").click()  # collapsible: closing hides the body
    assert not panel.locator(".notes-panel").is_visible()


def test_agent_replies_and_the_reply_appears_in_the_conversation(  # type: ignore[no-untyped-def]
    page,
    live_server: str,
    sign_in: Callable[[str], None],
    desk_agent: Agent,
    make_ticket: Callable[..., Ticket],
    support: Department,
) -> None:
    ticket = make_ticket("Printer on fire", department=support)
    sign_in(desk_agent.email)
    page.goto(f"{live_server}/tickets/{ticket.id}")
    page.fill("#reply-body", "We are sending a technician.")
    page.click("#reply-form button[type=submit]")
    reply = page.locator("article.thread.outgoing")
    reply.wait_for()
    assert "We are sending a technician." in reply.inner_text()


def test_language_switch_turns_the_desk_japanese(  # type: ignore[no-untyped-def]
    page,
    live_server: str,
    sign_in: Callable[[str], None],
    desk_agent: Agent,
) -> None:
    sign_in(desk_agent.email)
    page.select_option("#locale-select", "ja")
    page.wait_for_function("document.documentElement.lang === 'ja'")
    assert "連絡先" in page.inner_text("nav.mainnav")
