"""Keeping the figures current from the host's events, and the installation's lifecycle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hostapi import Context, Event, events
from plugins.customer_insights import aggregates, backfill

#: Ticket events after which the ticket's facts are recomputed.
_TICKET_CHANGES = frozenset(
    {events.TICKET_CREATED, events.TICKET_STATUS_CHANGED, events.RATING_ADDED}
)

#: The ticket fields a ``ticket.updated`` may change that the facts depend on.
_FACT_FIELDS = frozenset(
    {"department_id", "contact_id", "account_id", "channel", "due_at", "created_at", "raised_by"}
)

#: Events that move tickets to another customer: the payload lists the tickets.
#: Changes whose payload's ``ticket_ids`` are worked out again (tickets merged, or moved to the
#: surviving contact or account of a merge).
_MERGES = frozenset({events.CONTACT_MERGED, events.ACCOUNT_MERGED, events.TICKET_MERGED})


def apply_event(context: Context, event: Event, *, held: bool = False) -> None:
    """Bring the tables up to date with one event (idempotent: a repeat changes nothing).

    ``held``: the event's change is being made and holds its ticket (the synchronous hook).
    Without the scopes the facts are read with, nothing is kept (the figures are then not
    offered, and no event records a scope error).
    """
    if not aggregates.can_keep_figures(context):
        return
    payload = event.payload
    if event.name in _TICKET_CHANGES or (event.name == events.THREAD_ADDED and _may_count(payload)):
        aggregates.refresh_ticket(context, int(payload["ticket_id"]), held=held)
    elif event.name == events.TICKET_UPDATED:
        if _FACT_FIELDS & set(payload.get("changes") or {}):
            aggregates.refresh_ticket(context, int(payload["ticket_id"]), held=held)
    elif event.name in _MERGES:
        ticket_ids = [int(ticket_id) for ticket_id in payload.get("ticket_ids") or ()]
        for first in range(0, len(ticket_ids), aggregates.PAGE_SIZE):
            aggregates.refresh_tickets(context, ticket_ids[first : first + aggregates.PAGE_SIZE])
    elif event.name == events.HISTORY_IMPORTED:
        first_last = payload.get("ticket_ids") or ()
        if len(first_last) == 2:
            backfill.start(context, ticket_range=(int(first_last[0]), int(first_last[1])))


def _may_count(payload: Mapping[str, Any]) -> bool:
    """Whether a thread can be a customer message or a public agent reply.

    Internal comments and automatic notifications change no figure, so the ticket is not
    read again for them.
    """
    kind = payload.get("kind")
    return kind == "incoming" or (kind == "outgoing" and payload.get("author_agent_id") is not None)


def start_over(context: Context) -> None:
    """Forget the installation's figures and backfill every department it covers."""
    aggregates.forget_everything(context)
    if aggregates.can_keep_figures(context):
        backfill.start(context, department_ids=context.department_ids)


def change_departments(
    context: Context, added_department_ids: list[int], removed_department_ids: list[int]
) -> None:
    """Drop the figures of departments no longer covered; backfill the new ones."""
    aggregates.forget_departments(context, removed_department_ids)
    if aggregates.can_keep_figures(context):
        backfill.start(context, department_ids=added_department_ids)


def rebuild_job(context: Context, payload: Mapping[str, Any]) -> None:
    """The ``rebuild`` job: recompute the installation's figures from scratch."""
    aggregates.rebuild(context)
