"""Marking contacts and accounts as spam, and taking the mark back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden
from core.models import Agent, AuditEntry, OutboxEvent
from core.services import customers, spam_marks
from core.services.base import Unit
from hostapi import events

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture
def unit(unit_for: UnitFor) -> Unit:
    return unit_for(None)


def test_a_marked_contact_is_spam_and_leaves_the_contact_list(unit: Unit) -> None:
    contact = customers.create_contact(unit, last_name="Spammer")
    spam_marks.mark_contact(unit, contact, spam=True)
    assert contact.is_spam
    assert customers.list_contacts(unit) == []


def test_unmarking_a_contact_restores_it(unit: Unit) -> None:
    contact = customers.create_contact(unit, last_name="Sato")
    spam_marks.mark_contact(unit, contact, spam=True)
    spam_marks.mark_contact(unit, contact, spam=False)
    assert not contact.is_spam
    assert [c.id for c in customers.list_contacts(unit)] == [contact.id]


def test_marking_is_audited_and_emits_the_updated_event(db: Session, unit: Unit) -> None:
    contact = customers.create_contact(unit, last_name="Spammer")
    spam_marks.mark_contact(unit, contact, spam=True)
    entry = db.scalars(select(AuditEntry).where(AuditEntry.sub_action == "spam")).one()
    assert (entry.entity_id, entry.before, entry.after) == (
        str(contact.id),
        {"is_spam": False},
        {"is_spam": True},
    )
    updated = db.scalars(
        select(OutboxEvent).where(OutboxEvent.name == events.CONTACT_UPDATED)
    ).one()
    assert updated.payload == {"contact_id": contact.id, "changes": {"is_spam": [False, True]}}


def test_marking_twice_writes_nothing_the_second_time(db: Session, unit: Unit) -> None:
    contact = customers.create_contact(unit, last_name="Spammer")
    spam_marks.mark_contact(unit, contact, spam=True)
    spam_marks.mark_contact(unit, contact, spam=True)
    assert len(db.scalars(select(AuditEntry).where(AuditEntry.sub_action == "spam")).all()) == 1


def test_an_account_is_marked_and_unmarked_with_its_event(db: Session, unit: Unit) -> None:
    account = customers.create_account(unit, name="Spam Corp")
    spam_marks.mark_account(unit, account, spam=True)
    assert account.is_spam
    spam_marks.mark_account(unit, account, spam=False)
    payloads = [
        row.payload
        for row in db.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.name == events.ACCOUNT_UPDATED)
            .order_by(OutboxEvent.seq)
        )
    ]
    assert [p["changes"] for p in payloads] == [
        {"is_spam": [False, True]},
        {"is_spam": [True, False]},
    ]


def test_marking_needs_the_edit_permission(
    make_agent: Callable[..., Agent], unit_for: UnitFor, unit: Unit
) -> None:
    light = unit_for(make_agent(profile="Light Agent"))
    with pytest.raises(Forbidden):
        spam_marks.mark_contact(light, customers.create_contact(unit, last_name="X"), spam=True)
    with pytest.raises(Forbidden):
        spam_marks.mark_account(light, customers.create_account(unit, name="X"), spam=True)
