"""Keeping the facts and totals tables current, and rebuilding them from scratch.

Every change to a ticket recomputes that ticket's facts from its raw records (a handful of
rows) and moves the difference into its contact's and account's totals with one upsert each:
exact whatever order the host's events come in (back-dated history, chat transcripts), and
idempotent, so a repair simply does it again. A rebuild computes every visible ticket's facts
and sums them with ``GROUP BY`` instead, so that comparing the two checks the bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from functools import cache
from typing import Any

from sqlalchemy import bindparam, case, delete, func, insert, literal, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hostapi import Context, TicketHistory, TicketQuery, TicketRecord, scopes
from plugins.customer_insights.facts import Facts, ticket_facts
from plugins.customer_insights.models import Backfill, CustomerTotals, TicketFacts

#: The largest page ``Context.list_tickets`` returns.
PAGE_SIZE = 500

#: The summed columns of ``customer_insights_totals``.
TOTAL_COLUMNS = (
    "tickets",
    "open_tickets",
    "on_hold_tickets",
    "closed_tickets",
    "first_responses",
    "first_response_us",
    "responses",
    "response_us",
    "public_replies",
    "resolutions",
    "resolution_us",
    "rated_good",
    "rated_okay",
    "rated_bad",
)

#: What computing a ticket's facts reads: the ticket, its history and ratings, its threads.
SCOPES_NEEDED = frozenset({scopes.TICKETS_READ, scopes.THREADS_READ})

_FACT_NAMES = tuple(field.name for field in fields(Facts))
_FACTS_TABLE = TicketFacts.__table__

# The statements a reply's path runs, built once (making one costs more than running it), as
# plain columns past the ORM: the facts are compared, not kept as objects.
#: The kept facts of some tickets, locked.
_KEPT_FACTS = (
    select(*(_FACTS_TABLE.c[name] for name in _FACT_NAMES))
    .where(
        _FACTS_TABLE.c.installation_id == bindparam("installation_id"),
        _FACTS_TABLE.c.ticket_id.in_(bindparam("ticket_ids", expanding=True)),
    )
    .with_for_update()
)
_FACTS_KEY = (
    _FACTS_TABLE.c.installation_id == bindparam("key_installation_id"),
    _FACTS_TABLE.c.ticket_id == bindparam("key_ticket_id"),
)


@cache
def _update_facts(names: tuple[str, ...]) -> Any:
    """The update of a ticket's facts setting only the columns ``names`` (built once per set).

    Only what changed: an update leaving the indexed columns (customer, department, creation)
    alone lets PostgreSQL keep the row on its page without touching the indexes.
    """
    return update(_FACTS_TABLE).where(*_FACTS_KEY).values({n: bindparam(n) for n in names})


_DELETE_FACTS = delete(_FACTS_TABLE).where(*_FACTS_KEY)

_CUSTOMER_COLUMNS = {"contact": TicketFacts.contact_id, "account": TicketFacts.account_id}


def can_keep_figures(context: Context) -> bool:
    """Whether the installation was granted what keeping the figures reads."""
    return context.granted_scopes >= SCOPES_NEEDED


def compute_facts(context: Context, ticket: TicketRecord) -> Facts:
    """The facts of a ticket the context reaches, from its threads, changes and ratings."""
    return ticket_facts(
        ticket,
        context.list_threads(ticket.id),
        context.status_history(ticket.id),
        context.ratings(ticket.id),
    )


def facts_of(history: TicketHistory) -> Facts:
    """The facts of a ticket read with ``Context.ticket_histories``."""
    return ticket_facts(history.ticket, history.threads, history.status_changes, history.ratings)


def refresh_ticket(context: Context, ticket_id: int) -> None:
    """Bring one ticket's facts and its customers' totals up to date.

    A ticket the context no longer reaches (moved to a department outside the installation)
    leaves the figures.
    """
    refresh_tickets(context, [ticket_id])


def refresh_tickets(context: Context, ticket_ids: Sequence[int]) -> int:
    """Bring the tickets' facts and their customers' totals up to date; returns how many of
    them the context reaches.

    The tickets are read with one batch call to the host, the kept facts with one query, and
    the changes written with one statement per kind (insert, update, delete, totals upsert).
    """
    session = context.db
    installation_id = context.installation_id
    ids = list(dict.fromkeys(ticket_ids))
    if not ids:
        return 0
    connection = session.connection()
    # The lock makes a concurrent change of the same ticket wait, then read these facts anew.
    kept = {
        row.ticket_id: Facts(*row)
        for row in connection.execute(
            _KEPT_FACTS, {"installation_id": installation_id, "ticket_ids": ids}
        )
    }
    histories = context.ticket_histories(ids)
    moves: list[tuple[Facts | None, Facts | None]] = []
    added: list[dict[str, Any]] = []
    changed: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    gone: list[dict[str, Any]] = []
    for ticket_id in ids:
        history = histories.get(ticket_id)
        new = None if history is None else facts_of(history)
        before = kept.get(ticket_id)
        if new == before:  # a comment, Open → Escalated…: nothing to write
            continue
        key = {"key_installation_id": installation_id, "key_ticket_id": ticket_id}
        if new is None:
            gone.append(key)
        elif before is None:
            added.append({"installation_id": installation_id, **vars(new)})
        else:
            names = tuple(n for n in _FACT_NAMES if getattr(new, n) != getattr(before, n))
            changed.setdefault(names, []).append(
                {**key, **{name: getattr(new, name) for name in names}}
            )
        moves.append((before, new))
    if gone:
        connection.execute(_DELETE_FACTS, gone)
    for names, rows in changed.items():
        connection.execute(_update_facts(names), rows)
    if added:
        connection.execute(insert(_FACTS_TABLE), added)
    if moves:
        _move_totals(session, installation_id, moves)
    return len(histories)


def forget_departments(context: Context, department_ids: Iterable[int]) -> None:
    """Drop the facts and totals of tickets in departments the installation no longer covers."""
    ids = list(department_ids)
    if not ids:
        return
    session = context.db
    for model in (TicketFacts, CustomerTotals):
        session.execute(
            delete(model).where(
                model.installation_id == context.installation_id, model.department_id.in_(ids)
            )
        )
    session.execute(
        delete(Backfill).where(
            Backfill.installation_id == context.installation_id, Backfill.department_id.in_(ids)
        )
    )


def forget_everything(context: Context) -> None:
    """Delete every row of the installation (before a rebuild, and when purged)."""
    for model in (TicketFacts, CustomerTotals, Backfill):
        context.db.execute(delete(model).where(model.installation_id == context.installation_id))


def rebuild(context: Context) -> int:
    """Recompute the installation's facts and totals from scratch; returns the tickets seen."""
    session = context.db
    installation_id = context.installation_id
    forget_everything(context)
    count = 0
    for page in visible_ticket_pages(context):
        histories = context.ticket_histories([ticket.id for ticket in page])
        rows = [
            {"installation_id": installation_id, **vars(facts_of(history))}
            for history in histories.values()
        ]
        if rows:
            session.connection().execute(insert(TicketFacts.__table__), rows)
        count += len(rows)
    _sum_facts_into_totals(session, installation_id)
    return count


def visible_tickets(
    context: Context, after: tuple[Any, int] | None = None
) -> Iterator[TicketRecord]:
    """Every ticket the context reaches, newest first, page by page."""
    for page in visible_ticket_pages(context, after=after):
        yield from page


def visible_ticket_pages(
    context: Context, after: tuple[Any, int] | None = None, department_id: int | None = None
) -> Iterator[list[TicketRecord]]:
    """The tickets the context reaches (of one department if given), newest first, in pages
    of at most ``PAGE_SIZE``."""
    query = TicketQuery(limit=PAGE_SIZE, after=after, department_id=department_id)
    while True:
        page = context.list_tickets(query)
        if page:
            yield page
        if len(page) < PAGE_SIZE:
            return
        query.after = (page[-1].created_at, page[-1].id)


# --------------------------------------------------------------------------------- internals


def _contribution(facts: Facts) -> dict[str, int]:
    """What one ticket adds to each summed column."""
    return {
        "tickets": 1,
        "open_tickets": int(facts.status_type == "open"),
        "on_hold_tickets": int(facts.status_type == "on_hold"),
        "closed_tickets": int(facts.status_type == "closed"),
        "first_responses": int(facts.first_response_us is not None),
        "first_response_us": facts.first_response_us or 0,
        "responses": facts.responses,
        "response_us": facts.response_us,
        "public_replies": facts.public_replies,
        "resolutions": int(facts.resolution_us is not None),
        "resolution_us": facts.resolution_us or 0,
        "rated_good": int(facts.latest_rating == "good"),
        "rated_okay": int(facts.latest_rating == "okay"),
        "rated_bad": int(facts.latest_rating == "bad"),
    }


def _move_totals(
    session: Session, installation_id: int, moves: Iterable[tuple[Facts | None, Facts | None]]
) -> None:
    """Take each ticket's old contribution out of its customers' totals and put its new one in.

    The differences go to the rows touched (usually one per customer: a ticket seldom changes
    department, channel or customer) in one upsert statement, which adds them to what is
    stored at that moment, so concurrent changes to one customer's tickets never overwrite
    each other's sums. A row left with no ticket is deleted, as a rebuild would never have
    made it.
    """
    changes: dict[tuple[str, int, int, str], dict[str, int]] = {}
    for before, after in moves:
        for facts, sign in ((before, -1), (after, 1)):
            if facts is None:
                continue
            contribution = _contribution(facts)
            for kind, customer_id in (
                ("contact", facts.contact_id),
                ("account", facts.account_id),
            ):
                if customer_id is None:
                    continue
                key = (kind, customer_id, facts.department_id, facts.channel)
                amounts = changes.setdefault(key, dict.fromkeys(TOTAL_COLUMNS, 0))
                for name, value in contribution.items():
                    amounts[name] += sign * value
    rows = [
        {
            "installation_id": installation_id,
            "customer_kind": kind,
            "customer_id": customer_id,
            "department_id": department_id,
            "channel": channel,
            **amounts,
        }
        for (kind, customer_id, department_id, channel), amounts in changes.items()
        if any(amounts.values())
    ]
    if not rows:
        return
    connection = session.connection()
    connection.execute(_upsert(connection.dialect.name), rows)
    for row in rows:
        if row["tickets"] < 0:
            connection.execute(
                delete(CustomerTotals).where(
                    *(getattr(CustomerTotals, name) == row[name] for name in _KEY_COLUMNS),
                    CustomerTotals.tickets == 0,
                )
            )


_KEY_COLUMNS = ("installation_id", "customer_kind", "customer_id", "department_id", "channel")


@cache
def _upsert(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO UPDATE adding the given amounts to a totals row (built once)."""
    make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make_insert(CustomerTotals)
    return statement.on_conflict_do_update(
        index_elements=list(_KEY_COLUMNS),
        set_={
            name: getattr(CustomerTotals, name) + getattr(statement.excluded, name)
            for name in TOTAL_COLUMNS
        },
    )


def _sum_facts_into_totals(session: Session, installation_id: int) -> None:
    """Fill the installation's totals with ``GROUP BY`` sums over its facts."""
    sums = {
        "tickets": func.count(),
        "open_tickets": func.sum(_flag(TicketFacts.status_type == "open")),
        "on_hold_tickets": func.sum(_flag(TicketFacts.status_type == "on_hold")),
        "closed_tickets": func.sum(_flag(TicketFacts.status_type == "closed")),
        "first_responses": func.count(TicketFacts.first_response_us),
        "first_response_us": func.coalesce(func.sum(TicketFacts.first_response_us), 0),
        "responses": func.sum(TicketFacts.responses),
        "response_us": func.sum(TicketFacts.response_us),
        "public_replies": func.sum(TicketFacts.public_replies),
        "resolutions": func.count(TicketFacts.resolution_us),
        "resolution_us": func.coalesce(func.sum(TicketFacts.resolution_us), 0),
        "rated_good": func.sum(_flag(TicketFacts.latest_rating == "good")),
        "rated_okay": func.sum(_flag(TicketFacts.latest_rating == "okay")),
        "rated_bad": func.sum(_flag(TicketFacts.latest_rating == "bad")),
    }
    selects = []
    for kind, customer in _CUSTOMER_COLUMNS.items():
        selects.append(
            select(
                literal(installation_id).label("installation_id"),
                literal(kind).label("customer_kind"),
                customer.label("customer_id"),
                TicketFacts.department_id,
                TicketFacts.channel,
                *(expression.label(name) for name, expression in sums.items()),
            )
            .where(TicketFacts.installation_id == installation_id, customer.is_not(None))
            .group_by(customer, TicketFacts.department_id, TicketFacts.channel)
        )
    columns = ["installation_id", "customer_kind", "customer_id", "department_id", "channel"]
    session.execute(
        insert(CustomerTotals).from_select([*columns, *TOTAL_COLUMNS], union_all(*selects))
    )


def _flag(condition: Any) -> Any:
    return case((condition, 1), else_=0)
