"""The inbox (``/ext/im_dashboard/<installation id>/inbox/``): agents work the chats of their
departments.

The list on the left holds one of four views (unassigned, mine, every open chat, ended), a
page at a time, latest message first; the chat chosen shows on the right with its whole
timeline and what the agent may do now: accept, reply, assign, end, reopen, convert it to a
ticket, send a failed reply again. Each action is a POST answered by a redirect back to the
chat; one the chat's state refuses shows why, with the chat as it is. While open, the list and
the chat's timeline are asked for again every few seconds (``?fragment=list`` and
``?fragment=timeline``), so new chats and messages show without a reload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from hostapi import AgentRecord, Context, NotFound, Page, csrf_token, current_context, render_page
from hostapi.i18n import N_, template_functions
from plugins.im_dashboard import chats, records, rendering
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.models import Chat, ChatMessage

#: The page's title, marked here and translated when shown.
TITLE = N_("IM inbox")

#: The views' labels (translated when shown).
VIEW_LABELS = {
    "unassigned": N_("Unassigned"),
    "mine": N_("Mine"),
    "open": N_("All open"),
    "ended": N_("Ended"),
}


def page() -> Page:
    """The inbox, with its navigation link."""
    return Page(
        blueprint=_blueprint(),
        title="IM inbox",
        title_ja="IMインボックス",
        menu=True,
        menu_path="inbox/",
    )


def _blueprint() -> Blueprint:
    pages = Blueprint("im_dashboard_inbox", __name__, url_prefix="/inbox")
    pages.add_url_rule("/", "index", index)
    pages.add_url_rule("/<int:chat_id>", "show", show)
    pages.add_url_rule("/live.js", "script", rendering.live_script)
    for action in _ACTIONS:
        pages.add_url_rule(
            f"/<int:chat_id>/{action}", action, _action_view(action), methods=["POST"]
        )
    pages.add_url_rule(
        "/<int:chat_id>/messages/<int:message_id>/resend",
        "resend",
        resend,
        methods=["POST"],
    )
    return pages


def index() -> ResponseReturnValue:
    """The list alone."""
    context = current_context()
    return _render(context, None)


def show(chat_id: int) -> ResponseReturnValue:
    """The list and one chat."""
    context = current_context()
    return _render(context, _chat(context, chat_id))


def _accept(context: Context, chat: Chat, agent: AgentRecord) -> None:
    chats.accept(context, chat, agent)


def _reply(context: Context, chat: Chat, agent: AgentRecord) -> None:
    chats.reply(context, chat, agent, request.form.get("text", ""))


def _assign(context: Context, chat: Chat, agent: AgentRecord) -> None:
    raw = request.form.get("agent_id", "")
    chosen = next(
        (a for a in _assignable(context, chat) if raw.isdigit() and a.id == int(raw)), None
    )
    if chosen is None:
        raise ValidationError({"agent_id": [context.gettext("Choose an agent.")]})
    chats.assign(context, chat, chosen, by=agent.id)


def _end(context: Context, chat: Chat, agent: AgentRecord) -> None:
    chats.end(context, chat, agent)


def _reopen(context: Context, chat: Chat, agent: AgentRecord) -> None:
    chats.reopen(context, chat, by=agent)


def _convert(context: Context, chat: Chat, agent: AgentRecord) -> None:
    chats.convert(context, chat, agent)


_ACTIONS: dict[str, Callable[[Context, Chat, AgentRecord], None]] = {
    "accept": _accept,
    "reply": _reply,
    "assign": _assign,
    "end": _end,
    "reopen": _reopen,
    "convert": _convert,
}


def _action_view(action: str) -> Callable[[int], ResponseReturnValue]:
    def view(chat_id: int) -> ResponseReturnValue:
        context = current_context()
        chat = _chat(context, chat_id)
        agent = context.agent or abort(403)
        try:
            _ACTIONS[action](context, chat, agent)
        except ValidationError as error:
            context.db.rollback()
            return _render(context, _chat(context, chat_id), errors=error.messages), 422
        context.db.commit()
        return redirect(_chat_url(chat_id), 303)

    view.__name__ = f"{action}_chat"
    return view


def resend(chat_id: int, message_id: int) -> ResponseReturnValue:
    """Send a failed reply again."""
    context = current_context()
    chat = _chat(context, chat_id)
    message = context.db.get(ChatMessage, message_id)
    if message is None or message.chat_id != chat.id:
        abort(404)
    try:
        chats.resend(context, message)
    except ValidationError as error:
        context.db.rollback()
        return _render(context, _chat(context, chat_id), errors=error.messages), 422
    context.db.commit()
    return redirect(_chat_url(chat_id), 303)


def _chat_url(chat_id: int) -> str:
    return url_for(".show", chat_id=chat_id, **_list_args())


def _list_args() -> dict[str, str]:
    """The list's state (view, channel, page) carried from page to page."""
    values = request.values
    return {name: values[name] for name in ("view", "channel", "cursor") if values.get(name)}


def _chat(context: Context, chat_id: int) -> Chat:
    try:
        return chats.chat(context, chat_id)
    except NotFound:
        abort(404)


def _assignable(context: Context, chat: Chat) -> list[AgentRecord]:
    return context.list_agents(chat.department_id, covered_only=True)


def _render(context: Context, chat: Chat | None, errors: Any = None) -> str:
    args = _list_args()
    counts = records.view_counts(context)
    # Without a view chosen: the agent's own chats, or those waiting for someone.
    view = args.get("view") or ("mine" if counts["mine"] else "unassigned")
    if view not in records.VIEWS:
        abort(404)
    channel = args.get("channel")
    if channel and channel not in CHANNELS:
        abort(404)
    try:
        after = records.Cursor.parse(args["cursor"]) if "cursor" in args else None
    except ValueError:
        abort(404)
    listing = records.list_chats(context, view, channel=channel, after=after)
    names = {agent.id: agent.name for agent in context.list_agents()}

    def list_url(**changes: Any) -> str:
        values = {**args, **changes}
        values = {name: value for name, value in values.items() if value}
        if chat is not None:
            return url_for(".show", chat_id=chat.id, **values)
        return url_for(".index", **values)

    def chat_url(chat_id: int, **extra: str) -> str:
        # The view shown, chosen or not: the list stays as it was when a chat opens.
        return url_for(".show", chat_id=chat_id, **{**args, "view": view, **extra})

    agent = context.agent
    title = context.gettext(TITLE)
    values = dict(
        chat=chat,
        timeline=records.timeline(context, chat).entries() if chat else [],
        listing=listing,
        paged=after is not None,
        view=view,
        views=VIEW_LABELS,
        counts=counts,
        channel=channel,
        channels=CHANNELS,
        names=names,
        me=agent.id if agent else None,
        assignable=_assignable(context, chat) if chat else [],
        errors=errors or {},
        draft=request.form if request.method == "POST" else {},
        when=lambda moment: rendering.local_time(context, moment),
        list_url=list_url,
        chat_url=chat_url,
        action_url=lambda action: url_for(f".{action}", chat_id=chat.id, **args),
        resend_url=lambda message: url_for(
            ".resend", chat_id=chat.id, message_id=message.id, **args
        ),
        csrf_token=csrf_token(),
        url_for=url_for,
        list_fragment_url=list_url(fragment="list"),
        timeline_fragment_url=chat_url(chat.id, fragment="timeline") if chat else "",
        refresh_seconds=rendering.REFRESH_SECONDS,
        script_url=url_for(".script"),
        **template_functions(context),
    )
    fragment = _FRAGMENTS.get(request.args.get("fragment", ""))
    if fragment is not None and request.method == "GET":
        return rendering.templates.get_template(fragment).render(**values)
    body = rendering.templates.get_template("inbox.html").render(title=title, **values)
    return render_page(title if chat is None else f"{_display(chat)} · {title}", body)


#: The parts of the page an open inbox asks for again (``?fragment=``), by their templates.
_FRAGMENTS = {"list": "inbox_list.html", "timeline": "inbox_timeline.html"}


def _display(chat: Chat) -> str:
    return chat.user_name or chat.external_user_id
