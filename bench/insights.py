"""Benchmark: Customer Insights over a 1,000,000-ticket history, on both backends.

Uses the shared ticket history (``bench/harness.py``: built once per backend and scale, with a
busy contact of 10,000 tickets and a quiet one of 10). Each run:

1. installs customer_insights for every department through the marketplace lifecycle, as an
   admin would, and works through its backfill as the worker does, one job run per
   transaction (timed: ``backfill_tickets_per_s``);
2. times public replies and status changes through the host's services, each committed as a
   request commits it, in pairs on one of the busy contact's tickets after another (each as
   built): one with the installation switched off (by its state alone, so that no hook runs),
   one with it keeping its figures, each the same change (a status change is undone, untimed,
   after each half). Taken in alternation, both halves share whatever the machine does
   meanwhile (PostgreSQL vacuuming the facts the backfill wrote). The median of the pairs'
   differences, for replies and for status changes (``write_reply_overhead_p50_ms``,
   ``write_status_overhead_p50_ms``; ``write_overhead_p50_ms`` is the larger), is what keeping
   the figures adds;
3. renders the ticket panel (the code the agent's page runs) for a ticket of the busy contact
   (``panel_p50_ms``, ``panel_p95_ms``) and of the quiet one (``panel_small_p50_ms``), each in
   a session of its own as a page request, after the host made the installation's context
   (once per page for all its panels: ``context_p50_ms``, apart), and computes the busy
   contact's figures from the raw threads (``naive_p50_ms``, direct.py);
4. uninstalls, deleting the extension's data (also done first, should a run have stopped).

    python bench/insights.py                 # 1,000,000 tickets
    python bench/insights.py --scale small   # 10,000 tickets (CI smoke)
"""

from __future__ import annotations

import statistics
import time

import harness
from sqlalchemy import delete, func, select, update

from core.db import end_reading
from core.host import Host
from core.models import (
    Agent,
    Installation,
    StatusChange,
    Thread,
    Ticket,
)
from core.models.extensions import InstallationState
from core.services import tickets as ticket_service
from core.services.base import Actor, Unit
from hostapi import PanelTarget, clock
from plugins.customer_insights import backfill
from plugins.customer_insights.direct import direct_figures
from plugins.customer_insights.models import Backfill, TicketFacts
from plugins.customer_insights.panel import render_insights_panel

PLUGIN = "customer_insights"
PANEL_RUNS = 40
NAIVE_RUNS = 2
#: Rounds of writes, replies and status changes in turn, each a pair (without and with the
#: installation) of the same change. A multiple of 4.
WRITE_ROUNDS = 80
#: The body of the replies the bench adds (and deletes).
BENCH_REPLY = "Thanks! (bench reply)"


def measure(host: Host) -> harness.Figures:
    """The figures of one backend (see the module's description)."""
    harness.uninstall_all(host, PLUGIN)
    busy, quiet = (
        harness.contact_id(host, harness.BUSY_CONTACT_EMAIL),
        harness.contact_id(host, harness.QUIET_CONTACT_EMAIL),
    )
    quiet_ticket = harness.ticket_ids_of(host, quiet)[0]
    busy_tickets = harness.ticket_ids_of(host, busy)
    installation_id = harness.install_everywhere(host, PLUGIN)
    try:
        tickets, seconds = _backfill(host, installation_id)
        without, with_installation = _write_ms(
            host, busy_tickets[: WRITE_ROUNDS + 1], installation_id
        )
        busy_ticket = busy_tickets[0]
        contexts, panel = _panel_timings(host, installation_id, busy_ticket)
        _, panel_small = _panel_timings(host, installation_id, quiet_ticket)
        # Seconds a run even at the small scale: no warming run (the panel's runs warmed up).
        naive = harness.timed(NAIVE_RUNS, lambda: _naive(host, installation_id, busy))
    finally:
        harness.uninstall_all(host, PLUGIN)
    # Paired: a ticket's reopening costs the host several times its closing (the SLA clock's
    # business hours), and a difference of medians over a mix of both measured the mix.
    overheads = {
        f"write_{kind}_overhead_p50_ms": statistics.median(
            kept - plain for kept, plain in zip(with_installation[kind], without[kind], strict=True)
        )
        for kind in ("reply", "status")
    }
    return {
        "backfill_tickets": tickets,
        "backfill_s": seconds,
        "backfill_tickets_per_s": tickets / seconds,
        "panel_p50_ms": statistics.median(panel),
        "panel_p95_ms": harness.p95(panel),
        "panel_small_p50_ms": statistics.median(panel_small),
        "context_p50_ms": statistics.median(contexts),
        "naive_p50_ms": statistics.median(naive),
        "write_p50_ms": statistics.median(_all(with_installation)),
        "write_without_p50_ms": statistics.median(_all(without)),
        **overheads,
        # What keeping the figures adds to a reply and to a status change: the larger.
        "write_overhead_p50_ms": max(overheads.values()),
    }


# ------------------------------------------------------------------------------------ steps


def _backfill(host: Host, installation_id: int) -> tuple[int, float]:
    """Run the backfill jobs until none is left, each in its own transaction; (tickets, s)."""
    began = time.perf_counter()
    while True:
        with host.transaction() as session:
            context = harness.context_of(host, session, installation_id)
            pending = session.scalar(
                select(Backfill.id).where(Backfill.installation_id == installation_id).limit(1)
            )
            if pending is None:
                break
            backfill.run(context, {"backfill_id": pending})
    seconds = time.perf_counter() - began
    with host.sessions() as session:
        kept = session.scalar(
            select(func.count())
            .select_from(TicketFacts)
            .where(TicketFacts.installation_id == installation_id)
        )
    return int(kept or 0), seconds


def _write_ms(
    host: Host, ticket_ids: list[int], installation_id: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Milliseconds of public replies (``reply``) and of status changes (``status``) through
    the services (the synchronous extension hooks included), each in a transaction of its own,
    committed as a request commits it: without the installation, then with it, in turn, one
    round of the two on each ticket of ``ticket_ids``.

    A ticket of its own per round: the figures' upkeep reads the ticket's whole history, and
    rounds on one ticket would measure a ticket that grows by two entries a round (160 by the
    end) rather than replies to tickets as they come.

    Committed, not rolled back: psycopg deallocates the connection's prepared statements at
    every ROLLBACK, so PostgreSQL would plan every query anew, as it no longer does for the
    host's requests (they end with COMMIT, ``core.db.end_reading``). The replies and status
    changes are deleted afterwards (each status change is undone at once), so the bench copy
    stays as built.
    """
    timings: tuple[dict[str, list[float]], dict[str, list[float]]] = (
        {"reply": [], "status": []},
        {"reply": [], "status": []},
    )
    with host.sessions() as session:
        agent_id = session.scalar(select(Agent.id).where(Agent.email == harness.BENCH_AGENT_EMAIL))
    since = clock.now()
    try:
        for run, ticket_id in enumerate(ticket_ids):
            kind = "status" if run % 2 else "reply"
            # Each half goes first in every other round of its kind.
            for keeping in (False, True) if run // 2 % 2 else (True, False):
                _switch(host, installation_id, on=keeping)
                elapsed = _write_once(host, ticket_id, kind, agent_id)
                if kind == "status":  # back, so that the other half makes the same change
                    _write_once(host, ticket_id, kind, agent_id)
                if run:  # the first round warms the caches
                    timings[keeping][kind].append(elapsed)
    finally:
        _switch(host, installation_id, on=True)
        with host.transaction() as session:
            session.execute(
                delete(Thread).where(Thread.ticket_id.in_(ticket_ids), Thread.body == BENCH_REPLY)
            )
            session.execute(
                delete(StatusChange).where(
                    StatusChange.ticket_id.in_(ticket_ids), StatusChange.changed_at >= since
                )
            )
    return timings


def _switch(host: Host, installation_id: int, *, on: bool) -> None:
    """Turn the installation's hooks on or off by its state alone (nothing else changes)."""
    state = InstallationState.ACTIVE if on else InstallationState.AWAITING_AUTHORIZATION
    with host.transaction() as session:
        session.execute(
            update(Installation).where(Installation.id == installation_id).values(state=state)
        )


def _write_once(host: Host, ticket_id: int, kind: str, agent_id: int | None) -> float:
    """Milliseconds of one reply or one status change (Open ⇄ Closed), committed."""
    with host.write_sessions() as session:
        unit = Unit(session, Actor.system("bench"), host)
        ticket = session.get(Ticket, ticket_id)
        closed = ticket.status_type == "closed"
        began = time.perf_counter()
        if kind == "status":
            ticket_service.change_status(unit, ticket, "Open" if closed else "Closed")
        else:
            ticket_service.add_thread(
                unit, ticket, kind="outgoing", body=BENCH_REPLY, author_agent_id=agent_id
            )
        session.commit()
        return (time.perf_counter() - began) * 1000


def _panel_ms(host: Host, installation_id: int, ticket_id: int) -> tuple[float, float]:
    """Milliseconds of making the installation's context, then of rendering the panel with it,
    in a session of its own (as a page request: nothing of the ticket or customer loaded)."""
    with host.sessions() as session:
        began = time.perf_counter()
        context = harness.context_of(host, session, installation_id)
        made = time.perf_counter()
        render_insights_panel(context, PanelTarget(kind="ticket", id=ticket_id))
        rendered = time.perf_counter()
        end_reading(session)  # as a page request ends
    return (made - began) * 1000, (rendered - made) * 1000


def _panel_timings(
    host: Host, installation_id: int, ticket_id: int
) -> tuple[list[float], list[float]]:
    """(context ms, panel ms) of :data:`PANEL_RUNS` renders, after one that warms the caches."""
    _panel_ms(host, installation_id, ticket_id)
    runs = [_panel_ms(host, installation_id, ticket_id) for _ in range(PANEL_RUNS)]
    return [made for made, _ in runs], [rendered for _, rendered in runs]


def _naive(host: Host, installation_id: int, contact_id: int) -> None:
    with host.sessions() as session:
        direct_figures(harness.context_of(host, session, installation_id), "contact", contact_id)


def _all(timings: dict[str, list[float]]) -> list[float]:
    return [ms for kind in timings.values() for ms in kind]


BENCHMARK = harness.over_ticket_history(measure)

if __name__ == "__main__":
    raise SystemExit(harness.main(BENCHMARK, __doc__.splitlines()[0]))
