"""@mentions in internal comments on tickets: the mentioned agents are notified.

A ticket comment (a thread of kind ``comment``) mentions agents with the token customer
comments use, ``@[Name](agent:12)`` (:data:`core.services.comments.MENTION`, inserted by the
same @-autocomplete); the id is what counts and the page shows the agent's current name. Only
active agents who may see the ticket's department are told (a mention never shows a ticket to
someone who cannot open it); the author is not told of their own mention. This runs as a
reaction to ``thread.added``, in the comment's transaction.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import permissions
from core.events import subscriber
from core.models import Agent, NotificationKind, Thread, Ticket
from core.models.tickets import ThreadKind
from core.services import notifications
from core.services.comments import excerpt, mentioned_ids, plain_text
from hostapi import Event, events


def may_be_told(agent: Agent, ticket: Ticket) -> bool:
    """True when ``agent`` may open ``ticket`` (active, in its department, ``ticket.view``)."""
    return (
        agent.is_active
        and ticket.department_id in agent.department_ids
        and agent.has_permission(permissions.TICKET_VIEW)
    )


@subscriber(events.THREAD_ADDED)
def tell_mentioned_agents(session: Session, event: Event) -> None:
    """Notify the agents an internal comment on a ticket mentions."""
    if event.payload.get("kind") != ThreadKind.COMMENT:
        return
    thread = session.get(Thread, event.payload["thread_id"])
    ticket = session.get(Ticket, event.payload["ticket_id"])
    if thread is None or ticket is None:
        return
    ids = [i for i in mentioned_ids(thread.body) if i != thread.author_agent_id]
    if not ids:
        return
    agents = session.scalars(select(Agent).where(Agent.id.in_(ids)).order_by(Agent.id))
    for agent in agents:
        if may_be_told(agent, ticket):
            notifications.notify(
                session,
                agent_id=agent.id,
                kind=NotificationKind.MENTION,
                actor_id=thread.author_agent_id,
                summary=excerpt(plain_text(thread.body)),
                ticket_id=ticket.id,
                contact_id=ticket.contact_id,
            )
