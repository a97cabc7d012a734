"""The core's own contributions, registered as ordinary plugins (as datasette's DEFAULT_PLUGINS).

Built-in plugins need no installation: their panels show to every agent, over what that agent
may see. They eat the same hooks extensions implement, so the tab mechanism has one path.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import render_template

from core.errors import ValidationFailed
from core.plugins.manifest import Manifest, load_manifest
from core.services.base import Cursor
from hostapi import Context, Location, Panel, PanelTarget, TicketQuery, hookimpl

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
    try:
        before = Cursor.parse(args.get("tickets_before") or None, "tickets_before")
    except ValidationFailed:
        before = None
    query = TicketQuery(
        limit=TICKETS_TAB_LIMIT + 1,
        status_type=status or None,
        after=(before.created_at, before.id) if before else None,
    )
    if target.kind == "contact":
        query.contact_id = target.id
    elif target.kind == "account":
        query.account_id = target.id
    else:
        raise ValueError(f"the Tickets tab has no {target.kind!r} view")
    found = context.list_tickets(query)
    tickets = found[:TICKETS_TAB_LIMIT]
    older = (
        Cursor(tickets[-1].created_at, tickets[-1].id).encode()
        if len(found) > len(tickets)
        else None
    )

    def link(**changes: str | None) -> str:
        """The page's query with the tab's arguments changed (``None`` drops one)."""
        kept = {name: value for name, value in args.items() if not name.startswith("tickets_")}
        mine = {"tickets_status": status or None, "tickets_before": None, **changes}
        return "?" + urlencode({**kept, **{k: v for k, v in mine.items() if v}})

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


class CustomerTicketsTab:
    """The Tickets tab of contact and account pages."""

    @hookimpl
    def deskhost_panels(self) -> list[Panel]:
        """The tab at both customer locations."""
        return [
            Panel(
                key="contact_tickets",
                location=Location.CONTACT_SUBTAB,
                title="Tickets",
                title_ja="問い合わせ",
                render=render_customer_tickets,
                order=20,
            ),
            Panel(
                key="account_tickets",
                location=Location.ACCOUNT_SUBTAB,
                title="Tickets",
                title_ja="問い合わせ",
                render=render_customer_tickets,
                order=20,
            ),
        ]


def _manifest(plugin_id: str, name: str, panels: list[tuple[str, str, str, str]]) -> Manifest:
    return load_manifest(
        {
            "id": plugin_id,
            "name": name,
            "version": "1.0",
            "publisher": "deskhost",
            "category": "core",
            "description": {"en": name, "ja": name},
            "scopes": [],
            "panels": [
                {"key": key, "location": location, "title": {"en": en, "ja": ja}}
                for key, location, en, ja in panels
            ],
            "hostapi": ">=1.0",
            "terms": {"en": "Part of deskhost.", "ja": "deskhostの一部です。"},
            "single_install": True,
        },
        plugin_id,
    )


CUSTOMER_TICKETS_MANIFEST = _manifest(
    "core_customer_tickets",
    "Customer tickets",
    [
        ("contact_tickets", Location.CONTACT_SUBTAB, "Tickets", "問い合わせ"),
        ("account_tickets", Location.ACCOUNT_SUBTAB, "Tickets", "問い合わせ"),
    ],
)

#: The built-in plugins every host registers, with their manifests.
DEFAULT_PLUGINS: tuple[tuple[object, Manifest], ...] = (
    (CustomerTicketsTab(), CUSTOMER_TICKETS_MANIFEST),
)
