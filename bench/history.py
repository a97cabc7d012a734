"""Benchmark: the Ticket History panel over a 1,000,000-ticket history, on both backends.

Uses the shared ticket history (``bench/harness.py``: built once per backend and scale, with a
busy contact of 10,000 tickets). Each run installs ticket_history for every department
through the marketplace lifecycle, then renders the panel beside the busy contact's newest
ticket, each render in a session of its own as a page request, after the host made the
installation's context (once per page for all its panels: ``context_p50_ms``, apart):

- its first page (``history_first_p50_ms``, ``history_first_p95_ms``);
- a deep page, the tickets past the busy contact's 5,000th newest, reached by the panel's own
  "Older" cursor (``history_deep_p50_ms``, ``history_deep_p95_ms``).

Then the busy contact's Reactions tab: its first page as the tab reads it
(``timeline_p50_ms``, ``timeline_p95_ms``), each read in a session of its own, as an agent
of every department would see it. The installation is purged at the end (and first, should a
run have stopped); a copy built before the tickets' ``last_reaction_at`` is migrated first
(``bench/harness.py`` brings every reused copy to the code's schema).

    python bench/history.py                 # 1,000,000 tickets
    python bench/history.py --scale small   # 10,000 tickets (CI smoke)
"""

from __future__ import annotations

import statistics
import time

import harness
from flask import Flask
from sqlalchemy import func, select

from core.customer_tabs.reactions import REACTIONS_TAB_LIMIT
from core.db import end_reading
from core.host import Host
from core.models import Department, Ticket
from core.services.base import Actor, Unit
from core.services.customer_reactions import list_reactions
from hostapi import PanelTarget
from plugins.ticket_history.panel import cursor_text, render_history_panel

PLUGIN = "ticket_history"
RUNS = 40
#: How deep the deep page starts: past this many of the busy contact's newest tickets.
DEEP = 5_000


def measure(host: Host) -> harness.Figures:
    """The figures of one backend (see the module's description)."""
    harness.uninstall_all(host, PLUGIN)
    busy = harness.contact_id(host, harness.BUSY_CONTACT_EMAIL)
    installation_id = harness.install_everywhere(host, PLUGIN)
    try:
        newest, deep_after = _positions(host, busy)
        app = Flask("bench")
        contexts, first = _render_ms(host, app, installation_id, newest, "")
        _, deep = _render_ms(
            host, app, installation_id, newest, f"history{installation_id}.after={deep_after}"
        )
    finally:
        harness.uninstall_all(host, PLUGIN)
    timeline = _timeline_ms(host, busy)
    return {
        "history_first_p50_ms": statistics.median(first),
        "history_first_p95_ms": harness.p95(first),
        "history_deep_p50_ms": statistics.median(deep),
        "history_deep_p95_ms": harness.p95(deep),
        "context_p50_ms": statistics.median(contexts),
        "timeline_p50_ms": statistics.median(timeline),
        "timeline_p95_ms": harness.p95(timeline),
    }


def _timeline_ms(host: Host, contact: int) -> list[float]:
    """Milliseconds of reading the first page of the contact's Reactions tab, as the tab does
    (one line more than a page, to know of an older one), each run in a session of its own;
    the first run warms the caches. The reader sees every department by name, so the
    department filter is in the query as it is for an agent (the bench agent is in none)."""
    with host.sessions() as session:
        departments = frozenset(session.scalars(select(Department.id)))
    actor = Actor(agent=None, label="bench", department_limit=departments)
    timings: list[float] = []
    for run in range(RUNS + 1):
        with host.sessions() as session:
            began = time.perf_counter()
            lines = list_reactions(
                Unit(session, actor, None), contact_id=contact, limit=REACTIONS_TAB_LIMIT + 1
            )
            elapsed = (time.perf_counter() - began) * 1000
            end_reading(session)
        assert len(lines) == REACTIONS_TAB_LIMIT + 1, "the timeline is shorter than a page"
        if run:
            timings.append(elapsed)
    return timings


def _positions(host: Host, contact: int) -> tuple[int, str]:
    """The busy contact's newest ticket, and the panel's cursor past its ``DEEP``-th newest
    (past the middle of its tickets at the small scale, where it has fewer)."""
    with host.sessions() as session:
        count = session.scalar(select(func.count()).where(Ticket.contact_id == contact)) or 0
        newest_first = (
            select(Ticket.id, Ticket.created_at)
            .where(Ticket.contact_id == contact)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        )
        newest = session.execute(newest_first.limit(1)).one()
        deep = session.execute(newest_first.offset(min(DEEP, count // 2)).limit(1)).one()
    return newest.id, cursor_text((deep.created_at, deep.id))


def _render_ms(
    host: Host, app: Flask, installation_id: int, ticket_id: int, query_string: str
) -> tuple[list[float], list[float]]:
    """Milliseconds of making the installation's context, then of rendering the panel with it
    on the ticket's page with ``query_string``, each run in a session of its own (as a page
    request); the first run warms the caches."""
    contexts: list[float] = []
    renders: list[float] = []
    for run in range(RUNS + 1):
        with app.test_request_context(query_string=query_string), host.sessions() as session:
            began = time.perf_counter()
            context = harness.context_of(host, session, installation_id)
            made = time.perf_counter()
            html = render_history_panel(context, PanelTarget(kind="ticket", id=ticket_id))
            rendered = time.perf_counter()
            end_reading(session)
        assert "data-ticket-id" in html, "the panel listed no ticket"
        if run:
            contexts.append((made - began) * 1000)
            renders.append((rendered - made) * 1000)
    return contexts, renders


BENCHMARK = harness.over_ticket_history(measure)

if __name__ == "__main__":
    raise SystemExit(harness.main(BENCHMARK, __doc__.splitlines()[0]))
