"""An admin in a real browser adds a custom field in the layout editor and an agent uses it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from core.models import Agent
from core.services import fields
from core.services.base import Unit

pytestmark = pytest.mark.browser


def test_field_dragged_from_the_palette_appears_on_the_contact_form_and_page(
    page, live_server: str, sign_in: Callable[[str], None], admin_agent: Agent
) -> None:  # type: ignore[no-untyped-def]
    sign_in(admin_agent.email)
    page.goto(f"{live_server}/admin/fields/contact")
    page.drag_and_drop("#palette-picklist", "#layout-list")
    # The drop fills the new-field form with the dragged type and puts the cursor on the label.
    assert page.input_value("#new-field-type") == "picklist"
    page.fill("#new-field-label", "Contract tier")
    page.fill("#new-field-options", "Gold\nSilver")
    page.click("#add-field")
    page.wait_for_selector(".layout-item[data-key='cf_contract_tier']")

    page.goto(f"{live_server}/contacts/new")
    page.fill("#last_name", "Yamada")
    page.select_option("#cf__cf_contract_tier", "Gold")
    page.click("#save-record")
    page.wait_for_selector("#custom-field-values")
    values = page.inner_text("#custom-field-values")
    assert "Contract tier" in values and "Gold" in values


def test_fields_reordered_by_drag_and_drop_keep_their_order(
    page,
    live_server: str,
    sign_in: Callable[[str], None],
    admin_agent: Agent,
    unit_for: Callable[[Agent | None], Unit],
    db: Session,
) -> None:  # type: ignore[no-untyped-def]
    work = unit_for(admin_agent)
    for label in ("First", "Second", "Third"):
        fields.create_field(work, entity="contact", label=label, field_type="text")
    db.commit()
    sign_in(admin_agent.email)
    page.goto(f"{live_server}/admin/fields/contact")
    with page.expect_response(lambda response: response.url.endswith("/order")) as saved:
        page.drag_and_drop(
            "[data-key='cf_third']", "[data-key='cf_first']", target_position={"x": 10, "y": 2}
        )
    assert saved.value.ok
    page.reload()
    keys = page.eval_on_selector_all(".layout-item", "items => items.map(i => i.dataset.key)")
    assert keys == ["cf_third", "cf_first", "cf_second"]


def test_move_buttons_reorder_from_the_keyboard(
    page,
    live_server: str,
    sign_in: Callable[[str], None],
    admin_agent: Agent,
    unit_for: Callable[[Agent | None], Unit],
    db: Session,
) -> None:  # type: ignore[no-untyped-def]
    work = unit_for(admin_agent)
    first = fields.create_field(work, entity="contact", label="First", field_type="text")
    fields.create_field(work, entity="contact", label="Second", field_type="text")
    db.commit()
    sign_in(admin_agent.email)
    page.goto(f"{live_server}/admin/fields/contact")
    page.focus(f"#field-{first.id} .move-down")
    with page.expect_response(lambda response: response.url.endswith("/order")):
        page.keyboard.press("Enter")
    page.reload()
    keys = page.eval_on_selector_all(".layout-item", "items => items.map(i => i.dataset.key)")
    assert keys == ["cf_second", "cf_first"]
