"""The Reactions tab: agents' replies and comments and the customer's ratings, newest first."""

from __future__ import annotations

from flask import render_template

from core.customer_tabs.base import customer_filter, customer_tab, read_cursor, tab_link
from core.services import customer_reactions
from core.services.customer_reactions import ReactionCursor
from core.web.ui import labels
from core.web.ui.units import request_unit
from hostapi import Context, PanelTarget

#: How many lines a page of the Reactions tab shows.
REACTIONS_TAB_LIMIT = 20


def render_customer_reactions(context: Context, target: PanelTarget) -> str:
    """The reactions on the customer's visible tickets, newest first, paged by keyset
    (``?reactions_before=``, the cursor of the last line of the page before); a cursor it
    cannot read (a hand-edited URL) shows the newest page."""
    args = context.query_args
    before = read_cursor(args, "reactions_before", ReactionCursor.parse)
    contact_id, account_id = customer_filter(target)
    found = customer_reactions.list_reactions(
        request_unit(),
        contact_id=contact_id,
        account_id=account_id,
        limit=REACTIONS_TAB_LIMIT + 1,
        before=before,
    )
    lines = found[:REACTIONS_TAB_LIMIT]
    older = lines[-1].cursor.encode() if len(found) > len(lines) else None

    def link(**changes: str | None) -> str:
        """The page's query with the tab's arguments changed (``None`` drops one)."""
        return tab_link(args, "reactions_", **changes)

    return render_template(
        "builtin/customer_reactions.html",
        lines=lines,
        target=target,
        kind_labels=labels.REACTION_KINDS,
        rating_labels=labels.RATINGS,
        older=link(reactions_before=older) if older else None,
        newest=link() if before else None,
    )


PLUGIN = customer_tab(
    "core_customer_reactions",
    "Customer reactions",
    key="reactions",
    title="Reactions",
    title_ja="反応",
    render=render_customer_reactions,
)
