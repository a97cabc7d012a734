"""Tickets and what hangs off them: status changes, threads, ratings and time entries.

Tickets are department-scoped: an agent reaches only tickets of their own departments, and a
ticket outside them is reported as absent (:class:`NotFound`), never as forbidden.

A ticket's ``description`` is the customer's opening message: a ticket raised by the customer
does **not** also get an incoming thread for it. The metrics count the ticket's creation as
that first customer message (for the first response time), and a duplicate thread would count
it twice in message totals. Later customer messages are incoming threads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, insert, not_, or_, select, update
from sqlalchemy.orm import Session

from core import permissions
from core.errors import Message, NotFound, ValidationFailed
from core.models import (
    Account,
    Agent,
    Contact,
    Department,
    HappinessRating,
    Organisation,
    StatusChange,
    Thread,
    Ticket,
    TicketStatus,
    TimeEntry,
    agent_departments,
)
from core.models.tickets import RaisedBy, Rating, StatusType, ThreadKind
from core.models.types import INT32_MAX
from core.services import sla
from core.services.base import (
    Cursor,
    Unit,
    apply_changes,
    check_limit,
    clean_external_id,
    clean_text,
    flush_new,
    gather,
    iso,
    newest_first,
    older_than,
    parse_whole_number,
    refuse_extension_owned,
    refuse_unknown_fields,
    require_aware,
    split_changes,
)
from core.services.customers import contact_search
from hostapi import clock, events

#: The channels tickets arrive through in the core; extensions add theirs with
#: :func:`register_channels`.
KNOWN_CHANNELS: frozenset[str] = frozenset(
    {"email", "web_form", "phone", "chat", "whatsapp", "telegram", "wechat", "line", "api"}
)
PRIORITIES: tuple[str, ...] = ("low", "medium", "high", "urgent")
#: The classifications offered when a ticket is made or classified (a ticket's own is free
#: text: imported history keeps whatever it had).
CLASSIFICATIONS: tuple[str, ...] = ("Question", "Problem", "Feature request", "Others")
THREAD_KINDS: frozenset[str] = frozenset(kind.value for kind in ThreadKind)
RATINGS: frozenset[str] = frozenset(rating.value for rating in Rating)
RAISED_BY: frozenset[str] = frozenset(who.value for who in RaisedBy)
UPDATABLE_FIELDS: frozenset[str] = frozenset(
    {
        "subject",
        "priority",
        "classification",
        "due_at",
        "assignee_id",
        "contact_id",
        "account_id",
        "department_id",
    }
)
_MAX_CHANNEL_LENGTH = 40

# Extension channels are registered when plugins load, which every process does at start-up,
# so this registry never holds state another process would need.
_extension_channels: set[str] = set()


def register_channels(names: Iterable[str]) -> None:
    """Accept more ticket channels (an extension's own, e.g. ``"instagram"``)."""
    for name in names:
        if not name or len(name) > _MAX_CHANNEL_LENGTH or not name.replace("_", "").isalnum():
            raise ValueError(f"invalid channel name {name!r}")
        _extension_channels.add(name)


def channels() -> frozenset[str]:
    """Every channel a ticket or thread may carry now."""
    return KNOWN_CHANNELS | frozenset(_extension_channels)


def status_type_of(session: Session, name: str) -> str | None:
    """The type (open, on_hold, closed) of the active status called ``name``; ``None`` if no
    active status has that name (a retired custom status is no longer a choice)."""
    return session.scalar(
        select(TicketStatus.status_type).where(
            TicketStatus.name == name, TicketStatus.is_active.is_(True)
        )
    )


def list_statuses(session: Session, *, include_inactive: bool = True) -> list[TicketStatus]:
    """Every status, built in and custom, in display order (retired ones unless excluded)."""
    query = select(TicketStatus).order_by(TicketStatus.position, TicketStatus.id)
    if not include_inactive:
        query = query.where(TicketStatus.is_active.is_(True))
    return list(session.scalars(query))


def status_choices(session: Session, current: str | None = None) -> list[TicketStatus]:
    """The statuses to offer for a ticket: the active ones, plus ``current`` (the ticket's own,
    shown even when retired so the choice does not silently change it)."""
    return [
        status for status in list_statuses(session) if status.is_active or status.name == current
    ]


def get_status(unit: Unit, status_id: int) -> TicketStatus:
    """The status ``status_id`` (organisation-wide: any agent who may view tickets sees them).

    :raises NotFound: no such status.
    :raises Forbidden: the actor may not view tickets.
    """
    unit.actor.require(permissions.TICKET_VIEW)
    status = unit.session.get(TicketStatus, status_id)
    if status is None:
        raise NotFound("status not found")
    return status


def create_status(unit: Unit, *, name: str, status_type: str) -> TicketStatus:
    """Add a custom status of one of the three types (an "Awaiting parts" that is on hold…)."""
    unit.actor.require(permissions.SETUP_MANAGE)
    values = gather(
        {
            "name": lambda: _unique_status_name(unit.session, name, None),
            "status_type": lambda: _valid_status_type(status_type),
        }
    )
    position = unit.session.scalar(select(func.max(TicketStatus.position))) or 0
    status = TicketStatus(
        name=values["name"],
        status_type=values["status_type"],
        is_builtin=False,
        is_active=True,
        position=position + 1,
    )
    unit.session.add(status)
    unit.session.flush()
    unit.audit(
        "add",
        "ticket_status",
        status.id,
        after={"name": status.name, "type": status.status_type, "position": status.position},
    )
    unit.emit(events.STATUS_CREATED, {"status_id": status.id})
    return status


def update_status(unit: Unit, status: TicketStatus, **changes: Any) -> TicketStatus:
    """Rename a custom status, change its type, or retire/restore it (``is_active``).

    Built-in statuses keep their name, type and place among the choices (they are translated
    by name when shown); only their order changes, through :func:`move_status`. A rename is
    carried to every ticket and status change that names the status, in the same transaction,
    because tickets store the status by name. The type changes only while no ticket has the
    status: a ticket's type is what its open/closed counts and close times were computed from.
    """
    unit.actor.require(permissions.SETUP_MANAGE)
    refuse_unknown_fields(changes, {"name", "status_type", "is_active"})
    if status.is_builtin and changes:
        field = next(iter(sorted(changes)))
        raise ValidationFailed(
            {field: [Message("Built-in statuses keep their name, type and use.")]}
        )
    if changes:
        refuse_extension_owned(status)
    session = unit.session
    values = gather(
        {
            name: check
            for name, check in {
                "name": lambda: _unique_status_name(session, changes["name"], status.id),
                "status_type": lambda: _valid_status_type(changes["status_type"]),
                "is_active": lambda: _status_flag(changes["is_active"]),
            }.items()
            if name in changes
        }
    )
    if values.get("status_type", status.status_type) != status.status_type and _status_in_use(
        session, status.name
    ):
        raise ValidationFailed(
            {"status_type": [Message("Tickets have this status: its type is fixed.")]}
        )
    old_name = status.name
    changed = apply_changes(status, values)
    if not changed:
        return status
    if "name" in changed:
        session.execute(update(Ticket).where(Ticket.status == old_name).values(status=status.name))
        for column in (StatusChange.from_status, StatusChange.to_status):
            session.execute(
                update(StatusChange).where(column == old_name).values({column: status.name})
            )
    session.flush()
    _audit_and_emit_status(unit, status, changed)
    return status


def move_status(unit: Unit, status: TicketStatus, direction: str) -> TicketStatus:
    """Move a status one place ``"up"`` or ``"down"`` in the order choices are shown in."""
    unit.actor.require(permissions.SETUP_MANAGE)
    if direction not in ("up", "down"):
        raise ValidationFailed({"direction": [Message("Give up or down.")]})
    ordered = list_statuses(unit.session)
    index = next(i for i, row in enumerate(ordered) if row.id == status.id)
    target = index - 1 if direction == "up" else index + 1
    if not 0 <= target < len(ordered):
        return status
    ordered[index], ordered[target] = ordered[target], ordered[index]
    # Positions are renumbered densely: older databases may hold ties, which would make a
    # swap of two equal positions change nothing.
    moved = {}
    for position, row in enumerate(ordered):
        if row.position != position:
            moved[row.id] = (row, [row.position, position])
            row.position = position
    unit.session.flush()
    for row, change in moved.values():
        _audit_and_emit_status(unit, row, {"position": change})
    return status


def remove_status(unit: Unit, status: TicketStatus) -> int:
    """Delete a custom status, moving its tickets to the first built-in status of its type in
    display order; returns how many tickets moved.

    Admins retire a status instead (``is_active``); the host removes one when it purges the
    installation whose extension declared it. Each moved ticket gets a status change and a
    ``ticket.status_changed`` event; its type stays, so its close time and SLA clock do not.
    A ``status.deleted`` event follows, so that what keeps a copy of the statuses drops it.
    """
    session = unit.session
    if status.is_builtin:
        raise ValueError("built-in statuses are never removed")
    target = session.scalars(
        select(TicketStatus)
        .where(TicketStatus.is_builtin.is_(True), TicketStatus.status_type == status.status_type)
        .order_by(TicketStatus.position, TicketStatus.id)
        .limit(1)
    ).one()
    now = clock.now()
    moved = session.execute(
        select(Ticket.id, Ticket.department_id, Ticket.contact_id).where(
            Ticket.status == status.name
        )
    ).all()
    if moved:
        session.execute(
            update(Ticket)
            .where(Ticket.status == status.name)
            .values(status=target.name, updated_at=now)
        )
        session.execute(
            insert(StatusChange),
            [
                {
                    "ticket_id": ticket_id,
                    "from_status": status.name,
                    "from_type": status.status_type,
                    "to_status": target.name,
                    "to_type": target.status_type,
                    "agent_id": unit.actor.agent_id,
                    "changed_at": now,
                }
                for ticket_id, _department_id, _contact_id in moved
            ],
        )
    before = {"name": status.name, "type": status.status_type}
    status_id = status.id
    session.delete(status)
    session.flush()
    unit.audit(
        "delete",
        "ticket_status",
        status_id,
        before=before,
        after={"tickets_moved_to": target.name, "tickets_moved": len(moved)},
    )
    for ticket_id, department_id, contact_id in moved:
        unit.emit(
            events.TICKET_STATUS_CHANGED,
            {
                "ticket_id": ticket_id,
                "department_id": department_id,
                "contact_id": contact_id,
                "from_status": before["name"],
                "from_type": before["type"],
                "to_status": target.name,
                "to_type": target.status_type,
                "changed_at": iso(now),
            },
            [department_id],
        )
    unit.emit(
        events.STATUS_DELETED,
        {
            "status_id": status_id,
            "name": before["name"],
            "status_type": before["type"],
            "tickets_moved_to": target.name,
        },
    )
    return len(moved)


def _audit_and_emit_status(unit: Unit, status: TicketStatus, changed: dict[str, Any]) -> None:
    before, after = split_changes(changed)
    unit.audit("update", "ticket_status", status.id, before=before, after=after)
    unit.emit(events.STATUS_UPDATED, {"status_id": status.id, "changes": changed})


def _unique_status_name(session: Session, name: Any, own_id: int | None) -> str:
    clean_name = clean_text(name, "name", max_length=100, required=True)
    clash = session.scalar(
        select(TicketStatus.id).where(func.lower(TicketStatus.name) == clean_name.lower())
    )
    if clash is not None and clash != own_id:
        raise ValidationFailed({"name": [Message("A status with this name exists.")]})
    return clean_name


def _valid_status_type(value: Any) -> str:
    if value not in {t.value for t in StatusType}:
        raise ValidationFailed({"status_type": [Message("Must be one of: open, on_hold, closed.")]})
    return value


def _status_flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed({"is_active": [Message("Give true or false.")]})
    return value


def _status_in_use(session: Session, name: str) -> bool:
    return session.scalar(select(Ticket.id).where(Ticket.status == name).limit(1)) is not None


def display_number(organisation: Organisation, number: int) -> str:
    """A ticket number as agents read it: the organisation's prefix, then the number."""
    return f"{organisation.ticket_prefix}{number}"


# ------------------------------------------------------------------------------------ reading


def get_ticket(unit: Unit, ticket_id: int) -> Ticket:
    """The ticket ``ticket_id`` if the actor may see it.

    :raises NotFound: it does not exist or is in a department the actor does not belong to.
    """
    unit.actor.require(permissions.TICKET_VIEW)
    ticket = unit.session.get(Ticket, ticket_id)
    if ticket is None or not unit.actor.can_see_department(ticket.department_id):
        raise NotFound("ticket not found")
    return ticket


def list_tickets(
    unit: Unit,
    *,
    department_id: int | None = None,
    status_type: str | None = None,
    status: str | None = None,
    contact_id: int | None = None,
    account_id: int | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    search: str | None = None,
    limit: int = 50,
    before: Cursor | str | None = None,
) -> list[Ticket]:
    """Tickets the actor may see, newest first, one page at a time.

    ``before`` is the :class:`Cursor` of the last ticket of the previous page. ``status``
    names one status (a custom one too), ``status_type`` a type of them; ``search`` matches
    the subject, the number (with or without the prefix), or the contact's name (either
    order), email or phone (any form); ``unassigned`` keeps only tickets without an assignee.
    """
    check_limit(limit)
    cursor = Cursor.parse(before)
    query = _listed(
        unit,
        department_id=department_id,
        status_type=status_type,
        status=status,
        contact_id=contact_id,
        account_id=account_id,
        assignee_id=assignee_id,
        unassigned=unassigned,
        search=search,
    )
    query = newest_first(query, Ticket.created_at, Ticket.id, cursor, limit)
    return list(unit.session.scalars(query))


#: Ticket counts stop here; beyond it the list says "10,000+".
COUNT_CAP = 10_000


@dataclass(frozen=True)
class TicketCount:
    """How many tickets a list holds (exact up to :data:`COUNT_CAP`, else ``capped``), and how
    many of them come before the page shown (``newer``, for "51–100 of 1,234")."""

    count: int
    capped: bool
    newer: int = 0


def count_tickets(unit: Unit, *, before: Cursor | str | None = None, **filters: Any) -> TicketCount:
    """How many tickets :func:`list_tickets` with ``filters`` lists, and how many of them are
    newer than ``before`` (the page's cursor); each count stops after :data:`COUNT_CAP` + 1."""
    cursor = Cursor.parse(before)
    query = _listed(unit, **filters)

    def capped_count(selection: Any) -> int:
        limited = selection.with_only_columns(Ticket.id).limit(COUNT_CAP + 1).subquery()
        return int(unit.session.scalar(select(func.count()).select_from(limited)) or 0)

    number = capped_count(query)
    newer = 0
    if cursor is not None:
        newer = capped_count(query.where(not_(older_than(Ticket.created_at, Ticket.id, cursor))))
    return TicketCount(min(number, COUNT_CAP), number > COUNT_CAP, min(newer, COUNT_CAP))


def status_summary(
    unit: Unit, *, contact_id: int | None = None, account_id: int | None = None
) -> dict[str, int]:
    """How many of a contact's or an account's tickets the actor may see, by status type
    (every type present, zero where none)."""
    query = _listed(unit, contact_id=contact_id, account_id=account_id)
    counted = unit.session.execute(
        query.with_only_columns(Ticket.status_type, func.count()).group_by(Ticket.status_type)
    )
    summary = dict.fromkeys((t.value for t in StatusType), 0)
    summary.update({status_type: int(number) for status_type, number in counted})
    return summary


def _listed(
    unit: Unit,
    *,
    department_id: int | None = None,
    status_type: str | None = None,
    status: str | None = None,
    contact_id: int | None = None,
    account_id: int | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    search: str | None = None,
) -> Any:
    """The query of the tickets the actor may see that match the list's filters."""
    unit.actor.require(permissions.TICKET_VIEW)
    if status_type is not None and status_type not in {t.value for t in StatusType}:
        raise ValidationFailed({"status_type": [Message("Unknown status type.")]})
    query = select(Ticket)
    visible = unit.actor.visible_department_ids()
    if visible is not None:
        query = query.where(Ticket.department_id.in_(sorted(visible)))
    filters: dict[str, Any] = {
        "department_id": department_id,
        "status_type": status_type,
        "status": status,
        "contact_id": contact_id,
        "account_id": account_id,
        "assignee_id": assignee_id,
    }
    for name, value in filters.items():
        if value is not None:
            query = query.where(getattr(Ticket, name) == value)
    if unassigned:
        query = query.where(Ticket.assignee_id.is_(None))
    if search and search.strip():
        query = query.where(search_condition(unit.session, search.strip()))
    return query


def customer_ticket_filter(
    unit: Unit, *, contact_id: int | None = None, account_id: int | None = None
) -> list[Any]:
    """Conditions on ``ticket`` keeping a contact's or an account's tickets (give one) in the
    departments the actor may see: what the customer tabs read through."""
    if (contact_id is None) == (account_id is None):
        raise ValueError("give a contact or an account")
    conditions: list[Any] = [
        Ticket.contact_id == contact_id
        if contact_id is not None
        else Ticket.account_id == account_id
    ]
    visible = unit.actor.visible_department_ids()
    if visible is not None:
        conditions.append(Ticket.department_id.in_(sorted(visible)))
    return conditions


def search_condition(session: Session, term: str) -> Any:
    """Tickets matching ``term``: in the subject, the number (with or without the ticket
    prefix), or the contact's name in either order or phone typed in any form."""
    prefix = session.scalar(select(Organisation.ticket_prefix).limit(1)) or ""
    # The prefix in any case ("sup-12" for SUP-12), as the rest of the search ignores case.
    digits = (
        term[len(prefix) :] if prefix and term.casefold().startswith(prefix.casefold()) else term
    )
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    condition = Ticket.subject.ilike(f"%{escaped}%", escape="\\")
    number = parse_whole_number(digits, INT32_MAX)
    if number is not None:
        condition = or_(condition, Ticket.number == number)
    # The contact's name in either order, or their phone typed in any form.
    contacts = select(Contact.id).where(contact_search(session, term))
    return or_(condition, Ticket.contact_id.in_(contacts))


# ----------------------------------------------------------------------------------- creating


def create_ticket(
    unit: Unit,
    *,
    subject: str,
    department_id: int,
    channel: str,
    contact_id: int | None = None,
    account_id: int | None = None,
    description: str = "",
    status: str = "Open",
    priority: str = "medium",
    classification: str = "",
    raised_by: str = RaisedBy.CUSTOMER.value,
    assignee_id: int | None = None,
    due_at: datetime | None = None,
    created_at: datetime | None = None,
    external_id: str | None = None,
) -> Ticket:
    """Create a ticket with the next number and its initial status change.

    ``account_id`` defaults to the contact's account. ``created_at`` (history, chat
    conversions) defaults to now. Every field is checked before anything is written.

    :raises ValidationFailed: naming each bad field (an unknown department or one the actor
        does not belong to is "Unknown department.").
    """
    unit.actor.require(permissions.TICKET_CREATE)
    session = unit.session
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    _collect(
        errors,
        values,
        "subject",
        lambda: clean_text(subject, "subject", max_length=500, required=True),
    )
    _collect(
        errors,
        values,
        "description",
        lambda: clean_text(description, "description", max_length=1_000_000),
    )
    _collect(
        errors,
        values,
        "classification",
        lambda: clean_text(classification, "classification", max_length=60),
    )
    _collect(errors, values, "department_id", lambda: _visible_department(unit, department_id))
    _collect(errors, values, "channel", lambda: _valid_channel(channel))
    _collect(errors, values, "priority", lambda: _valid_priority(priority))
    _collect(errors, values, "raised_by", lambda: _valid_choice(raised_by, RAISED_BY, "raised_by"))
    _collect(errors, values, "status_type", lambda: _valid_status(session, status))
    _collect(errors, values, "contact_id", lambda: _existing_contact(session, contact_id))
    _collect(errors, values, "account_id", lambda: _existing_account(session, account_id))
    _collect(errors, values, "due_at", lambda: require_aware(due_at, "due_at"))
    _collect(errors, values, "created_at", lambda: require_aware(created_at, "created_at"))
    _collect(errors, values, "external_id", lambda: clean_external_id(session, Ticket, external_id))
    if "department_id" in values:
        _collect(
            errors,
            values,
            "assignee_id",
            lambda: _valid_assignee(session, assignee_id, department_id),
        )
    if errors:
        raise ValidationFailed(errors)
    if assignee_id is not None:
        unit.actor.require(permissions.TICKET_ASSIGN)

    contact: Contact | None = values["contact_id"]
    if account_id is None and contact is not None:
        account_id = contact.account_id
    created = created_at or clock.now()
    ticket = Ticket(
        number=_next_ticket_number(session),
        subject=values["subject"],
        description=values["description"],
        status=status,
        status_type=values["status_type"],
        priority=priority,
        channel=channel,
        classification=values["classification"],
        department_id=department_id,
        contact_id=contact_id,
        account_id=account_id,
        assignee_id=assignee_id,
        raised_by=raised_by,
        due_at=due_at,
        created_at=created,
        updated_at=created,
        closed_at=created if values["status_type"] == StatusType.CLOSED else None,
        external_id=values["external_id"],
    )
    flush_new(session, ticket)
    session.add(
        StatusChange(
            ticket_id=ticket.id,
            from_status=None,
            from_type=None,
            to_status=status,
            to_type=ticket.status_type,
            agent_id=unit.actor.agent_id,
            changed_at=created,
        )
    )
    session.flush()
    sla.on_ticket_created(unit, ticket)  # SLA: due times from the department's policy
    unit.audit("add", "ticket", ticket.id, after=_audit_snapshot(ticket))
    unit.emit(
        events.TICKET_CREATED,
        {
            "ticket_id": ticket.id,
            "number": ticket.number,
            "department_id": ticket.department_id,
            "contact_id": ticket.contact_id,
            "account_id": ticket.account_id,
            "status": ticket.status,
            "status_type": ticket.status_type,
            "channel": ticket.channel,
            "raised_by": ticket.raised_by,
            "created_at": iso(ticket.created_at),
        },
        [ticket.department_id],
    )
    return ticket


def _collect(errors: dict[str, list[str]], values: dict[str, Any], key: str, check: Any) -> None:
    """Run one field check, gathering its error so the caller reports every bad field at once."""
    try:
        values[key] = check()
    except ValidationFailed as failure:
        for field, messages in failure.errors.items():
            errors.setdefault(field, []).extend(messages)


def _next_ticket_number(session: Session) -> int:
    # One UPDATE ... RETURNING both reserves the number and takes the row's write lock (row
    # lock on PostgreSQL, the database write lock on SQLite), so concurrent creations never
    # read the same number; it is the atomic form of SELECT ... FOR UPDATE then UPDATE.
    number = session.execute(
        update(Organisation)
        .values(next_ticket_number=Organisation.next_ticket_number + 1)
        .returning(Organisation.next_ticket_number)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    for organisation in [o for o in session.identity_map.values() if isinstance(o, Organisation)]:
        session.expire(organisation, ["next_ticket_number"])
    return number - 1


def _visible_department(unit: Unit, department_id: int | None) -> Department:
    department = unit.session.get(Department, department_id) if department_id else None
    # A department the actor does not belong to looks exactly like one that does not exist.
    if department is None or not unit.actor.can_see_department(department.id):
        raise ValidationFailed({"department_id": [Message("Unknown department.")]})
    if not department.is_active:
        raise ValidationFailed({"department_id": [Message("This department is inactive.")]})
    return department


def _move_target(unit: Unit, department_id: int | None) -> Department:
    # A ticket may be moved to any active department, one the actor is not in included (it
    # goes where it can be worked; the actor is warned they may lose sight of it).
    department = unit.session.get(Department, department_id) if department_id else None
    if department is None:
        raise ValidationFailed({"department_id": [Message("Unknown department.")]})
    if not department.is_active:
        raise ValidationFailed({"department_id": [Message("This department is inactive.")]})
    return department


def _valid_channel(channel: str) -> str:
    if channel not in channels():
        raise ValidationFailed({"channel": [Message("Unknown channel.")]})
    return channel


def _valid_priority(priority: str) -> str:
    if priority not in PRIORITIES:
        choices = ", ".join(PRIORITIES)
        raise ValidationFailed(
            {"priority": [Message("Choose one of: %(choices)s.", choices=choices)]}
        )
    return priority


def _valid_choice(value: str, choices: frozenset[str], field: str) -> str:
    if value not in choices:
        listed = ", ".join(sorted(choices))
        raise ValidationFailed({field: [Message("Choose one of: %(choices)s.", choices=listed)]})
    return value


def _valid_status(session: Session, status: str) -> str:
    status_type = status_type_of(session, status) if isinstance(status, str) else None
    if status_type is None:
        raise ValidationFailed({"status": [Message("Unknown status.")]})
    return status_type


def _existing_contact(session: Session, contact_id: int | None) -> Contact | None:
    if contact_id is None:
        return None
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise ValidationFailed({"contact_id": [Message("Unknown contact.")]})
    if contact.merged_into_id is not None:
        raise ValidationFailed({"contact_id": [Message("This contact was merged into another.")]})
    return contact


def _existing_account(session: Session, account_id: int | None) -> Account | None:
    if account_id is None:
        return None
    account = session.get(Account, account_id)
    if account is None:
        raise ValidationFailed({"account_id": [Message("Unknown account.")]})
    return account


def _valid_assignee(session: Session, agent_id: int | None, department_id: int) -> Agent | None:
    if agent_id is None:
        return None
    agent = session.get(Agent, agent_id)
    if agent is None or not agent.is_active:
        raise ValidationFailed({"assignee_id": [Message("Unknown agent.")]})
    # An assignee who cannot see the ticket could never work it.
    if department_id not in agent.department_ids:
        raise ValidationFailed(
            {"assignee_id": [Message("This agent is not in the ticket's department.")]}
        )
    return agent


def _audit_snapshot(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "classification": ticket.classification,
        "department_id": ticket.department_id,
        "contact_id": ticket.contact_id,
        "account_id": ticket.account_id,
        "assignee_id": ticket.assignee_id,
        "raised_by": ticket.raised_by,
        "due_at": iso(ticket.due_at),
        "created_at": iso(ticket.created_at),
    }


# ----------------------------------------------------------------------------------- changing


def update_ticket(unit: Unit, ticket: Ticket, **changes: Any) -> Ticket:
    """Change a ticket's fields (see ``UPDATABLE_FIELDS``); a no-op change writes nothing.

    Changing the assignee needs ``ticket.assign`` besides ``ticket.edit``. A ticket may move
    to any active department (the actor may then no longer see it); the assignee stays only
    if they are in the new department, and the event goes to both departments.
    """
    unit.actor.require(permissions.TICKET_EDIT)
    unit.actor.require_department(ticket.department_id, "ticket")
    refuse_unknown_fields(changes, UPDATABLE_FIELDS)
    session = unit.session
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    checks: dict[str, Any] = {
        "subject": lambda v: clean_text(v, "subject", max_length=500, required=True),
        "classification": lambda v: clean_text(v, "classification", max_length=60),
        "priority": _valid_priority,
        "due_at": lambda v: require_aware(v, "due_at"),
        "contact_id": lambda v: _existing_contact(session, v) and v,
        "account_id": lambda v: _existing_account(session, v) and v,
        "department_id": lambda v: _move_target(unit, v).id,
    }
    for name, value in changes.items():
        if name in checks:
            _collect(errors, values, name, lambda check=checks[name], value=value: check(value))
    target_department = values.get("department_id", ticket.department_id)
    if "assignee_id" in changes:
        _collect(
            errors,
            values,
            "assignee_id",
            lambda: (
                _valid_assignee(session, changes["assignee_id"], target_department)
                and changes["assignee_id"]
            ),
        )
    elif "department_id" in values and ticket.assignee_id is not None:
        assignee = session.get(Agent, ticket.assignee_id)
        if assignee is None or target_department not in assignee.department_ids:
            # The assignee stays only if they can still see the ticket in its new department.
            values["assignee_id"] = None
    if errors:
        raise ValidationFailed(errors)
    if "assignee_id" in changes and changes["assignee_id"] != ticket.assignee_id:
        unit.actor.require(permissions.TICKET_ASSIGN)

    old_department = ticket.department_id
    changed = apply_changes(ticket, values)
    if not changed:
        return ticket
    ticket.updated_at = clock.now()
    session.flush()
    changed.update(sla.on_ticket_changed(unit, ticket, changed))  # SLA: due times follow
    before, after = split_changes(changed)
    unit.audit("update", "ticket", ticket.id, before=before, after=after)
    unit.emit(
        events.TICKET_UPDATED,
        {"ticket_id": ticket.id, "department_id": ticket.department_id, "changes": changed},
        {old_department, ticket.department_id},
    )
    return ticket


def change_status(
    unit: Unit, ticket: Ticket, status_name: str, *, changed_at: datetime | None = None
) -> Ticket:
    """Move a ticket to another status, recording the change.

    A *close* is a change of status type from not closed to closed: it sets ``closed_at``.
    Closed → Resolved (closed to closed) is not a new close and keeps ``closed_at``; a
    change back to a not-closed type is a *reopen* and clears it. Changing to the current
    status writes nothing.
    """
    unit.actor.require(permissions.TICKET_CHANGE_STATUS)
    unit.actor.require_department(ticket.department_id, "ticket")
    to_type = _valid_status(unit.session, status_name)
    require_aware(changed_at, "changed_at")
    if status_name == ticket.status:
        return ticket
    at = changed_at or clock.now()
    from_status, from_type = ticket.status, ticket.status_type
    if to_type == StatusType.CLOSED and from_type != StatusType.CLOSED:
        ticket.closed_at = at
    elif to_type != StatusType.CLOSED:
        ticket.closed_at = None
    ticket.status, ticket.status_type, ticket.updated_at = status_name, to_type, at
    unit.session.add(
        StatusChange(
            ticket_id=ticket.id,
            from_status=from_status,
            from_type=from_type,
            to_status=status_name,
            to_type=to_type,
            agent_id=unit.actor.agent_id,
            changed_at=at,
        )
    )
    unit.session.flush()
    sla.on_status_changed(unit, ticket, at)  # SLA: pause on hold/closed, resume
    unit.audit(
        "update",
        "ticket",
        ticket.id,
        sub_action="status",
        before={"status": from_status},
        after={"status": status_name},
    )
    unit.emit(
        events.TICKET_STATUS_CHANGED,
        {
            "ticket_id": ticket.id,
            "department_id": ticket.department_id,
            "contact_id": ticket.contact_id,
            "from_status": from_status,
            "from_type": from_type,
            "to_status": status_name,
            "to_type": to_type,
            "changed_at": iso(at),
        },
        [ticket.department_id],
    )
    return ticket


def status_history(unit: Unit, ticket: Ticket) -> list[StatusChange]:
    """A ticket's status changes, oldest first (the first one has ``from_status`` ``None``)."""
    return _oldest_first(unit, ticket, StatusChange, StatusChange.changed_at)


# The ticket-owned rows read oldest first.
_Row = TypeVar("_Row", StatusChange, Thread)


def _oldest_first(unit: Unit, ticket: Ticket, model: type[_Row], at: Any) -> list[_Row]:
    """The ``model`` rows of a ticket the actor may view, by ``at`` then id."""
    unit.actor.require(permissions.TICKET_VIEW)
    unit.actor.require_department(ticket.department_id, "ticket")
    return list(
        unit.session.scalars(
            select(model).where(model.ticket_id == ticket.id).order_by(at, model.id)
        )
    )


# ------------------------------------------------------------------------ threads and the rest

_THREAD_PERMISSION = {
    ThreadKind.OUTGOING.value: permissions.TICKET_REPLY,
    ThreadKind.COMMENT.value: permissions.TICKET_COMMENT,
    # Recording a customer's message or a notification by hand is an edit of the ticket.
    ThreadKind.INCOMING.value: permissions.TICKET_EDIT,
    ThreadKind.NOTIFICATION.value: permissions.TICKET_EDIT,
}


def add_thread(
    unit: Unit,
    ticket: Ticket,
    *,
    kind: str,
    body: str,
    author_agent_id: int | None = None,
    author_contact_id: int | None = None,
    channel: str | None = None,
    created_at: datetime | None = None,
) -> Thread:
    """Add a message to a ticket.

    ``kind`` is incoming, outgoing, comment or notification; outgoing needs ``ticket.reply``,
    comment ``ticket.comment``, the others ``ticket.edit``. Outgoing threads and comments
    default their author to the acting agent, incoming ones to the ticket's contact;
    notifications have no author. ``channel`` defaults to the ticket's.
    """
    if kind not in THREAD_KINDS:
        choices = ", ".join(sorted(THREAD_KINDS))
        raise ValidationFailed({"kind": [Message("Choose one of: %(choices)s.", choices=choices)]})
    unit.actor.require(_THREAD_PERMISSION[kind])
    unit.actor.require_department(ticket.department_id, "ticket")
    session = unit.session
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    _collect(
        errors,
        values,
        "body",
        lambda: clean_text(body, "body", max_length=1_000_000, required=True),
    )
    _collect(errors, values, "channel", lambda: _valid_channel(channel or ticket.channel))
    _collect(errors, values, "created_at", lambda: require_aware(created_at, "created_at"))
    _collect(
        errors, values, "author_contact_id", lambda: _existing_contact(session, author_contact_id)
    )
    if author_agent_id is not None and session.get(Agent, author_agent_id) is None:
        errors.setdefault("author_agent_id", []).append(Message("Unknown agent."))
    if errors:
        raise ValidationFailed(errors)
    if kind in (ThreadKind.OUTGOING, ThreadKind.COMMENT) and author_agent_id is None:
        author_agent_id = unit.actor.agent_id
    if kind == ThreadKind.INCOMING and author_contact_id is None and author_agent_id is None:
        author_contact_id = ticket.contact_id
    at = created_at or clock.now()
    thread = Thread(
        ticket_id=ticket.id,
        kind=kind,
        channel=values["channel"],
        author_agent_id=author_agent_id,
        author_contact_id=author_contact_id,
        body=values["body"],
        created_at=at,
    )
    session.add(thread)
    ticket.updated_at = max(ticket.updated_at, at)
    if thread.is_reaction:
        note_reaction(ticket, at)
    hold(session, ticket)
    session.flush()
    sla.on_thread_added(  # SLA: the first public agent reply meets the first response
        unit, ticket, is_public_agent_reply=thread.is_public_agent_reply, at=at
    )
    unit.audit(
        "add",
        "thread",
        thread.id,
        sub_action=kind,
        after={"ticket_id": ticket.id, "kind": kind, "created_at": iso(at)},
    )
    unit.emit(
        events.THREAD_ADDED,
        {
            "ticket_id": ticket.id,
            "thread_id": thread.id,
            "department_id": ticket.department_id,
            "contact_id": ticket.contact_id,
            "kind": kind,
            "author_agent_id": thread.author_agent_id,
            "author_contact_id": thread.author_contact_id,
            "created_at": iso(at),
        },
        [ticket.department_id],
    )
    return thread


def hold(session: Session, ticket: Ticket) -> None:
    """Lock the ticket's row until the change commits, unless the change updates the row
    anyway (the update takes the lock).

    Changes to one ticket then run one after the other, so an extension's synchronous hook
    reading the ticket's history within the change sees every change committed before it and
    none made meanwhile (what hostapi promises for ticket events). Needed where a change adds
    to the history without touching the row: a back-dated thread, a rating. SQLite needs
    nothing: a write transaction there holds the whole database.
    """
    if session.is_modified(ticket, include_collections=False):
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Ticket.id).where(Ticket.id == ticket.id).with_for_update())


def note_reaction(ticket: Ticket, at: datetime) -> None:
    """Keep ``ticket.last_reaction_at`` the latest of its reactions (an agent's reply or comment,
    a rating): the Reactions timeline trusts it as the bound of them all."""
    if ticket.last_reaction_at is None or at > ticket.last_reaction_at:
        ticket.last_reaction_at = at


def list_threads(unit: Unit, ticket: Ticket) -> list[Thread]:
    """A ticket's threads, oldest first."""
    return _oldest_first(unit, ticket, Thread, Thread.created_at)


def add_rating(
    unit: Unit,
    ticket: Ticket,
    rating: str,
    feedback: str = "",
    created_at: datetime | None = None,
) -> HappinessRating:
    """Record the customer's happiness rating (good, okay or bad); the latest one counts.

    Customers rate through a channel or the portal (a system actor); an agent recording a
    rating by hand needs ``ticket.edit``.
    """
    unit.actor.require(permissions.TICKET_EDIT)
    unit.actor.require_department(ticket.department_id, "ticket")
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    _collect(errors, values, "rating", lambda: _valid_choice(rating, RATINGS, "rating"))
    _collect(
        errors, values, "feedback", lambda: clean_text(feedback, "feedback", max_length=10_000)
    )
    _collect(errors, values, "created_at", lambda: require_aware(created_at, "created_at"))
    if errors:
        raise ValidationFailed(errors)
    at = created_at or clock.now()
    record = HappinessRating(
        ticket_id=ticket.id,
        contact_id=ticket.contact_id,
        agent_id=ticket.assignee_id,
        rating=rating,
        feedback=values["feedback"],
        created_at=at,
    )
    unit.session.add(record)
    note_reaction(ticket, at)
    hold(unit.session, ticket)
    unit.session.flush()
    unit.audit("add", "rating", record.id, after={"ticket_id": ticket.id, "rating": rating})
    unit.emit(
        events.RATING_ADDED,
        {
            "ticket_id": ticket.id,
            "rating_id": record.id,
            "department_id": ticket.department_id,
            "contact_id": ticket.contact_id,
            "rating": rating,
            "created_at": iso(at),
        },
        [ticket.department_id],
    )
    return record


def add_time_entry(
    unit: Unit,
    ticket: Ticket,
    *,
    seconds: int,
    billable: bool,
    billed: bool = False,
    description: str = "",
    agent_id: int | None = None,
    logged_at: datetime | None = None,
) -> TimeEntry:
    """Log time spent on a ticket (by the acting agent unless ``agent_id`` says otherwise)."""
    unit.actor.require(permissions.TICKET_LOG_TIME)
    unit.actor.require_department(ticket.department_id, "ticket")
    errors: dict[str, list[str]] = {}
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
        errors["seconds"] = [Message("Give a positive whole number of seconds.")]
    if billed and not billable:
        errors["billed"] = [Message("Only billable time can be billed.")]
    values: dict[str, Any] = {}
    _collect(
        errors,
        values,
        "description",
        lambda: clean_text(description, "description", max_length=10_000),
    )
    _collect(errors, values, "logged_at", lambda: require_aware(logged_at, "logged_at"))
    agent_id = agent_id if agent_id is not None else unit.actor.agent_id
    if agent_id is not None and unit.session.get(Agent, agent_id) is None:
        errors["agent_id"] = [Message("Unknown agent.")]
    if errors:
        raise ValidationFailed(errors)
    entry = TimeEntry(
        ticket_id=ticket.id,
        agent_id=agent_id,
        seconds=seconds,
        billable=billable,
        billed=billed,
        description=values["description"],
        logged_at=logged_at or clock.now(),
    )
    unit.session.add(entry)
    unit.session.flush()
    unit.audit(
        "add",
        "time_entry",
        entry.id,
        after={"ticket_id": ticket.id, "seconds": seconds, "billable": billable},
    )
    unit.emit(
        events.TIME_ENTRY_ADDED,
        {
            "ticket_id": ticket.id,
            "time_entry_id": entry.id,
            "department_id": ticket.department_id,
            "seconds": seconds,
            "billable": billable,
        },
        [ticket.department_id],
    )
    return entry


# ------------------------------------------------------------------------------ assignees


def assignable_agents(unit: Unit, department_id: int) -> list[Agent]:
    """The agents a ticket of ``department_id`` may be assigned to: active members of the
    department who may view tickets, by name (what :func:`update_ticket` accepts)."""
    unit.actor.require(permissions.TICKET_VIEW)
    unit.actor.require_department(department_id, "department")
    members = unit.session.scalars(
        select(Agent)
        .join(agent_departments, agent_departments.c.agent_id == Agent.id)
        .where(agent_departments.c.department_id == department_id, Agent.is_active.is_(True))
        .order_by(Agent.name, Agent.id)
    )
    return [agent for agent in members if agent.has_permission(permissions.TICKET_VIEW)]
