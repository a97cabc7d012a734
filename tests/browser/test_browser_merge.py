"""An agent merges two duplicate contacts in a real browser and finds both tickets under the
survivor, with the value picked from the second record."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from core.models import Agent, Contact, Department, Ticket

pytestmark = pytest.mark.browser


@pytest.fixture
def manager(make_agent: Callable[..., Agent], support: Department) -> Agent:
    """A support manager (who may merge contacts) of "Support"."""
    return make_agent(
        "manager@example.com", name="Mai Sato", profile="Support Manager", departments=[support]
    )


def test_agent_merges_duplicates_and_sees_both_tickets_under_the_survivor(
    page,  # type: ignore[no-untyped-def]
    live_server: str,
    sign_in: Callable[[str], None],
    db: Session,
    manager: Agent,
    support: Department,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    first = make_contact("Yamada", first_name="Hanako", email="hanako@example.com")
    second = make_contact("Yamada", first_name="Hanako", email="hanako@example.com")
    second.title = "Head of purchasing"
    db.commit()
    make_ticket("Router will not start", department=support, contact=first)
    make_ticket("Invoice is missing", department=support, contact=second)
    first_id, second_id = first.id, second.id

    sign_in(manager.email)
    page.goto(f"{live_server}/contacts/duplicates")
    group = page.locator('[data-group-key="hanako@example.com"]')
    group.get_by_role("button", name="Review and merge").click()
    page.wait_for_url(f"{live_server}/contacts/merge?**")
    assert page.is_checked(f"#choice-first_name-{first_id}")
    assert page.inner_text('[data-move="tickets"]').split()[-1] == "1"

    page.check(f"#choice-title-{second_id}")
    page.click("#merge-button")

    page.wait_for_url(f"{live_server}/contacts/{first_id}")
    assert "Head of purchasing" in page.inner_text(".details")
    assert page.inner_text('#ticket-summary [data-status-type="open"] dd') == "2"
    page.click('[data-tab="core_customer_tickets.contact_tickets"]')
    tickets_tab = page.inner_text("#customer-tabs [role=tabpanel]")
    assert "Router will not start" in tickets_tab
    assert "Invoice is missing" in tickets_tab

    page.goto(f"{live_server}/contacts/{second_id}")
    assert page.is_visible("#merged-notice")
    page.click("#merged-into-link")
    page.wait_for_url(f"{live_server}/contacts/{first_id}")
    assert page.inner_text("#contact-name") == "Hanako Yamada"
