"""The dashboard page (``/ext/im_dashboard/<installation id>/dashboard/``): the six groups of
figures of the chats of the reader's departments (contacts, messages, chats by status, chats
by channel, response times, agents), each with its trend, for a period in the organisation's
time zone and a channel.

While open, the page asks for its figures again every few seconds (``rendering.live_script``)
and swaps them in; the same figures are in REST (``GET dashboard``) and in a CSV download.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, request, url_for
from flask.typing import ResponseReturnValue

from hostapi import Context, Page, current_context, render_page
from hostapi.i18n import N_, template_functions
from plugins.im_dashboard import charts, export, periods, rendering
from plugins.im_dashboard.channels import CHANNELS
from plugins.im_dashboard.figures import Figures, agents_in_order, figures

#: The page's title, marked here and translated when shown.
TITLE = N_("IM dashboard")

#: The periods' labels (translated when shown).
PERIOD_LABELS = {
    "last_24_hours": N_("Last 24 hours"),
    "today": N_("Today"),
    "yesterday": N_("Yesterday"),
    "last_7_days": N_("Last 7 days"),
    "last_30_days": N_("Last 30 days"),
    "this_week": N_("This week"),
    "last_week": N_("Last week"),
    "this_month": N_("This month"),
    "last_month": N_("Last month"),
    "custom": N_("Custom"),
}


def page() -> Page:
    """The dashboard, with its navigation link."""
    return Page(
        blueprint=_blueprint(),
        title="IM dashboard",
        title_ja="IMダッシュボード",
        menu=True,
        menu_path="dashboard/",
    )


def _blueprint() -> Blueprint:
    pages = Blueprint("im_dashboard_dashboard", __name__, url_prefix="/dashboard")
    pages.add_url_rule("/", "index", index)
    pages.add_url_rule("/export.csv", "export", download)
    pages.add_url_rule("/live.js", "script", rendering.live_script)
    return pages


def index() -> ResponseReturnValue:
    """The dashboard; with ``fragment=1``, only its figures (what the live update swaps in)."""
    context = current_context()
    chosen = _chosen(context)
    found, errors = _figures(context, chosen)
    values = _values(context, chosen, found, errors)
    if request.args.get("fragment") == "1":
        return rendering.templates.get_template("dashboard_figures.html").render(**values)
    title = context.gettext(TITLE)
    body = rendering.templates.get_template("dashboard.html").render(title=title, **values)
    return render_page(title, body), 422 if errors else 200


def download() -> ResponseReturnValue:
    """The figures as CSV (one per row; see ``export``)."""
    context = current_context()
    found, errors = _figures(context, _chosen(context))
    if found is None:
        return Response("\n".join(f"{k}: {v}" for k, v in errors.items()), 422)
    return Response(
        export.csv_text(found),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{export.filename(found)}"'},
    )


def _chosen(context: Context) -> dict[str, str]:
    """The filter as asked (the period defaults to today, the channel to all)."""
    args = request.args
    return {
        "period": args.get("period") or "today",
        "channel": args.get("channel") or "all",
        "from": args.get("from") or "",
        "to": args.get("to") or "",
    }


def _figures(context: Context, chosen: dict[str, str]) -> tuple[Figures | None, dict[str, str]]:
    """The figures the filter asks for, or the errors of its fields."""
    errors: dict[str, str] = {}
    channel = chosen["channel"]
    if channel != "all" and channel not in CHANNELS:
        errors["channel"] = context.gettext("Choose one of the channels offered.")
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        try:
            days[name] = date.fromisoformat(chosen[name]) if chosen[name] else None
        except ValueError:
            errors[name] = context.gettext("Give a date as YYYY-MM-DD.")
    if errors:
        return None, errors
    try:
        period = periods.resolve_for(context, chosen["period"], days["from"], days["to"])
    except periods.PeriodError as error:
        return None, {error.field: context.gettext(error.message, **error.variables)}
    return figures(context, period, None if channel == "all" else channel), {}


def _values(
    context: Context, chosen: dict[str, str], found: Figures | None, errors: dict[str, str]
) -> dict[str, Any]:
    zone = ZoneInfo(context.timezone)

    def duration(seconds: float | None) -> str:
        """A duration as h:mm:ss (— with nothing to average)."""
        if seconds is None:
            return "—"
        whole = round(seconds)
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"

    def bucket_label(moment: Any) -> str:
        return moment.strftime("%H:%M" if found and found.period.bucket == "hour" else "%m-%d")

    query = {k: v for k, v in chosen.items() if v}
    return {
        "chosen": chosen,
        "figures": found,
        "errors": errors,
        "periods": PERIOD_LABELS,
        "channels": CHANNELS,
        "agents": agents_in_order(found) if found else [],
        "duration": duration,
        "bucket_label": bucket_label,
        "chart": charts.trend,
        "split": charts.split,
        "Series": charts.Series,
        "palette": charts.PALETTE,
        "when": lambda moment: rendering.local_time(context, moment),
        "now": context.now().astimezone(zone).strftime("%H:%M:%S"),
        "fragment_url": url_for(".index", fragment="1", **query),
        "export_url": url_for(".export", **query),
        "script_url": url_for(".script"),
        "refresh_seconds": rendering.REFRESH_SECONDS,
        "zone": context.timezone,
        **template_functions(context),
    }
