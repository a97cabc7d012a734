"""Customer Insights: The customer's numbers beside every ticket: open vs closed tickets, first
response, response and resolution times, and happiness.

The extension is loaded through the ``deskhost.plugins`` entry point; its hook
implementations live in this package and its manifest in ``manifest.json``. Its figures come
from tables of its own (``customer_insights_*``, its own migration stream) kept exact by the
synchronous event hook, backfilled by a job, and rebuilt from scratch by the ``rebuild`` job
(``deskhost insights rebuild``).
"""

from __future__ import annotations

from pathlib import Path

from hostapi import ApiRoute, Context, Event, JobSpec, Location, Panel, hookimpl
from plugins.customer_insights import aggregates, api, backfill, maintenance
from plugins.customer_insights.overview import render_overview
from plugins.customer_insights.panel import render_insights_panel

#: The job that recomputes an installation's figures from scratch.
REBUILD_JOB = "rebuild"


@hookimpl
def deskhost_panels() -> list[Panel]:
    """The panel beside every ticket the installation covers, and the customers' Overview tabs."""
    return [
        Panel(
            key="insights",
            location=Location.TICKET_RIGHT_PANEL,
            title="Customer Insights",
            title_ja="顧客インサイト",
            render=render_insights_panel,
            order=10,
        ),
        Panel(
            key="overview",
            location=Location.CONTACT_SUBTAB,
            title="Overview",
            title_ja="概要",
            render=render_overview,
            order=10,
        ),
        Panel(
            key="account_overview",
            location=Location.ACCOUNT_SUBTAB,
            title="Overview",
            title_ja="概要",
            render=render_overview,
            order=10,
        ),
    ]


@hookimpl
def deskhost_api_routes() -> list[ApiRoute]:
    """The figures and the CSV export over REST (``plugins.customer_insights.api``)."""
    return api.routes()


@hookimpl
def deskhost_migrations() -> str:
    """The folder of the extension's Alembic stream (facts, totals, backfills)."""
    return str(Path(__file__).with_name("migrations") / "versions")


@hookimpl
def deskhost_jobs() -> list[JobSpec]:
    """Backfilling tickets in batches, and rebuilding everything."""
    return [
        JobSpec(name=backfill.BACKFILL_JOB, run=backfill.run, timeout_seconds=300),
        JobSpec(name=REBUILD_JOB, run=maintenance.rebuild_job, timeout_seconds=3600),
    ]


@hookimpl
def deskhost_authorized(context: Context) -> None:
    """Compute the figures of every covered department's tickets (again, after a restore)."""
    maintenance.start_over(context)


@hookimpl
def deskhost_scope_changed(
    context: Context, added_department_ids: list[int], removed_department_ids: list[int]
) -> None:
    """Follow the installation's departments."""
    maintenance.change_departments(context, added_department_ids, removed_department_ids)


@hookimpl
def deskhost_uninstall(context: Context, purge: bool) -> None:
    """Delete the installation's rows when its data is purged."""
    if purge:
        aggregates.forget_everything(context)


@hookimpl
def deskhost_event_sync(context: Context, event: Event) -> None:
    """Keep the figures exact within the change's transaction (which holds the ticket)."""
    maintenance.apply_event(context, event, held=True)


@hookimpl
def deskhost_event(context: Context, event: Event, redelivered_after_error: bool) -> None:
    """Repair what the synchronous hook failed to keep (the same work, idempotent)."""
    if redelivered_after_error:
        maintenance.apply_event(context, event)
