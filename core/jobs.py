"""Periodic extension jobs: the cron scheduler that writes their runs to the outbox.

Each run of a periodic job is an outbox row of kind ``job`` whose id is derived from
(installation, job, tick). Two schedulers started by mistake compute the same id for the same
tick, and the outbox's unique id lets only one row in: a tick fires once. Only the latest tick
within :data:`CRON_GRACE` is considered, so a scheduler that was down does not replay a backlog
(and a pruned old run is never written again).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.models import Installation, Organisation, OutboxEvent
from core.models.extensions import InstallationState, OutboxKind
from hostapi import clock

if TYPE_CHECKING:
    from core.host import Host
    from hostapi.types import JobSpec

#: How late a tick may still be written (a scheduler pass must come more often than this).
CRON_GRACE = timedelta(minutes=10)
#: Seconds between two passes of the scheduler loop of ``core.worker``.
SCHEDULER_INTERVAL_SECONDS = 15

_RUN_ID_NAMESPACE = uuid.UUID("5b0a3c0e-6f3f-4d55-9a63-2d3c0f6a9b11")


def latest_tick(cron: str, now: datetime, timezone: str) -> datetime:
    """The latest time ``cron`` fires at or before ``now``, evaluated in ``timezone`` (UTC out)."""
    local = now.astimezone(ZoneInfo(timezone))
    # croniter's get_prev is strictly before its start: start at the next minute so a tick
    # falling in the current minute counts.
    start = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    tick: datetime = croniter(cron, start).get_prev(datetime)
    return tick.astimezone(now.tzinfo)


def run_id(installation_id: int, job_name: str, tick: datetime) -> str:
    """The outbox id of one run of a periodic job: the same for every scheduler."""
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, f"{installation_id}:{job_name}:{tick.isoformat()}"))


def schedule_due(host: Host, *, grace: timedelta = CRON_GRACE) -> int:
    """Write the due runs of every active installation's periodic jobs to the outbox.

    :returns: how many runs were written (runs another scheduler wrote already are skipped).
    """
    periodic = {
        plugin_id: [spec for spec in specs if spec.cron]
        for plugin_id, specs in host.plugins.jobs().items()
    }
    periodic = {plugin_id: specs for plugin_id, specs in periodic.items() if specs}
    if not periodic:
        return 0
    now = clock.now()
    with host.sessions() as session:
        timezone = session.scalar(select(Organisation.timezone).limit(1)) or "UTC"
        installations = session.execute(
            select(Installation.id, Installation.plugin_id).where(
                Installation.state == InstallationState.ACTIVE,
                Installation.plugin_id.in_(periodic),
            )
        ).all()
    runs = [
        _run_row(installation_id, spec, tick, now)
        for installation_id, plugin_id in installations
        for spec in periodic[plugin_id]
        if now - (tick := latest_tick(str(spec.cron), now, timezone)) <= grace
    ]
    # The insert opens its own transaction: on SQLite, a transaction that read before writing
    # fails at once (no busy wait) when another writer committed in between.
    with host.transaction() as session:
        return _insert_new(session, runs)


def _run_row(installation_id: int, spec: JobSpec, tick: datetime, now: datetime) -> dict[str, Any]:
    return {
        "id": run_id(installation_id, spec.name, tick),
        "kind": OutboxKind.JOB.value,
        "name": spec.name,
        "payload": {"scheduled_for": tick.isoformat()},
        "department_ids": [],
        "installation_id": installation_id,
        "occurred_at": now,
        "available_at": None,
        "sync_failed_installation_ids": [],
        "attempts": 0,
    }


def _insert_new(session: Session, rows: list[Mapping[str, Any]]) -> int:
    """Insert the rows whose id is not in the outbox yet; returns how many were inserted."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(OutboxEvent)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["id"])
        # RETURNING lists only the rows inserted: rowcount is not reliable across drivers.
        .returning(OutboxEvent.id)
    )
    return len(session.execute(statement).all())
