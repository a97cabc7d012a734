"""The notification centre's service: personal, newest first, unread counts, marking read."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.models import Agent, Department, Notification, NotificationKind
from core.services import notifications
from core.services.base import Cursor, Unit

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture
def reader(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("reader@example.com", name="Rei Reader", departments=[department])


@pytest.fixture
def notify(db: Session) -> Callable[..., Notification]:
    def make(agent: Agent, summary: str = "hello", **fields: int) -> Notification:
        made = notifications.notify(
            db,
            agent_id=agent.id,
            kind=NotificationKind.MENTION,
            actor_id=None,
            summary=summary,
            **fields,
        )
        db.commit()
        return made

    return make


def test_unread_count_counts_only_unread_own_notifications(
    db: Session, unit_for: UnitFor, reader: Agent, admin_agent: Agent, notify
) -> None:
    first = notify(reader)
    notify(reader)
    notify(admin_agent)
    notifications.mark_read(unit_for(reader), first)
    db.commit()
    assert notifications.unread_count(unit_for(reader)) == 1


def test_list_is_newest_first_with_a_cursor(
    db: Session, unit_for: UnitFor, reader: Agent, notify
) -> None:
    for number in range(3):
        notify(reader, summary=f"n{number}")
    first = notifications.list_notifications(unit_for(reader), limit=2)
    rest = notifications.list_notifications(unit_for(reader), limit=2, before=Cursor.of(first[-1]))
    assert [n.summary for n in first + rest] == ["n2", "n1", "n0"]


def test_unread_filter_leaves_out_read_ones(
    db: Session, unit_for: UnitFor, reader: Agent, notify
) -> None:
    read = notify(reader, summary="read")
    notify(reader, summary="unread")
    notifications.mark_read(unit_for(reader), read)
    db.commit()
    rows = notifications.list_notifications(unit_for(reader), unread_only=True)
    assert [n.summary for n in rows] == ["unread"]


def test_mark_all_read_clears_the_count(
    db: Session, unit_for: UnitFor, reader: Agent, notify
) -> None:
    notify(reader)
    notify(reader)
    assert notifications.mark_all_read(unit_for(reader)) == 2
    db.commit()
    assert notifications.unread_count(unit_for(reader)) == 0


def test_another_agents_notification_is_not_found(
    unit_for: UnitFor, reader: Agent, admin_agent: Agent, notify
) -> None:
    theirs = notify(admin_agent)
    with pytest.raises(NotFound):
        notifications.get_notification(unit_for(reader), theirs.id)
    with pytest.raises(NotFound):
        notifications.mark_read(unit_for(reader), theirs)


def test_notification_about_a_ticket_of_a_department_left_is_hidden(
    db: Session,
    unit_for: UnitFor,
    reader: Agent,
    make_department: Callable[..., Department],
    make_ticket,
    notify,
) -> None:
    sales = make_department("Sales")
    ticket = make_ticket(department=sales)
    notify(reader, ticket_id=ticket.id)
    assert notifications.list_notifications(unit_for(reader)) == []
    assert notifications.unread_count(unit_for(reader)) == 0
