"""The layout editor and the contact/account forms with custom fields, through the test client."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Account, Agent, Contact, CustomField
from core.services import fields
from core.services.base import Unit
from core.web.i18n import compile_catalogs
from tests.page_helpers import csrf_token_of

pytest_plugins = ["tests.api_fixtures"]


@pytest.fixture
def admin(client: FlaskClient, sign_in_as: Callable, admin_agent: Agent) -> FlaskClient:
    """The test client signed in as the administrator."""
    sign_in_as(admin_agent)
    return client


@pytest.fixture
def tier(unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, db: Session) -> str:
    """A required contact picklist "Tier" (Gold, Silver); returns its key."""
    field = fields.create_field(
        unit_for(admin_agent),
        entity="contact",
        label="Tier",
        field_type="picklist",
        options=["Gold", "Silver"],
        required=True,
    )
    db.commit()
    return field.key


def test_editor_adds_a_field_at_the_dropped_position(admin: FlaskClient, db: Session) -> None:
    token = csrf_token_of(admin, "/admin/fields/contact")
    for label in ("First", "Second"):
        admin.post(
            "/admin/fields/contact",
            data={"csrf_token": token, "label": label, "field_type": "text"},
        )
    answer = admin.post(
        "/admin/fields/contact",
        data={"csrf_token": token, "label": "Between", "field_type": "number", "position": "1"},
    )
    assert answer.status_code == 302
    assert [f.label for f in fields.fields_for(db, "contact")] == ["First", "Between", "Second"]


def test_editor_shows_errors_and_adds_nothing(admin: FlaskClient, db: Session) -> None:
    token = csrf_token_of(admin, "/admin/fields/contact")
    answer = admin.post(
        "/admin/fields/contact",
        data={"csrf_token": token, "label": "Tier", "field_type": "picklist", "options": ""},
    )
    assert answer.status_code == 422
    assert "Give at least one choice." in answer.get_data(as_text=True)
    assert db.scalar(select(CustomField.id)) is None


def test_order_is_saved_from_a_json_post_with_the_csrf_header(
    admin: FlaskClient, db: Session, unit_for: Callable, admin_agent: Agent
) -> None:
    work = unit_for(admin_agent)
    for label in ("A", "B"):
        fields.create_field(work, entity="contact", label=label, field_type="text")
    db.commit()
    token = csrf_token_of(admin, "/admin/fields/contact")
    answer = admin.post(
        "/admin/fields/contact/order",
        json={"keys": ["cf_b", "cf_a"]},
        headers={"X-CSRFToken": token},
    )
    assert answer.json == {"keys": ["cf_b", "cf_a"]}


def test_order_post_without_csrf_is_refused(admin: FlaskClient) -> None:
    answer = admin.post("/admin/fields/contact/order", json={"keys": []})
    assert answer.status_code == 400


def test_move_down_button_reorders_without_javascript(
    admin: FlaskClient, db: Session, unit_for: Callable, admin_agent: Agent
) -> None:
    work = unit_for(admin_agent)
    first = fields.create_field(work, entity="contact", label="A", field_type="text")
    fields.create_field(work, entity="contact", label="B", field_type="text")
    db.commit()
    token = csrf_token_of(admin, "/admin/fields/contact")
    admin.post(
        f"/admin/fields/contact/{first.id}/move", data={"csrf_token": token, "direction": "down"}
    )
    db.expire_all()
    assert [f.key for f in fields.fields_for(db, "contact")] == ["cf_b", "cf_a"]


def test_remove_asks_first_and_says_the_values_go(
    admin: FlaskClient, db: Session, tier: str, make_contact: Callable[..., Contact]
) -> None:
    contact = make_contact()
    contact.custom_fields = {tier: "Gold"}
    db.commit()
    field_id = fields.fields_for(db, "contact")[0].id
    db.commit()  # end the read: SQLite would keep showing this snapshot
    page = admin.get(f"/admin/fields/contact/{field_id}/delete").get_data(as_text=True)
    assert "1 record will be deleted" in page
    token = csrf_token_of(admin, "/admin/fields/contact")
    admin.post(f"/admin/fields/contact/{field_id}/delete", data={"csrf_token": token})
    db.expire_all()
    assert db.get(Contact, contact.id).custom_fields == {}


def test_japanese_editor_names_the_number_type_a_quantity_not_an_identifier(
    admin: FlaskClient, admin_agent: Agent, db: Session
) -> None:
    compile_catalogs()
    admin_agent.locale = "ja"
    db.commit()
    page = admin.get("/admin/fields/contact").get_data(as_text=True)
    palette_button = re.search(r'id="palette-number">\s*<button[^>]*>([^<]*)</button>', page)
    option = re.search(r'<option value="number"[^>]*>([^<]*)</option>', page)
    assert palette_button and option
    assert (palette_button.group(1), option.group(1)) == ("数値", "数値")


def test_agent_cannot_open_the_editor(
    client: FlaskClient, sign_in_as: Callable, api_agent: Agent
) -> None:
    sign_in_as(api_agent)
    assert client.get("/admin/fields/contact").status_code == 403


def test_new_contact_form_shows_the_custom_fields(admin: FlaskClient, tier: str) -> None:
    page = admin.get("/contacts/new").get_data(as_text=True)
    assert f'name="cf__{tier}"' in page and "Gold" in page


def test_new_contact_form_saves_custom_values(admin: FlaskClient, tier: str, db: Session) -> None:
    token = csrf_token_of(admin, "/contacts/new")
    answer = admin.post(
        "/contacts/new",
        data={"csrf_token": token, "last_name": "Yamada", f"cf__{tier}": "Gold"},
    )
    assert answer.status_code == 302
    contact = db.scalars(select(Contact)).one()
    assert contact.custom_fields == {tier: "Gold"}
    page = admin.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'id="custom-field-values"' in page and "Gold" in page


def test_required_custom_field_left_blank_is_a_form_error(
    admin: FlaskClient, tier: str, db: Session
) -> None:
    token = csrf_token_of(admin, "/contacts/new")
    answer = admin.post("/contacts/new", data={"csrf_token": token, "last_name": "Yamada"})
    assert answer.status_code == 422
    assert "This field is required." in answer.get_data(as_text=True)
    assert db.scalar(select(Contact.id)) is None


def test_a_refused_contact_form_keeps_what_was_typed_and_names_the_field(
    admin: FlaskClient, db: Session, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    token = csrf_token_of(admin, "/contacts/new")
    answer = admin.post(
        "/contacts/new",
        data={
            "csrf_token": token,
            "last_name": "Yamada",
            "email": "nope",
            "account_id": account.id,
        },
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'class="form-row has-error"' in page and "Not a valid email address." in page
    assert f'<option value="{account.id}" selected>' in page and 'value="Yamada"' in page
    assert db.scalar(select(Contact.id)) is None


def test_edit_account_form_checks_the_type(
    admin: FlaskClient,
    db: Session,
    unit_for: Callable,
    admin_agent: Agent,
    make_account: Callable[..., Account],
) -> None:
    fields.create_field(unit_for(admin_agent), entity="account", label="Seats", field_type="number")
    db.commit()
    account = make_account()
    path = f"/accounts/{account.id}/edit"
    answer = admin.post(
        path,
        data={"csrf_token": csrf_token_of(admin, path), "name": "Acme", "cf__cf_seats": "lots"},
    )
    assert answer.status_code == 422
    assert "Give a number." in answer.get_data(as_text=True)
    saved = admin.post(
        path, data={"csrf_token": csrf_token_of(admin, path), "name": "Acme", "cf__cf_seats": "40"}
    )
    assert saved.status_code == 302
    db.expire_all()
    assert db.get(Account, account.id).custom_fields == {"cf_seats": 40}


def test_contact_page_shows_lookup_values_by_name(
    admin: FlaskClient, db: Session, unit_for: Callable, admin_agent: Agent, make_contact: Any
) -> None:
    fields.create_field(
        unit_for(admin_agent),
        entity="contact",
        label="Account manager",
        field_type="lookup",
        lookup_entity="agent",
    )
    contact = make_contact()
    contact.custom_fields = {"cf_account_manager": admin_agent.id}
    db.commit()
    page = admin.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Account manager" in page and "Admin" in page
