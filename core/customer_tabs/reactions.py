"""The Reactions tab: agents' replies and comments and the customer's ratings, newest first.

The Happiness tab shows the same timeline, ratings only: both render through
:func:`render_timeline_tab`."""

from __future__ import annotations

from collections.abc import Iterable

from flask import render_template

from core.customer_tabs.base import customer_filter, customer_tab, read_cursor, tab_link
from core.services import customer_reactions
from core.services.customer_reactions import REACTION_KINDS, ReactionCursor
from core.web.ui import labels
from core.web.ui.units import request_unit
from hostapi import Context, PanelTarget

#: How many lines a page of the Reactions tab shows.
REACTIONS_TAB_LIMIT = 20


def render_timeline_tab(
    context: Context,
    target: PanelTarget,
    *,
    key: str,
    template: str,
    limit: int,
    kinds: Iterable[str] = REACTION_KINDS,
) -> str:
    """The tab ``key``'s page of the ``kinds`` of reactions on the customer's visible tickets,
    newest first, ``limit`` to a page, paged by keyset (``?<key>_before=``, the cursor of the
    last line of the page before): ``template`` rendered with the page's ``lines`` and the
    queries of its ``older`` and ``newest`` pages (``None`` where there is none). A cursor it
    cannot read (a hand-edited URL) shows the newest page."""
    args = context.query_args
    cursor_argument = f"{key}_before"
    before = read_cursor(args, cursor_argument, ReactionCursor.parse)
    contact_id, account_id = customer_filter(target)
    found = customer_reactions.list_reactions(
        request_unit(),
        contact_id=contact_id,
        account_id=account_id,
        kinds=kinds,
        limit=limit + 1,
        before=before,
    )
    lines = found[:limit]
    older = lines[-1].cursor.encode() if len(found) > len(lines) else None
    return render_template(
        template,
        lines=lines,
        target=target,
        kind_labels=labels.REACTION_KINDS,
        rating_labels=labels.RATINGS,
        older=tab_link(args, f"{key}_", **{cursor_argument: older}) if older else None,
        newest=tab_link(args, f"{key}_") if before else None,
    )


def render_customer_reactions(context: Context, target: PanelTarget) -> str:
    """The reactions on the customer's visible tickets, newest first
    (``?reactions_before=``)."""
    return render_timeline_tab(
        context,
        target,
        key="reactions",
        template="builtin/customer_reactions.html",
        limit=REACTIONS_TAB_LIMIT,
    )


PLUGIN = customer_tab(
    "core_customer_reactions",
    "Customer reactions",
    key="reactions",
    title="Reactions",
    title_ja="反応",
    render=render_customer_reactions,
)
