"""A ticket's conversation as agents read it: threads and the changes made, by time.

Nothing here is stored twice. Status changes come from the ticket's status-change rows; the
other changes (assignee, priority, due date, department, tags, subject, contact…) from the
audit log's ``update`` entries of the ticket, which every change of
:func:`core.services.tickets.update_ticket` and :mod:`core.services.ticket_tags` writes. A
reply's delivery state comes from its outbound mail row (:mod:`core.intake.mail_out`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from core.intake.mail_out import MAX_ATTEMPTS
from core.models import (
    Agent,
    AuditEntry,
    Department,
    MailDirection,
    MailMessage,
    StatusChange,
    Thread,
    Ticket,
)
from core.services import tickets as ticket_service
from core.services.base import Unit

#: The audited ticket fields the timeline tells, in the order one entry tells them.
TOLD_FIELDS: tuple[str, ...] = (
    "department_id",
    "assignee_id",
    "priority",
    "due_at",
    "subject",
    "contact_id",
    "account_id",
    "classification",
    "tags",
)
#: Sub-actions of ticket audit entries the timeline reads ("status" is read from the
#: status-change rows instead; "" is a field update).
_TOLD_SUB_ACTIONS = ("", "tags")


class DeliveryState(StrEnum):
    """Where the email of a public reply is."""

    QUEUED = "queued"
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"
    NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True)
class Delivery:
    """A reply's email: its state, why it failed (``reason``) and when it was sent."""

    state: str
    reason: str = ""
    sent_at: datetime | None = None
    attempts: int = 0


@dataclass(frozen=True)
class Change:
    """One changed field of a ticket: who, what, from and to.

    Agents and departments are given by name (``before``/``after``), due dates as aware
    datetimes, tags as lists, the rest as stored (priority codes, status names…).
    """

    at: datetime
    actor: str | None
    what: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: a thread or a change."""

    at: datetime
    thread: Thread | None = None
    change: Change | None = None
    delivery: Delivery | None = None
    sort_key: tuple[Any, ...] = field(default=(), compare=False)


def mail_configured(unit: Unit) -> bool:
    """True when replies are mailed (an SMTP host is set)."""
    return unit.host is not None and bool(unit.host.settings.smtp.host)


def deliveries(unit: Unit, threads: Iterable[Thread]) -> dict[int, Delivery]:
    """The delivery of each thread that has an outbound email (a reply on an email ticket)."""
    ids = sorted({t.id for t in threads})
    if not ids:
        return {}
    configured = mail_configured(unit)
    mails = unit.session.scalars(
        select(MailMessage)
        .where(
            MailMessage.thread_id.in_(ids),
            MailMessage.direction == MailDirection.OUTBOUND.value,
        )
        .order_by(MailMessage.id)
    )
    return {
        mail.thread_id: delivery_of(mail, configured=configured) for mail in mails if mail.thread_id
    }


def delivery_of(mail: MailMessage, *, configured: bool) -> Delivery:
    """The state of one outbound email."""
    if mail.sent_at is not None:
        return Delivery(DeliveryState.SENT.value, sent_at=mail.sent_at, attempts=mail.attempts)
    if mail.attempts >= MAX_ATTEMPTS:
        return Delivery(DeliveryState.FAILED.value, mail.last_error, attempts=mail.attempts)
    if not configured:
        return Delivery(DeliveryState.NOT_CONFIGURED.value, attempts=mail.attempts)
    if mail.last_error:
        return Delivery(DeliveryState.RETRYING.value, mail.last_error, attempts=mail.attempts)
    return Delivery(DeliveryState.QUEUED.value, attempts=mail.attempts)


def conversation(unit: Unit, ticket: Ticket) -> list[Entry]:
    """The ticket's threads and changes, oldest first (threads before changes at one time)."""
    threads = ticket_service.list_threads(unit, ticket)
    sent = deliveries(unit, threads)
    entries = [
        Entry(t.created_at, thread=t, delivery=sent.get(t.id), sort_key=(t.created_at, 0, t.id))
        for t in threads
    ]
    entries.extend(changes(unit, ticket))
    return sorted(entries, key=lambda entry: entry.sort_key)


def changes(unit: Unit, ticket: Ticket) -> list[Entry]:
    """The ticket's changes after its creation, oldest first."""
    statuses = ticket_service.status_history(unit, ticket)[1:]  # the first one is the creation
    audited = list(
        unit.session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.entity_type == "ticket",
                AuditEntry.entity_id == str(ticket.id),
                AuditEntry.action == "update",
                AuditEntry.sub_action.in_(_TOLD_SUB_ACTIONS),
            )
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    )
    names = _Names(unit, statuses, audited)
    entries = [
        Entry(
            s.changed_at,
            change=Change(
                s.changed_at, names.agent(s.agent_id), "status", s.from_status, s.to_status
            ),
            sort_key=(s.changed_at, 1, s.id),
        )
        for s in statuses
    ]
    for audit in audited:
        before, after = audit.before or {}, audit.after or {}
        actor = names.agent(audit.actor_agent_id)
        for position, name in enumerate(TOLD_FIELDS):
            if name not in after and name not in before:
                continue
            entries.append(
                Entry(
                    audit.at,
                    change=Change(
                        audit.at,
                        actor,
                        name.removesuffix("_id"),
                        names.value(name, before.get(name)),
                        names.value(name, after.get(name)),
                    ),
                    sort_key=(audit.at, 2, audit.id, position),
                )
            )
    return entries


class _Names:
    """Names of the agents and departments a timeline mentions, read in two queries."""

    def __init__(
        self, unit: Unit, statuses: Sequence[StatusChange], audited: Sequence[AuditEntry]
    ) -> None:
        agent_ids: set[int] = {s.agent_id for s in statuses if s.agent_id}
        department_ids: set[int] = set()
        for audit in audited:
            if audit.actor_agent_id:
                agent_ids.add(audit.actor_agent_id)
            for values in (audit.before or {}, audit.after or {}):
                if isinstance(values.get("assignee_id"), int):
                    agent_ids.add(values["assignee_id"])
                if isinstance(values.get("department_id"), int):
                    department_ids.add(values["department_id"])
        session = unit.session
        self.agents = (
            dict(session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids))).all())
            if agent_ids
            else {}
        )
        self.departments = (
            dict(
                session.execute(
                    select(Department.id, Department.name).where(Department.id.in_(department_ids))
                ).all()
            )
            if department_ids
            else {}
        )

    def agent(self, agent_id: int | None) -> str | None:
        return self.agents.get(agent_id) if agent_id else None

    def value(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name == "assignee_id":
            return self.agents.get(value, f"#{value}")
        if name == "department_id":
            return self.departments.get(value, f"#{value}")
        if name == "due_at" and isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                return None
        return value
