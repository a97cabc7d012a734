"""Bulk deletion of duplicates: records with tickets are refused, the others deleted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, ValidationFailed
from core.host import Host
from core.models import (
    Account,
    Activity,
    Agent,
    Attachment,
    AuditEntry,
    Contact,
    OutboxEvent,
    Ticket,
)
from core.services import activities, attachments, customer_deletion, customers, merge
from core.services.base import Actor, Unit
from hostapi import events

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture
def unit(unit_for: UnitFor) -> Unit:
    return unit_for(None)


def test_contacts_without_tickets_are_deleted_with_what_hangs_off_them(
    db: Session, unit: Unit
) -> None:
    contact = customers.create_contact(unit, last_name="Dup")
    activity = activities.create_activity(unit, kind="call", subject="x", contact_id=contact.id)
    customers.add_identity(unit, contact, channel="line", external_id="U1")
    contact_id, activity_id = contact.id, activity.id
    result = customer_deletion.delete_contacts(unit, [contact])
    db.commit()
    db.expire_all()
    assert (result.deleted_ids, result.refused) == ([contact_id], {})
    assert db.get(Contact, contact_id) is None
    assert db.get(Activity, activity_id) is None
    assert customers.find_contact_by_identity(unit, "line", "U1") is None


def test_a_contact_with_tickets_is_refused_and_the_others_deleted(
    db: Session, unit: Unit, make_ticket: Callable[..., Ticket]
) -> None:
    keep = customers.create_contact(unit, last_name="Has tickets")
    make_ticket(contact=keep)
    doomed = customers.create_contact(unit, last_name="Empty")
    result = customer_deletion.delete_contacts(unit, [keep, doomed])
    db.commit()
    assert result.deleted_ids == [doomed.id]
    assert result.refused == {keep.id: customer_deletion.HAS_TICKETS}
    assert "merge" in customer_deletion.HAS_TICKETS
    assert db.get(Contact, keep.id) is not None


def test_deletion_is_audited_and_emits_the_deleted_event(db: Session, unit: Unit) -> None:
    contact = customers.create_contact(unit, last_name="Dup", email="dup@example.com")
    contact_id = contact.id
    customer_deletion.delete_contacts(unit, [contact])
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "delete")).one()
    assert (entry.entity_type, entry.entity_id) == ("contact", str(contact_id))
    assert entry.before["email"] == "dup@example.com"
    row = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.CONTACT_DELETED)).one()
    assert row.payload == {"contact_id": contact_id, "name": "Dup", "email": "dup@example.com"}


def test_a_contacts_files_go_with_it(db: Session, host: Host) -> None:
    unit = Unit(db, Actor.system("test"), host)
    contact = customers.create_contact(unit, last_name="Dup")
    stored = attachments.store_attachment(
        unit, filename="card.txt", content=b"hello", contact_id=contact.id
    )
    path = attachments.attachments_dir(unit) / stored.storage_key
    customer_deletion.delete_contacts(unit, [contact])
    db.commit()
    assert db.get(Attachment, stored.id) is None
    assert not path.exists()


def test_records_merged_into_a_deleted_contact_go_with_it(db: Session, unit: Unit) -> None:
    survivor = customers.create_contact(unit, last_name="Keep")
    husk = customers.create_contact(unit, last_name="Merged")
    merge.merge_contacts(unit, survivor, [husk])
    result = customer_deletion.delete_contacts(unit, [survivor, husk])
    db.commit()
    assert result.deleted_ids == [survivor.id]
    assert result.refused == {husk.id: customer_deletion.MERGED}
    assert db.scalars(select(Contact)).all() == []


def test_accounts_without_tickets_are_deleted_and_their_contacts_kept(
    db: Session, unit: Unit, make_ticket: Callable[..., Ticket]
) -> None:
    doomed = customers.create_account(unit, name="Acme")
    busy = customers.create_account(unit, name="Acme Inc.")
    member = customers.create_contact(unit, last_name="Sato", account_id=doomed.id)
    make_ticket(account_id=busy.id)
    result = customer_deletion.delete_accounts(unit, [doomed, busy])
    db.commit()
    db.expire_all()
    assert (result.deleted_ids, list(result.refused)) == ([doomed.id], [busy.id])
    assert db.get(Account, doomed.id) is None
    assert db.get(Contact, member.id).account_id is None
    assert db.scalars(
        select(OutboxEvent).where(OutboxEvent.name == events.ACCOUNT_DELETED)
    ).one().payload == {"account_id": doomed.id, "name": "Acme"}


def test_deleting_nothing_is_refused(unit: Unit) -> None:
    with pytest.raises(ValidationFailed) as failure:
        customer_deletion.delete_contacts(unit, [])
    assert list(failure.value.errors) == ["ids"]


def test_deleting_needs_the_delete_permission(
    make_agent: Callable[..., Agent], unit_for: UnitFor, unit: Unit
) -> None:
    agent_unit = unit_for(make_agent())
    with pytest.raises(Forbidden) as contact_failure:
        customer_deletion.delete_contacts(
            agent_unit, [customers.create_contact(unit, last_name="X")]
        )
    with pytest.raises(Forbidden) as account_failure:
        customer_deletion.delete_accounts(agent_unit, [customers.create_account(unit, name="X")])
    assert (contact_failure.value.permission, account_failure.value.permission) == (
        "contact.delete",
        "account.delete",
    )
