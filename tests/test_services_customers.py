"""Customer services: contacts, identities, merge, tags, accounts and products."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound, ValidationFailed
from core.models import Agent, AuditEntry, Contact, OutboxEvent
from core.services import customers
from core.services.base import Unit
from hostapi import events

UnitFor = Callable[[Agent | None], Unit]


def test_contact_needs_a_last_name_and_a_valid_email(db: Session, unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        customers.create_contact(unit_for(None), last_name="", email="not-an-email")
    assert set(failure.value.errors) == {"last_name", "email"}
    assert db.scalar(select(func.count()).select_from(Contact)) == 0


def test_contact_creation_emits_an_organisation_wide_event(db: Session, unit_for: UnitFor) -> None:
    contact = customers.create_contact(unit_for(None), last_name="Sato", email="A@Example.com")
    row = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.CONTACT_CREATED)).one()
    assert row.payload == {"contact_id": contact.id}
    assert row.department_ids == []
    assert contact.email == "a@example.com"


def test_light_agent_cannot_create_contacts(
    make_agent: Callable[..., Agent], unit_for: UnitFor
) -> None:
    light = make_agent("light@example.com", profile="Light Agent")
    with pytest.raises(Forbidden):
        customers.create_contact(unit_for(light), last_name="Sato")


def test_contact_update_audits_and_emits_the_changes(
    db: Session, make_contact, unit_for: UnitFor
) -> None:
    contact = make_contact()
    customers.update_contact(unit_for(None), contact, title="CTO")
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "update")).one()
    assert (entry.before, entry.after) == ({"title": ""}, {"title": "CTO"})
    row = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.CONTACT_UPDATED)).one()
    assert row.payload["changes"] == {"title": ["", "CTO"]}


def test_unknown_contact_is_not_found(unit_for: UnitFor) -> None:
    with pytest.raises(NotFound):
        customers.get_contact(unit_for(None), 12345)


def test_contact_search_matches_name_and_email(make_contact, unit_for: UnitFor) -> None:
    tanaka = make_contact("Tanaka", email="taro@example.com")
    make_contact("Suzuki", email="ichiro@example.com")
    found = customers.list_contacts(unit_for(None), search="taro@")
    assert [c.id for c in found] == [tanaka.id]


def test_identity_finds_its_contact(make_contact, unit_for: UnitFor) -> None:
    contact = make_contact()
    unit = unit_for(None)
    customers.add_identity(unit, contact, channel="line", external_id="U123")
    assert customers.find_contact_by_identity(unit, "line", "U123") is contact
    assert customers.find_contact_by_identity(unit, "line", "U999") is None


def test_identity_of_another_contact_is_refused(make_contact, unit_for: UnitFor) -> None:
    unit = unit_for(None)
    customers.add_identity(unit, make_contact("A"), channel="line", external_id="U1")
    with pytest.raises(ValidationFailed) as failure:
        customers.add_identity(
            unit, make_contact("B", email=None), channel="line", external_id="U1"
        )
    assert failure.value.errors == {"external_id": ["Already linked to another contact."]}


def test_a_contact_created_with_an_identity_is_one_change(db: Session, unit_for: UnitFor) -> None:
    contact = customers.create_contact(
        unit_for(None), last_name="Sato", identities=[customers.Identity("line", "U7", "さとう")]
    )

    assert customers.find_contact_by_identity(unit_for(None), "line", "U7") is contact
    assert [i.display_name for i in contact.identities] == ["さとう"]
    names = db.scalars(select(OutboxEvent.name).where(OutboxEvent.name.like("contact.%")))
    assert list(names) == [events.CONTACT_CREATED]
    entry = db.scalars(select(AuditEntry).where(AuditEntry.entity_type == "contact")).one()
    assert (entry.action, entry.after["identities"]) == ("add", ["line:U7"])


def test_a_contact_is_not_created_with_another_contacts_identity(
    db: Session, make_contact, unit_for: UnitFor
) -> None:
    unit = unit_for(None)
    customers.add_identity(unit, make_contact("A"), channel="line", external_id="U1")
    with pytest.raises(ValidationFailed) as failure:
        customers.create_contact(unit, last_name="B", identities=[customers.Identity("line", "U1")])
    assert failure.value.errors == {"external_id": ["Already linked to another contact."]}
    assert db.scalar(select(func.count()).select_from(Contact).where(Contact.last_name == "B")) == 0


def test_tags_are_lower_cased_and_shared(make_contact, unit_for: UnitFor) -> None:
    unit = unit_for(None)
    first = customers.set_tags(unit, make_contact("A"), ["VIP", "vip", "Tokyo"])
    second = customers.set_tags(unit, make_contact("B", email=None), ["tokyo"])
    assert sorted(t.name for t in first.tags) == ["tokyo", "vip"]
    assert second.tags[0].id in {t.id for t in first.tags}


def test_account_needs_a_name(db: Session, unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        customers.create_account(unit_for(None), name=" ")
    assert "name" in failure.value.errors


def test_account_update_emits_its_changes(db: Session, unit_for: UnitFor) -> None:
    unit = unit_for(None)
    account = customers.create_account(unit, name="Acme")
    customers.update_account(unit, account, industry="Rockets")
    row = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.ACCOUNT_UPDATED)).one()
    assert row.payload == {"account_id": account.id, "changes": {"industry": ["", "Rockets"]}}


def test_product_links_to_a_contact_once(make_contact, unit_for: UnitFor) -> None:
    unit = unit_for(None)
    contact = make_contact()
    product = customers.create_product(unit, name="Desk Pro")
    customers.link_product(unit, product, contact=contact)
    customers.link_product(unit, product, contact=contact)
    assert customers.list_products(unit, contact_id=contact.id) == [product]
    customers.unlink_product(unit, product, contact=contact)
    assert customers.list_products(unit, contact_id=contact.id) == []
