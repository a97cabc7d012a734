"""An extension's recent failures, per installation, from the records the host keeps.

Two records: a :class:`~core.models.HookError` for every hook, job run or scope denial that
raised (``hook`` is the hook's name, ``job:<name>`` or ``scope_denied``), and the outbox row of
each job, which keeps its ``last_error`` while it is retried and after it was given up
(``core.outbox``). ``deskhost ext logs`` prints them; an admin's page can show the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from core.models import HookError, Installation, OutboxEvent
from core.models.extensions import OutboxKind


@dataclass(frozen=True)
class HookFailure:
    """One recorded error of a hook (or of a run of a job)."""

    at: datetime
    hook: str
    event_id: str | None
    error: str

    @property
    def summary(self) -> str:
        """The error's last line: for a traceback, the exception and its message."""
        return _last_line(self.error)


@dataclass(frozen=True)
class JobFailure:
    """A job whose last run failed: being retried, or given up (``given_up_at``)."""

    job_id: str
    job: str
    queued_at: datetime
    attempts: int
    given_up_at: datetime | None
    error: str

    @property
    def summary(self) -> str:
        """The error's first line."""
        return self.error.strip().splitlines()[0] if self.error.strip() else ""


@dataclass(frozen=True)
class InstallationFailures:
    """The failures of one installation (``installation_id`` ``None``: of none, such as
    errors recorded after an installation was purged), newest first."""

    installation_id: int | None
    state: str | None
    label: str
    hook_errors: tuple[HookFailure, ...]
    failed_jobs: tuple[JobFailure, ...]


def recent_failures(
    session: Session, plugin_id: str, *, installation_id: int | None = None, limit: int = 20
) -> list[InstallationFailures]:
    """Each installation of ``plugin_id`` (or the one given) with its ``limit`` latest hook
    errors and failed jobs, by installation id; then the plugin's errors of no installation,
    if any and no installation was given."""
    installations = select(Installation).where(Installation.plugin_id == plugin_id)
    if installation_id is not None:
        installations = installations.where(Installation.id == installation_id)
    found = [
        InstallationFailures(
            installation_id=installation.id,
            state=installation.state,
            label=installation.label,
            hook_errors=_hook_errors(session, limit, HookError.installation_id == installation.id),
            failed_jobs=_failed_jobs(session, installation.id, limit),
        )
        for installation in session.scalars(installations.order_by(Installation.id))
    ]
    if installation_id is None:
        orphans = _hook_errors(
            session, limit, HookError.installation_id.is_(None), HookError.plugin_id == plugin_id
        )
        if orphans:
            found.append(InstallationFailures(None, None, "", orphans, ()))
    return found


def _hook_errors(
    session: Session, limit: int, *conditions: ColumnElement[bool]
) -> tuple[HookFailure, ...]:
    rows = session.scalars(
        select(HookError)
        .where(*conditions)
        .order_by(HookError.at.desc(), HookError.id.desc())
        .limit(limit)
    )
    return tuple(
        HookFailure(at=row.at, hook=row.hook, event_id=row.event_id, error=row.error)
        for row in rows
    )


def _failed_jobs(session: Session, installation_id: int, limit: int) -> tuple[JobFailure, ...]:
    rows = session.scalars(
        select(OutboxEvent)
        .where(
            OutboxEvent.installation_id == installation_id,
            OutboxEvent.kind == OutboxKind.JOB.value,
            OutboxEvent.last_error.is_not(None),
        )
        .order_by(OutboxEvent.seq.desc())
        .limit(limit)
    )
    return tuple(
        JobFailure(
            job_id=row.id,
            job=row.name,
            queued_at=row.occurred_at,
            attempts=row.attempts,
            given_up_at=row.delivered_at,
            error=row.last_error or "",
        )
        for row in rows
    )


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
