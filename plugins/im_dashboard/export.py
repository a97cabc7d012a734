"""The dashboard as CSV: one figure per row (``group``, ``item``, ``figure``, ``value``), so
that a spreadsheet can pivot it. ``item`` names the channel, the agent or the trend's bucket
(its start, ISO 8601 in the organisation's time zone) where the group has several; an
average with nothing to average is an empty cell.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from hostapi import csv as host_csv
from plugins.im_dashboard.figures import Figures, agents_in_order

#: The file's columns.
HEADER = ("group", "item", "figure", "value")


def filename(figures: Figures) -> str:
    """The download's name: the period's local dates and the channel."""
    period = figures.period
    first = period.start.astimezone(period.zone).date()
    last = (period.end.astimezone(period.zone) - period.end.resolution).date()
    return f"im-dashboard_{first}_{last}_{figures.channel or 'all'}.csv"


def rows(figures: Figures) -> Iterator[tuple[object, ...]]:
    """Every figure, a row each, in the page's order."""
    data = figures.as_dict()
    for group in ("contacts", "messages", "chats", "response_times"):
        for name, value in data[group].items():
            yield group, "", name, value
    for channel in data["channels"]:
        for name in ("chats", "ended", "average_time_to_end_seconds"):
            yield "channels", channel["channel"], name, channel[name]
    for agent in agents_in_order(figures):
        yield "agents", agent.name, "assigned", agent.assigned
        yield "agents", agent.name, "reopened", agent.reopened
        yield "agents", agent.name, "average_start_seconds", agent.start.value
        yield "agents", agent.name, "average_first_response_seconds", agent.first_response.value
        yield "agents", agent.name, "average_response_seconds", agent.response.value
    buckets = [start.isoformat() for start in figures.period.buckets()]
    for name, values in figures.trend.items():
        for bucket, value in zip(buckets, values, strict=True):
            yield "trend", bucket, name, value


def csv_text(figures: Figures) -> Iterator[str]:
    """The file, in chunks."""
    buffer = io.StringIO()
    writer = host_csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in rows(figures):
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
