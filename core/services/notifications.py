"""The notification centre: what agents are told (mentions, followed customers' news).

Notifications are personal: every call here acts on the acting agent's own notifications, and
another agent's is reported absent (:class:`NotFound`). A notification about a ticket is shown
only while its recipient may see the ticket's department, in the list and the unread count
alike (an agent moved out of a department stops seeing what they were told about it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.models import Notification, NotificationKind, Ticket
from core.services.base import Cursor, Unit, check_limit, older_than
from hostapi import clock


def notify(
    session: Session,
    *,
    agent_id: int,
    kind: NotificationKind,
    actor_id: int | None,
    summary: str,
    contact_id: int | None = None,
    account_id: int | None = None,
    ticket_id: int | None = None,
    comment_id: int | None = None,
) -> Notification:
    """Add an unread notification for ``agent_id`` (``summary`` is cut to 500 characters)."""
    notification = Notification(
        agent_id=agent_id,
        kind=kind.value,
        actor_id=actor_id,
        contact_id=contact_id,
        account_id=account_id,
        ticket_id=ticket_id,
        comment_id=comment_id,
        summary=summary[:500],
        created_at=clock.now(),
        read_at=None,
    )
    session.add(notification)
    return notification


def _own(unit: Unit, query: Select[Any]) -> Select[Any]:
    """``query`` over notifications narrowed to the actor's, leaving out those about tickets
    of departments the actor does not see.

    An outer join to the ticket by its key, rather than ``ticket_id IN (tickets of my
    departments)``: the planner then looks up the few tickets the agent's notifications name
    instead of reading every ticket of those departments.
    """
    query = query.where(Notification.agent_id == unit.actor.agent_id)
    visible = unit.actor.visible_department_ids()
    if visible is None:
        return query
    return query.outerjoin(Ticket, Ticket.id == Notification.ticket_id).where(
        or_(Notification.ticket_id.is_(None), Ticket.department_id.in_(sorted(visible)))
    )


def _require_agent(unit: Unit) -> None:
    if unit.actor.agent is None:
        raise NotFound("notifications belong to agents")


def list_notifications(
    unit: Unit,
    *,
    unread_only: bool = False,
    limit: int = 50,
    before: Cursor | str | None = None,
) -> list[Notification]:
    """The actor's notifications, newest first, one page at a time."""
    _require_agent(unit)
    check_limit(limit)
    cursor = Cursor.parse(before)
    query = _own(unit, select(Notification))
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = (
        query.where(older_than(Notification.created_at, Notification.id, cursor))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    return list(unit.session.scalars(query))


def unread_count(unit: Unit) -> int:
    """How many of the actor's notifications are unread (walks ``ix_notification_recipient``)."""
    _require_agent(unit)
    query = _own(unit, select(func.count(Notification.id))).where(Notification.read_at.is_(None))
    return int(unit.session.scalar(query) or 0)


def get_notification(unit: Unit, notification_id: int) -> Notification:
    """One of the actor's notifications.

    :raises NotFound: no such notification, or another agent's.
    """
    _require_agent(unit)
    notification = unit.session.scalar(
        _own(unit, select(Notification)).where(Notification.id == notification_id)
    )
    if notification is None:
        raise NotFound("notification not found")
    return notification


def mark_read(unit: Unit, notification: Notification) -> Notification:
    """Mark one notification read (reading it again keeps the first time)."""
    if notification.agent_id != unit.actor.agent_id:
        raise NotFound("notification not found")
    if notification.read_at is None:
        notification.read_at = clock.now()
        unit.session.flush()
    return notification


def mark_all_read(unit: Unit) -> int:
    """Mark every unread notification of the actor read; returns how many were."""
    _require_agent(unit)
    result = unit.session.execute(
        update(Notification)
        .where(Notification.agent_id == unit.actor.agent_id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
    )
    return int(result.rowcount or 0)
