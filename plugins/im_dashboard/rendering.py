"""What the extension's pages share to render: its templates, times as the organisation reads
them, and the script that keeps an open page live."""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from zoneinfo import ZoneInfo

from flask import Response
from jinja2 import Environment, PackageLoader, select_autoescape

from hostapi import Context

#: How often an open page asks for its live parts again, in seconds.
REFRESH_SECONDS = 5

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


def live_script() -> Response:
    """The view of ``live.js``: each element of a page with ``data-fragment-url`` asks for its
    content again every ``REFRESH_SECONDS`` (served by the extension itself: the host's pages
    allow scripts of their own origin only)."""
    text = resources.files("plugins.im_dashboard").joinpath("live.js").read_text("utf-8")
    return Response(text, mimetype="text/javascript", headers={"Cache-Control": "max-age=300"})
