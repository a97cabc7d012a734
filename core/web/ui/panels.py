"""What the extension areas show: the panels and tabs ``core.web.extensions`` resolves."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import format_decimal
from markupsafe import Markup

from core.models import Agent
from core.web.database import db_session
from core.web.extensions import panels_for
from hostapi.types import PanelTarget

#: Tab counts above this show as "10,000+" (a count may stop just past it, as ticket counts do).
TAB_COUNT_CAP = 10_000


@dataclass(frozen=True)
class PanelView:
    """One panel or tab ready for a template: a key unique on the page, title, HTML, and
    the installation's label where two installations of its extension show here."""

    key: str
    title: str
    html: Markup
    installation_label: str | None = None
    count: int | None = None

    @property
    def count_text(self) -> str | None:
        """The count as shown beside the tab's title ("10,000+" past :data:`TAB_COUNT_CAP`)."""
        if self.count is None:
            return None
        if self.count > TAB_COUNT_CAP:
            return format_decimal(TAB_COUNT_CAP) + "+"
        return format_decimal(self.count)


def panels_at(
    location: str,
    target: PanelTarget,
    agent: Agent,
    *,
    as_tabs: bool = False,
    selected: str | None = None,
) -> list[PanelView]:
    """The panels at ``location`` for ``target`` that ``agent`` may see, in display order;
    as tabs, only the ``selected`` one (else the first) rendered, each with its count."""
    host = current_app.extensions["deskhost.host"]
    found = panels_for(
        db_session(), host, location, target, agent, as_tabs=as_tabs, selected=selected
    )
    return [
        PanelView(
            key=panel.page_key,
            title=panel.title,
            html=Markup(panel.html),
            installation_label=panel.installation_label,
            count=panel.count,
        )
        for panel in found
    ]
