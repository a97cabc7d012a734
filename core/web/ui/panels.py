"""What the extension areas show: the panels and tabs ``core.web.extensions`` resolves."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from markupsafe import Markup

from core.models import Agent
from core.web.database import db_session
from core.web.extensions import panels_for
from hostapi.types import PanelTarget


@dataclass(frozen=True)
class PanelView:
    """One panel or tab ready for a template: a key unique on the page, title, HTML, and
    the installation's label where two installations of its extension show here."""

    key: str
    title: str
    html: Markup
    installation_label: str | None = None


def panels_at(location: str, target: PanelTarget, agent: Agent) -> list[PanelView]:
    """The panels at ``location`` for ``target`` that ``agent`` may see, in display order."""
    host = current_app.extensions["deskhost.host"]
    views = []
    for panel in panels_for(db_session(), host, location, target, agent):
        # An extension installed twice contributes the same key twice: qualify it.
        key = f"{panel.plugin_id}.{panel.key}"
        if panel.installation_id is not None:
            key += f".{panel.installation_id}"
        views.append(
            PanelView(
                key=key,
                title=panel.title,
                html=Markup(panel.html),
                installation_label=panel.installation_label,
            )
        )
    return views
