"""Reading the audit log: every audited change, organisation-wide, for ``audit.view``; one
contact's or account's history, for ``history.view``.

Entries are written by :meth:`core.services.base.Unit.audit`; this module lists them newest
first by ``(at, id)``, filtered by the agent who acted, the kind of record, the action and a
period of days in the organisation's time zone. The log is organisation-wide on purpose:
``audit.view`` is an administrator's permission, and a change is audited whatever department
its record belongs to. A customer's history (:class:`CustomerRecord`) is the same log narrowed
to the entries about the contact or account and about its parts (``CUSTOMER_PARTS``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, func, select

from core import permissions
from core.errors import Message, NotFound, ValidationFailed
from core.models import Agent, AuditEntry, Installation, Organisation
from core.models.types import id_maximum
from core.services.base import Cursor, Unit, check_limit, newest_first
from core.services.comments import view_permission

#: The actions :meth:`Unit.audit` records ("export": a customer list downloaded).
ACTIONS: tuple[str, ...] = ("add", "update", "delete", "export")
#: The actions of a customer's history (exports are of lists, not of one record).
HISTORY_ACTIONS: tuple[str, ...] = ("add", "update", "delete")
#: The days a period can start or end on.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)
PERIOD_MESSAGE = Message("Give a date from the year 1900 to 9998.")
#: Rows an export reads per query.
EXPORT_BATCH = 500


@dataclass(frozen=True)
class CustomerRecord:
    """A contact or an account (``kind``) whose history is read."""

    kind: str
    id: int


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to list: each part narrows the list; ``None`` leaves it open.

    With ``record``, only that customer's history, which ``history.view`` reads; the whole log
    needs ``audit.view``.
    """

    agent_id: int | None = None
    entity_type: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None
    record: CustomerRecord | None = None


def require_reader(unit: Unit, record: CustomerRecord | None) -> None:
    """Raise :class:`Forbidden` unless the actor may read ``record``'s history (``history.view``
    and the record's view permission), or the whole log when ``record`` is ``None``."""
    if record is None:
        unit.actor.require(permissions.AUDIT_VIEW)
    else:
        unit.actor.require(permissions.HISTORY_VIEW)
        unit.actor.require(view_permission(record.kind))


def _zone(unit: Unit) -> ZoneInfo:
    return ZoneInfo(unit.session.scalar(select(Organisation.timezone).limit(1)) or "UTC")


def clean_filter(
    unit: Unit,
    *,
    agent_id: object = None,
    entity_type: object = None,
    action: object = None,
    since: object = None,
    until: object = None,
    record: CustomerRecord | None = None,
) -> AuditFilter:
    """A filter from loose input (a form's or a query string's), each bad part named."""
    require_reader(unit, record)
    errors: dict[str, list[str]] = {}
    agent: int | None = None
    if agent_id not in (None, ""):
        text = str(agent_id).strip()
        if not (text.isascii() and text.isdigit() and 0 < int(text) <= id_maximum(Agent)):
            errors["agent_id"] = [Message("Choose an agent from the list.")]
        else:
            agent = int(text)
    entity: str | None = None
    if entity_type not in (None, ""):
        entity = str(entity_type).strip()
        if len(entity) > 60 or "\x00" in entity:
            errors["entity_type"] = [Message("Choose a record type from the list.")]
    chosen_action: str | None = None
    if action not in (None, ""):
        chosen_action = str(action)
        if chosen_action not in ACTIONS:
            errors["action"] = [Message("Choose an action from the list.")]
    days: dict[str, date | None] = {"since": None, "until": None}
    for name, value in (("since", since), ("until", until)):
        if isinstance(value, date):
            days[name] = value
        elif value not in (None, ""):
            try:
                days[name] = date.fromisoformat(str(value))
            except ValueError:
                errors[name] = [Message("Give a date as YYYY-MM-DD.")]
        day = days[name]
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            # The day's bounds are shifted to UTC: the calendar's ends would overflow.
            errors[name] = [PERIOD_MESSAGE]
    if days["since"] and days["until"] and days["since"] > days["until"]:
        errors.setdefault("until", []).append(Message("The end of the period is before its start."))
    if errors:
        raise ValidationFailed(errors)
    return AuditFilter(agent, entity, chosen_action, days["since"], days["until"], record)


def _history_of(record: CustomerRecord) -> ColumnElement[bool]:
    """The entries of the record's history: about it, or about one of its parts (its comments,
    attachments and activities; :meth:`Unit.audit` names their customer)."""
    column = AuditEntry.contact_id if record.kind == "contact" else AuditEntry.account_id
    return column == record.id


def _query(unit: Unit, given: AuditFilter) -> Select[tuple[AuditEntry]]:
    query = select(AuditEntry)
    if given.record is not None:
        query = query.where(_history_of(given.record))
    if given.agent_id is not None:
        query = query.where(AuditEntry.actor_agent_id == given.agent_id)
    if given.entity_type is not None:
        query = query.where(AuditEntry.entity_type == given.entity_type)
    if given.action is not None:
        query = query.where(AuditEntry.action == given.action)
    zone = _zone(unit) if given.since or given.until else None
    if given.since is not None:
        query = query.where(AuditEntry.at >= datetime.combine(given.since, time.min, zone))
    if given.until is not None:
        end = datetime.combine(given.until + timedelta(days=1), time.min, zone)
        query = query.where(AuditEntry.at < end)
    return query


def cursor_of(entry: AuditEntry) -> Cursor:
    """The keyset position just after ``entry``."""
    return Cursor(entry.at, entry.id)


def list_entries(
    unit: Unit,
    given: AuditFilter = AuditFilter(),
    *,
    before: Cursor | str | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """The entries ``given`` selects, newest first, older than ``before``."""
    require_reader(unit, given.record)
    check_limit(limit)
    cursor = Cursor.parse(before)
    query = newest_first(_query(unit, given), AuditEntry.at, AuditEntry.id, cursor, limit)
    return list(unit.session.scalars(query))


def count_entries(unit: Unit, given: AuditFilter) -> int:
    """How many entries ``given`` selects."""
    require_reader(unit, given.record)
    counted = _query(unit, given).with_only_columns(func.count()).order_by(None)
    return unit.session.scalar(counted) or 0


def get_entry(unit: Unit, entry_id: int, given: AuditFilter = AuditFilter()) -> AuditEntry:
    """The entry ``entry_id``, if ``given`` selects it.

    :raises NotFound: no such entry, or not one of ``given``'s (another record's).
    """
    require_reader(unit, given.record)
    entry = unit.session.scalar(_query(unit, given).where(AuditEntry.id == entry_id))
    if entry is None:
        raise NotFound("audit entry not found")
    return entry


def field_changes(entry: AuditEntry) -> list[tuple[str, Any, Any]]:
    """``(field, before, after)`` for each field the entry names, in a stable order."""
    before = entry.before or {}
    after = entry.after or {}
    names = list(before) + [name for name in after if name not in before]
    return [(name, before.get(name), after.get(name)) for name in names]


def iter_entries(unit: Unit, given: AuditFilter) -> Iterator[AuditEntry]:
    """Every entry ``given`` selects, newest first, read in keyset batches (for exports)."""
    cursor: Cursor | None = None
    while True:
        batch = list_entries(unit, given, before=cursor, limit=EXPORT_BATCH)
        yield from batch
        if len(batch) < EXPORT_BATCH:
            return
        # The session's identity map holds rows weakly: batches already written are freed.
        cursor = cursor_of(batch[-1])


def entity_types(unit: Unit) -> list[str]:
    """The kinds of record the log holds entries for, by name (the filter's choices)."""
    unit.actor.require(permissions.AUDIT_VIEW)
    return list(
        unit.session.scalars(
            select(AuditEntry.entity_type).distinct().order_by(AuditEntry.entity_type)
        )
    )


def actors(unit: Unit, given: AuditFilter) -> list[tuple[int, str]]:
    """The agents who acted in the entries ``given`` selects, by name (a filter's choices)."""
    require_reader(unit, given.record)
    acted = _query(unit, given).with_only_columns(AuditEntry.actor_agent_id)
    rows = unit.session.execute(
        select(Agent.id, Agent.name).where(Agent.id.in_(acted)).order_by(Agent.name, Agent.id)
    )
    return [(row.id, row.name) for row in rows]


def actor_names(unit: Unit, entries: list[AuditEntry]) -> dict[int, str]:
    """Names of the agents who acted in ``entries``, by id (one query for a page)."""
    ids = {e.actor_agent_id for e in entries if e.actor_agent_id is not None}
    if not ids:
        return {}
    return dict(unit.session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids))).all())


def installation_names(unit: Unit, entries: list[AuditEntry]) -> dict[int, str]:
    """How the installations that acted in ``entries`` are called: their label or plugin id."""
    ids = {e.installation_id for e in entries if e.installation_id is not None}
    if not ids:
        return {}
    rows = unit.session.execute(
        select(Installation.id, Installation.label, Installation.plugin_id).where(
            Installation.id.in_(ids)
        )
    )
    return {row.id: row.label or row.plugin_id for row in rows}
