"""The Customer Insights ticket panel: the figures of the ticket's contact, or of its account."""

from __future__ import annotations

from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from hostapi import Context, PanelTarget, ScopeError
from hostapi.i18n import template_functions
from plugins.customer_insights import charts, display
from plugins.customer_insights.aggregates import can_keep_figures
from plugins.customer_insights.metrics import (
    Figures,
    contact_ticket_counts,
    figures_unless_preparing,
)

# The host's palette for open and closed tickets, so the donut matches the ticket badges.
OPEN_COLOUR = "#2563eb"
CLOSED_COLOUR = "#15803d"

#: The query parameter of the ticket page that switches the panel to the contact's account.
SWITCH_PARAMETER = "insights_for"

templates = Environment(
    loader=PackageLoader("plugins.customer_insights", "templates"),
    autoescape=select_autoescape(default=True),
)


def render_insights_panel(context: Context, target: PanelTarget) -> str:
    """The panel for a ticket: its contact's (or account's) figures that the context may see.

    A ticket without a contact, a ticket outside the context and a grant without
    ``desk.tickets.read`` each get a one-line explanation instead of figures, and so does a
    backfill still running. Without the scopes to keep the figures only the counts are shown.
    """
    if target.kind != "ticket":
        raise ValueError(f"the Customer Insights panel has no {target.kind!r} view")
    _ = context.gettext
    try:
        ticket = context.get_ticket(target.id)
        if ticket is None:
            return display.message(
                _("This ticket is outside the departments this extension shows you.")
            )
        if ticket.contact_id is None:
            return display.message(_("This ticket has no customer."))
        account_id = _account_of(context, ticket.contact_id)
        kind, customer_id = "contact", ticket.contact_id
        if account_id is not None and context.query_args.get(SWITCH_PARAMETER) == "account":
            kind, customer_id = "account", account_id
        if can_keep_figures(context):
            shown = figures_unless_preparing(context, kind, customer_id)
            if shown is None:
                return display.preparing(context)
            counts = shown.counts
        else:
            shown = None
            counts = contact_ticket_counts(context, ticket.contact_id)
            kind, customer_id = "contact", ticket.contact_id
    except ScopeError:
        return display.message(_("This extension is not authorized to read tickets."))
    chart = charts.donut(
        [(counts.open, OPEN_COLOUR), (counts.closed, CLOSED_COLOUR)],
        label=_(
            "Open tickets: %(open)s, closed tickets: %(closed)s",
            open=counts.open,
            closed=counts.closed,
        ),
    )
    return templates.get_template("insights_panel.html").render(
        counts=counts,
        chart=chart,
        kind=kind,
        customer_id=customer_id,
        contact_id=ticket.contact_id,
        switch=_switch_links(context, account_id) if shown is not None else None,
        averages=None if shown is None else display.averages(context, shown),
        ratings=None if shown is None else display.ratings(context, shown),
        happiness_bar=None if shown is None else happiness_bar(context, shown),
        open_colour=OPEN_COLOUR,
        closed_colour=CLOSED_COLOUR,
        lang=context.language,
        **template_functions(context),
    )


def happiness_bar(context: Context, shown: Figures) -> Markup:
    """The good / okay / bad bar, its text alternative stating every count and share."""
    rated = display.ratings(context, shown)
    label = context.gettext(
        "Good: %(good)s (%(good_percent)s%%), okay: %(okay)s (%(okay_percent)s%%), "
        "bad: %(bad)s (%(bad_percent)s%%)",
        good=rated[0].count,
        good_percent=rated[0].percent,
        okay=rated[1].count,
        okay_percent=rated[1].percent,
        bad=rated[2].count,
        bad_percent=rated[2].percent,
    )
    return charts.bar([(r.count, r.colour) for r in rated], label=label)


def _account_of(context: Context, contact_id: int) -> int | None:
    """The contact's account, or ``None`` (none, or no grant to read contacts)."""
    try:
        contact = context.get_contact(contact_id)
    except ScopeError:
        return None
    return None if contact is None else contact.account_id


def _switch_links(context: Context, account_id: int | None) -> dict[str, str] | None:
    """The links of the contact / account switch (they keep the page's other parameters)."""
    if account_id is None:
        return None
    others = {k: v for k, v in context.query_args.items() if k != SWITCH_PARAMETER}
    return {
        "contact": "?" + urlencode({**others, SWITCH_PARAMETER: "contact"}),
        "account": "?" + urlencode({**others, SWITCH_PARAMETER: "account"}),
    }
