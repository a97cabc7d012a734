"""Ticket History: The customer's earlier tickets beside the ticket you are working on.

The extension is loaded through the ``deskhost.plugins`` entry point; its hook
implementations live in this package and its manifest in ``manifest.json``.
"""

from __future__ import annotations

from hostapi import Location, Panel, hookimpl
from plugins.ticket_history.panel import render_history_panel


@hookimpl
def deskhost_panels() -> list[Panel]:
    """The Ticket History panel beside every ticket the installation covers."""
    return [
        Panel(
            key="history",
            location=Location.TICKET_RIGHT_PANEL,
            title="Ticket History",
            title_ja="問い合わせ履歴",
            render=render_history_panel,
            order=20,
        )
    ]
