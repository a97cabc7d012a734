"""The Customer Insights Overview tab of a contact's or an account's page.

Counts (all, open including on hold, overdue), happiness, tickets by channel, the three
averages, the public replies, and the customer's tickets in All / Open / On hold tabs, a
keyset page at a time. An account's figures are those of the tickets whose account it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from hostapi import Context, PanelTarget, ScopeError, TicketQuery, TicketRecord
from hostapi.i18n import template_functions
from plugins.customer_insights import charts, display
from plugins.customer_insights.aggregates import can_keep_figures
from plugins.customer_insights.api import export_url
from plugins.customer_insights.metrics import figures_unless_preparing, overdue_tickets
from plugins.customer_insights.panel import happiness_bar, templates

#: Tickets listed per page of the Overview's ticket list.
PAGE_SIZE = 25

#: The ticket list's tabs: query value → the status type listed (``None``: every ticket).
TICKET_TABS = {"all": None, "open": "open", "on_hold": "on_hold"}

#: Colours of the channel donut's segments, in order of the channels' counts.
CHANNEL_COLOURS = ("#2563eb", "#15803d", "#ca8a04", "#9333ea", "#dc2626", "#0891b2", "#64748b")

_TAB_KEYS = {"contact": "overview", "account": "account_overview"}


def render_overview(context: Context, target: PanelTarget) -> str:
    """The Overview tab for ``target`` (a contact or an account)."""
    if target.kind not in _TAB_KEYS:
        raise ValueError(f"the Customer Insights Overview has no {target.kind!r} view")
    _ = context.gettext
    if not can_keep_figures(context):
        return display.message(
            _("This extension is not authorized to read tickets and their threads.")
        )
    shown = figures_unless_preparing(context, target.kind, target.id)
    if shown is None:
        return display.preparing(context)
    tab = context.query_args.get("tickets")
    tab = tab if tab in TICKET_TABS else "all"
    after = _cursor(context.query_args.get("before"))
    try:
        page = context.list_tickets(
            TicketQuery(
                contact_id=target.id if target.kind == "contact" else None,
                account_id=target.id if target.kind == "account" else None,
                status_type=TICKET_TABS[tab],
                limit=PAGE_SIZE + 1,
                after=after,
            )
        )
    except ScopeError:
        return display.message(_("This extension is not authorized to read tickets."))
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    channels = sorted(shown.tickets_by_channel.items(), key=lambda item: (-item[1], item[0]))
    coloured = [
        (channel, count, CHANNEL_COLOURS[index % len(CHANNEL_COLOURS)])
        for index, (channel, count) in enumerate(channels)
        if count
    ]
    channel_chart = charts.donut(
        [(count, colour) for _channel, count, colour in coloured],
        label=_("Tickets by channel: %(channels)s", channels=_channel_words(context, coloured))
        if coloured
        else _("No tickets by channel yet."),
        size=120,
    )
    return templates.get_template("overview.html").render(
        figures=shown,
        open_count=shown.open_tickets + shown.on_hold_tickets,
        overdue=overdue_tickets(context, target.kind, target.id),
        averages=display.averages(context, shown),
        ratings=display.ratings(context, shown),
        happiness_bar=happiness_bar(context, shown),
        channels=coloured,
        channel_chart=channel_chart,
        channel_name=lambda channel: channel_name(context, channel),
        status_label=context.status_label,
        tickets=page,
        tab=tab,
        tab_links={key: _link(context, target.kind, tickets=key) for key in TICKET_TABS},
        next_link=_link(context, target.kind, tickets=tab, before=_cursor_text(page[-1]))
        if more
        else None,
        first_link=_link(context, target.kind, tickets=tab) if after is not None else None,
        local=_local_time(context),
        kind=target.kind,
        customer_id=target.id,
        export_link=export_url(context.installation_id, target.kind, target.id),
        lang=context.language,
        **template_functions(context),
    )


def channel_name(context: Context, channel: str) -> str:
    """A channel as agents read it (an unknown one as stored)."""
    _ = context.gettext
    names = {
        "email": _("Email"),
        "phone": _("Phone"),
        "web_form": _("Web form"),
        "chat": _("Chat"),
        "api": "API",
        "whatsapp": "WhatsApp",
        "telegram": "Telegram",
        "wechat": "WeChat",
        "line": "LINE",
    }
    return names.get(channel, channel)


def _channel_words(context: Context, coloured: list[tuple[str, int, str]]) -> str:
    return ", ".join(
        context.gettext(
            "%(channel)s %(count)s", channel=channel_name(context, channel), count=count
        )
        for channel, count, _colour in coloured
    )


def _local_time(context: Context) -> Callable[[datetime], str]:
    """A template function: a time as ``YYYY-MM-DD HH:MM`` in the context's time zone."""
    zone = ZoneInfo(context.timezone)
    return lambda when: when.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _cursor(text: str | None) -> tuple[datetime, int] | None:
    """The keyset cursor ``<created at ISO>_<ticket id>``; an unreadable one starts at the top."""
    if not text or "_" not in text:
        return None
    created, _sep, ticket_id = text.rpartition("_")
    try:
        when = datetime.fromisoformat(created)
    except ValueError:
        return None
    if not ticket_id.isdigit() or when.tzinfo is None:
        return None
    return when, int(ticket_id)


def _cursor_text(ticket: TicketRecord) -> str:
    return f"{ticket.created_at.isoformat()}_{ticket.id}"


def _link(context: Context, kind: str, **values: str) -> str:
    """A link to the Overview tab with ``values``, landing on the tab area.

    The tab stays selected by the page's own ``tab`` parameter; without one (the Overview is
    shown as the first tab) it is named as the host names an installation's tab.
    """
    tab = context.query_args.get("tab")
    if not tab:
        tab = f"{context.plugin_id}.{_TAB_KEYS[kind]}.{context.installation_id}"
    return "?" + urlencode({"tab": tab, **values}) + "#customer-tabs"
