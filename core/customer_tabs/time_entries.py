"""The Time entries tab: the time logged on the customer's tickets, filtered, with totals."""

from __future__ import annotations

from datetime import date

from flask import render_template
from flask_babel import gettext
from sqlalchemy import select

from core.customer_tabs.base import customer_filter, customer_tab, read_cursor, tab_link
from core.errors import ValidationFailed
from core.models import Agent
from core.services import customer_time
from core.services.base import Cursor
from core.services.customer_time import BILLINGS, TimeFilter
from core.web.ui import labels
from core.web.ui.units import request_unit
from hostapi import Context, PanelTarget

#: How many entries a page of the Time entries tab lists.
TIME_TAB_LIMIT = 20


def humanised_duration(seconds: int) -> str:
    """A duration as agents read it: "2 h 15 min", "45 min", "3 h" (seconds only under one
    minute; otherwise whole minutes, rounded down)."""
    if seconds < 60:
        return gettext("%(seconds)d s", seconds=seconds)
    hours, minutes = divmod(seconds // 60, 60)
    if not hours:
        return gettext("%(minutes)d min", minutes=minutes)
    if not minutes:
        return gettext("%(hours)d h", hours=hours)
    return gettext("%(hours)d h %(minutes)d min", hours=hours, minutes=minutes)


def time_filter_from(args: dict[str, str]) -> TimeFilter:
    """The tab's filter from its query arguments (``time_billing``, ``time_agent``,
    ``time_from``, ``time_to``); one it cannot read (a hand-edited URL) is dropped."""
    billing = args.get("time_billing", "")
    agent = args.get("time_agent", "")
    narrowed = TimeFilter(
        billing=billing if billing in BILLINGS else "all",
        agent_id=int(agent) if agent.isascii() and agent.isdigit() and len(agent) < 10 else None,
        since=_day(args.get("time_from", "")),
        until=_day(args.get("time_to", "")),
    )
    try:
        return narrowed.check()
    except ValidationFailed:
        return TimeFilter(billing=narrowed.billing, agent_id=narrowed.agent_id)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def render_customer_time_entries(context: Context, target: PanelTarget) -> str:
    """The time entries on the customer's visible tickets, latest logged first, narrowed by
    the filter form and paged by keyset (``?time_before=``), above the filtered set's totals."""
    args = dict(context.query_args)
    narrowed = time_filter_from(args)
    before = read_cursor(args, "time_before", Cursor.parse)
    unit = request_unit()
    contact_id, account_id = customer_filter(target)
    customer = {"contact_id": contact_id, "account_id": account_id}
    found = customer_time.list_time_entries(
        unit, **customer, narrowed=narrowed, limit=TIME_TAB_LIMIT + 1, before=before
    )
    entries = found[:TIME_TAB_LIMIT]
    older = entries[-1].cursor.encode() if len(found) > len(entries) else None
    chosen = {
        "time_billing": narrowed.billing if narrowed.billing != "all" else None,
        "time_agent": str(narrowed.agent_id) if narrowed.agent_id is not None else None,
        "time_from": narrowed.since.isoformat() if narrowed.since else None,
        "time_to": narrowed.until.isoformat() if narrowed.until else None,
    }

    def link(**changes: str | None) -> str:
        """The page's query with the tab's arguments changed (``None`` drops one)."""
        return tab_link(args, "time_", **{**chosen, **changes})

    return render_template(
        "builtin/customer_time_entries.html",
        entries=entries,
        totals=customer_time.time_totals(unit, **customer, narrowed=narrowed),
        narrowed=narrowed,
        target=target,
        billings=labels.BILLINGS,
        agents=unit.session.execute(select(Agent.id, Agent.name).order_by(Agent.name)).all(),
        kept={name: value for name, value in args.items() if not name.startswith("time_")},
        duration=humanised_duration,
        older=link(time_before=older) if older else None,
        newest=link() if before else None,
    )


def count_customer_time_entries(context: Context, target: PanelTarget) -> int:
    """How many time entries the customer's visible tickets have."""
    contact_id, account_id = customer_filter(target)
    return customer_time.count_time_entries(
        request_unit(), contact_id=contact_id, account_id=account_id
    )


PLUGIN = customer_tab(
    "core_customer_time_entries",
    "Customer time entries",
    key="time_entries",
    title="Time entries",
    title_ja="工数",
    render=render_customer_time_entries,
    count=count_customer_time_entries,
)
