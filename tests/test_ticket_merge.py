"""Merging a ticket into another: the source's description, threads and time entries move to
the target at their own times; the source is closed, marked merged and cannot be merged again;
extensions hear ``ticket.merged`` (Customer Insights works both tickets out again)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, ValidationFailed
from core.models import Department, OutboxEvent, Thread, Ticket
from core.services import tickets
from core.services.base import Unit
from core.services.ticket_merge import merge_ticket
from hostapi import clock, events


@pytest.fixture
def unit(unit_for: Callable[..., Unit]) -> Unit:
    return unit_for(None)


def _threads(db: Session, ticket: Ticket) -> list[tuple[str, str]]:
    rows = db.scalars(
        select(Thread).where(Thread.ticket_id == ticket.id).order_by(Thread.created_at, Thread.id)
    )
    return [(row.kind, row.body) for row in rows]


def test_the_sources_conversation_moves_to_the_target_at_its_own_times(
    db: Session, unit: Unit, make_ticket: Callable[..., Ticket]
) -> None:
    source = make_ticket(subject="Old", description="My parcel is late")
    tickets.add_thread(unit, source, kind="outgoing", body="We are checking.")
    target = make_ticket(subject="New", description="Still no parcel")
    db.commit()

    merge_ticket(unit, source, target)
    db.commit()

    assert _threads(db, target) == [
        ("incoming", "My parcel is late"),
        ("outgoing", "We are checking."),
    ]
    moved = db.scalars(
        select(Thread).where(Thread.ticket_id == target.id).order_by(Thread.created_at, Thread.id)
    ).first()
    assert moved is not None and moved.created_at == source.created_at
    assert _threads(db, source) == []


def test_the_source_is_closed_and_marked_merged(
    db: Session, unit: Unit, make_ticket: Callable[..., Ticket]
) -> None:
    source, target = make_ticket(subject="Old"), make_ticket(subject="New")

    merge_ticket(unit, source, target)
    db.commit()

    assert (source.status_type, source.merged_into_id) == ("closed", target.id)


def test_a_merged_ticket_cannot_be_merged_again_nor_merged_into(
    db: Session, unit: Unit, make_ticket: Callable[..., Ticket]
) -> None:
    source, target, third = make_ticket(), make_ticket(), make_ticket()
    merge_ticket(unit, source, target)

    with pytest.raises(Conflict):
        merge_ticket(unit, source, third)
    with pytest.raises(Conflict):
        merge_ticket(unit, third, source)


def test_a_ticket_is_not_merged_into_itself(unit: Unit, make_ticket: Callable[..., Ticket]) -> None:
    ticket = make_ticket()

    with pytest.raises(ValidationFailed, match="itself"):
        merge_ticket(unit, ticket, ticket)


def test_extensions_hear_one_merge_event_for_both_departments(
    db: Session,
    unit: Unit,
    make_ticket: Callable[..., Ticket],
    make_department: Callable[..., Department],
) -> None:
    other = make_department("Billing")
    source, target = make_ticket(), make_ticket(department=other)
    clock.freeze(clock.now() + timedelta(seconds=1))
    try:
        merge_ticket(unit, source, target)
        db.commit()
    finally:
        clock.unfreeze()

    event = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.TICKET_MERGED)).one()
    assert event.payload["ticket_ids"] == [source.id, target.id]
    assert sorted(event.department_ids) == sorted([source.department_id, other.id])
