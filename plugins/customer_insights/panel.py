"""The Customer Insights ticket panel: the customer's open and closed tickets as a donut."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from hostapi import Context, PanelTarget, ScopeError
from hostapi.i18n import template_functions
from plugins.customer_insights import charts
from plugins.customer_insights.metrics import contact_ticket_counts

# The host's palette for open and closed tickets, so the donut matches the ticket badges.
OPEN_COLOUR = "#2563eb"
CLOSED_COLOUR = "#15803d"

_templates = Environment(
    loader=PackageLoader("plugins.customer_insights", "templates"),
    autoescape=select_autoescape(default=True),
)


def render_insights_panel(context: Context, target: PanelTarget) -> str:
    """The panel for a ticket: its contact's open and closed tickets that the context may see.

    A ticket without a contact, a ticket outside the context and a grant without
    ``desk.tickets.read`` each get a one-line explanation instead of figures.
    """
    if target.kind != "ticket":
        raise ValueError(f"the Customer Insights panel has no {target.kind!r} view")
    _ = context.gettext
    try:
        ticket = context.get_ticket(target.id)
        if ticket is None:
            return _message(_("This ticket is outside the departments this extension shows you."))
        if ticket.contact_id is None:
            return _message(_("This ticket has no customer."))
        counts = contact_ticket_counts(context, ticket.contact_id)
    except ScopeError:
        return _message(_("This extension is not authorized to read tickets."))
    chart_label = _(
        "Open tickets: %(open)s, closed tickets: %(closed)s",
        open=counts.open,
        closed=counts.closed,
    )
    chart = charts.donut(
        [(counts.open, OPEN_COLOUR), (counts.closed, CLOSED_COLOUR)], label=chart_label
    )
    return _templates.get_template("insights_panel.html").render(
        counts=counts,
        chart=chart,
        contact_id=ticket.contact_id,
        open_colour=OPEN_COLOUR,
        closed_colour=CLOSED_COLOUR,
        lang=context.language,
        **template_functions(context),
    )


def _message(text: str) -> str:
    return Markup('<p class="customer-insights empty">{}</p>').format(text)
