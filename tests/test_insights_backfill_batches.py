"""Customer Insights backfills read tickets in batches: a department's backfill lists only
that department's tickets, and a batch reads its tickets with one ``ticket_histories`` call
instead of four calls per ticket, with the same result as the ticket-by-ticket refresh."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import select

from core.host import Host
from core.models import Agent, Contact, Department
from core.plugins.context import HostContext
from hostapi import TicketQuery
from plugins.customer_insights import backfill
from plugins.customer_insights.models import Backfill
from tests.insights_helpers import Desk


@pytest.fixture
def desk(host: Host) -> Desk:
    return Desk(host)


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    return make_department("Sales")


@pytest.fixture
def agent(make_agent: Callable[..., Agent], department: Department, sales: Department) -> Agent:
    return make_agent("rin@example.com", departments=[department, sales])


@pytest.fixture
def customer(make_contact: Callable[..., Contact]) -> Contact:
    return make_contact("Yamada")


def test_a_department_backfill_lists_only_its_department_and_reads_histories_in_batches(
    desk: Desk,
    department: Department,
    sales: Department,
    customer: Contact,
    agent: Agent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installation = desk.install([department.id])
    for minutes in range(3):
        desk.ticket(customer, department.id, minutes)
    sales_tickets = [desk.ticket(customer, sales.id, 10 + minutes) for minutes in range(4)]
    for ticket in sales_tickets:
        desk.reply(ticket, 30, agent)
    queries: list[TicketQuery] = []
    batches: list[list[int]] = []
    list_tickets = HostContext.list_tickets
    ticket_histories = HostContext.ticket_histories

    def spy_list(self: HostContext, query: TicketQuery) -> Any:
        queries.append(query)
        return list_tickets(self, query)

    def spy_histories(self: HostContext, ticket_ids: Sequence[int]) -> Any:
        batches.append(list(ticket_ids))
        return ticket_histories(self, ticket_ids)

    monkeypatch.setattr(HostContext, "list_tickets", spy_list)
    monkeypatch.setattr(HostContext, "ticket_histories", spy_histories)
    monkeypatch.setattr(HostContext, "list_threads", _refused)

    desk.edit_departments(installation, [department.id, sales.id])  # records Sales' backfill
    desk.run_backfills(installation)

    assert [q.department_id for q in queries] == [sales.id]
    assert [sorted(batch) for batch in batches] == [sorted(sales_tickets)]
    monkeypatch.undo()
    kept = desk.figures(installation, "contact", customer.id)
    assert kept == desk.direct(installation, "contact", customer.id)
    assert (kept.tickets, kept.public_replies) == (7, 4)


def test_a_range_backfill_refreshes_its_tickets_a_page_at_a_time(
    desk: Desk, department: Department, customer: Contact, monkeypatch: pytest.MonkeyPatch
) -> None:
    installation = desk.install([department.id])
    tickets = [desk.ticket(customer, department.id, minutes) for minutes in range(5)]
    monkeypatch.setattr("plugins.customer_insights.aggregates.PAGE_SIZE", 2)
    monkeypatch.setattr(backfill, "PAGE_SIZE", 2)
    batches: list[list[int]] = []
    ticket_histories = HostContext.ticket_histories

    def spy_histories(self: HostContext, ticket_ids: Sequence[int]) -> Any:
        batches.append(list(ticket_ids))
        return ticket_histories(self, ticket_ids)

    monkeypatch.setattr(HostContext, "ticket_histories", spy_histories)
    with desk.host.transaction() as session:
        backfill.start(desk.context(session, installation), ticket_range=(tickets[0], tickets[-1]))
    desk.run_backfills(installation)

    assert batches == [tickets[0:2], tickets[2:4], tickets[4:5]]
    monkeypatch.undo()
    assert desk.figures(installation, "contact", customer.id).tickets == 5


def test_a_department_backfill_resumes_where_its_last_batch_stopped(
    desk: Desk, department: Department, customer: Contact, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch is a job run of its own: the next one reads the stored cursor (a time read
    back from the extension's table, aware on both backends) and goes on from there."""
    installation = desk.install([department.id], backfilled=False)
    for minutes in range(5):
        desk.ticket(customer, department.id, minutes)
    monkeypatch.setattr("plugins.customer_insights.aggregates.PAGE_SIZE", 2)
    monkeypatch.setattr(backfill, "PAGE_SIZE", 2)
    monkeypatch.setattr(backfill, "BATCH_SIZE", 2)
    runs = 0
    while (pending := _pending_backfill(desk, installation)) is not None:
        with desk.host.transaction() as session:  # a job run, as the worker makes it
            backfill.run(desk.context(session, installation), {"backfill_id": pending})
        runs += 1

    assert runs == 3  # two tickets, two more, the last one
    monkeypatch.undo()
    kept = desk.figures(installation, "contact", customer.id)
    assert kept.tickets == 5
    assert kept == desk.direct(installation, "contact", customer.id)


def _pending_backfill(desk: Desk, installation_id: int) -> int | None:
    with desk.host.sessions() as session:
        return session.scalar(
            select(Backfill.id).where(Backfill.installation_id == installation_id).limit(1)
        )


def _refused(*args: object, **kwargs: object) -> None:
    raise AssertionError("a backfill reads threads through ticket_histories")
