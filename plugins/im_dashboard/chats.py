"""The life of a chat: started by a user's message, assigned, accepted, answered, ended and
reopened, and converted to a ticket.

A chat is one conversation of one channel user on one channel account. The user's message
starts one when they have no open chat and none ended within the reopen window (the setting
``reopen_window_hours``, 24 by default); a message within the window after the end reopens the
ended chat, as an agent can. Assignment is by hand, or round-robin among the department's
agents whose status is *available* (the setting ``assignment``). Ending keeps the assignee.

Every change is recorded with its time (``ChatActivity``, ``ChatMessage``), so that the
dashboard's figures can be recomputed from a chat's timeline alone; the chat row keeps what
the dashboard averages, up to date with each change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import exists, insert, select

from hostapi import (
    AgentRecord,
    ChatTranscript,
    Context,
    NotFound,
    TicketQuery,
    TranscriptMessage,
)
from plugins.im_dashboard.messages import IncomingMessage
from plugins.im_dashboard.models import ChannelAccount, Chat, ChatActivity, ChatMessage, Rotation

OPEN, ENDED = "open", "ended"
IN, OUT = "in", "out"

#: The job sending an agent's message through the channel's API.
SEND_JOB = "send_message"

#: The longest agent message the inbox takes (LINE's and WhatsApp's limit is 4,096; Telegram's
#: 4,096; WeChat's 2,048 bytes is checked by WeChat).
REPLY_LENGTH = 4096

#: The ``assignment`` setting's values.
MANUAL, ROUND_ROBIN = "manual", "round_robin"


class ChatConflict(ValidationError):
    """An action the chat's state does not allow now (replying to an ended chat, accepting
    someone else's); REST answers it as a validation error of the field ``chat``."""

    def __init__(self, message: str) -> None:
        super().__init__({"chat": [message]})
        self.message = message


def reopen_window(context: Context) -> timedelta:
    """How long after its end a user's message reopens a chat rather than starting one."""
    return timedelta(hours=int(context.settings.get("reopen_window_hours") or 24))


def chat(context: Context, chat_id: int) -> Chat:
    """One of the installation's chats in a department the context reaches.

    :raises NotFound: no such chat here.
    """
    found = context.db.get(Chat, chat_id)
    if (
        found is None
        or found.installation_id != context.installation_id
        or found.department_id not in context.department_ids
    ):
        raise NotFound(f"chat {chat_id}")
    return found


# ------------------------------------------------------------------------------ the user's


def latest_chats(
    context: Context, account: ChannelAccount, user_ids: Iterable[str]
) -> dict[str, Chat]:
    """The latest chat of each of ``user_ids`` on ``account`` (users with none left out)."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return {}
    newest = (
        select(Chat.external_user_id, Chat.id)
        .where(Chat.channel_account_id == account.id, Chat.external_user_id.in_(wanted))
        .order_by(Chat.external_user_id, Chat.id.desc())
    )
    latest: dict[str, int] = {}
    for user_id, chat_id in context.db.execute(newest):
        latest.setdefault(user_id, chat_id)
    if not latest:
        return {}
    chats = context.db.scalars(select(Chat).where(Chat.id.in_(latest.values())))
    return {found.external_user_id: found for found in chats}


def receive(
    context: Context,
    account: ChannelAccount,
    message: IncomingMessage,
    latest: Chat | None,
    *,
    event_id: int | None = None,
) -> Chat:
    """File a user's message in its chat (``latest``, their latest chat on the account, or a
    new one) and return the chat (see :func:`receive_all`)."""
    latest_of = {message.user_id: latest} if latest is not None else {}
    receive_all(context, account, [(message, event_id)], latest_of)
    return latest_of[message.user_id]


def receive_all(
    context: Context,
    account: ChannelAccount,
    arrivals: Iterable[tuple[IncomingMessage, int | None]],
    latest: dict[str, Chat],
) -> None:
    """File users' messages (with the ids of the events that brought them), in the order
    given, each in its user's chat: ``latest`` holds each user's latest chat on the account,
    and the chat of each message filed.

    A message sent before the latest chat ended (delivered late) joins it as it was; one sent
    within the reopen window after the end reopens it; later, a new chat starts. The messages
    are written together at the end, in one statement: many rows as objects of the session
    cost a batch of them more than the rest of its filing.
    """
    rows: list[dict[str, Any]] = []
    for message, event_id in arrivals:
        target = _chat_for(context, account, message, latest.get(message.user_id))
        latest[message.user_id] = target
        rows.append(_message_row(context, target, message, event_id))
        if target.last_agent_message_at is not None and (
            message.sent_at < target.last_agent_message_at
        ):
            # Delivered after an agent message sent later: the replies since then answered it.
            _write_messages(context, rows)
            rows = []
            recount_responses(context, target)
        elif target.awaiting_since is None or message.sent_at < target.awaiting_since:
            target.awaiting_since = message.sent_at
    _write_messages(context, rows)


def _chat_for(
    context: Context, account: ChannelAccount, message: IncomingMessage, latest: Chat | None
) -> Chat:
    """The chat ``message`` goes to (reopened or started as it says), brought up to it."""
    target = latest
    if target is not None and target.status == ENDED:
        assert target.ended_at is not None
        if message.sent_at > target.ended_at + reopen_window(context):
            target = None
        elif message.sent_at > target.ended_at:
            reopen(context, target, at=message.sent_at, by=None)
    if target is None:
        target = start_chats(context, account, [message])[message.user_id]
    if message.user_name and not target.user_name:
        target.user_name = message.user_name[:200]
    target.last_message_at = max(target.last_message_at, message.sent_at)
    target.last_customer_message_at = max(target.last_customer_message_at, message.sent_at)
    if message.sent_at < target.started_at:
        target.started_at = message.sent_at
        _refresh_durations(target)
    return target


def _message_row(
    context: Context, target: Chat, message: IncomingMessage, event_id: int | None
) -> dict[str, Any]:
    return {
        "installation_id": context.installation_id,
        "chat_id": target.id,
        "channel_account_id": target.channel_account_id,
        "channel": target.channel,
        "department_id": target.department_id,
        "direction": IN,
        "platform_message_id": message.message_id,
        "kind": message.kind,
        "text": message.text,
        "media": dict(message.media),
        "location": dict(message.location),
        "platform_type": message.platform_type,
        "event_id": event_id,
        "sent_at": message.sent_at,
        "created_at": context.now(),
    }


def _write_messages(context: Context, rows: list[dict[str, Any]]) -> None:
    """Insert user messages' rows (the tallies see them: ``tally`` watches such inserts)."""
    if rows:
        context.db.execute(insert(ChatMessage), rows)


def start_chats(
    context: Context, account: ChannelAccount, firsts: Iterable[IncomingMessage]
) -> dict[str, Chat]:
    """Start a chat with each message of ``firsts`` (one per user), by user id.

    The senders are registered first, in user id order (one order of their registration locks
    for every run), then the chats written at once: each registration would otherwise write
    what this transaction left pending before reading, a statement per chat.
    """
    ordered = sorted(firsts, key=lambda message: message.user_id)
    if not ordered:
        return {}
    contacts = [
        context.register_sender(
            channel=account.kind,
            external_id=message.user_id,
            phone=message.phone,
            name=message.user_name or message.user_id,
        )
        for message in ordered
    ]
    started = [
        Chat(
            installation_id=context.installation_id,
            channel_account_id=account.id,
            channel=account.kind,
            department_id=account.department_id,
            external_user_id=message.user_id,
            user_name=message.user_name[:200],
            contact_id=contact.id,
            contact_was_new=created or _first_contact(context, contact.id, message.sent_at),
            status=OPEN,
            started_at=message.sent_at,
            last_message_at=message.sent_at,
            last_customer_message_at=message.sent_at,
            awaiting_since=message.sent_at,
            ended_seconds=0.0,
            reopen_count=0,
            created_at=context.now(),
        )
        for message, (contact, created) in zip(ordered, contacts, strict=True)
    ]
    context.db.add_all(started)
    context.db.flush()
    if context.settings.get("assignment") == ROUND_ROBIN:
        for new in started:
            assign_round_robin(context, new)
    return {new.external_user_id: new for new in started}


def _first_contact(context: Context, contact_id: int, at: datetime) -> bool:
    """True when the contact had no chat and no ticket before ``at``."""
    earlier_chat = context.db.scalar(
        select(
            exists().where(
                Chat.installation_id == context.installation_id,
                Chat.contact_id == contact_id,
                Chat.started_at < at,
            )
        )
    )
    if earlier_chat:
        return False
    # Tickets older than ``at``: the keyset cursor (at, 0) lists those created before it.
    earlier_tickets = context.list_tickets(
        TicketQuery(contact_id=contact_id, limit=1, after=(at, 0))
    )
    return not earlier_tickets


# ------------------------------------------------------------------------------ agents'


def assign(
    context: Context, target: Chat, agent: AgentRecord, *, by: int | None, cause: str = "agent"
) -> None:
    """Give an open chat to ``agent`` (who must work in its department); they accept it next.

    :raises ChatConflict: the chat is ended, or already theirs.
    """
    _must_be_open(context, target)
    if target.department_id not in agent.department_ids:
        raise ChatConflict(
            context.gettext("%(name)s does not work in this chat's department.", name=agent.name)
        )
    if target.assignee_id == agent.id:
        raise ChatConflict(
            context.gettext("The chat is already assigned to %(name)s.", name=agent.name)
        )
    now = context.now()
    target.assignee_id, target.accepted_at = agent.id, None
    _record(context, target, "assigned", now, agent_id=agent.id, by=by, cause=cause)


def assign_round_robin(context: Context, target: Chat) -> AgentRecord | None:
    """Give the chat to the next available agent of its department, in turn after the one who
    took the department's last chat this way; nobody available leaves it unassigned."""
    available = [
        agent
        for agent in context.list_agents(target.department_id, covered_only=True)
        if agent.status == "available"
    ]
    if not available:
        return None
    place = context.db.get(Rotation, (context.installation_id, target.department_id))
    ordered = sorted(available, key=lambda agent: agent.id)
    chosen = ordered[0]
    if place is not None:
        chosen = next((a for a in ordered if a.id > place.last_agent_id), ordered[0])
    else:
        place = Rotation(
            installation_id=context.installation_id, department_id=target.department_id
        )
        context.db.add(place)
    place.last_agent_id = chosen.id
    assign(context, target, chosen, by=None, cause="round_robin")
    return chosen


def accept(context: Context, target: Chat, agent: AgentRecord) -> None:
    """``agent`` starts working the chat: theirs, or unassigned (then it becomes theirs).

    :raises ChatConflict: ended, someone else's, or accepted already.
    """
    _must_be_open(context, target)
    if target.assignee_id is None:
        assign(context, target, agent, by=agent.id)
    elif target.assignee_id != agent.id:
        raise ChatConflict(context.gettext("The chat is assigned to someone else."))
    if target.accepted_at is not None:
        raise ChatConflict(context.gettext("You have accepted this chat already."))
    now = context.now()
    target.accepted_at = now
    if target.first_accepted_at is None:
        target.first_accepted_at, target.first_accepted_by = now, agent.id
        _refresh_durations(target)
    _record(context, target, "accepted", now, agent_id=agent.id, by=agent.id, cause="agent")


def reply(context: Context, target: Chat, agent: AgentRecord, text: str) -> ChatMessage:
    """Send ``text`` to the user as ``agent`` (the assignee, having accepted): stored now and
    sent through the channel's API by a job (``delivery`` says how that went).

    :raises ValidationError: the text is empty or too long (field ``text``).
    :raises ChatConflict: the chat is ended, or not accepted by ``agent``.
    """
    text = text.strip()
    if not text:
        raise ValidationError({"text": [context.gettext("Write a message.")]})
    if len(text) > REPLY_LENGTH:
        raise ValidationError(
            {"text": [context.gettext("Use at most %(count)s characters.", count=REPLY_LENGTH)]}
        )
    _must_be_open(context, target)
    if target.assignee_id != agent.id or target.accepted_at is None:
        raise ChatConflict(context.gettext("Accept the chat before replying."))
    now = context.now()
    message = ChatMessage(
        installation_id=context.installation_id,
        chat_id=target.id,
        channel_account_id=target.channel_account_id,
        channel=target.channel,
        department_id=target.department_id,
        direction=OUT,
        agent_id=agent.id,
        kind="text",
        text=text,
        media={},
        location={},
        sent_at=now,
        delivery="sending",
        created_at=now,
    )
    if target.awaiting_since is not None:
        message.response_seconds = (now - target.awaiting_since).total_seconds()
    context.db.add(message)
    target.awaiting_since = None
    target.last_agent_message_at = target.last_message_at = now
    if target.first_response_at is None:
        target.first_response_at, target.first_response_by = now, agent.id
        _refresh_durations(target)
    context.db.flush()
    context.enqueue(SEND_JOB, {"message_id": message.id})
    return message


def resend(context: Context, message: ChatMessage) -> None:
    """Try a failed agent message again (its time, and so its response time, stay).

    :raises ChatConflict: the message has not failed.
    """
    if message.direction != OUT or message.delivery != "failed":
        raise ChatConflict(context.gettext("Only a message that failed can be sent again."))
    message.delivery, message.delivery_at, message.attempts = "sending", None, 0
    context.enqueue(SEND_JOB, {"message_id": message.id})


def end(context: Context, target: Chat, agent: AgentRecord) -> None:
    """End an open chat; its assignee stays.

    :raises ChatConflict: the chat is ended already.
    """
    _must_be_open(context, target)
    now = context.now()
    target.status, target.ended_at = ENDED, now
    _refresh_durations(target)
    _record(context, target, "ended", now, agent_id=target.assignee_id, by=agent.id, cause="agent")


def reopen(
    context: Context, target: Chat, *, at: datetime | None = None, by: AgentRecord | None
) -> None:
    """Open an ended chat again: by an agent (``by``), or by the user's message at ``at``.

    The time it spent ended is not counted in its time to end; an unassigned chat goes to the
    next available agent when assignment is round-robin.

    :raises ChatConflict: the chat is open.
    """
    if target.status != ENDED or target.ended_at is None:
        raise ChatConflict(context.gettext("The chat is open."))
    at = at or context.now()
    target.ended_seconds += max((at - target.ended_at).total_seconds(), 0.0)
    target.status, target.ended_at = OPEN, None
    target.reopen_count += 1
    _refresh_durations(target)
    _record(
        context,
        target,
        "reopened",
        at,
        agent_id=target.assignee_id,
        by=by.id if by else None,
        cause="agent" if by else "customer",
    )
    if target.assignee_id is None and context.settings.get("assignment") == ROUND_ROBIN:
        assign_round_robin(context, target)


def convert(context: Context, target: Chat, agent: AgentRecord) -> int:
    """Make a ticket of the chat (its department, contact and channel, created at its start,
    its messages the ticket's threads at their own times) and return the ticket's id.

    :raises ChatConflict: the chat was converted already.
    """
    if target.ticket_id is not None:
        raise ChatConflict(context.gettext("The chat has a ticket already."))
    messages = list(
        context.db.scalars(
            select(ChatMessage)
            .where(ChatMessage.chat_id == target.id)
            .order_by(ChatMessage.sent_at, ChatMessage.id)
        )
    )
    first_text = next((m.text for m in messages if m.direction == IN and m.text), "")
    subject = " ".join(first_text.split())[:120] or context.gettext(
        "Chat with %(name)s", name=target.user_name or target.external_user_id
    )
    ticket = context.convert_chat(
        transcript(target, messages),
        subject=subject,
        department_id=target.department_id,
        contact_id=target.contact_id,
    )
    target.ticket_id = ticket.id
    _record(
        context,
        target,
        "converted",
        context.now(),
        agent_id=agent.id,
        by=agent.id,
        cause="agent",
        ticket_id=ticket.id,
    )
    return ticket.id


def transcript(target: Chat, messages: Iterable[ChatMessage]) -> ChatTranscript:
    """The chat as the host converts chats: the user's messages the customer's, the rest an
    agent's (a message without text by its kind, ``[image]``)."""
    return ChatTranscript(
        channel=target.channel,
        started_at=target.started_at,
        messages=tuple(
            TranscriptMessage(
                sender="customer" if message.direction == IN else "agent",
                text=message.text if message.text.strip() else f"[{message.kind}]",
                sent_at=max(message.sent_at, target.started_at),
                agent_id=None if message.direction == IN else message.agent_id,
            )
            for message in messages
        ),
    )


# ------------------------------------------------------------------------------ upkeep


def recount_responses(context: Context, target: Chat) -> None:
    """Work the chat's response times out again from its messages in time order: each agent
    message answering customer messages carries its time − the earliest of them."""
    waiting: datetime | None = None
    for message in context.db.scalars(
        select(ChatMessage)
        .where(ChatMessage.chat_id == target.id)
        .order_by(ChatMessage.sent_at, ChatMessage.id)
    ):
        if message.direction == IN:
            waiting = waiting or message.sent_at
            continue
        message.response_seconds = (
            (message.sent_at - waiting).total_seconds() if waiting is not None else None
        )
        waiting = None
    target.awaiting_since = waiting


def _refresh_durations(target: Chat) -> None:
    """The chat's averaged durations, from its start and the events that end them."""

    def since_start(moment: datetime | None) -> float | None:
        return None if moment is None else (moment - target.started_at).total_seconds()

    target.first_accept_seconds = since_start(target.first_accepted_at)
    target.first_response_seconds = since_start(target.first_response_at)
    ended = since_start(target.ended_at)
    target.time_to_end_seconds = None if ended is None else ended - target.ended_seconds


def _must_be_open(context: Context, target: Chat) -> None:
    if target.status != OPEN:
        raise ChatConflict(context.gettext("The chat has ended: reopen it first."))


def _record(
    context: Context,
    target: Chat,
    kind: str,
    at: datetime,
    *,
    agent_id: int | None,
    by: int | None,
    cause: str,
    ticket_id: int | None = None,
) -> None:
    context.db.add(
        ChatActivity(
            installation_id=context.installation_id,
            chat_id=target.id,
            channel=target.channel,
            department_id=target.department_id,
            kind=kind,
            at=at,
            agent_id=agent_id,
            by_agent_id=by,
            cause=cause,
            ticket_id=ticket_id,
        )
    )
