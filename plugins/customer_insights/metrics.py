"""The figures the panel shows, computed over the tickets a context may see."""

from __future__ import annotations

from dataclasses import dataclass

from hostapi import Context, TicketQuery

#: Status types counted as open: "open" includes on hold, as the Overview labels it.
OPEN_STATUS_TYPES = frozenset({"open", "on_hold"})
CLOSED_STATUS_TYPE = "closed"

# The largest page hostapi's list_tickets returns.
_PAGE_SIZE = 500


@dataclass(frozen=True)
class TicketCounts:
    """A customer's open (open or on hold) and closed tickets."""

    open: int
    closed: int

    @property
    def total(self) -> int:
        """Open and closed together."""
        return self.open + self.closed


def contact_ticket_counts(context: Context, contact_id: int) -> TicketCounts:
    """Open and closed tickets of the contact among those ``context`` may see.

    :raises hostapi.ScopeError: without ``desk.tickets.read``.
    """
    # hostapi offers no count, so this walks the contact's visible tickets page by page; the
    # incremental aggregates of the full release replace the walk.
    open_count = closed_count = 0
    query = TicketQuery(contact_id=contact_id, limit=_PAGE_SIZE)
    while True:
        page = context.list_tickets(query)
        open_count += sum(1 for ticket in page if ticket.status_type in OPEN_STATUS_TYPES)
        closed_count += sum(1 for ticket in page if ticket.status_type == CLOSED_STATUS_TYPE)
        if len(page) < _PAGE_SIZE:
            return TicketCounts(open=open_count, closed=closed_count)
        query.after = (page[-1].created_at, page[-1].id)
