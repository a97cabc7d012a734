"""The figures Customer Insights shows for a contact or an account.

``figures`` reads them from the totals the extension keeps (a sum over the customer's rows in
the departments the context reaches: one row per department and channel, whatever the number
of tickets); ``direct_figures`` in ``plugins.customer_insights.direct`` computes the same from
the raw threads, for tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import bindparam, exists, func, or_, select

from hostapi import Context, TicketQuery
from plugins.customer_insights.aggregates import TOTAL_COLUMNS, can_keep_figures
from plugins.customer_insights.models import Backfill, CustomerTotals, TicketFacts

#: Status types counted as open: "open" includes on hold, as the Overview labels it.
OPEN_STATUS_TYPES = frozenset({"open", "on_hold"})
CLOSED_STATUS_TYPE = "closed"

#: What a figure may be computed for.
CUSTOMER_KINDS = ("contact", "account")

_MICROSECONDS_PER_SECOND = 1_000_000

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


@dataclass(frozen=True)
class Figures:
    """A customer's figures over the tickets a context may see: counts and exact sums.

    Durations are sums of whole microseconds; the means divide them only when read.
    """

    tickets: int = 0
    open_tickets: int = 0
    on_hold_tickets: int = 0
    closed_tickets: int = 0
    first_responses: int = 0
    first_response_us: int = 0
    responses: int = 0
    response_us: int = 0
    public_replies: int = 0
    resolutions: int = 0
    resolution_us: int = 0
    rated_good: int = 0
    rated_okay: int = 0
    rated_bad: int = 0
    tickets_by_channel: Mapping[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> TicketCounts:
        """Open (on hold included) and closed tickets."""
        return TicketCounts(
            open=self.open_tickets + self.on_hold_tickets, closed=self.closed_tickets
        )

    @property
    def first_response_seconds(self) -> float | None:
        """Mean first response time over the tickets that had one; ``None`` without any."""
        return _mean_seconds(self.first_response_us, self.first_responses)

    @property
    def response_seconds(self) -> float | None:
        """Mean response time over the answering replies; ``None`` without any."""
        return _mean_seconds(self.response_us, self.responses)

    @property
    def resolution_seconds(self) -> float | None:
        """Mean resolution time over the tickets closed now; ``None`` without any."""
        return _mean_seconds(self.resolution_us, self.resolutions)

    @property
    def ratings(self) -> int:
        """Tickets with a rating (their latest one counts)."""
        return self.rated_good + self.rated_okay + self.rated_bad


def _mean_seconds(total_us: int, count: int) -> float | None:
    return None if count == 0 else total_us / count / _MICROSECONDS_PER_SECOND


#: Backfills pending for the installation ``:installation_id`` in the departments
#: ``:department_ids`` (or for a range of ids, which may hold any department's tickets).
_PENDING = select(Backfill.id).where(
    Backfill.installation_id == bindparam("installation_id"),
    or_(
        Backfill.department_id.is_(None),
        Backfill.department_id.in_(bindparam("department_ids", expanding=True)),
    ),
)

_ANY_PENDING = select(exists(_PENDING))

#: A customer's totals per channel in the departments ``:department_ids``, each row also
#: saying whether a backfill is pending (one round trip for the panel). Built once: making
#: the statement costs more than running it.
_TOTALS_BY_CHANNEL = (
    select(
        CustomerTotals.channel,
        exists(_PENDING).label("preparing"),
        *(func.sum(getattr(CustomerTotals, name)) for name in TOTAL_COLUMNS),
    )
    .where(
        CustomerTotals.installation_id == bindparam("installation_id"),
        CustomerTotals.customer_kind == bindparam("kind"),
        CustomerTotals.customer_id == bindparam("customer_id"),
        CustomerTotals.department_id.in_(bindparam("department_ids", expanding=True)),
    )
    .group_by(CustomerTotals.channel)
)


def figures(context: Context, kind: str, customer_id: int) -> Figures:
    """A contact's or an account's figures over the departments the context reaches.

    Figures are exact only when :func:`figures_ready` says so.
    """
    return _totals(context, kind, customer_id)[0]


def figures_unless_preparing(context: Context, kind: str, customer_id: int) -> Figures | None:
    """The customer's figures, or ``None`` until they are exact: while a backfill the context
    reaches is pending, or without the scopes keeping them needs (nothing is kept then)."""
    if not can_keep_figures(context):
        return None
    shown, preparing = _totals(context, kind, customer_id)
    # Without rows the statement could not say; a customer with tickets in reach has rows
    # unless their departments still wait for a backfill.
    if preparing is None:
        preparing = is_preparing(context)
    return None if preparing else shown


def _totals(context: Context, kind: str, customer_id: int) -> tuple[Figures, bool | None]:
    """The figures and whether a backfill is pending (``None`` when there were no rows)."""
    if kind not in CUSTOMER_KINDS:
        raise ValueError(f"no figures for a {kind!r}")
    rows = context.db.execute(
        _TOTALS_BY_CHANNEL,
        {
            "installation_id": context.installation_id,
            "kind": kind,
            "customer_id": customer_id,
            "department_ids": list(context.department_ids),
        },
    ).all()
    sums = dict.fromkeys(TOTAL_COLUMNS, 0)
    by_channel: dict[str, int] = {}
    preparing: bool | None = None
    for channel, pending, *values in rows:
        preparing = bool(pending)
        for name, value in zip(TOTAL_COLUMNS, values, strict=True):
            sums[name] += int(value)
        by_channel[channel] = int(values[0])
    return Figures(**sums, tickets_by_channel=by_channel), preparing


def is_preparing(context: Context) -> bool:
    """Whether tickets the context reaches still wait for their facts (a backfill runs)."""
    return bool(
        context.db.scalar(
            _ANY_PENDING,
            {
                "installation_id": context.installation_id,
                "department_ids": list(context.department_ids),
            },
        )
    )


def figures_ready(context: Context) -> bool:
    """Whether :func:`figures` is exact for the context: kept, and no backfill pending."""
    return can_keep_figures(context) and not is_preparing(context)


def contact_ticket_counts(context: Context, contact_id: int) -> TicketCounts:
    """Open and closed tickets of the contact among those ``context`` may see.

    :raises hostapi.ScopeError: without ``desk.tickets.read``.
    """
    if figures_ready(context):
        return figures(context, "contact", contact_id).counts
    # Until the backfill is done (or without the scopes to keep them) the totals are short;
    # walking the tickets stays exact.
    open_count = closed_count = 0
    query = TicketQuery(contact_id=contact_id, limit=_PAGE_SIZE)
    while True:
        page = context.list_tickets(query)
        open_count += sum(1 for ticket in page if ticket.status_type in OPEN_STATUS_TYPES)
        closed_count += sum(1 for ticket in page if ticket.status_type == CLOSED_STATUS_TYPE)
        if len(page) < _PAGE_SIZE:
            return TicketCounts(open=open_count, closed=closed_count)
        query.after = (page[-1].created_at, page[-1].id)


def overdue_tickets(context: Context, kind: str, customer_id: int) -> int:
    """The customer's tickets the context reaches that are past their due time and not closed
    (the due time an SLA policy set, or an agent by hand)."""
    customer = TicketFacts.contact_id if kind == "contact" else TicketFacts.account_id
    return int(
        context.db.scalar(
            select(func.count()).where(
                TicketFacts.installation_id == context.installation_id,
                customer == customer_id,
                TicketFacts.department_id.in_(context.department_ids),
                TicketFacts.status_type != CLOSED_STATUS_TYPE,
                TicketFacts.due_at < context.now(),
            )
        )
        or 0
    )
