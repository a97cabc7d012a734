"""The figures computed straight from the raw threads, status history and ratings.

Written apart from the facts and totals on purpose, from the metric definitions as stated:
tests compare it with what the tables hold, and the benchmark measures what the tables save.
It reads every visible ticket of the customer, so its cost grows with their number.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from hostapi import Context, TicketQuery, TicketRecord
from plugins.customer_insights.facts import (
    CLOSED,
    is_customer_message,
    is_public_agent_reply,
    microseconds,
)
from plugins.customer_insights.metrics import Figures


def direct_figures(context: Context, kind: str, customer_id: int) -> Figures:
    """A contact's or an account's figures, from every visible ticket's raw records."""
    query = TicketQuery(limit=500)
    if kind == "contact":
        query.contact_id = customer_id
    elif kind == "account":
        query.account_id = customer_id
    else:
        raise ValueError(f"no figures for a {kind!r}")
    totals: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    while True:
        page = context.list_tickets(query)
        for ticket in page:
            totals.update(_ticket_figures(context, ticket))
            channels[ticket.channel] += 1
        if len(page) < 500:
            break
        query.after = (page[-1].created_at, page[-1].id)
    return Figures(**totals, tickets_by_channel=dict(channels))


def _ticket_figures(context: Context, ticket: TicketRecord) -> Counter[str]:
    figures: Counter[str] = Counter(tickets=1)
    figures[f"{ticket.status_type}_tickets"] += 1

    # The conversation as (time, order, is a reply): the creation first among equal times.
    messages = [(ticket.created_at, (0, 0), False)] if ticket.raised_by == "customer" else []
    messages += [
        (thread.created_at, (1, thread.id), is_public_agent_reply(thread))
        for thread in context.list_threads(ticket.id)
        if is_public_agent_reply(thread) or is_customer_message(thread)
    ]
    messages.sort()
    replies = [i for i, (_, _, is_reply) in enumerate(messages) if is_reply]
    figures["public_replies"] = len(replies)
    previous_reply = -1
    answered_any = False
    for position in replies:
        # Customer messages since the previous reply (answering or not) are still pending.
        waiting = [
            at for at, _, is_reply in messages[previous_reply + 1 : position] if not is_reply
        ]
        previous_reply = position
        if not waiting:
            continue
        reply_at = messages[position][0]
        figures["responses"] += 1
        figures["response_us"] += microseconds(reply_at, min(waiting))
        if not answered_any:
            answered_any = True
            first_message = min(at for at, _, is_reply in messages if not is_reply)
            figures["first_responses"] += 1
            figures["first_response_us"] += microseconds(reply_at, first_message)

    if ticket.status_type == CLOSED:
        closed_periods = _closed_periods(context, ticket)
        last_close = closed_periods[-1][0] if closed_periods else ticket.closed_at
        closed_before = sum(
            microseconds(end, start) for start, end in closed_periods if end is not None
        )
        figures["resolutions"] += 1
        figures["resolution_us"] += (
            microseconds(last_close or ticket.created_at, ticket.created_at) - closed_before
        )

    ratings = context.ratings(ticket.id)
    if ratings:
        latest = sorted(ratings, key=lambda r: (r.created_at, r.id))[-1]
        figures[f"rated_{latest.rating}"] += 1
    return figures


def _closed_periods(
    context: Context, ticket: TicketRecord
) -> list[tuple[datetime, datetime | None]]:
    """The spans the ticket's status type was closed: (close, reopen or ``None`` if still)."""
    periods: list[tuple[datetime, datetime | None]] = []
    was_closed = False
    for change in context.status_history(ticket.id):
        is_closed = change.to_type == CLOSED
        if is_closed and not was_closed:
            periods.append((change.changed_at, None))
        elif was_closed and not is_closed:
            periods[-1] = (periods[-1][0], change.changed_at)
        was_closed = is_closed
    return periods
