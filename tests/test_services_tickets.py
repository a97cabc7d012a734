"""Ticket services: permissions, visibility, validation, numbering, status history, events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound, ValidationFailed
from core.models import (
    Agent,
    AuditEntry,
    Department,
    Organisation,
    OutboxEvent,
    StatusChange,
    Ticket,
)
from core.services import tickets
from core.services.base import Cursor, Unit
from hostapi import clock, events

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture
def agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An ordinary agent of the Support department."""
    return make_agent("agent@example.com", departments=[department])


@pytest.fixture
def frozen_clock() -> Iterator[datetime]:
    """The clock stopped at a known instant for the test."""
    instant = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    clock.freeze(instant)
    yield instant
    clock.unfreeze()


def ticket_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Ticket)) or 0


# ---------------------------------------------------------------------------------- creation


def test_tickets_are_numbered_sequentially(make_ticket: Callable[..., Ticket]) -> None:
    numbers = [make_ticket().number for _ in range(3)]
    assert numbers == [1, 2, 3]


def test_display_number_carries_the_organisation_prefix(
    db: Session, make_ticket: Callable[..., Ticket]
) -> None:
    organisation = db.scalars(select(Organisation)).one()
    organisation.ticket_prefix = "SUP-"
    db.commit()
    ticket = make_ticket()
    assert tickets.display_number(organisation, ticket.number) == "SUP-1"


def test_account_defaults_to_the_contacts_account(
    make_ticket: Callable[..., Ticket], make_contact, make_account
) -> None:
    account = make_account()
    ticket = make_ticket(contact=make_contact(account=account))
    assert ticket.account_id == account.id


def test_creation_records_the_initial_status_change(
    db: Session, make_ticket: Callable[..., Ticket]
) -> None:
    ticket = make_ticket()
    change = db.scalars(select(StatusChange).where(StatusChange.ticket_id == ticket.id)).one()
    assert (change.from_status, change.to_status, change.to_type) == (None, "Open", "open")


def test_customer_description_is_not_duplicated_as_a_thread(
    db: Session, make_ticket: Callable[..., Ticket], unit_for: UnitFor
) -> None:
    ticket = make_ticket(description="It smells of smoke.")
    assert ticket.description == "It smells of smoke."
    assert tickets.list_threads(unit_for(None), ticket) == []


def test_creation_writes_the_created_event_to_the_outbox(
    db: Session, make_ticket: Callable[..., Ticket], department: Department
) -> None:
    ticket = make_ticket(channel="whatsapp")
    row = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.TICKET_CREATED)).one()
    assert row.payload["ticket_id"] == ticket.id
    assert row.payload["channel"] == "whatsapp"
    assert row.payload["created_at"] == ticket.created_at.isoformat()
    assert row.department_ids == [department.id]


def test_event_is_discarded_with_a_rolled_back_change(
    db: Session, unit_for: UnitFor, department: Department
) -> None:
    tickets.create_ticket(
        unit_for(None), subject="Lost", department_id=department.id, channel="email"
    )
    db.rollback()
    assert db.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    assert ticket_count(db) == 0


def test_missing_subject_is_refused_naming_the_field_and_stores_nothing(
    db: Session, unit_for: UnitFor, department: Department
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        tickets.create_ticket(
            unit_for(None), subject="  ", department_id=department.id, channel="email"
        )
    assert "subject" in failure.value.errors
    assert ticket_count(db) == 0


def test_unknown_department_is_refused_naming_the_field(db: Session, unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        tickets.create_ticket(unit_for(None), subject="Hi", department_id=999, channel="email")
    assert failure.value.errors == {"department_id": ["Unknown department."]}
    assert ticket_count(db) == 0


def test_department_the_agent_is_not_in_looks_unknown(
    agent: Agent, make_department, unit_for: UnitFor
) -> None:
    other = make_department("Sales")
    with pytest.raises(ValidationFailed) as failure:
        tickets.create_ticket(
            unit_for(agent), subject="Hi", department_id=other.id, channel="email"
        )
    assert failure.value.errors == {"department_id": ["Unknown department."]}


def test_every_bad_field_is_reported_at_once(unit_for: UnitFor, department: Department) -> None:
    with pytest.raises(ValidationFailed) as failure:
        tickets.create_ticket(
            unit_for(None),
            subject="Hi",
            department_id=department.id,
            channel="pigeon",
            priority="whenever",
            status="Sleeping",
        )
    assert set(failure.value.errors) == {"channel", "priority", "status"}


def test_registered_extension_channel_is_accepted(
    make_ticket: Callable[..., Ticket], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tickets, "_extension_channels", set())
    tickets.register_channels(["instagram"])
    assert make_ticket(channel="instagram").channel == "instagram"


def test_creating_without_the_permission_is_forbidden(
    make_agent: Callable[..., Agent], department: Department, unit_for: UnitFor
) -> None:
    light = make_agent("light@example.com", profile="Light Agent", departments=[department])
    with pytest.raises(Forbidden):
        tickets.create_ticket(
            unit_for(light), subject="Hi", department_id=department.id, channel="email"
        )


def test_assignee_outside_the_department_is_refused(
    make_agent: Callable[..., Agent], make_department, unit_for: UnitFor, department: Department
) -> None:
    outsider = make_agent("out@example.com", departments=[make_department("Sales")])
    with pytest.raises(ValidationFailed) as failure:
        tickets.create_ticket(
            unit_for(None),
            subject="Hi",
            department_id=department.id,
            channel="email",
            assignee_id=outsider.id,
        )
    assert "assignee_id" in failure.value.errors


# ----------------------------------------------------------------------------------- reading


def test_agent_outside_the_department_gets_not_found(
    make_ticket: Callable[..., Ticket], make_agent, make_department, unit_for: UnitFor
) -> None:
    ticket = make_ticket()
    outsider = make_agent("out@example.com", departments=[make_department("Sales")])
    with pytest.raises(NotFound):
        tickets.get_ticket(unit_for(outsider), ticket.id)


def test_list_shows_only_visible_departments(
    make_ticket: Callable[..., Ticket], make_department, agent: Agent, unit_for: UnitFor
) -> None:
    mine = make_ticket("Mine")
    make_ticket("Theirs", department=make_department("Sales"))
    assert [t.id for t in tickets.list_tickets(unit_for(agent))] == [mine.id]


def test_list_pages_newest_first_with_a_cursor(
    make_ticket: Callable[..., Ticket], unit_for: UnitFor, frozen_clock: datetime
) -> None:
    created = []
    for hours in range(5):
        created.append(make_ticket(created_at=frozen_clock + timedelta(hours=hours)))
    unit = unit_for(None)
    first = tickets.list_tickets(unit, limit=2)
    second = tickets.list_tickets(unit, limit=2, before=Cursor.of(first[-1]).encode())
    third = tickets.list_tickets(unit, limit=2, before=Cursor.of(second[-1]))
    newest_first = [t.id for t in reversed(created)]
    assert [t.id for t in first + second + third] == newest_first


def test_list_searches_subject_and_number(
    make_ticket: Callable[..., Ticket], unit_for: UnitFor
) -> None:
    printer = make_ticket("Printer jam")
    billing = make_ticket("Billing question")
    unit = unit_for(None)
    assert [t.id for t in tickets.list_tickets(unit, search="printer")] == [printer.id]
    assert [t.id for t in tickets.list_tickets(unit, search=str(billing.number))] == [billing.id]


def test_malformed_cursor_is_refused_naming_the_field(unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        tickets.list_tickets(unit_for(None), before="not-a-cursor")
    assert "before" in failure.value.errors


# ----------------------------------------------------------------------------------- updates


def test_update_audits_before_and_after_values(
    db: Session, make_ticket: Callable[..., Ticket], agent: Agent, unit_for: UnitFor
) -> None:
    ticket = make_ticket(priority="low")
    tickets.update_ticket(unit_for(agent), ticket, priority="urgent", subject="Fire!")
    entry = db.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "ticket", AuditEntry.action == "update")
    ).one()
    assert entry.before == {"priority": "low", "subject": "The printer is on fire"}
    assert entry.after == {"priority": "urgent", "subject": "Fire!"}
    assert entry.actor_agent_id == agent.id


def test_update_without_a_change_writes_nothing(
    db: Session, make_ticket: Callable[..., Ticket], unit_for: UnitFor
) -> None:
    ticket = make_ticket(priority="low")
    tickets.update_ticket(unit_for(None), ticket, priority="low")
    assert db.scalar(select(func.count()).where(OutboxEvent.name == events.TICKET_UPDATED)) == 0


def test_unknown_field_is_refused(make_ticket: Callable[..., Ticket], unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        tickets.update_ticket(unit_for(None), make_ticket(), number=7)
    assert "number" in failure.value.errors


def test_department_move_emits_to_both_departments(
    db: Session,
    make_ticket: Callable[..., Ticket],
    make_department,
    unit_for: UnitFor,
    department: Department,
) -> None:
    sales = make_department("Sales")
    ticket = make_ticket()
    tickets.update_ticket(unit_for(None), ticket, department_id=sales.id)
    row = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.TICKET_UPDATED)).one()
    assert row.department_ids == sorted([department.id, sales.id])
    assert row.payload["changes"] == {"department_id": [department.id, sales.id]}


def test_reassigning_needs_the_assign_permission(
    make_ticket: Callable[..., Ticket],
    make_agent,
    department: Department,
    unit_for: UnitFor,
    db: Session,
) -> None:
    manager_profile_agent = make_agent("m@example.com", departments=[department])
    ticket = make_ticket()
    profile = manager_profile_agent.profile
    profile.permissions = [p for p in profile.permissions if p.permission != "ticket.assign"]
    db.commit()
    with pytest.raises(Forbidden):
        tickets.update_ticket(
            unit_for(manager_profile_agent), ticket, assignee_id=manager_profile_agent.id
        )


# ---------------------------------------------------------------------------- status history


def test_closing_sets_closed_at(
    make_ticket: Callable[..., Ticket], unit_for: UnitFor, frozen_clock: datetime
) -> None:
    ticket = make_ticket()
    tickets.change_status(unit_for(None), ticket, "Closed")
    assert ticket.closed_at == frozen_clock
    assert ticket.status_type == "closed"


def test_closed_to_resolved_is_not_a_new_close(
    make_ticket: Callable[..., Ticket], unit_for: UnitFor, frozen_clock: datetime
) -> None:
    ticket = make_ticket()
    unit = unit_for(None)
    tickets.change_status(unit, ticket, "Closed")
    clock.advance(timedelta(hours=1))
    tickets.change_status(unit, ticket, "Resolved")
    assert ticket.closed_at == frozen_clock


def test_reopening_clears_closed_at_and_history_shows_each_change(
    make_ticket: Callable[..., Ticket], unit_for: UnitFor, frozen_clock: datetime
) -> None:
    ticket = make_ticket()
    unit = unit_for(None)
    tickets.change_status(unit, ticket, "Closed")
    tickets.change_status(unit, ticket, "Escalated")
    assert ticket.closed_at is None
    history = [(c.from_type, c.to_type) for c in tickets.status_history(unit, ticket)]
    assert history == [(None, "open"), ("open", "closed"), ("closed", "open")]


def test_unknown_status_is_refused(make_ticket: Callable[..., Ticket], unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        tickets.change_status(unit_for(None), make_ticket(), "Sleeping")
    assert failure.value.errors == {"status": ["Unknown status."]}


def test_status_change_event_carries_both_types(
    db: Session, make_ticket: Callable[..., Ticket], unit_for: UnitFor
) -> None:
    ticket = make_ticket()
    tickets.change_status(unit_for(None), ticket, "On Hold")
    row = db.scalars(
        select(OutboxEvent).where(OutboxEvent.name == events.TICKET_STATUS_CHANGED)
    ).one()
    assert (row.payload["from_type"], row.payload["to_type"]) == ("open", "on_hold")


def test_status_change_outside_the_department_is_not_found(
    make_ticket: Callable[..., Ticket], make_agent, make_department, unit_for: UnitFor
) -> None:
    outsider = make_agent("out@example.com", departments=[make_department("Sales")])
    with pytest.raises(NotFound):
        tickets.change_status(unit_for(outsider), make_ticket(), "Closed")


# -------------------------------------------------------------------- threads, ratings, time


def test_reply_defaults_its_author_to_the_acting_agent(
    make_ticket: Callable[..., Ticket], agent: Agent, unit_for: UnitFor
) -> None:
    thread = tickets.add_thread(unit_for(agent), make_ticket(), kind="outgoing", body="On it.")
    assert thread.author_agent_id == agent.id
    assert thread.is_public_agent_reply


def test_light_agent_may_comment_but_not_reply(
    make_ticket: Callable[..., Ticket], make_agent, department: Department, unit_for: UnitFor
) -> None:
    light = make_agent("light@example.com", profile="Light Agent", departments=[department])
    ticket = make_ticket()
    unit = unit_for(light)
    assert tickets.add_thread(unit, ticket, kind="comment", body="FYI").kind == "comment"
    with pytest.raises(Forbidden):
        tickets.add_thread(unit, ticket, kind="outgoing", body="Hello")


def test_incoming_thread_is_authored_by_the_tickets_contact(
    db: Session, make_ticket: Callable[..., Ticket], make_contact, unit_for: UnitFor
) -> None:
    contact = make_contact()
    thread = tickets.add_thread(
        unit_for(None), make_ticket(contact=contact), kind="incoming", body="Any news?"
    )
    assert thread.author_contact_id == contact.id
    row = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.THREAD_ADDED)).one()
    assert row.payload["thread_id"] == thread.id


def test_empty_thread_body_is_refused(
    db: Session, make_ticket: Callable[..., Ticket], unit_for: UnitFor
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        tickets.add_thread(unit_for(None), make_ticket(), kind="outgoing", body="")
    assert "body" in failure.value.errors


def test_rating_must_be_good_okay_or_bad(
    make_ticket: Callable[..., Ticket], unit_for: UnitFor
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        tickets.add_rating(unit_for(None), make_ticket(), "great")
    assert "rating" in failure.value.errors


def test_rating_emits_its_event(
    db: Session, make_ticket: Callable[..., Ticket], unit_for: UnitFor
) -> None:
    rating = tickets.add_rating(unit_for(None), make_ticket(), "good", "Thanks!")
    row = db.scalars(select(OutboxEvent).where(OutboxEvent.name == events.RATING_ADDED)).one()
    assert row.payload["rating_id"] == rating.id


def test_time_entry_needs_positive_seconds(
    make_ticket: Callable[..., Ticket], agent: Agent, unit_for: UnitFor
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        tickets.add_time_entry(unit_for(agent), make_ticket(), seconds=0, billable=True)
    assert "seconds" in failure.value.errors


def test_time_entry_is_logged_for_the_acting_agent(
    make_ticket: Callable[..., Ticket], agent: Agent, unit_for: UnitFor
) -> None:
    entry = tickets.add_time_entry(unit_for(agent), make_ticket(), seconds=900, billable=True)
    assert (entry.agent_id, entry.seconds, entry.billable) == (agent.id, 900, True)


def test_services_run_with_a_real_host_dispatching_to_extensions(
    db: Session, host, department: Department
) -> None:
    from core.services.base import Actor

    unit = Unit(session=db, actor=Actor.system("test"), host=host)
    ticket = tickets.create_ticket(unit, subject="Hi", department_id=department.id, channel="chat")
    tickets.change_status(unit, ticket, "Closed")
    db.commit()
    names = list(db.scalars(select(OutboxEvent.name).order_by(OutboxEvent.seq)))
    assert names == [events.TICKET_CREATED, events.TICKET_STATUS_CHANGED]


# ---------------------------------------------------------------------------- custom statuses


def test_custom_status_counts_as_its_type_when_a_ticket_moves_to_it(
    unit_for: UnitFor, admin_agent: Agent, make_ticket: Callable[..., Ticket], db: Session
) -> None:
    unit = unit_for(admin_agent)
    tickets.create_status(unit, name="Awaiting parts", status_type="on_hold")
    ticket = make_ticket()
    tickets.change_status(unit, db.get(Ticket, ticket.id), "Awaiting parts")
    db.commit()
    assert db.get(Ticket, ticket.id).status_type == "on_hold"
    assert [s.name for s in tickets.list_statuses(db)][-1] == "Awaiting parts"


def test_custom_status_needs_a_known_type_and_a_new_name(
    unit_for: UnitFor, admin_agent: Agent
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        tickets.create_status(unit_for(admin_agent), name="Open", status_type="paused")
    assert set(refused.value.errors) == {"name", "status_type"}


def test_agents_without_setup_permission_cannot_add_statuses(
    unit_for: UnitFor, agent: Agent
) -> None:
    with pytest.raises(Forbidden):
        tickets.create_status(unit_for(agent), name="Waiting", status_type="on_hold")
