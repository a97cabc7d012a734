"""The Happiness tab of contact pages: every rating the contact gave, newest first."""

from __future__ import annotations

from core.customer_tabs.base import customer_filter, customer_tab
from core.customer_tabs.reactions import render_timeline_tab
from core.services import customer_reactions
from core.services.customer_reactions import ReactionKind
from core.web.ui.units import request_unit
from hostapi import Context, PanelTarget

#: How many ratings a page of the Happiness tab lists.
HAPPINESS_TAB_LIMIT = 20


def render_customer_happiness(context: Context, target: PanelTarget) -> str:
    """The ratings on the contact's visible tickets, newest first (``?happiness_before=``)."""
    return render_timeline_tab(
        context,
        target,
        key="happiness",
        template="builtin/customer_happiness.html",
        limit=HAPPINESS_TAB_LIMIT,
        kinds=(ReactionKind.RATING,),
    )


def count_customer_ratings(context: Context, target: PanelTarget) -> int:
    """How many ratings the contact's visible tickets have."""
    contact_id, account_id = customer_filter(target)
    return customer_reactions.count_ratings(
        request_unit(), contact_id=contact_id, account_id=account_id
    )


PLUGIN = customer_tab(
    "core_customer_happiness",
    "Customer happiness",
    key="happiness",
    title="Happiness",
    title_ja="顧客満足度",
    render=render_customer_happiness,
    count=count_customer_ratings,
    kinds=("contact",),
)
