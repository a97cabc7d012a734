"""IM Dashboard's REST endpoints for chats, under ``/api/v1/ext/im_dashboard/<installation id>/``:

- ``GET chats``: a page of a list (``view``: unassigned, mine, open, ended; ``channel``),
  latest message first, with the cursor of the next page;
- ``GET chats/<id>``: a chat with its whole timeline (every message and every assignment,
  accept, end, reopen and conversion, each with its time), from which anyone can work out the
  dashboard's figures;
- ``POST chats/<id>/assign`` (``agent_id``), ``accept``, ``messages`` (``text``: a reply),
  ``end``, ``reopen``, ``convert`` (to a ticket) and ``messages/<id>/resend``, as the calling
  agent; each answers the chat as ``GET`` does;
- ``GET dashboard`` (``period``, ``channel``, ``from`` and ``to`` for a custom period): every
  figure of the dashboard page with its trend, and ``GET dashboard.csv`` the same as CSV.

Chats are those of the installation's departments the caller works in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma

from hostapi import AgentRecord, ApiRoute, Context, Download, NotFound, scopes
from plugins.im_dashboard import chats, export, figures, periods, records
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.models import Chat, ChatMessage

_READ = (scopes.THREADS_READ,)
_WRITE = (scopes.THREADS_READ, scopes.THREADS_WRITE)


class ChatMessageSchema(ma.Schema):
    """A message of a chat."""

    id = ma.fields.Integer()
    direction = ma.fields.String(metadata={"description": "in (the user's) or out (an agent's)."})
    kind = ma.fields.String(
        metadata={"description": "text, image, video, audio, file, sticker, location or other."}
    )
    text = ma.fields.String()
    media = ma.fields.Dict(metadata={"description": "How to fetch the media from the platform."})
    location = ma.fields.Dict()
    platform_type = ma.fields.String(metadata={"description": "The platform's own type name."})
    platform_message_id = ma.fields.String(allow_none=True)
    agent_id = ma.fields.Integer(allow_none=True)
    sent_at = ma.fields.AwareDateTime(
        metadata={"description": "The platform's time of a user's message; ours when sent."}
    )
    response_seconds = ma.fields.Float(
        allow_none=True,
        metadata={
            "description": "An agent message answering: its time − the earliest "
            "unanswered customer message's."
        },
    )
    delivery = ma.fields.String(
        allow_none=True, metadata={"description": "sending, sent, delivered, read or failed."}
    )
    delivery_at = ma.fields.AwareDateTime(allow_none=True)
    error = ma.fields.String()


class ChatActivitySchema(ma.Schema):
    """Something that happened to a chat."""

    id = ma.fields.Integer()
    kind = ma.fields.String(
        metadata={"description": "assigned, accepted, ended, reopened or converted."}
    )
    at = ma.fields.AwareDateTime()
    agent_id = ma.fields.Integer(
        allow_none=True,
        metadata={
            "description": "The assignee (assigned; reopened: at the time), the agent "
            "accepting, ending or converting."
        },
    )
    by_agent_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "Who did it; null: round-robin or the user."}
    )
    cause = ma.fields.String(metadata={"description": "agent, round_robin or customer."})
    ticket_id = ma.fields.Integer(allow_none=True)


class ChatSchema(ma.Schema):
    """A chat as lists show it."""

    id = ma.fields.Integer()
    channel = ma.fields.String()
    channel_account_id = ma.fields.Integer()
    department_id = ma.fields.Integer()
    external_user_id = ma.fields.String()
    user_name = ma.fields.String()
    contact_id = ma.fields.Integer()
    contact_was_new = ma.fields.Boolean(
        metadata={"description": "The contact had no earlier chat or ticket when it started."}
    )
    status = ma.fields.String(metadata={"description": "open or ended."})
    assignee_id = ma.fields.Integer(allow_none=True)
    accepted_at = ma.fields.AwareDateTime(
        allow_none=True, metadata={"description": "When the assignee accepted it."}
    )
    started_at = ma.fields.AwareDateTime(
        metadata={"description": "Its earliest customer message's time."}
    )
    last_message_at = ma.fields.AwareDateTime()
    ended_at = ma.fields.AwareDateTime(allow_none=True, metadata={"description": "Last end."})
    reopen_count = ma.fields.Integer()
    ticket_id = ma.fields.Integer(allow_none=True)


class ChatDetailSchema(ChatSchema):
    """A chat with its whole timeline."""

    messages = ma.fields.List(ma.fields.Nested(ChatMessageSchema))
    activities = ma.fields.List(ma.fields.Nested(ChatActivitySchema))


class ChatPageSchema(ma.Schema):
    """A page of chats."""

    chats = ma.fields.List(ma.fields.Nested(ChatSchema))
    next_cursor = ma.fields.String(
        allow_none=True, metadata={"description": "Pass as cursor for the next page."}
    )


class ChatListArguments(ma.Schema):
    """Which chats."""

    view = ma.fields.String(load_default="open", validate=ma.validate.OneOf(records.VIEWS))
    channel = ma.fields.String(load_default=None, validate=ma.validate.OneOf(list(CHANNELS)))
    cursor = ma.fields.String(load_default=None)
    limit = ma.fields.Integer(load_default=25, validate=ma.validate.Range(min=1, max=100))


class ChatAssignArguments(ma.Schema):
    """Whom to give the chat to."""

    agent_id = ma.fields.Integer(required=True)


class ChatReplyArguments(ma.Schema):
    """The reply."""

    text = ma.fields.String(required=True)


class ChatActionArguments(ma.Schema):
    """Nothing to give."""


def routes() -> list[ApiRoute]:
    """The chats' endpoints."""
    reading = [
        ApiRoute(
            name="list_chats",
            path="/chats",
            handle=_list,
            summary="List chats",
            arguments=ChatListArguments,
            response=ChatPageSchema,
            scopes=_READ,
        ),
        ApiRoute(
            name="get_chat",
            path="/chats/<int:chat_id>",
            handle=_get,
            summary="A chat with its timeline",
            response=ChatDetailSchema,
            scopes=_READ,
        ),
    ]
    acting = [
        ApiRoute(
            name=name,
            path=f"/chats/<int:chat_id>{path}",
            handle=_acting(action),
            summary=summary,
            method="POST",
            arguments=arguments,
            response=ChatDetailSchema,
            scopes=_WRITE,
        )
        for name, path, action, summary, arguments in _ACTIONS
    ]
    dashboard = [
        ApiRoute(
            name="dashboard",
            path="/dashboard",
            handle=_dashboard,
            summary="The dashboard's figures",
            description="Every figure of the IM dashboard for a period in the organisation's "
            "time zone and a channel, with its trend by hour or day.",
            arguments=DashboardArguments,
            response=DashboardSchema,
            scopes=_READ,
        ),
        ApiRoute(
            name="dashboard_csv",
            path="/dashboard.csv",
            handle=_dashboard_csv,
            summary="The dashboard's figures as CSV",
            arguments=DashboardArguments,
            scopes=_READ,
            content_type="text/csv",
        ),
    ]
    return reading + acting + dashboard


class DashboardArguments(ma.Schema):
    """Which period, and which channel."""

    period = ma.fields.String(load_default="today", validate=ma.validate.OneOf(periods.PERIODS))
    channel = ma.fields.String(load_default="all", validate=ma.validate.OneOf(["all", *CHANNELS]))
    first = ma.fields.Date(
        data_key="from", load_default=None, metadata={"description": "custom: first day"}
    )
    last = ma.fields.Date(
        data_key="to", load_default=None, metadata={"description": "custom: last day"}
    )


class DashboardPeriodSchema(ma.Schema):
    """The period the figures cover."""

    name = ma.fields.String()
    start = ma.fields.AwareDateTime()
    end = ma.fields.AwareDateTime(metadata={"description": "Excluded."})
    timezone = ma.fields.String()
    bucket = ma.fields.String(metadata={"description": "hour or day: the trend's points."})


class DashboardTrendSchema(ma.Schema):
    """Each figure's value per bucket of the period."""

    buckets = ma.fields.List(
        ma.fields.AwareDateTime(), metadata={"description": "Each bucket's start."}
    )
    series = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.Float(allow_none=True)),
        metadata={"description": "A value per bucket; null where there was nothing to average."},
    )


class DashboardSchema(ma.Schema):
    """Every figure of the IM dashboard."""

    period = ma.fields.Nested(DashboardPeriodSchema)
    channel = ma.fields.String()
    contacts = ma.fields.Dict(
        metadata={"description": "Chats started in the period, by new and existing contact."}
    )
    messages = ma.fields.Dict(metadata={"description": "Incoming and outgoing messages."})
    chats = ma.fields.Dict(
        metadata={"description": "Chats started in the period: assigned now, unassigned, total."}
    )
    channels = ma.fields.List(
        ma.fields.Dict(),
        metadata={
            "description": "Per channel: chats started, chats ended now whose last end "
            "is in the period, and their average time to end."
        },
    )
    response_times = ma.fields.Dict(
        metadata={
            "description": "Average start, first response and response times (seconds) "
            "and how many of each were averaged."
        }
    )
    agents = ma.fields.List(
        ma.fields.Dict(),
        metadata={
            "description": "Per agent: assigned (reopens included), reopened, and their averages."
        },
    )
    trend = ma.fields.Nested(DashboardTrendSchema)


def dashboard_figures(context: Context, arguments: dict[str, Any]) -> figures.Figures:
    """The figures the arguments ask for, as the caller may see them.

    :raises marshmallow.ValidationError: a custom period without its dates, or reversed.
    """
    try:
        period = periods.resolve_for(
            context, arguments["period"], arguments["first"], arguments["last"]
        )
    except periods.PeriodError as error:
        raise ma.ValidationError({error.field: [str(error)]}) from None
    channel = None if arguments["channel"] == "all" else arguments["channel"]
    return figures.figures(context, period, channel)


def _dashboard(context: Context, arguments: dict[str, Any]) -> dict[str, Any]:
    return dashboard_figures(context, arguments).as_dict()


def _dashboard_csv(context: Context, arguments: dict[str, Any]) -> Download:
    found = dashboard_figures(context, arguments)
    return Download(
        filename=export.filename(found),
        chunks=export.csv_text(found),
        mimetype="text/csv; charset=utf-8",
    )


def detail(context: Context, chat: Chat) -> dict[str, Any]:
    """A chat and its timeline as ``GET chats/<id>`` answers it."""
    found = records.timeline(context, chat)
    return {**_fields(chat), "messages": found.messages, "activities": found.activities}


def _fields(chat: Chat) -> dict[str, Any]:
    return {name: getattr(chat, name) for name in ChatSchema._declared_fields}


def _list(context: Context, arguments: dict[str, Any]) -> dict[str, Any]:
    try:
        after = records.Cursor.parse(arguments["cursor"]) if arguments["cursor"] else None
    except ValueError:
        raise ma.ValidationError({"cursor": ["Not a cursor this endpoint gave."]}) from None
    page = records.list_chats(
        context,
        arguments["view"],
        channel=arguments["channel"],
        after=after,
        limit=arguments["limit"],
    )
    return {
        "chats": [_fields(chat) for chat in page.chats],
        "next_cursor": page.next.token() if page.next else None,
    }


def _get(context: Context, arguments: dict[str, Any], chat_id: int) -> dict[str, Any]:
    return detail(context, chats.chat(context, chat_id))


def _caller(context: Context) -> AgentRecord:
    agent = context.agent
    if agent is None:
        raise ma.ValidationError({"agent": ["Only an agent acts on chats."]})
    return agent


#: An action on a chat: ``(context, chat, calling agent, arguments, **more path values)``.
_Action = Callable[..., None]


def _acting(action: _Action) -> Callable[..., dict[str, Any]]:
    """The handler doing ``action`` on the path's chat as the caller, answering the chat."""

    def handle(
        context: Context, arguments: dict[str, Any], chat_id: int, **path: Any
    ) -> dict[str, Any]:
        chat = chats.chat(context, chat_id)
        action(context, chat, _caller(context), arguments, **path)
        return detail(context, chat)

    handle.__name__ = action.__name__
    return handle


def _assign(context: Context, chat: Chat, by: AgentRecord, arguments: dict[str, Any]) -> None:
    agent = next(
        (
            agent
            for agent in context.list_agents(chat.department_id, covered_only=True)
            if agent.id == arguments["agent_id"]
        ),
        None,
    )
    if agent is None:
        raise ma.ValidationError(
            {"agent_id": ["No agent of the chat's department who uses this extension."]}
        )
    chats.assign(context, chat, agent, by=by.id)


def _accept(context: Context, chat: Chat, agent: AgentRecord, arguments: dict[str, Any]) -> None:
    chats.accept(context, chat, agent)


def _reply(context: Context, chat: Chat, agent: AgentRecord, arguments: dict[str, Any]) -> None:
    chats.reply(context, chat, agent, arguments["text"])


def _end(context: Context, chat: Chat, agent: AgentRecord, arguments: dict[str, Any]) -> None:
    chats.end(context, chat, agent)


def _reopen(context: Context, chat: Chat, agent: AgentRecord, arguments: dict[str, Any]) -> None:
    chats.reopen(context, chat, by=agent)


def _convert(context: Context, chat: Chat, agent: AgentRecord, arguments: dict[str, Any]) -> None:
    chats.convert(context, chat, agent)


def _resend(
    context: Context, chat: Chat, agent: AgentRecord, arguments: dict[str, Any], message_id: int
) -> None:
    message = context.db.get(ChatMessage, message_id)
    if message is None or message.chat_id != chat.id:
        raise NotFound(f"message {message_id}")
    chats.resend(context, message)


#: The actions on a chat: (name, path after ``/chats/<id>``, handler, summary, arguments).
_ACTIONS: tuple[tuple[str, str, _Action, str, type[ma.Schema]], ...] = (
    ("assign_chat", "/assign", _assign, "Assign a chat", ChatAssignArguments),
    ("accept_chat", "/accept", _accept, "Accept a chat", ChatActionArguments),
    ("reply_to_chat", "/messages", _reply, "Reply in a chat", ChatReplyArguments),
    ("end_chat", "/end", _end, "End a chat", ChatActionArguments),
    ("reopen_chat", "/reopen", _reopen, "Reopen a chat", ChatActionArguments),
    ("convert_chat", "/convert", _convert, "Convert a chat to a ticket", ChatActionArguments),
    (
        "resend_message",
        "/messages/<int:message_id>/resend",
        _resend,
        "Send a failed reply again",
        ChatActionArguments,
    ),
)
