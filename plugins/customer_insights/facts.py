"""One ticket's contribution to its customer's figures, computed from its raw records.

The definitions, exactly (all durations calendar time, kept in whole microseconds):

- a *public agent reply* is an outgoing thread written by an agent; internal comments and
  automatic notifications are neither replies nor customer messages;
- a *customer message* is the ticket's creation when the customer raised it, or an incoming
  thread not written by an agent;
- a reply *answers* when a customer message is pending, and then counts once, as
  (reply − the earliest customer message not yet answered); it answers everything pending;
- the first response is the first answering reply − the first customer message;
- a ticket *closes* when its status type turns closed from another type (Closed → Resolved
  is no new close) and *reopens* on the change back; its resolution, while closed, is the
  last close − creation − the time it spent closed before being reopened;
- the latest rating (by time, then id) is the ticket's rating.

Messages and replies are taken in time order, the creation before a thread of the same time
and threads of one time by id, as the host lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hostapi import RatingRecord, StatusChangeRecord, ThreadRecord, TicketRecord

CLOSED = "closed"
_MICROSECOND = timedelta(microseconds=1)


def microseconds(later: datetime, earlier: datetime) -> int:
    """``later − earlier`` in whole microseconds (exact: no float on the way)."""
    return (later - earlier) // _MICROSECOND


def is_public_agent_reply(thread: ThreadRecord) -> bool:
    """An outgoing thread written by an agent (not a comment, not a notification)."""
    return thread.kind == "outgoing" and thread.author_agent_id is not None


def is_customer_message(thread: ThreadRecord) -> bool:
    """An incoming thread that no agent wrote."""
    return thread.kind == "incoming" and thread.author_agent_id is None


@dataclass(frozen=True)
class Facts:
    """What one ticket contributes; mirrors a ``customer_insights_ticket`` row."""

    ticket_id: int
    number: int
    department_id: int
    contact_id: int | None
    account_id: int | None
    channel: str
    status_type: str
    created_at: datetime
    due_at: datetime | None
    first_response_us: int | None
    responses: int
    response_us: int
    public_replies: int
    resolution_us: int | None
    closed_us: int
    latest_rating: str | None


def ticket_facts(
    ticket: TicketRecord,
    threads: Sequence[ThreadRecord],
    status_changes: Sequence[StatusChangeRecord],
    ratings: Sequence[RatingRecord],
) -> Facts:
    """The facts of ``ticket`` from its threads, status changes and ratings (any order)."""
    first_response_us, responses, response_us, public_replies = _responses(ticket, threads)
    resolution_us, closed_us = _resolution(ticket, status_changes)
    latest = max(ratings, key=lambda r: (r.created_at, r.id), default=None)
    return Facts(
        ticket_id=ticket.id,
        number=ticket.number,
        department_id=ticket.department_id,
        contact_id=ticket.contact_id,
        account_id=ticket.account_id,
        channel=ticket.channel,
        status_type=ticket.status_type,
        created_at=ticket.created_at,
        due_at=ticket.due_at,
        first_response_us=first_response_us,
        responses=responses,
        response_us=response_us,
        public_replies=public_replies,
        resolution_us=resolution_us,
        closed_us=closed_us,
        latest_rating=None if latest is None else latest.rating,
    )


def _responses(
    ticket: TicketRecord, threads: Sequence[ThreadRecord]
) -> tuple[int | None, int, int, int]:
    # (time, 0 for the creation / 1 for a thread, thread id, is a reply)
    timeline: list[tuple[datetime, int, int, bool]] = []
    if ticket.raised_by == "customer":
        timeline.append((ticket.created_at, 0, 0, False))
    for thread in threads:
        if is_public_agent_reply(thread):
            timeline.append((thread.created_at, 1, thread.id, True))
        elif is_customer_message(thread):
            timeline.append((thread.created_at, 1, thread.id, False))
    timeline.sort()
    first_message: datetime | None = None
    pending: datetime | None = None
    first_response_us: int | None = None
    responses = response_us = public_replies = 0
    for at, _, _, is_reply in timeline:
        if not is_reply:
            first_message = first_message or at
            pending = pending or at
            continue
        public_replies += 1
        if pending is None:
            continue
        responses += 1
        response_us += microseconds(at, pending)
        pending = None
        if first_response_us is None and first_message is not None:
            first_response_us = microseconds(at, first_message)
    return first_response_us, responses, response_us, public_replies


def _resolution(
    ticket: TicketRecord, status_changes: Sequence[StatusChangeRecord]
) -> tuple[int | None, int]:
    previous_type: str | None = None
    closed_since: datetime | None = None
    last_close: datetime | None = None
    closed_us = 0
    for change in sorted(status_changes, key=lambda c: c.changed_at):
        if change.to_type == CLOSED and previous_type != CLOSED:
            closed_since = last_close = change.changed_at
        elif change.to_type != CLOSED and previous_type == CLOSED and closed_since is not None:
            closed_us += microseconds(change.changed_at, closed_since)
            closed_since = None
        previous_type = change.to_type
    if ticket.status_type != CLOSED:
        return None, closed_us
    # A closed ticket without a recorded close (history imported without its changes)
    # closed when the host says it did.
    closed_at = last_close or ticket.closed_at or ticket.created_at
    return microseconds(closed_at, ticket.created_at) - closed_us, closed_us
