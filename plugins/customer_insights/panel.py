"""The Customer Insights ticket panel: the customer's open and closed tickets as a donut."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from hostapi import Context, PanelTarget, ScopeError
from plugins.customer_insights import charts, i18n
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
    words = i18n.texts(context)
    try:
        ticket = context.get_ticket(target.id)
        if ticket is None:
            return _message(words["ticket_hidden"])
        if ticket.contact_id is None:
            return _message(words["no_customer"])
        counts = contact_ticket_counts(context, ticket.contact_id)
    except ScopeError:
        return _message(words["not_authorized"])
    chart_label = words["chart"].format(open=counts.open, closed=counts.closed)
    chart = charts.donut(
        [(counts.open, OPEN_COLOUR), (counts.closed, CLOSED_COLOUR)], label=chart_label
    )
    return _templates.get_template("insights_panel.html").render(
        words=words,
        counts=counts,
        chart=chart,
        contact_id=ticket.contact_id,
        open_colour=OPEN_COLOUR,
        closed_colour=CLOSED_COLOUR,
        lang=i18n.language(context),
    )


def _message(text: str) -> str:
    return Markup('<p class="customer-insights empty">{}</p>').format(text)
