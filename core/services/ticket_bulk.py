"""One change made to many tickets at once (assign, status, priority, close), ticket by ticket.

Each ticket goes through the same service call as on its own page, so each is checked
(its department, the permission, the value for that ticket: an assignee must be in *its*
department) and audited on its own, under a savepoint of its own: a ticket that fails is
rolled back alone and the others go on. The result says, per ticket, what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from core.errors import Forbidden, Message, NotFound, ValidationFailed
from core.models import Ticket, TicketStatus
from core.models.tickets import StatusType
from core.models.types import INT32_MAX
from core.services import tickets as ticket_service
from core.services.base import Unit, gather, parse_whole_number

#: Tickets one bulk action may name (a page of the list is 50).
MAX_BULK_TICKETS = 200


class BulkAction(StrEnum):
    """What a bulk change does."""

    ASSIGN = "assign"
    STATUS = "status"
    PRIORITY = "priority"
    CLOSE = "close"


class Failure(StrEnum):
    """Why one ticket was not changed."""

    NOT_FOUND = "not_found"  # it does not exist, or the actor cannot see it
    FORBIDDEN = "forbidden"  # the actor sees it but lacks the permission
    INVALID = "invalid"  # the value does not fit this ticket (an assignee of another department…)


@dataclass(frozen=True)
class Outcome:
    """What became of one ticket: changed (``ok``) or not, and why not."""

    ticket_id: int
    ok: bool
    number: int | None = None
    failure: str | None = None
    messages: dict[str, list[str]] = field(default_factory=dict)
    permission: str | None = None


def close_status(unit: Unit) -> str:
    """The status a "close" moves tickets to: the first closed status in display order."""
    name = unit.session.scalar(
        select(TicketStatus.name)
        .where(TicketStatus.status_type == StatusType.CLOSED.value)
        .order_by(TicketStatus.position, TicketStatus.id)
        .limit(1)
    )
    if name is None:
        raise ValidationFailed({"action": [Message("No closed status exists.")]})
    return name


def _ticket_ids(values: object) -> list[int]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValidationFailed({"ticket_ids": [Message("Give a list of ticket ids.")]})
    ids: list[int] = []
    for value in values:
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if number is None or number < 1:
            raise ValidationFailed({"ticket_ids": [Message("Give a list of ticket ids.")]})
        if number not in ids:
            ids.append(number)
    if not ids:
        raise ValidationFailed({"ticket_ids": [Message("Choose at least one ticket.")]})
    if len(ids) > MAX_BULK_TICKETS:
        raise ValidationFailed(
            {"ticket_ids": [Message("At most %(num)s tickets at once.", num=MAX_BULK_TICKETS)]}
        )
    return ids


def _action(value: object) -> BulkAction:
    try:
        return BulkAction(value)
    except ValueError:
        choices = ", ".join(a.value for a in BulkAction)
        raise ValidationFailed(
            {"action": [Message("Choose one of: %(choices)s.", choices=choices)]}
        ) from None


def _change(unit: Unit, action: BulkAction, value: Any) -> Callable[[Ticket], object]:
    """The service call one ticket goes through; the value is checked for its shape here."""
    if action == BulkAction.ASSIGN:
        assignee = None if value in (None, "") else parse_whole_number(value, INT32_MAX)
        if value not in (None, "") and assignee is None:
            raise ValidationFailed(
                {"value": [Message("Give an agent id, or nothing to unassign.")]}
            )
        return lambda ticket: ticket_service.update_ticket(unit, ticket, assignee_id=assignee)
    if action == BulkAction.PRIORITY:
        if value not in ticket_service.PRIORITIES:
            choices = ", ".join(ticket_service.PRIORITIES)
            raise ValidationFailed(
                {"value": [Message("Choose one of: %(choices)s.", choices=choices)]}
            )
        return lambda ticket: ticket_service.update_ticket(unit, ticket, priority=value)
    if action == BulkAction.STATUS:
        if not isinstance(value, str) or ticket_service.status_type_of(unit.session, value) is None:
            raise ValidationFailed({"value": [Message("Unknown status.")]})
        return lambda ticket: ticket_service.change_status(unit, ticket, value)
    closed = close_status(unit)
    return lambda ticket: ticket_service.change_status(unit, ticket, closed)


def apply(
    unit: Unit, *, ticket_ids: Iterable[int], action: str, value: Any = None
) -> list[Outcome]:
    """Apply ``action`` (with ``value``) to each ticket; the caller commits what succeeded.

    ``value`` is an agent id (or ``None``, unassign) for ``assign``, a status name for
    ``status``, a priority for ``priority``, and nothing for ``close`` (the first closed
    status). Outcomes come in the order of ``ticket_ids``.

    :raises ValidationFailed: the request itself is bad (no tickets, too many, unknown
        action, a value of the wrong shape); nothing is changed then.
    """
    checked = gather(
        {"ticket_ids": lambda: _ticket_ids(ticket_ids), "action": lambda: _action(action)}
    )
    change = _change(unit, checked["action"], value)
    return [_one(unit, ticket_id, change) for ticket_id in checked["ticket_ids"]]


def _one(unit: Unit, ticket_id: int, change: Callable[[Ticket], object]) -> Outcome:
    number: int | None = None
    savepoint = unit.session.begin_nested()
    try:
        ticket = ticket_service.get_ticket(unit, ticket_id)
        number = ticket.number
        change(ticket)
        unit.session.flush()
    except NotFound:
        savepoint.rollback()
        return Outcome(ticket_id, False, failure=Failure.NOT_FOUND.value)
    except Forbidden as refused:
        savepoint.rollback()
        return Outcome(
            ticket_id, False, number, Failure.FORBIDDEN.value, permission=refused.permission
        )
    except ValidationFailed as failed:
        savepoint.rollback()
        return Outcome(ticket_id, False, number, Failure.INVALID.value, messages=failed.errors)
    savepoint.commit()
    return Outcome(ticket_id, True, number)
