"""Context.ticket_histories (host API 1.2): many tickets with their records at once, exactly as
the single-ticket methods give them, capped by the same scopes and visibility."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Department, Ticket
from core.services import tickets
from core.services.base import Actor, Unit
from hostapi import (
    Context,
    JobSpec,
    ScopeError,
    TicketHistory,
    TicketQuery,
    clock,
    hookimpl,
    scopes,
)
from hostapi.testing import InstalledExtension
from tests.factories import ticket_in
from tests.plugin_fixtures import manifest

_ALL = [scopes.TICKETS_READ, scopes.TICKETS_WRITE, scopes.THREADS_READ, scopes.THREADS_WRITE]


@pytest.fixture
def deskhost_host(host: Host) -> Host:
    """Run hostapi.testing's fixtures on this run's host (both backends)."""
    return host


class Reader:
    """A plugin with one job (it needs some contribution to install)."""

    @hookimpl
    def deskhost_jobs(self) -> list[JobSpec]:
        return [JobSpec(name="sync", run=lambda context, payload: None)]


def _context(
    deskhost_installation: Callable[..., InstalledExtension], granted: list[str]
) -> Context:
    installation = deskhost_installation(
        Reader(), departments=["Support"], manifest=manifest("reader", scopes=granted)
    )
    return installation.context()


def _history(context: Context, ticket_id: int) -> TicketHistory:
    """What the single-ticket methods say about a ticket."""
    ticket = context.get_ticket(ticket_id)
    assert ticket is not None
    return TicketHistory(
        ticket=ticket,
        threads=tuple(context.list_threads(ticket_id)),
        status_changes=tuple(context.status_history(ticket_id)),
        ratings=tuple(context.ratings(ticket_id)),
    )


@pytest.fixture
def busy(deskhost_installation: Callable[..., InstalledExtension], db: Session) -> Context:
    """A context on Support with two tickets there (threads, changes, a rating) and one in
    Sales."""
    context = _context(deskhost_installation, _ALL)
    first = ticket_in(db, "Support", "first")
    second = ticket_in(db, "Support", "second")
    ticket_in(db, "Sales", "elsewhere")
    start = clock.now()
    context.add_thread(first.id, kind="incoming", body="hello", created_at=start)
    context.add_thread(first.id, kind="comment", body="a note", created_at=start)
    context.add_thread(second.id, kind="incoming", body="hi", created_at=start - timedelta(1))
    context.change_status(first.id, "Closed")
    context.change_status(first.id, "Open")
    unit = Unit(context.db, Actor.system("test"), None)
    tickets.add_rating(unit, context.db.get(Ticket, first.id), "good")
    tickets.add_rating(unit, context.db.get(Ticket, first.id), "bad")
    context.db.commit()
    return context


def test_each_history_equals_what_the_single_ticket_methods_give(busy: Context) -> None:
    ids = [t.id for t in busy.list_tickets(TicketQuery())]
    histories = busy.ticket_histories(ids)

    assert list(histories) == ids
    for ticket_id in ids:
        assert histories[ticket_id] == _history(busy, ticket_id)
    threads = [len(h.threads) for h in histories.values()]
    assert sorted(threads) == [1, 2]
    assert sum(len(h.status_changes) for h in histories.values()) >= 2
    assert sum(len(h.ratings) for h in histories.values()) == 2


def test_tickets_the_context_does_not_reach_are_left_out(busy: Context, db: Session) -> None:
    elsewhere = db.scalars(select(Ticket).where(Ticket.subject == "elsewhere")).one()
    visible = [t.id for t in busy.list_tickets(TicketQuery())]

    histories = busy.ticket_histories([elsewhere.id, 999_999, *visible, visible[0]])

    assert list(histories) == visible  # asked order, repeats once, the unreachable left out
    assert busy.ticket_histories([]) == {}


@pytest.mark.parametrize(
    "granted",
    [[scopes.TICKETS_READ], [scopes.THREADS_READ]],
    ids=["without threads.read", "without tickets.read"],
)
def test_both_read_scopes_are_needed(
    deskhost_installation: Callable[..., InstalledExtension], granted: list[str]
) -> None:
    context = _context(deskhost_installation, granted)
    with pytest.raises(ScopeError):
        context.ticket_histories([1])


def test_the_default_for_other_contexts_asks_the_single_ticket_methods(busy: Context) -> None:
    ids = [t.id for t in busy.list_tickets(TicketQuery())]
    expected = busy.ticket_histories(ids)

    assert Context.ticket_histories(busy, [*ids, 999_999]) == expected


def test_list_tickets_filters_by_department(busy: Context, db: Session) -> None:
    support = db.scalar(select(Department.id).where(Department.name == "Support"))
    sales = db.scalar(select(Department.id).where(Department.name == "Sales"))

    assert {t.subject for t in busy.list_tickets(TicketQuery(department_id=support))} == {
        "first",
        "second",
    }
    assert busy.list_tickets(TicketQuery(department_id=sales)) == []  # not reached
