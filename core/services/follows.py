"""Agents following contacts and accounts, and what their followers are told.

Followers hear of (as notifications, never about what they did themselves):

- a new ticket of a followed contact, or of any contact of a followed account (or a ticket
  filed under the account itself);
- a reply on such a ticket: an incoming customer message or a public agent reply. Internal
  comments and system notifications on tickets are not news for followers: the team writing
  them is already on the ticket, and they would drown the customer's own messages;
- a new comment on the followed contact or account (an agent it mentions gets the mention
  instead, once).

A follower who cannot see the ticket's department (or lacks ``ticket.view``) is not told about
that ticket: nothing leaks that it exists. The ticket and comment notices are core reactions
to the domain events (:func:`core.events.subscriber`), so they commit with the change.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import permissions
from core.events import subscriber
from core.models import (
    Account,
    Agent,
    Contact,
    CustomerComment,
    Follow,
    NotificationKind,
    StatusChange,
    Thread,
    Ticket,
)
from core.models.tickets import ThreadKind
from core.services import notifications
from core.services.base import Unit
from core.services.comments import CustomerRef, excerpt, plain_text, view_permission
from hostapi import Event, clock, events


def _filter(ref: CustomerRef) -> ColumnElement[bool]:
    return getattr(Follow, ref.column) == ref.id


def is_following(unit: Unit, customer: Contact | Account) -> bool:
    """True when the acting agent follows ``customer``."""
    if unit.actor.agent_id is None:
        return False
    ref = CustomerRef.of(customer)
    return (
        unit.session.scalar(
            select(Follow.id).where(_filter(ref), Follow.agent_id == unit.actor.agent_id)
        )
        is not None
    )


def follower_count(unit: Unit, customer: Contact | Account) -> int:
    """How many agents follow ``customer``."""
    ref = CustomerRef.of(customer)
    unit.actor.require(view_permission(ref.kind))
    return int(unit.session.scalar(select(func.count(Follow.id)).where(_filter(ref))) or 0)


def follow(unit: Unit, customer: Contact | Account) -> bool:
    """Follow ``customer`` as the acting agent; returns False when already following.

    Concurrent requests of the same agent end with one follow (the unique constraint decides).
    """
    ref = CustomerRef.of(customer)
    unit.actor.require(view_permission(ref.kind))
    agent_id = unit.actor.agent_id
    if agent_id is None or is_following(unit, customer):
        return False
    try:
        with unit.session.begin_nested():
            unit.session.add(
                Follow(agent_id=agent_id, created_at=clock.now(), **{ref.column: ref.id})
            )
    except IntegrityError:
        return False
    return True


def unfollow(unit: Unit, customer: Contact | Account) -> bool:
    """Stop following ``customer``; returns False when the agent was not following."""
    ref = CustomerRef.of(customer)
    unit.actor.require(view_permission(ref.kind))
    found = unit.session.scalar(
        select(Follow).where(_filter(ref), Follow.agent_id == unit.actor.agent_id)
    )
    if found is None:
        return False
    unit.session.delete(found)
    unit.session.flush()
    return True


# ---------------------------------------------------------------------------------- reactions


def _followers(session: Session, refs: Iterable[CustomerRef]) -> list[Agent]:
    conditions = [_filter(ref) for ref in refs]
    if not conditions:
        return []
    agent_ids = select(Follow.agent_id).where(or_(*conditions))
    return list(
        session.scalars(
            select(Agent)
            .where(Agent.id.in_(agent_ids), Agent.is_active.is_(True))
            .order_by(Agent.id)
        )
    )


def _ticket_refs(session: Session, ticket: Ticket) -> list[CustomerRef]:
    refs: set[CustomerRef] = set()
    if ticket.contact_id is not None:
        refs.add(CustomerRef("contact", ticket.contact_id))
        contact = session.get(Contact, ticket.contact_id)
        if contact is not None and contact.account_id is not None:
            refs.add(CustomerRef("account", contact.account_id))
    if ticket.account_id is not None:
        refs.add(CustomerRef("account", ticket.account_id))
    return sorted(refs, key=lambda r: (r.kind, r.id))


def _may_see(agent: Agent, ticket: Ticket) -> bool:
    return ticket.department_id in agent.department_ids and agent.has_permission(
        permissions.TICKET_VIEW
    )


def _tell_ticket_followers(
    session: Session,
    ticket: Ticket,
    *,
    kind: NotificationKind,
    actor_id: int | None,
    summary: str,
) -> None:
    for agent in _followers(session, _ticket_refs(session, ticket)):
        if agent.id == actor_id or not _may_see(agent, ticket):
            continue
        notifications.notify(
            session,
            agent_id=agent.id,
            kind=kind,
            actor_id=actor_id,
            summary=summary,
            ticket_id=ticket.id,
            contact_id=ticket.contact_id,
            account_id=ticket.account_id,
        )


@subscriber(events.TICKET_CREATED)
def tell_followers_of_new_ticket(session: Session, event: Event) -> None:
    """Tell the followers of the ticket's contact and account about a new ticket."""
    ticket = session.get(Ticket, event.payload["ticket_id"])
    if ticket is None or (ticket.contact_id is None and ticket.account_id is None):
        return
    # The event names no actor; the ticket's first status change records who created it.
    actor_id = session.scalar(
        select(StatusChange.agent_id)
        .where(StatusChange.ticket_id == ticket.id)
        .order_by(StatusChange.id)
        .limit(1)
    )
    _tell_ticket_followers(
        session,
        ticket,
        kind=NotificationKind.NEW_TICKET,
        actor_id=actor_id,
        summary=excerpt(ticket.subject),
    )


@subscriber(events.THREAD_ADDED)
def tell_followers_of_reply(session: Session, event: Event) -> None:
    """Tell the followers of a ticket's customer about a customer message or public reply."""
    if event.payload["kind"] not in (ThreadKind.INCOMING, ThreadKind.OUTGOING):
        return
    ticket = session.get(Ticket, event.payload["ticket_id"])
    thread = session.get(Thread, event.payload["thread_id"])
    if ticket is None or thread is None:
        return
    _tell_ticket_followers(
        session,
        ticket,
        kind=NotificationKind.REPLY,
        actor_id=thread.author_agent_id,
        summary=excerpt(thread.body),
    )


@subscriber(events.CONTACT_COMMENT_ADDED, events.ACCOUNT_COMMENT_ADDED)
def tell_followers_of_comment(session: Session, event: Event) -> None:
    """Tell the followers of a contact or account about a new comment on it."""
    payload = event.payload
    ref = (
        CustomerRef("contact", payload["contact_id"])
        if payload.get("contact_id") is not None
        else CustomerRef("account", payload["account_id"])
    )
    author_id = payload["author_agent_id"]
    # Mentioned followers were told by the mention already: once is enough.
    skip = {author_id, *payload["mentioned_agent_ids"]}
    comment = session.get(CustomerComment, payload["comment_id"])
    if comment is None:
        return
    for agent in _followers(session, [ref]):
        if agent.id in skip or not agent.has_permission(view_permission(ref.kind)):
            continue
        notifications.notify(
            session,
            agent_id=agent.id,
            kind=NotificationKind.COMMENT,
            actor_id=author_id,
            summary=excerpt(plain_text(comment.body)),
            comment_id=comment.id,
            **{ref.column: ref.id},
        )
