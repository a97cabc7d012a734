"""An extension's recent failures, per installation, from the records the host keeps.

Two records: a :class:`~core.models.HookError` for every hook, job run or scope denial that
raised (``hook`` is the hook's name, ``job:<name>`` or ``scope_denied``), and the outbox row of
each job, which keeps its ``last_error`` while it is retried and after it was given up
(``core.outbox``). ``deskhost ext logs`` prints them; an admin's page can show the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
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
    #: The record's id: later records have higher ones.
    id: int = 0
    installation_id: int | None = None
    plugin_id: str = ""

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
    installation_id: int | None = None

    @property
    def summary(self) -> str:
        """The error's last line: for a traceback, the exception and its message."""
        return _last_line(self.error)


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


def newest_hook_error_id(session: Session) -> int:
    """The id of the latest hook error recorded (0 for none): :func:`hook_errors_after` it
    gives what is recorded from now on."""
    return session.scalar(select(func.max(HookError.id))) or 0


def hook_errors_after(
    session: Session, after_id: int, plugin_id: str | None = None
) -> tuple[HookFailure, ...]:
    """The hook errors recorded after the one of ``after_id`` (of ``plugin_id`` only, when
    given), oldest first. Every failed run of a job is one of them."""
    conditions = [HookError.id > after_id]
    if plugin_id is not None:
        conditions.append(HookError.plugin_id == plugin_id)
    rows = session.scalars(select(HookError).where(*conditions).order_by(HookError.id))
    return tuple(_hook_failure(row) for row in rows)


def jobs_given_up_since(
    session: Session, since: datetime, plugin_id: str | None = None
) -> tuple[JobFailure, ...]:
    """The jobs given up at ``since`` or later (of ``plugin_id``'s installations only, when
    given), oldest first: after their last attempt, or without running at all (a job its
    extension no longer has, an installation no longer active)."""
    query = (
        select(OutboxEvent)
        .join(Installation, Installation.id == OutboxEvent.installation_id)
        .where(
            OutboxEvent.kind == OutboxKind.JOB.value,
            OutboxEvent.last_error.is_not(None),
            OutboxEvent.delivered_at >= since,
        )
        .order_by(OutboxEvent.delivered_at, OutboxEvent.seq)
    )
    if plugin_id is not None:
        query = query.where(Installation.plugin_id == plugin_id)
    return tuple(_job_failure(row) for row in session.scalars(query))


def _hook_errors(
    session: Session, limit: int, *conditions: ColumnElement[bool]
) -> tuple[HookFailure, ...]:
    rows = session.scalars(
        select(HookError)
        .where(*conditions)
        .order_by(HookError.at.desc(), HookError.id.desc())
        .limit(limit)
    )
    return tuple(_hook_failure(row) for row in rows)


def _hook_failure(row: HookError) -> HookFailure:
    return HookFailure(
        at=row.at,
        hook=row.hook,
        event_id=row.event_id,
        error=row.error,
        id=row.id,
        installation_id=row.installation_id,
        plugin_id=row.plugin_id,
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
    return tuple(_job_failure(row) for row in rows)


def _job_failure(row: OutboxEvent) -> JobFailure:
    return JobFailure(
        job_id=row.id,
        job=row.name,
        queued_at=row.occurred_at,
        attempts=row.attempts,
        given_up_at=row.delivered_at,
        error=row.last_error or "",
        installation_id=row.installation_id,
    )


def indented(text: str, spaces: int) -> list[str]:
    """The lines of ``text`` (a traceback), each indented by ``spaces``."""
    return [" " * spaces + line for line in text.rstrip().splitlines()]


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
