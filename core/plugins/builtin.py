"""The core's own contributions, registered as ordinary plugins (as datasette's DEFAULT_PLUGINS).

Built-in plugins need no installation: their panels show to every agent, over what that agent
may see. They eat the same hooks extensions implement, so the tab mechanism has one path.
"""

from __future__ import annotations

from flask import render_template

from core.plugins.manifest import Manifest, load_manifest
from hostapi import Context, Location, Panel, PanelTarget, TicketQuery, hookimpl

#: How many of the customer's tickets the Tickets tab lists.
TICKETS_TAB_LIMIT = 20


def render_customer_tickets(context: Context, target: PanelTarget) -> str:
    """The customer's visible tickets, newest first (the contact and account Tickets tab)."""
    query = TicketQuery(limit=TICKETS_TAB_LIMIT)
    if target.kind == "contact":
        query.contact_id = target.id
    elif target.kind == "account":
        query.account_id = target.id
    else:
        raise ValueError(f"the Tickets tab has no {target.kind!r} view")
    tickets = context.list_tickets(query)
    return render_template("builtin/customer_tickets.html", tickets=tickets, target=target)


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
