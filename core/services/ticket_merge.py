"""Merging one ticket into another: the conversation of two tickets about one matter kept in
one (a chat's new ticket absorbing an older ticket of the same customer, say).

The source's conversation moves to the target with its times: its description becomes an
incoming thread at the source's creation, its threads and time entries move as they are. The
source keeps its status history and ratings, is closed and is marked merged into the target
(its page links there; it cannot be merged again). One ``ticket.merged`` event tells the
extensions both tickets changed, so derived figures are worked out again for each.
"""

from __future__ import annotations

from sqlalchemy import select, update

from core import permissions
from core.errors import Conflict, Message, ValidationFailed
from core.models import Thread, Ticket, TimeEntry
from core.models.tickets import StatusType, ThreadKind
from core.services.base import Unit, iso
from core.services.tickets import change_status
from hostapi import clock, events

#: The status a merged ticket is closed with.
MERGED_STATUS = "Closed"


def merge_ticket(unit: Unit, source: Ticket, target: Ticket) -> Ticket:
    """Merge ``source`` into ``target`` and return the target.

    :raises ValidationFailed: the two are one ticket.
    :raises Conflict: either was merged into another ticket already.
    :raises Forbidden: the actor may not edit tickets, or not close them.
    :raises NotFound: the actor does not see one of them.
    """
    unit.actor.require(permissions.TICKET_EDIT)
    unit.actor.require(permissions.TICKET_CHANGE_STATUS)
    unit.actor.require_department(source.department_id, "ticket")
    unit.actor.require_department(target.department_id, "ticket")
    if source.id == target.id:
        raise ValidationFailed({"ticket_id": [Message("A ticket cannot be merged into itself.")]})
    session = unit.session
    # Both rows locked (in id order, as every merge takes them) and read again: two merges at
    # once must not both pass the check below, nor merge A into B and B into A.
    session.execute(
        select(Ticket.id)
        .where(Ticket.id.in_(sorted({source.id, target.id})))
        .order_by(Ticket.id)
        .with_for_update()
    ).all()
    session.refresh(source)
    session.refresh(target)
    for ticket in (source, target):
        if ticket.merged_into_id is not None:
            raise Conflict(f"ticket {ticket.id} was merged into another ticket already")
    now = clock.now()
    moved = session.execute(
        update(Thread)
        .where(Thread.ticket_id == source.id)
        .values(ticket_id=target.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.execute(
        update(TimeEntry)
        .where(TimeEntry.ticket_id == source.id)
        .values(ticket_id=target.id)
        .execution_options(synchronize_session=False)
    )
    if source.description.strip():
        session.add(
            Thread(
                ticket_id=target.id,
                kind=ThreadKind.INCOMING.value,
                channel=source.channel,
                author_contact_id=source.contact_id,
                body=source.description,
                created_at=source.created_at,
            )
        )
    target.updated_at = max(target.updated_at, now)
    source.merged_into_id = target.id
    session.flush()
    session.expire_all()
    if source.status_type != StatusType.CLOSED:
        change_status(unit, source, MERGED_STATUS, changed_at=now)
    unit.audit(
        "update",
        "ticket",
        source.id,
        sub_action="merge",
        before={"merged_into_id": None},
        after={"merged_into_id": target.id, "threads_moved": moved, "at": iso(now)},
    )
    unit.emit(
        events.TICKET_MERGED,
        {
            "source_id": source.id,
            "target_id": target.id,
            "ticket_ids": [source.id, target.id],
            "department_id": target.department_id,
            "contact_id": target.contact_id,
        },
        sorted({source.department_id, target.department_id}),
    )
    return target
