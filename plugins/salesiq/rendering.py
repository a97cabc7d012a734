"""What the extension's pages share to render: its templates, times as the organisation reads
them, and the conversion rule in words."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from hostapi import Context
from plugins.salesiq import chats

#: The extension's templates (``templates/``), escaped.
templates = Environment(
    loader=PackageLoader("plugins.salesiq", "templates"),
    autoescape=select_autoescape(default=True),
)


def local_time(context: Context, moment: datetime | None) -> str:
    """A time in the organisation's time zone, to the minute (empty for none)."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(context.timezone)).strftime("%Y-%m-%d %H:%M")


def rule_summary(context: Context) -> list[tuple[str, str]]:
    """The conversion settings as (what, chosen) lines in the reader's language."""
    which = {
        chats.ALL: context.gettext("All chats"),
        chats.ATTENDED: context.gettext("Attended chats"),
        chats.MISSED: context.gettext("Missed chats"),
        chats.NONE: context.gettext("None (agents convert by hand)"),
    }
    when = {
        chats.ANSWERED: context.gettext("When the chat is answered"),
        chats.ENDED: context.gettext("When the chat ends"),
    }
    status = {chats.OPEN: context.gettext("Open"), chats.CLOSED: context.gettext("Closed")}
    shown = {
        "associated": context.gettext("Associated departments only"),
        "all": context.gettext("All departments"),
    }
    settings = context.settings
    return [
        (context.gettext("Chats converted"), which[settings.get("convert_chats", chats.ATTENDED)]),
        (context.gettext("Converted"), when[settings.get("convert_when", chats.ENDED)]),
        (context.gettext("Ticket status"), status[settings.get("ticket_status", chats.OPEN)]),
        (
            context.gettext("Tickets in the chat window"),
            shown[settings.get("recent_tickets", "associated")],
        ),
    ]
