"""Keeping the facts and totals tables current, and rebuilding them from scratch.

Every change to a ticket recomputes that ticket's facts from its raw records (a handful of
rows), takes the old facts' share out of its contact's and account's totals and puts the new
one in: exact whatever order the host's events come in (back-dated history, chat
transcripts), and idempotent, so a repair simply does it again. A ticket's share of the totals
is written once, as SQL (``_shares``), so a rebuild sums the same expressions over every
visible ticket's facts with ``GROUP BY``: comparing the two checks the bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields
from functools import cache
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

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


def refresh_ticket(context: Context, ticket_id: int, *, held: bool = False) -> None:
    """Bring one ticket's facts and its customers' totals up to date (``held``: see
    :func:`refresh_tickets`).

    A ticket the context no longer reaches (moved to a department outside the installation)
    leaves the figures.
    """
    refresh_tickets(context, [ticket_id], held=held)


def refresh_tickets(context: Context, ticket_ids: Sequence[int], *, held: bool = False) -> int:
    """Bring the tickets' facts and their customers' totals up to date; returns how many of
    them the context reaches.

    The tickets are read with one batch call to the host, the kept facts with one query, and
    the changes written with one statement per kind (insert, update, delete) between taking
    the old shares out of the totals and putting the new ones in.

    ``held``: the change being made holds the ticket's row (the synchronous hook of a ticket
    event), so no other change of it can run meanwhile. One such ticket is then written with a
    single statement on PostgreSQL, reading and locking the kept facts as it replaces them:
    on a reply's path each round trip costs about as much as the query.
    """
    session = context.db
    installation_id = context.installation_id
    ids = list(dict.fromkeys(ticket_ids))
    if not ids:
        return 0
    connection = session.connection()
    dialect = connection.dialect.name
    if held and len(ids) == 1 and dialect == "postgresql" and _replace_held(context, ids[0]):
        return 1
    # The lock makes a concurrent change of the same ticket wait, then read these facts anew.
    kept = _kept_facts(connection, installation_id, ids)
    histories = context.ticket_histories(ids)
    added: list[dict[str, Any]] = []
    changed: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    gone: list[dict[str, Any]] = []
    moved: list[int] = []
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
        moved.append(ticket_id)
    if not moved:
        return len(histories)
    shares = {"installation_id": installation_id, "ticket_ids": moved}
    emptied = list(connection.execute(_move_shares_statement(dialect, -1), shares))
    if gone:
        connection.execute(_DELETE_FACTS, gone)
    for names, rows in changed.items():
        connection.execute(_update_facts(names), rows)
    if added:
        connection.execute(insert(_FACTS_TABLE), added)
    emptied += connection.execute(_move_shares_statement(dialect, 1), shares)
    _drop_empty(connection, emptied)
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
    connection = session.connection()
    facts = select(_FACTS_TABLE).where(_FACTS_TABLE.c.installation_id == installation_id)
    connection.execute(_add_to_totals(connection.dialect.name, _shares(facts.subquery(), 1)))
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


def _replace_held(context: Context, ticket_id: int) -> bool:
    """Replace the facts of a ticket the change holds with one statement (PostgreSQL); false
    when the context no longer reaches the ticket (then the general way takes it out)."""
    history = context.ticket_histories([ticket_id]).get(ticket_id)
    if history is None:
        return False
    values = {"installation_id": context.installation_id, **vars(facts_of(history))}
    connection = context.db.connection()
    written = connection.execute(
        _replace_one_statement(), {f"new_{name}": value for name, value in values.items()}
    )
    _drop_empty(connection, written)
    return True


def _kept_facts(connection: Any, installation_id: int, ticket_ids: list[int]) -> dict[int, Facts]:
    """The kept facts of the tickets, locked until the transaction ends."""
    rows = connection.execute(
        _KEPT_FACTS, {"installation_id": installation_id, "ticket_ids": ticket_ids}
    )
    return {row.ticket_id: Facts(*row) for row in rows}


def _shares(facts: Any, sign: int) -> list[Any]:
    """What each ticket of ``facts`` (rows with the facts table's columns) adds to its contact's
    and its account's totals, ``sign`` times: one select per kind of customer, in the totals
    table's columns (a ticket without that customer gives a row whose customer is null)."""
    c = facts.c
    return [
        select(
            c.installation_id,
            _constant(kind).label("customer_kind"),
            c[column].label("customer_id"),
            c.department_id,
            c.channel,
            *(
                (amount if sign > 0 else -amount).label(name)
                for name, amount in _amounts(c).items()
            ),
        )
        for kind, column in (("contact", "contact_id"), ("account", "account_id"))
    ]


def _amounts(c: Any) -> dict[str, Any]:
    """One ticket's share of each summed column, from the facts columns ``c``."""
    return {
        "tickets": _constant(1),
        "open_tickets": _flag(c.status_type == _constant("open")),
        "on_hold_tickets": _flag(c.status_type == _constant("on_hold")),
        "closed_tickets": _flag(c.status_type == _constant("closed")),
        "first_responses": _flag(c.first_response_us.is_not(None)),
        "first_response_us": func.coalesce(c.first_response_us, _constant(0)),
        "responses": c.responses,
        "response_us": c.response_us,
        "public_replies": c.public_replies,
        "resolutions": _flag(c.resolution_us.is_not(None)),
        "resolution_us": func.coalesce(c.resolution_us, _constant(0)),
        "rated_good": _flag(c.latest_rating == _constant("good")),
        "rated_okay": _flag(c.latest_rating == _constant("okay")),
        "rated_bad": _flag(c.latest_rating == _constant("bad")),
    }


_KEY_COLUMNS = ("installation_id", "customer_kind", "customer_id", "department_id", "channel")
_TOTALS_TABLE = CustomerTotals.__table__


def _add_to_totals(dialect: str, shares: Iterable[Any], *, returning: bool = False) -> Any:
    """INSERT … ON CONFLICT DO UPDATE adding the ``shares`` to the totals rows, summed per row.

    It adds to what is stored at that moment, so concurrent changes to one customer's tickets
    never overwrite each other's sums. Rows whose sums are all zero are left alone;
    ``returning`` gives each row written with its key and its tickets (see :func:`_drop_empty`).
    """
    moved = union_all(*shares).subquery("moved")
    keys = [moved.c[name] for name in _KEY_COLUMNS]
    sums = [func.sum(moved.c[name]) for name in TOTAL_COLUMNS]
    summed = (
        select(*keys, *(total.label(name) for name, total in zip(TOTAL_COLUMNS, sums, strict=True)))
        # A ticket without a contact or an account has no share there.
        .where(moved.c.customer_id.is_not(None))
        .group_by(*keys)
        .having(or_(*(total != _constant(0) for total in sums)))
    )
    make_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make_insert(_TOTALS_TABLE).from_select([*_KEY_COLUMNS, *TOTAL_COLUMNS], summed)
    statement = statement.on_conflict_do_update(
        index_elements=list(_KEY_COLUMNS),
        set_={name: _TOTALS_TABLE.c[name] + statement.excluded[name] for name in TOTAL_COLUMNS},
    )
    if returning:
        statement = statement.returning(
            *(_TOTALS_TABLE.c[name] for name in _KEY_COLUMNS), _TOTALS_TABLE.c.tickets
        )
    return statement


@cache
def _move_shares_statement(dialect: str, sign: int) -> Any:
    """Adds (``sign`` 1) or takes out (-1) the shares of the kept facts of the tickets
    ``:ticket_ids`` of the installation ``:installation_id`` (built once per dialect and sign)."""
    facts = select(_FACTS_TABLE).where(
        _FACTS_TABLE.c.installation_id == bindparam("installation_id"),
        _FACTS_TABLE.c.ticket_id.in_(bindparam("ticket_ids", expanding=True)),
    )
    # Materialized: the tickets' facts are found by key first. Merged into the shares' selects,
    # SQLite walked the customer index of every fact of the installation instead (a backfill
    # slowed down batch after batch).
    found = facts.cte("facts").prefix_with("MATERIALIZED")
    return _add_to_totals(dialect, _shares(found, sign), returning=True)


@cache
def _replace_one_statement() -> Any:
    """One PostgreSQL statement replacing a ticket's facts with the values given (a parameter
    ``new_<column>`` per column of the facts table) and moving the difference into the totals:
    the kept facts are read and locked (``old``), updated or else inserted, and the totals
    get the new share minus the old one. Built once."""
    facts = _FACTS_TABLE
    # Parameters named apart from the columns: a parameter named as a column of the table
    # inserted into is taken for a value of that column, and SQLAlchemy then wants a value
    # for each of the select's constants.
    values = {name: bindparam(f"new_{name}", type_=column.type) for name, column in facts.c.items()}
    key = (
        facts.c.installation_id == values["installation_id"],
        facts.c.ticket_id == values["ticket_id"],
    )
    old = select(facts).where(*key).with_for_update().cte("old")
    new = select(*(value.label(name) for name, value in values.items())).cte("new")
    updated = (
        update(facts)
        .where(*key)
        .values({name: value for name, value in values.items() if name not in _FACT_KEY})
        .cte("updated")
    )
    # No ON CONFLICT: facts inserted meanwhile by a backfill make this fail, and the event's
    # redelivery repairs it, instead of adding this share without taking theirs out.
    inserted = (
        postgresql.insert(facts)
        .from_select(list(values), select(new).where(~select(old.c.ticket_id).exists()))
        .cte("inserted")
    )
    statement = _add_to_totals("postgresql", [*_shares(old, -1), *_shares(new, 1)], returning=True)
    return statement.add_cte(updated, inserted)


_FACT_KEY = frozenset({"installation_id", "ticket_id"})


def _drop_empty(connection: Any, written: Iterable[Any]) -> None:
    """Delete the totals rows left with no ticket (a ticket moved to another department,
    channel or customer), as a rebuild would never have made them; ``written`` are the rows
    :func:`_add_to_totals` returned."""
    empty = [
        {f"key_{name}": getattr(row, name) for name in _KEY_COLUMNS}
        for row in written
        if row.tickets == 0
    ]
    if empty:
        connection.execute(_DELETE_EMPTY_TOTALS, empty)


_DELETE_EMPTY_TOTALS = delete(_TOTALS_TABLE).where(
    *(_TOTALS_TABLE.c[name] == bindparam(f"key_{name}") for name in _KEY_COLUMNS),
    _TOTALS_TABLE.c.tickets == 0,
)


def _flag(condition: Any) -> Any:
    return case((condition, _constant(1)), else_=_constant(0))


def _constant(value: int | str) -> Any:
    """One of this module's constants, written into the statement's text: as parameters, the
    dozens of them cost a reply's statement more than its query."""
    if isinstance(value, str):
        return literal_column(f"'{value}'", String())
    return literal_column(str(int(value)), Integer())
