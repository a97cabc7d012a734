"""The Ticket History panel: the customer's other tickets, newest first, each linked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from hostapi import Context, PanelTarget, ScopeError, TicketQuery
from plugins.ticket_history import i18n

#: Tickets listed when the installation's settings do not say (the manifest's default).
DEFAULT_PAGE_SIZE = 10

_templates = Environment(
    loader=PackageLoader("plugins.ticket_history", "templates"),
    autoescape=select_autoescape(default=True),
)


def page_size(settings: Mapping[str, Any]) -> int:
    """How many tickets the panel lists: the installation's ``page_size`` setting."""
    value = settings.get("page_size")
    return value if isinstance(value, int) and value > 0 else DEFAULT_PAGE_SIZE


def render_history_panel(context: Context, target: PanelTarget) -> str:
    """The panel for a ticket: its contact's other tickets that the context may see.

    A ticket without a contact, a ticket outside the context and a grant without
    ``desk.tickets.read`` each get a one-line explanation instead of a list.
    """
    if target.kind != "ticket":
        raise ValueError(f"the Ticket History panel has no {target.kind!r} view")
    lang = i18n.language(context)
    words = i18n.TEXTS[lang]
    limit = page_size(context.settings)
    try:
        ticket = context.get_ticket(target.id)
        if ticket is None:
            return _message(words["ticket_hidden"])
        if ticket.contact_id is None:
            return _message(words["no_customer"])
        # Two more than shown: one may be this ticket, the other tells whether there are more.
        newest = context.list_tickets(TicketQuery(contact_id=ticket.contact_id, limit=limit + 2))
    except ScopeError:
        return _message(words["not_authorized"])
    others = [t for t in newest if t.id != ticket.id]
    zone = ZoneInfo(context.timezone)
    return _templates.get_template("history_panel.html").render(
        tickets=others[:limit],
        more=len(others) > limit,
        limit=limit,
        words=words,
        statuses=i18n.STATUSES[lang],
        channels=i18n.CHANNELS[lang],
        local_time=lambda moment: _local(moment, zone),
        lang=lang,
        contact_id=ticket.contact_id,
    )


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _message(text: str) -> str:
    return Markup('<p class="ticket-history empty">{}</p>').format(text)
