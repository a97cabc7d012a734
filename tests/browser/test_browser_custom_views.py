"""An agent in a real browser creates a view with two conditions and sees its contacts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from core.models import Agent, Contact
from core.services import fields
from core.services.base import Unit

pytestmark = pytest.mark.browser


@pytest.fixture
def tiered_contacts(
    unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, db: Session
) -> None:
    """A "Tier" picklist and six contacts: two Gold managers among them."""
    fields.create_field(
        unit_for(admin_agent),
        entity="contact",
        label="Tier",
        field_type="picklist",
        options=["Gold", "Silver"],
    )
    base = datetime(2026, 11, 1, tzinfo=UTC)
    people = [
        ("Gold Manager One", "Manager", "Gold"),
        ("Gold Clerk", "Clerk", "Gold"),
        ("Silver Manager", "Manager", "Silver"),
        ("Gold Manager Two", "Manager", "Gold"),
        ("No Tier Manager", "Manager", None),
        ("Silver Clerk", "Clerk", "Silver"),
    ]
    for age, (name, title, tier) in enumerate(people):
        at = base - timedelta(hours=age)
        db.add(
            Contact(
                last_name=name,
                title=title,
                custom_fields={"cf_tier": tier} if tier else {},
                created_at=at,
                updated_at=at,
            )
        )
    db.commit()


def test_view_with_two_conditions_lists_exactly_the_matching_contacts(
    page,
    live_server: str,
    sign_in: Callable[[str], None],
    desk_agent: Agent,
    tiered_contacts: None,
) -> None:  # type: ignore[no-untyped-def]
    sign_in(desk_agent.email)
    page.goto(f"{live_server}/contacts")
    assert re.search(r"\b6 contacts\b", page.inner_text("#view-count"))
    page.click("#new-view")
    page.fill("#view-name", "Gold managers")
    page.select_option("#condition-field-0", "cf_tier")
    page.select_option("#condition-operator-0", "is")
    page.fill("#condition-value-0", "Gold")
    page.click("#add-condition")
    page.select_option("#condition-field-1", "title")
    page.select_option("#condition-operator-1", "is")
    page.fill("#condition-value-1", "Manager")
    page.click("#save-view")
    page.wait_for_selector("#contact-list")
    names = page.eval_on_selector_all(
        "#contact-list tbody tr td:first-child a", "links => links.map(a => a.textContent.trim())"
    )
    assert names == ["Gold Manager One", "Gold Manager Two"]
    assert re.search(r"\b2 contacts\b", page.inner_text("#view-count"))
    assert page.input_value("#view-select") != "all"


def test_removed_condition_is_not_saved(
    page,
    live_server: str,
    sign_in: Callable[[str], None],
    desk_agent: Agent,
    tiered_contacts: None,
) -> None:  # type: ignore[no-untyped-def]
    sign_in(desk_agent.email)
    page.goto(f"{live_server}/contacts/views/new")
    page.fill("#view-name", "Managers")
    page.select_option("#condition-field-0", "cf_tier")
    page.fill("#condition-value-0", "Gold")
    page.click("#add-condition")
    page.select_option("#condition-field-1", "title")
    page.fill("#condition-value-1", "Manager")
    page.click("#conditions li:first-child [data-remove-condition]")
    page.click("#save-view")
    page.wait_for_selector("#contact-list")
    assert re.search(r"\b4 contacts\b", page.inner_text("#view-count"))
