"""Chats of the product, and their conversion to tickets.

Each conversation event updates the chat as the product describes it, then the conversion
rule of the settings decides whether it becomes a ticket now:

- *which chats* (``convert_chats``): all, attended, missed or none;
- *when* (``convert_when``): when the chat is answered, or when it ends (a missed chat is
  never answered: it is converted when it is missed, whatever this says);
- *the ticket's status* (``ticket_status``): open or closed.

Only chats of a department mapped to a desk department are converted by the rule, and only
for a visitor with an email: without one, an agent adds it in the chat window and converts by
hand, which any agent may do whatever the rule (none included). A chat converted when answered
gets the messages that follow when it ends. The ticket is made by the host's conversion of
chats (:meth:`hostapi.Context.convert_chat`): created at the chat's start, its messages
threads at their own times.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from hostapi import (
    ChatTranscript,
    Conflict,
    Context,
    NotFound,
    TicketRecord,
    TranscriptMessage,
)
from plugins.salesiq import departments
from plugins.salesiq.models import Chat

#: The ticket channel of converted chats (live chat).
CHANNEL = "chat"
#: The identity a visitor's contact is matched by next time: the product's visitor id.
IDENTITY_CHANNEL = "salesiq"

ALL, ATTENDED, MISSED, NONE = "all", "attended", "missed", "none"
ANSWERED, ENDED = "answered", "ended"
OPEN, CLOSED = "open", "closed"
#: The desk status a ``ticket_status`` setting creates.
STATUS_NAMES = {OPEN: "Open", CLOSED: "Closed"}

#: How a chat came to have its ticket.
BY_RULE, BY_AGENT, BY_MERGE = "rule", "agent", "merge"


class ChatConflict(Conflict):
    """The chat cannot be converted or merged as asked (it has a ticket already, its visitor
    has no email); the message says why, for the agent (an endpoint answers 409)."""


def find(context: Context, chat_id: str, *, for_update: bool = False) -> Chat | None:
    """The chat with the product's id ``chat_id``, if it arrived; ``for_update`` locks its row
    until the transaction ends (whoever gives it a ticket holds it: the rule's job, an agent's
    conversion or merge), so a chat never becomes two tickets."""
    statement = select(Chat).where(
        Chat.installation_id == context.installation_id, Chat.chat_id == chat_id
    )
    return context.db.scalar(statement.with_for_update() if for_update else statement)


def get(context: Context, chat_id: str, *, for_update: bool = False) -> Chat:
    """The chat with the product's id ``chat_id`` (locked as :func:`find` says).

    :raises NotFound: no such chat arrived.
    """
    chat = find(context, chat_id, for_update=for_update)
    if chat is None:
        raise NotFound(f"chat {chat_id} not found")
    return chat


def arrived(context: Context, conversation: dict[str, Any], described_at: datetime) -> Chat:
    """Record the chat as a conversation event of ``described_at`` describes it (loaded by
    ``payloads``); an event older than the one recorded changes nothing."""
    chat = find(context, conversation["id"], for_update=True)
    if chat is not None and chat.described_at > described_at:
        return chat
    if chat is None:
        chat = Chat(
            installation_id=context.installation_id,
            chat_id=conversation["id"],
            messages_in_ticket=0,
            converted_by="",
            skipped="",
        )
        context.db.add(chat)
    visitor = conversation["visitor"]
    attended_by = conversation["attended_by"] or {}
    chat.chat_department_id = conversation["department"]["id"]
    chat.visitor_id = visitor["id"]
    chat.visitor_name, chat.visitor_email = visitor["name"], visitor["email"].strip()
    chat.visitor_phone = visitor["phone"]
    chat.question = conversation["question"]
    chat.status = conversation["status"]
    chat.attended_by_email = attended_by.get("email", "")
    chat.started_at = conversation["start_time"]
    chat.attended_at, chat.ended_at = conversation["attended_time"], conversation["end_time"]
    in_order = sorted(conversation["messages"], key=lambda message: message["time"])
    chat.messages = [_stored(message) for message in in_order]
    chat.described_at, chat.updated_at = described_at, context.now()
    context.db.flush()
    return chat


def visitor_changed(context: Context, chat: Chat, visitor: dict[str, Any]) -> None:
    """Take the visitor's details an agent edited in the chat window."""
    chat.visitor_name = visitor.get("name", "")
    chat.visitor_email = visitor.get("email", "").strip()
    chat.visitor_phone = visitor.get("phone", "")
    chat.updated_at = context.now()


def apply_rule(context: Context, chat: Chat, event: str) -> str:
    """Convert the chat if the settings' rule says so at this event, or bring its ticket the
    messages that came since; returns what was done, for the event's record."""
    if chat.ticket_id is not None:
        added = add_new_messages(context, chat)
        return f"{added} message(s) added to ticket {chat.ticket_id}" if added else "no change"
    department = departments.find(context, chat.chat_department_id)
    if department is None or department.mode != departments.MAPPED:
        return _skip(chat, f"department mode {department.mode if department else 'unknown'}")
    if not _rule_converts(context.settings, event):
        return "not converted by the rule"
    if not chat.visitor_email:
        return _skip(chat, "no email")
    assert department.desk_department_id is not None
    ticket = convert(
        context,
        chat,
        department_id=department.desk_department_id,
        status=STATUS_NAMES[context.settings.get("ticket_status", OPEN)],
        by=BY_RULE,
    )
    return f"converted to ticket {ticket.id}"


def convert(
    context: Context,
    chat: Chat,
    *,
    department_id: int,
    status: str = "Open",
    priority: str = "medium",
    classification: str = "",
    by: str,
) -> TicketRecord:
    """Make a ticket of the chat for its visitor's contact (matched or created).

    :raises ChatConflict: the chat has a ticket already, or its visitor no email.
    """
    if chat.ticket_id is not None:
        raise ChatConflict(context.gettext("The chat has a ticket already."))
    if not chat.visitor_email:
        raise ChatConflict(context.gettext("Add the visitor's email before converting."))
    contact, _ = context.register_sender(
        channel=IDENTITY_CHANNEL,
        external_id=chat.visitor_id,
        email=chat.visitor_email,
        phone=chat.visitor_phone or None,
        name=chat.visitor_name or chat.visitor_email,
    )
    ticket = context.convert_chat(
        _transcript(context, chat, chat.messages),
        subject=_subject(context, chat),
        department_id=department_id,
        contact_id=contact.id,
        status=status,
        priority=priority,
        classification=classification,
    )
    _linked(context, chat, ticket.id, contact.id, by)
    return ticket


def merge_into(context: Context, chat: Chat, ticket_id: int) -> None:
    """Add the chat to an existing ticket: its messages become the ticket's threads.

    :raises ChatConflict: the chat has a ticket already.
    :raises NotFound: the ticket is not visible.
    """
    if chat.ticket_id is not None:
        raise ChatConflict(context.gettext("The chat has a ticket already."))
    ticket = context.get_ticket(ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} not found")
    context.add_transcript(ticket.id, _transcript(context, chat, chat.messages))
    _linked(context, chat, ticket.id, ticket.contact_id, BY_MERGE)


def add_new_messages(context: Context, chat: Chat) -> int:
    """Write to the chat's ticket the messages it does not have yet; returns how many."""
    fresh = chat.messages[chat.messages_in_ticket :]
    if chat.ticket_id is None or not fresh:
        return 0
    context.add_transcript(chat.ticket_id, _transcript(context, chat, fresh))
    chat.messages_in_ticket = len(chat.messages)
    return len(fresh)


def follow_merge(context: Context, ticket_id: int, into_ticket_id: int) -> None:
    """Link the chats of a ticket merged into another to that one (its conversation went
    there, and so do their later messages)."""
    context.db.execute(
        update(Chat)
        .where(Chat.installation_id == context.installation_id, Chat.ticket_id == ticket_id)
        .values(ticket_id=into_ticket_id)
    )


def of_ticket(context: Context, ticket_id: int) -> list[Chat]:
    """The chats linked to a ticket, oldest first."""
    return list(
        context.db.scalars(
            select(Chat)
            .where(Chat.installation_id == context.installation_id, Chat.ticket_id == ticket_id)
            .order_by(Chat.started_at, Chat.id)
        )
    )


def _linked(context: Context, chat: Chat, ticket_id: int, contact_id: int | None, by: str) -> None:
    chat.ticket_id, chat.contact_id = ticket_id, contact_id
    chat.converted_at, chat.converted_by = context.now(), by
    chat.messages_in_ticket = len(chat.messages)
    chat.skipped = ""
    chat.updated_at = context.now()


def _rule_converts(settings: Any, event: str) -> bool:
    which = settings.get("convert_chats", ATTENDED)
    when = settings.get("convert_when", ENDED)
    if event == "conversation.missed":
        return which in (ALL, MISSED)
    if which not in (ALL, ATTENDED):
        return False
    return (event, when) in (("conversation.attended", ANSWERED), ("conversation.ended", ENDED))


def _skip(chat: Chat, reason: str) -> str:
    chat.skipped = reason
    return f"not converted: {reason}"


def _subject(context: Context, chat: Chat) -> str:
    question = " ".join(chat.question.split())[:200]
    if question:
        return context.gettext("Chat: %(question)s", question=question)
    return context.gettext("Chat with %(name)s", name=chat.visitor_name or chat.visitor_email)


def _transcript(context: Context, chat: Chat, messages: Sequence[dict[str, Any]]) -> ChatTranscript:
    agent_ids = {agent.email.casefold(): agent.id for agent in context.list_agents()}
    return ChatTranscript(
        channel=CHANNEL,
        started_at=chat.started_at,
        messages=tuple(
            TranscriptMessage(
                sender="customer" if message["sender"] == "visitor" else "agent",
                text=message["text"] if message["text"].strip() else "[…]",
                sent_at=max(datetime.fromisoformat(message["time"]), chat.started_at),
                agent_id=agent_ids.get(message["operator_email"].casefold()),
            )
            for message in messages
        ),
    )


def _stored(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "sender": message["sender"],
        "operator_email": (message["operator"] or {}).get("email", ""),
        "operator_name": (message["operator"] or {}).get("name", ""),
        "text": message["text"],
        "time": message["time"].isoformat(),
    }
