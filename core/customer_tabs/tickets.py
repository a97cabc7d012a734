"""The Tickets tab: the customer's tickets the agent may see, newest first, by status type."""

from __future__ import annotations

from flask import render_template

from core.customer_tabs.base import customer_filter, customer_tab, read_cursor, tab_link
from core.services import tickets as ticket_service
from core.services.base import Cursor
from core.web.ui.units import request_unit
from hostapi import Context, PanelTarget, TicketQuery

#: How many of the customer's tickets a page of the Tickets tab lists.
TICKETS_TAB_LIMIT = 20

#: The Tickets tab's status filter: every status type, or one (the ``tickets_status`` argument).
TICKETS_TAB_STATUSES = ("", "open", "on_hold", "closed")


def render_customer_tickets(context: Context, target: PanelTarget) -> str:
    """The customer's visible tickets, newest first (the contact and account Tickets tab),
    filtered by status type (``?tickets_status=``) and paged by keyset
    (``?tickets_before=``, the cursor of the last ticket of the page before). An argument it
    cannot read (a hand-edited URL) is dropped."""
    args = context.query_args
    status = args.get("tickets_status", "")
    status = status if status in TICKETS_TAB_STATUSES else ""
    before = read_cursor(args, "tickets_before", Cursor.parse)
    contact_id, account_id = customer_filter(target)
    found = context.list_tickets(
        TicketQuery(
            contact_id=contact_id,
            account_id=account_id,
            limit=TICKETS_TAB_LIMIT + 1,
            status_type=status or None,
            after=(before.created_at, before.id) if before else None,
        )
    )
    tickets = found[:TICKETS_TAB_LIMIT]
    older = (
        Cursor(tickets[-1].created_at, tickets[-1].id).encode()
        if len(found) > len(tickets)
        else None
    )

    def link(**changes: str | None) -> str:
        """The page's query with the tab's arguments changed (``None`` drops one)."""
        return tab_link(args, "tickets_", **{"tickets_status": status, **changes})

    return render_template(
        "builtin/customer_tickets.html",
        tickets=tickets,
        target=target,
        status=status,
        statuses=TICKETS_TAB_STATUSES,
        link=link,
        older=link(tickets_before=older) if older else None,
        newest=link() if before else None,
    )


def count_customer_tickets(context: Context, target: PanelTarget) -> int:
    """How many of the customer's tickets the agent may see (stops past the host's cap)."""
    contact_id, account_id = customer_filter(target)
    counted = ticket_service.count_tickets(
        request_unit(), contact_id=contact_id, account_id=account_id
    )
    return counted.count + 1 if counted.capped else counted.count


PLUGIN = customer_tab(
    "core_customer_tickets",
    "Customer tickets",
    key="tickets",
    title="Tickets",
    title_ja="問い合わせ",
    render=render_customer_tickets,
    count=count_customer_tickets,
)
