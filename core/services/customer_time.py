"""The time agents logged on a customer's tickets: the entries, newest first, and their totals.

The Time entries tab and its REST twin read the tickets of a contact or an account the actor
may see, filtered alike (billing, agent, period); the totals are summed by the database over
the whole filtered set, whatever page is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import case, func, select

from core import permissions
from core.errors import Message, ValidationFailed
from core.models import Agent, Organisation, Ticket, TimeEntry
from core.services.base import Cursor, Unit, check_limit, newest_first
from core.services.tickets import customer_ticket_filter


class Billing(StrEnum):
    """Which entries a list keeps: all logged time, billable, billed, or non-billable."""

    ALL = "all"
    BILLABLE = "billable"
    BILLED = "billed"
    NON_BILLABLE = "non_billable"


BILLINGS: tuple[str, ...] = tuple(billing.value for billing in Billing)


@dataclass(frozen=True)
class TimeFilter:
    """What the entries are narrowed to: billing, one agent, a period of logging days (in the
    organisation's time zone, both ends included)."""

    billing: str = Billing.ALL.value
    agent_id: int | None = None
    since: date | None = None
    until: date | None = None

    def check(self) -> TimeFilter:
        """This filter, or a validation error naming each bad field."""
        errors: dict[str, list[Message]] = {}
        if self.billing not in BILLINGS:
            choices = ", ".join(BILLINGS)
            errors["billing"] = [Message("Choose one of: %(choices)s.", choices=choices)]
        if self.since and self.until and self.since > self.until:
            errors["until"] = [Message("The end of the period is before its start.")]
        if errors:
            raise ValidationFailed(errors)
        return self


@dataclass(frozen=True)
class TimeEntryLine:
    """One entry with its ticket and agent."""

    id: int
    ticket_id: int
    ticket_number: str
    ticket_subject: str
    agent_id: int | None
    agent_name: str | None
    seconds: int
    billable: bool
    billed: bool
    description: str
    logged_at: datetime

    @property
    def billing(self) -> str:
        """billed, billable (not billed yet) or non_billable."""
        if self.billed:
            return Billing.BILLED.value
        return Billing.BILLABLE.value if self.billable else Billing.NON_BILLABLE.value

    @property
    def cursor(self) -> Cursor:
        """The cursor just after this entry (the ``before`` of the next page)."""
        return Cursor(self.logged_at, self.id)


@dataclass(frozen=True)
class TimeTotals:
    """Seconds logged over a filtered set: in all, billable (billed or not), billed, and not
    billable; ``entries`` counts them."""

    entries: int
    logged: int
    billable: int
    billed: int
    non_billable: int


def list_time_entries(
    unit: Unit,
    *,
    contact_id: int | None = None,
    account_id: int | None = None,
    narrowed: TimeFilter = TimeFilter(),
    limit: int = 20,
    before: Cursor | str | None = None,
) -> list[TimeEntryLine]:
    """The time entries on the customer's visible tickets (give a contact or an account) that
    ``narrowed`` keeps, latest logged first, ``limit`` of them older than ``before``."""
    check_limit(limit)
    cursor = Cursor.parse(before)
    query = select(
        TimeEntry,
        Ticket.number,
        Ticket.subject,
        Agent.name,
    ).outerjoin(Agent, Agent.id == TimeEntry.agent_id)
    query = _filtered(unit, query, contact_id, account_id, narrowed)
    query = newest_first(query, TimeEntry.logged_at, TimeEntry.id, cursor, limit)
    rows = unit.session.execute(query).all()
    prefix = (
        (unit.session.scalar(select(Organisation.ticket_prefix).limit(1)) or "") if rows else ""
    )
    return [
        TimeEntryLine(
            id=entry.id,
            ticket_id=entry.ticket_id,
            ticket_number=f"{prefix}{number}",
            ticket_subject=subject,
            agent_id=entry.agent_id,
            agent_name=agent_name,
            seconds=entry.seconds,
            billable=entry.billable,
            billed=entry.billed,
            description=entry.description,
            logged_at=entry.logged_at,
        )
        for entry, number, subject, agent_name in rows
    ]


def time_totals(
    unit: Unit,
    *,
    contact_id: int | None = None,
    account_id: int | None = None,
    narrowed: TimeFilter = TimeFilter(),
) -> TimeTotals:
    """The totals of every entry :func:`list_time_entries` lists with these filters (one
    aggregate query, no rows loaded)."""

    def seconds_where(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, TimeEntry.seconds), else_=0)), 0)

    query = select(
        func.count(TimeEntry.id),
        func.coalesce(func.sum(TimeEntry.seconds), 0),
        seconds_where(TimeEntry.billable.is_(True)),
        seconds_where(TimeEntry.billed.is_(True)),
        seconds_where(TimeEntry.billable.is_(False)),
    )
    row = unit.session.execute(_filtered(unit, query, contact_id, account_id, narrowed)).one()
    return TimeTotals(*(int(value) for value in row))


def count_time_entries(
    unit: Unit, *, contact_id: int | None = None, account_id: int | None = None
) -> int:
    """How many time entries the customer's visible tickets have (the tab's count)."""
    query = select(func.count(TimeEntry.id))
    return int(unit.session.scalar(_filtered(unit, query, contact_id, account_id)) or 0)


def _filtered(
    unit: Unit,
    query: Any,
    contact_id: int | None,
    account_id: int | None,
    narrowed: TimeFilter = TimeFilter(),
) -> Any:
    """``query`` over the entries of the customer's visible tickets that ``narrowed`` keeps."""
    unit.actor.require(permissions.TICKET_VIEW)
    narrowed.check()
    query = query.select_from(TimeEntry).join(Ticket, Ticket.id == TimeEntry.ticket_id)
    query = query.where(*customer_ticket_filter(unit, contact_id=contact_id, account_id=account_id))
    if narrowed.billing == Billing.BILLABLE:
        query = query.where(TimeEntry.billable.is_(True))
    elif narrowed.billing == Billing.BILLED:
        query = query.where(TimeEntry.billed.is_(True))
    elif narrowed.billing == Billing.NON_BILLABLE:
        query = query.where(TimeEntry.billable.is_(False))
    if narrowed.agent_id is not None:
        query = query.where(TimeEntry.agent_id == narrowed.agent_id)
    if narrowed.since is not None or narrowed.until is not None:
        zone = _desk_zone(unit)
        if narrowed.since is not None:
            query = query.where(TimeEntry.logged_at >= _midnight(narrowed.since, zone))
        if narrowed.until is not None:
            next_day = narrowed.until + timedelta(days=1)
            query = query.where(TimeEntry.logged_at < _midnight(next_day, zone))
    return query


def _desk_zone(unit: Unit) -> ZoneInfo:
    """The organisation's time zone (its days are the period's), UTC if unset or unknown."""
    name = unit.session.scalar(select(Organisation.timezone).limit(1)) or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The start of ``day`` in ``zone``."""
    return datetime.combine(day, time(), tzinfo=zone)
