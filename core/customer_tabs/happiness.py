"""The Happiness tab of contact pages: every rating the contact gave, newest first."""

from __future__ import annotations

from flask import render_template

from core.customer_tabs.base import customer_filter, customer_tab, read_cursor, tab_link
from core.services import customer_reactions
from core.services.customer_reactions import ReactionCursor, ReactionKind
from core.web.ui import labels
from core.web.ui.units import request_unit
from hostapi import Context, PanelTarget

#: How many ratings a page of the Happiness tab lists.
HAPPINESS_TAB_LIMIT = 20


def render_customer_happiness(context: Context, target: PanelTarget) -> str:
    """The ratings on the contact's visible tickets, newest first, paged by keyset
    (``?happiness_before=``); a cursor it cannot read shows the newest page."""
    args = context.query_args
    before = read_cursor(args, "happiness_before", ReactionCursor.parse)
    contact_id, account_id = customer_filter(target)
    found = customer_reactions.list_reactions(
        request_unit(),
        contact_id=contact_id,
        account_id=account_id,
        kinds=(ReactionKind.RATING,),
        limit=HAPPINESS_TAB_LIMIT + 1,
        before=before,
    )
    ratings = found[:HAPPINESS_TAB_LIMIT]
    older = ratings[-1].cursor.encode() if len(found) > len(ratings) else None

    def link(**changes: str | None) -> str:
        """The page's query with the tab's arguments changed (``None`` drops one)."""
        return tab_link(args, "happiness_", **changes)

    return render_template(
        "builtin/customer_happiness.html",
        ratings=ratings,
        target=target,
        rating_labels=labels.RATINGS,
        older=link(happiness_before=older) if older else None,
        newest=link() if before else None,
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
