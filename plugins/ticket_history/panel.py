"""The Ticket History panel: the customer's other tickets, newest first, each linked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from hostapi import Context, PanelTarget, ScopeError, TicketQuery
from hostapi.i18n import N_, template_functions

#: Tickets listed when the installation's settings do not say (the manifest's default).
DEFAULT_PAGE_SIZE = 10

#: How the built-in statuses read; a custom status is shown by its own name.
STATUS_LABELS: Mapping[str, str] = {
    "Open": N_("Open"),
    "Escalated": N_("Escalated"),
    "On Hold": N_("On hold"),
    "Resolved": N_("Resolved"),
    "Closed": N_("Closed"),
}

#: How the host's channels read; a channel an extension registered is shown by its code.
CHANNEL_LABELS: Mapping[str, str] = {
    "email": N_("Email"),
    "web_form": N_("Web form"),
    "phone": N_("Phone"),
    "chat": N_("Chat"),
    "whatsapp": N_("WhatsApp"),
    "telegram": N_("Telegram"),
    "wechat": N_("WeChat"),
    "line": N_("LINE"),
    "api": N_("API"),
}

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
    _ = context.gettext
    limit = page_size(context.settings)
    try:
        ticket = context.get_ticket(target.id)
        if ticket is None:
            return _message(_("This ticket is outside the departments this extension shows you."))
        if ticket.contact_id is None:
            return _message(_("This ticket has no customer."))
        # Two more than shown: one may be this ticket, the other tells whether there are more.
        newest = context.list_tickets(TicketQuery(contact_id=ticket.contact_id, limit=limit + 2))
    except ScopeError:
        return _message(_("This extension is not authorized to read tickets."))
    others = [t for t in newest if t.id != ticket.id]
    zone = ZoneInfo(context.timezone)
    return _templates.get_template("history_panel.html").render(
        tickets=others[:limit],
        more=len(others) > limit,
        limit=limit,
        status_label=lambda status: _label(context, STATUS_LABELS, status),
        channel_label=lambda channel: _label(context, CHANNEL_LABELS, channel),
        local_time=lambda moment: _local(moment, zone),
        lang=context.language,
        contact_id=ticket.contact_id,
        **template_functions(context),
    )


def _label(context: Context, labels: Mapping[str, str], code: str) -> str:
    """A known code's label in the context's language; an unknown code as it is."""
    return context.gettext(labels[code]) if code in labels else code


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _message(text: str) -> str:
    return Markup('<p class="ticket-history empty">{}</p>').format(text)
