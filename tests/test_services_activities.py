"""Activity services: calls, events and tasks, their visibility, completion and spam flag."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.errors import NotFound, ValidationFailed
from core.models import Agent, Ticket
from core.services import activities
from core.services.base import Unit

UnitFor = Callable[[Agent | None], Unit]


def test_activity_needs_something_to_be_about(unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        activities.create_activity(unit_for(None), kind="call", subject="Call back")
    assert "_schema" in failure.value.errors


def test_unknown_kind_is_refused(make_contact, unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        activities.create_activity(
            unit_for(None), kind="party", subject="Hi", contact_id=make_contact().id
        )
    assert "kind" in failure.value.errors


def test_ticket_activity_takes_the_tickets_contact_and_department(
    make_ticket: Callable[..., Ticket], make_contact, unit_for: UnitFor
) -> None:
    contact = make_contact()
    ticket = make_ticket(contact=contact)
    task = activities.create_activity(
        unit_for(None), kind="task", subject="Ship a new one", ticket_id=ticket.id
    )
    assert (task.contact_id, task.department_id) == (contact.id, ticket.department_id)


def test_ticket_activity_is_hidden_outside_the_department(
    make_ticket: Callable[..., Ticket], make_agent, make_department, unit_for: UnitFor
) -> None:
    task = activities.create_activity(
        unit_for(None), kind="task", subject="Ship", ticket_id=make_ticket().id
    )
    outsider = make_agent("out@example.com", departments=[make_department("Sales")])
    with pytest.raises(NotFound):
        activities.get_activity(unit_for(outsider), task.id)
    assert activities.list_activities(unit_for(outsider)) == []


def test_completed_and_spam_activities_leave_the_open_list(make_contact, unit_for: UnitFor) -> None:
    unit = unit_for(None)
    contact = make_contact()
    done = activities.create_activity(unit, kind="call", subject="Done", contact_id=contact.id)
    spam = activities.create_activity(unit, kind="event", subject="Spam", contact_id=contact.id)
    kept = activities.create_activity(unit, kind="task", subject="Kept", contact_id=contact.id)
    activities.complete_activity(unit, done)
    activities.mark_spam(unit, spam)
    assert activities.list_activities(unit, contact_id=contact.id, open_only=True) == [kept]
