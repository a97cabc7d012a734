"""Reading chats: the inbox's lists (a page at a time, newest activity first) and a chat's
whole timeline, the same for the inbox pages and REST.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from hostapi import Context
from plugins.im_dashboard.chats import ENDED, OPEN
from plugins.im_dashboard.models import Chat, ChatActivity, ChatMessage

#: The inbox's lists: unassigned open chats, the agent's open ones, every open one, ended.
VIEWS = ("unassigned", "mine", "open", "ended")


@dataclass(frozen=True)
class Cursor:
    """Where a page of a list ends: the last chat's latest message time and id."""

    at: datetime
    chat_id: int

    def token(self) -> str:
        """The cursor as a query-string value: microseconds since the epoch, and the id."""
        return f"{(self.at - _EPOCH) // _MICROSECOND}_{self.chat_id}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        """The cursor a :meth:`token` gave.

        :raises ValueError: not such a token.
        """
        at, _, chat_id = token.partition("_")
        try:
            return cls(_EPOCH + int(at) * _MICROSECOND, int(chat_id))
        except OverflowError as error:
            raise ValueError(token) from error


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class ChatPage:
    """A page of a list and the cursor of the next one (``None``: this is the last)."""

    chats: list[Chat]
    next: Cursor | None


def list_chats(
    context: Context,
    view: str,
    *,
    channel: str | None = None,
    after: Cursor | None = None,
    limit: int = 25,
) -> ChatPage:
    """A page of the chats of ``view`` (``VIEWS``) the context reaches, latest message first."""
    query = select(Chat).where(
        Chat.installation_id == context.installation_id,
        Chat.department_id.in_(context.department_ids),
    )
    if view == "ended":
        query = query.where(Chat.status == ENDED)
    else:
        query = query.where(Chat.status == OPEN)
    if view == "unassigned":
        query = query.where(Chat.assignee_id.is_(None))
    elif view == "mine":
        agent = context.agent
        query = query.where(Chat.assignee_id == (agent.id if agent else -1))
    if channel:
        query = query.where(Chat.channel == channel)
    if after is not None:
        query = query.where(
            or_(
                Chat.last_message_at < after.at,
                and_(Chat.last_message_at == after.at, Chat.id < after.chat_id),
            )
        )
    rows = list(
        context.db.scalars(
            query.order_by(Chat.last_message_at.desc(), Chat.id.desc()).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return ChatPage(rows, Cursor(rows[-1].last_message_at, rows[-1].id) if more else None)


def view_counts(context: Context) -> dict[str, int]:
    """How many open chats each open view holds (the inbox's tab counts)."""
    agent = context.agent
    mine = Chat.assignee_id == (agent.id if agent else -1)
    row = context.db.execute(
        select(
            func.count().filter(Chat.assignee_id.is_(None)),
            func.count().filter(mine),
            func.count(),
        ).where(
            Chat.installation_id == context.installation_id,
            Chat.department_id.in_(context.department_ids),
            Chat.status == OPEN,
        )
    ).one()
    return {"unassigned": row[0], "mine": row[1], "open": row[2]}


@dataclass(frozen=True)
class Timeline:
    """A chat's messages and activities, each in time order."""

    messages: list[ChatMessage]
    activities: list[ChatActivity]

    def entries(self) -> list[tuple[datetime, str, Any]]:
        """Messages and activities merged in time order, each as (time, ``message`` or
        ``activity``, record)."""
        merged: list[tuple[datetime, int, str, Any]] = [
            (m.sent_at, 1, "message", m) for m in self.messages
        ] + [(a.at, 0, "activity", a) for a in self.activities]
        merged.sort(key=lambda entry: (entry[0], entry[1], entry[3].id))
        return [(at, kind, record) for at, _, kind, record in merged]


def timeline(context: Context, chat: Chat) -> Timeline:
    """Everything recorded of ``chat``."""
    messages = context.db.scalars(
        select(ChatMessage)
        .where(ChatMessage.chat_id == chat.id)
        .order_by(ChatMessage.sent_at, ChatMessage.id)
    )
    activities = context.db.scalars(
        select(ChatActivity)
        .where(ChatActivity.chat_id == chat.id)
        .order_by(ChatActivity.at, ChatActivity.id)
    )
    return Timeline(list(messages), list(activities))
