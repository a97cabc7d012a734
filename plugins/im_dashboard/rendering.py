"""What the extension's pages share to render: its templates, and times as the organisation
reads them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from hostapi import Context

#: The extension's templates (``templates/``), escaped.
templates = Environment(
    loader=PackageLoader("plugins.im_dashboard", "templates"),
    autoescape=select_autoescape(default=True),
)


def local_time(context: Context, moment: datetime | None) -> str:
    """A time in the organisation's time zone, to the minute (empty for none)."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(context.timezone)).strftime("%Y-%m-%d %H:%M")
