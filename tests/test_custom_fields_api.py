"""Custom fields over REST and through the customer services: definitions, values, search."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.models import Account, Agent, AuditEntry, Contact, OutboxEvent
from core.services import customers, fields
from core.services.base import Unit

pytest_plugins = ["tests.api_fixtures"]


@pytest.fixture
def admin_client(client: FlaskClient, sign_in_as: Callable, admin_agent: Agent) -> Any:
    """The test client signed in as the administrator, and its CSRF header."""
    return client, sign_in_as(admin_agent)


@pytest.fixture
def tier(unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, db: Session) -> str:
    """A contact picklist "Tier" (Gold, Silver); returns its key."""
    field = fields.create_field(
        unit_for(admin_agent),
        entity="contact",
        label="Tier",
        field_type="picklist",
        options=["Gold", "Silver"],
    )
    db.commit()
    return field.key


@pytest.fixture
def seats(unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, db: Session) -> str:
    """An account number field "Seats"; returns its key."""
    field = fields.create_field(
        unit_for(admin_agent), entity="account", label="Seats", field_type="number"
    )
    db.commit()
    return field.key


# --------------------------------------------------------------------------- definitions


def test_admin_adds_a_field_and_it_is_listed(admin_client: Any) -> None:
    client, csrf = admin_client
    created = client.post(
        "/api/v1/custom-fields",
        json={"entity": "contact", "label": "Renewal date", "field_type": "date"},
        headers=csrf,
    )
    assert created.status_code == 201
    assert created.json["key"] == "cf_renewal_date"
    listed = client.get("/api/v1/custom-fields?entity=contact").json["items"]
    assert [f["key"] for f in listed] == ["cf_renewal_date"]


def test_agent_cannot_add_a_field(browser: Any) -> None:
    client, csrf = browser
    answer = client.post(
        "/api/v1/custom-fields",
        json={"entity": "contact", "label": "X", "field_type": "text"},
        headers=csrf,
    )
    assert (answer.status_code, answer.json["permission"]) == (403, "setup.manage")


def test_layout_order_is_saved(admin_client: Any, tier: str, db: Session) -> None:
    client, csrf = admin_client
    other = client.post(
        "/api/v1/custom-fields",
        json={"entity": "contact", "label": "Note", "field_type": "text"},
        headers=csrf,
    ).json["key"]
    answer = client.post(
        "/api/v1/custom-fields/order",
        json={"entity": "contact", "keys": [other, tier]},
        headers=csrf,
    )
    assert [f["key"] for f in answer.json["items"]] == [other, tier]


def test_removing_a_field_reports_the_records_cleared(
    admin_client: Any, tier: str, make_contact: Callable[..., Contact], db: Session
) -> None:
    client, csrf = admin_client
    contact = make_contact()
    contact.custom_fields = {tier: "Gold"}
    db.commit()
    field_id = client.get("/api/v1/custom-fields?entity=contact").json["items"][0]["id"]
    answer = client.delete(f"/api/v1/custom-fields/{field_id}", headers=csrf)
    assert answer.json == {"records_cleared": 1}
    db.expire_all()
    assert db.get(Contact, contact.id).custom_fields == {}


# ------------------------------------------------------------------------------- values


def test_contact_is_created_with_custom_values(browser: Any, tier: str) -> None:
    client, csrf = browser
    created = client.post(
        "/api/v1/contacts",
        json={"last_name": "Yamada", "custom_fields": {tier: "Gold"}},
        headers=csrf,
    )
    assert created.status_code == 201
    assert created.json["custom_fields"] == {tier: "Gold"}


def test_unknown_custom_key_answers_422_and_stores_nothing(
    browser: Any, db: Session, tier: str
) -> None:
    client, csrf = browser
    answer = client.post(
        "/api/v1/contacts",
        json={"last_name": "Yamada", "custom_fields": {"cf_shoe_size": "42"}},
        headers=csrf,
    )
    assert answer.status_code == 422
    assert answer.json["errors"]["json"] == {
        "custom_fields.cf_shoe_size": ["Unknown custom field."]
    }
    assert db.scalar(select(Contact.id)) is None


def test_wrong_type_answers_422_naming_the_key(
    admin_client: Any, db: Session, make_account: Callable[..., Account], seats: str
) -> None:
    client, csrf = admin_client
    account = make_account()
    answer = client.patch(
        f"/api/v1/accounts/{account.id}", json={"custom_fields": {seats: "many"}}, headers=csrf
    )
    assert answer.status_code == 422
    assert list(answer.json["errors"]["json"]) == [f"custom_fields.{seats}"]
    db.expire_all()
    assert db.get(Account, account.id).custom_fields == {}


def test_patch_sets_the_given_keys_and_keeps_the_others(
    browser: Any, tier: str, db: Session, unit_for: Callable, admin_agent: Agent
) -> None:
    note = fields.create_field(
        unit_for(admin_agent), entity="contact", label="Note", field_type="text"
    ).key
    db.commit()
    client, csrf = browser
    contact_id = client.post(
        "/api/v1/contacts",
        json={"last_name": "Yamada", "custom_fields": {tier: "Gold", note: "hi"}},
        headers=csrf,
    ).json["id"]
    answer = client.patch(
        f"/api/v1/contacts/{contact_id}",
        json={"custom_fields": {tier: "Silver"}},
        headers=csrf,
    )
    assert answer.json["custom_fields"] == {tier: "Silver", note: "hi"}


def test_required_custom_field_must_be_given_on_create(
    browser: Any, unit_for: Callable, admin_agent: Agent, db: Session
) -> None:
    fields.create_field(
        unit_for(admin_agent), entity="contact", label="Plan", field_type="text", required=True
    )
    db.commit()
    client, csrf = browser
    answer = client.post("/api/v1/contacts", json={"last_name": "Yamada"}, headers=csrf)
    assert answer.status_code == 422
    assert "custom_fields.cf_plan" in answer.json["errors"]["json"]


def test_update_is_audited_and_in_the_event_changes(
    unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, db: Session, tier: str
) -> None:
    work = unit_for(admin_agent)
    contact = customers.create_contact(work, last_name="Yamada", custom_fields={tier: "Gold"})
    customers.update_contact(work, contact, custom_fields={tier: "Silver"})
    db.commit()
    entry = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "update").order_by(AuditEntry.id.desc())
    ).first()
    assert entry.after == {"custom_fields": {tier: "Silver"}}
    event = db.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.name == "contact.updated")
        .order_by(OutboxEvent.seq.desc())
    ).first()
    assert event.payload["changes"]["custom_fields"] == [{tier: "Gold"}, {tier: "Silver"}]


def test_registration_without_custom_values_skips_required_fields(
    unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, db: Session
) -> None:
    fields.create_field(
        unit_for(admin_agent), entity="contact", label="Plan", field_type="text", required=True
    )
    contact = customers.create_contact(unit_for(None), last_name="From email")
    assert contact.custom_fields == {}


def test_account_values_are_checked_too(
    unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, seats: str
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        customers.create_account(unit_for(admin_agent), name="Acme", custom_fields={seats: "lots"})
    assert list(failure.value.errors) == [f"custom_fields.{seats}"]


def test_contact_search_matches_text_custom_values(
    unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, db: Session
) -> None:
    work = unit_for(admin_agent)
    note = fields.create_field(work, entity="contact", label="Note", field_type="text").key
    customers.create_contact(work, last_name="A", custom_fields={note: "東京本社"})
    customers.create_contact(work, last_name="B", custom_fields={note: "大阪支店"})
    db.commit()
    found = customers.list_contacts(work, search="東京")
    assert [c.last_name for c in found] == ["A"]


def test_account_search_matches_text_custom_values(
    unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, db: Session
) -> None:
    work = unit_for(admin_agent)
    region = fields.create_field(work, entity="account", label="Region", field_type="text").key
    customers.create_account(work, name="East", custom_fields={region: "Kanto"})
    customers.create_account(work, name="West", custom_fields={region: "Kansai"})
    db.commit()
    assert [a.name for a in customers.list_accounts(work, search="kanto")] == ["East"]
