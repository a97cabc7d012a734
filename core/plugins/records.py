"""Core rows as the plain ``hostapi`` records extensions receive (never the ORM objects)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from core.models import (
    Account,
    Agent,
    Contact,
    HappinessRating,
    StatusChange,
    Thread,
    Ticket,
)
from core.names import display_name
from hostapi import (
    AccountRecord,
    AgentRecord,
    ContactRecord,
    RatingRecord,
    StatusChangeRecord,
    ThreadRecord,
    TicketRecord,
)

# A hostapi record (a frozen dataclass).
_R = TypeVar("_R")


def _record(record_type: type[_R], row: object, **derived: Any) -> _R:
    """A ``record_type`` of the row's same-named attributes; ``derived`` gives the others."""
    copied = {f.name: getattr(row, f.name) for f in fields(record_type) if f.name not in derived}
    return record_type(**copied, **derived)


def ticket_record(ticket: Ticket, prefix: str) -> TicketRecord:
    """A ticket; ``prefix`` is the organisation's ticket-number prefix."""
    return _record(TicketRecord, ticket, display_number=f"{prefix}{ticket.number}")


def thread_record(thread: Thread) -> ThreadRecord:
    """A thread."""
    return _record(ThreadRecord, thread)


def status_change_record(change: StatusChange) -> StatusChangeRecord:
    """A status change."""
    return _record(StatusChangeRecord, change)


def rating_record(rating: HappinessRating) -> RatingRecord:
    """A happiness rating."""
    return _record(RatingRecord, rating)


def contact_record(contact: Contact, language: str) -> ContactRecord:
    """A contact with its tags and channel identities, its name as shown to a ``language``
    reader."""
    return _record(
        ContactRecord,
        contact,
        tags=tuple(sorted(tag.name for tag in contact.tags)),
        identities=tuple(sorted((i.channel, i.external_id) for i in contact.identities)),
        display_name=display_name(
            contact.first_name, contact.last_name, language, contact.name_order
        ),
    )


def account_record(account: Account) -> AccountRecord:
    """An account."""
    return _record(AccountRecord, account)


def agent_record(agent: Agent) -> AgentRecord:
    """An agent, without anything secret."""
    return _record(AgentRecord, agent, department_ids=tuple(sorted(agent.department_ids)))
