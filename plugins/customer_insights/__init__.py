"""Customer Insights: The customer's numbers beside every ticket: open vs closed tickets, first
response, response and resolution times, and happiness.

The extension is loaded through the ``deskhost.plugins`` entry point; its hook
implementations live in this package and its manifest in ``manifest.json``. This release
contributes the ticket side panel with the customer's open and closed tickets.
"""

from __future__ import annotations

from hostapi import Location, Panel, hookimpl
from plugins.customer_insights.panel import render_insights_panel


@hookimpl
def deskhost_panels() -> list[Panel]:
    """The Customer Insights panel beside every ticket the installation covers."""
    return [
        Panel(
            key="insights",
            location=Location.TICKET_RIGHT_PANEL,
            title="Customer Insights",
            title_ja="顧客インサイト",
            render=render_insights_panel,
            order=10,
        )
    ]
