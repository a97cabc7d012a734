"""Core rows as the plain ``hostapi`` records extensions receive (never the ORM objects)."""

from __future__ import annotations

from core.models import (
    Account,
    Agent,
    Contact,
    HappinessRating,
    StatusChange,
    Thread,
    Ticket,
)
from hostapi import (
    AccountRecord,
    AgentRecord,
    ContactRecord,
    RatingRecord,
    StatusChangeRecord,
    ThreadRecord,
    TicketRecord,
)


def ticket_record(ticket: Ticket, prefix: str) -> TicketRecord:
    """A ticket; ``prefix`` is the organisation's ticket-number prefix."""
    return TicketRecord(
        id=ticket.id,
        number=ticket.number,
        display_number=f"{prefix}{ticket.number}",
        subject=ticket.subject,
        status=ticket.status,
        status_type=ticket.status_type,
        priority=ticket.priority,
        channel=ticket.channel,
        classification=ticket.classification,
        department_id=ticket.department_id,
        contact_id=ticket.contact_id,
        account_id=ticket.account_id,
        assignee_id=ticket.assignee_id,
        raised_by=ticket.raised_by,
        due_at=ticket.due_at,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        closed_at=ticket.closed_at,
    )


def thread_record(thread: Thread) -> ThreadRecord:
    """A thread."""
    return ThreadRecord(
        id=thread.id,
        ticket_id=thread.ticket_id,
        kind=thread.kind,
        channel=thread.channel,
        author_agent_id=thread.author_agent_id,
        author_contact_id=thread.author_contact_id,
        body=thread.body,
        created_at=thread.created_at,
    )


def status_change_record(change: StatusChange) -> StatusChangeRecord:
    """A status change."""
    return StatusChangeRecord(
        ticket_id=change.ticket_id,
        from_status=change.from_status,
        from_type=change.from_type,
        to_status=change.to_status,
        to_type=change.to_type,
        changed_at=change.changed_at,
    )


def rating_record(rating: HappinessRating) -> RatingRecord:
    """A happiness rating."""
    return RatingRecord(
        id=rating.id,
        ticket_id=rating.ticket_id,
        rating=rating.rating,
        feedback=rating.feedback,
        created_at=rating.created_at,
    )


def contact_record(contact: Contact) -> ContactRecord:
    """A contact with its tags and channel identities."""
    return ContactRecord(
        id=contact.id,
        first_name=contact.first_name,
        last_name=contact.last_name,
        email=contact.email,
        phone=contact.phone,
        mobile=contact.mobile,
        account_id=contact.account_id,
        owner_id=contact.owner_id,
        tags=tuple(sorted(tag.name for tag in contact.tags)),
        identities=tuple(sorted((i.channel, i.external_id) for i in contact.identities)),
        created_at=contact.created_at,
    )


def account_record(account: Account) -> AccountRecord:
    """An account."""
    return AccountRecord(
        id=account.id,
        name=account.name,
        website=account.website,
        phone=account.phone,
        owner_id=account.owner_id,
        created_at=account.created_at,
    )


def agent_record(agent: Agent) -> AgentRecord:
    """An agent, without anything secret."""
    return AgentRecord(
        id=agent.id,
        name=agent.name,
        email=agent.email,
        status=agent.status,
        department_ids=tuple(sorted(agent.department_ids)),
        locale=agent.locale,
    )
