"""The Activities tab: the calls, events and tasks about the customer, by kind and view
(upcoming, all, spam), with forms to log, complete, reschedule and flag them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import g, render_template, url_for
from flask_babel import lazy_gettext, lazy_pgettext
from sqlalchemy import select

from core import permissions
from core.customer_tabs.base import customer_filter, customer_tab, tab_link
from core.errors import ValidationFailed
from core.models import Activity, Agent
from core.services import activities as activity_service
from core.web.i18n import select_timezone
from core.web.ui.units import request_unit
from hostapi import Context, PanelTarget, clock

PLUGIN_ID = "core_customer_activities"

#: How many activities a page of the Activities tab lists.
ACTIVITIES_TAB_LIMIT = 20

#: The most agents the owner choice offers (by name): a desk's agents, bounded all the same.
OWNER_CHOICES_LIMIT = 500

#: The tab's kind filter (``activities_kind``): every kind (""), or calls, events or tasks.
KIND_FILTERS = {
    "": lazy_gettext("Activities"),
    "call": lazy_gettext("Calls"),
    "event": lazy_gettext("Events"),
    "task": lazy_gettext("Tasks"),
}

#: One activity's kind, as a row names it.
KIND_LABELS = {
    "call": lazy_gettext("Call"),
    "event": lazy_gettext("Event"),
    "task": lazy_gettext("Task"),
}

#: The tab's views (``activities_view``); upcoming is the default.
VIEW_LABELS = {
    activity_service.UPCOMING: lazy_pgettext("activities view", "Upcoming"),
    activity_service.ALL: lazy_pgettext("activities view", "All"),
    activity_service.SPAM: lazy_pgettext("activities view", "Spam"),
}

#: Spam as said of an activity (the desk's other "spam" is held mail).
SPAM_LABELS = {
    "tag": lazy_pgettext("activity", "Spam"),
    "mark": lazy_pgettext("activity", "Mark as spam"),
    "clear": lazy_pgettext("activity", "Not spam"),
}


def tab_key(kind: str) -> str:
    """The page key of the tab on a ``contact`` or ``account`` page (``?tab=``)."""
    return f"{PLUGIN_ID}.{kind}_activities"


def local_input_value(activity: Activity, zone: ZoneInfo) -> str:
    """The activity's due time as a ``datetime-local`` input's value in ``zone``."""
    if activity.due_at is None:
        return ""
    return activity.due_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def render_customer_activities(context: Context, target: PanelTarget) -> str:
    """A page of the customer's activities the agent may see, filtered by kind
    (``?activities_kind=``) and view (``?activities_view=``), paged by keyset
    (``?activities_before=``); an argument it cannot read (a hand-edited URL) is dropped.
    Agents who may manage activities also get the forms."""
    args = context.query_args
    kind = args.get("activities_kind", "")
    kind = kind if kind in KIND_FILTERS else ""
    view = args.get("activities_view", "")
    view = view if view in VIEW_LABELS else activity_service.UPCOMING
    before = args.get("activities_before") or None
    contact_id, account_id = customer_filter(target)
    unit = request_unit()

    def page(after: str | None) -> list[Activity]:
        return activity_service.list_customer_activities(
            unit,
            contact_id=contact_id,
            account_id=account_id,
            view=view,
            kind=kind or None,
            limit=ACTIVITIES_TAB_LIMIT + 1,
            after=after,
            cursor_field="activities_before",
        )

    try:
        found = page(before)
    except ValidationFailed:
        before, found = None, page(None)
    shown = found[:ACTIVITIES_TAB_LIMIT]
    older = (
        activity_service.ActivityCursor.of(shown[-1], view).encode()
        if len(found) > len(shown)
        else None
    )
    current = {
        "activities_kind": kind or None,
        "activities_view": None if view == activity_service.UPCOMING else view,
    }

    def link(**changes: str | None) -> str:
        """The page's query with the tab's arguments changed (``None`` drops one)."""
        return tab_link(args, "activities_", **{**current, **changes})

    agent = unit.actor.agent
    can_manage = agent is not None and agent.has_permission(permissions.ACTIVITY_MANAGE)
    zone = ZoneInfo(select_timezone())
    page_url = _page_url(target)
    return render_template(
        "builtin/customer_activities.html",
        activities=shown,
        target=target,
        kind=kind,
        view=view,
        kind_filters=KIND_FILTERS,
        kind_labels=KIND_LABELS,
        view_labels=VIEW_LABELS,
        spam_labels=SPAM_LABELS,
        page_url=page_url,
        link=link,
        older=page_url + link(activities_before=older) if older else None,
        first=page_url + link() if before else None,
        # Forms post with the page's query (the tab selected) and come back to it.
        here="?" + urlencode({**args, "tab": tab_key(target.kind)}),
        owner_names=_owner_names(shown),
        now=clock.now(),
        zone=zone,
        due_value=lambda activity: local_input_value(activity, zone),
        can_manage=can_manage,
        owners=_owner_choices() if can_manage else [],
        me=agent.id if agent is not None else None,
        form=g.get("activity_form", {}),
    )


def count_customer_activities(context: Context, target: PanelTarget) -> int:
    """How many of the customer's activities are upcoming (open, not spam), for the agent."""
    contact_id, account_id = customer_filter(target)
    return activity_service.count_upcoming(
        request_unit(), contact_id=contact_id, account_id=account_id
    )


def _page_url(target: PanelTarget) -> str:
    if target.kind == "contact":
        return url_for("customers.contact", contact_id=target.id)
    return url_for("customers.account", account_id=target.id)


def _owner_names(activities: list[Activity]) -> dict[int, str]:
    ids = {a.owner_id for a in activities if a.owner_id is not None}
    if not ids:
        return {}
    rows = request_unit().session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids)))
    return {agent_id: name for agent_id, name in rows}


def _owner_choices() -> list[Any]:
    query = (
        select(Agent.id, Agent.name)
        .where(Agent.is_active.is_(True))
        .order_by(Agent.name, Agent.id)
        .limit(OWNER_CHOICES_LIMIT)
    )
    return list(request_unit().session.execute(query))


PLUGIN = customer_tab(
    PLUGIN_ID,
    "Customer activities",
    key="activities",
    title="Activities",
    title_ja="活動",
    render=render_customer_activities,
    count=count_customer_activities,
)
