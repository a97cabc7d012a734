"""The outbox relay and the RQ job that delivers outbox rows to extensions.

Rows are written in the change's transaction (``core.events.emit`` for domain events,
``Context.enqueue`` for extension jobs). The relay (:func:`relay_once`) leases undelivered rows
for a short time and hands their ids to RQ; :func:`deliver` runs in an RQ worker and marks
each delivery in the same transaction as the extension's own writes. A row whose lease runs
out before it is marked delivered is handed over again, so a crashed worker or a Redis outage
loses nothing: delivery is at least once, and effectively once for everything the extension
writes through its session (an ``EventDelivery`` row per event and installation, the row's
``delivered_at`` for jobs).

Failures: a hook or job that raises is recorded as a :class:`~core.models.HookError` and in
the row's ``last_error``; the row stays undelivered and is retried when its lease expires.
After :data:`MAX_EVENT_ATTEMPTS` hand-overs for events (``JobSpec.max_retries + 1`` for jobs)
the row is given up: it is marked delivered with ``last_error`` kept. A *dead* row is
therefore ``delivered_at IS NOT NULL AND last_error IS NOT NULL`` (a row that succeeded on a
retry has its ``last_error`` cleared).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.models import EventDelivery, Installation, OutboxEvent
from core.models.extensions import InstallationState, OutboxKind
from hostapi import Event, clock

if TYPE_CHECKING:
    from core.host import Host
    from hostapi.types import JobSpec

log = logging.getLogger(__name__)

#: The RQ queue of domain-event batches; extension jobs go to ``deskhost.<plugin id>``.
EVENT_QUEUE = "deskhost"
#: The queue of the core's own background work (customer imports…).
CORE_QUEUE = "deskhost-core"
#: The RQ job function, by import path (RQ workers in other processes import it).
DELIVER_FUNCTION = "core.outbox.deliver"
#: Hand-overs of an event row before an installation that keeps failing is given up.
MAX_EVENT_ATTEMPTS = 10
#: Outbox row ids per RQ job for events (jobs get one RQ job each: their own timeout).
EVENTS_PER_RQ_JOB = 100
#: Default lease: how long a handed-over row waits before it is handed over again.
DEFAULT_LEASE_SECONDS = 30
#: RQ's own timeout for a batch of events (each hook is expected to be quick).
EVENT_BATCH_TIMEOUT_SECONDS = 600


def plugin_queue(plugin_id: str) -> str:
    """The RQ queue of one extension's jobs."""
    return f"{EVENT_QUEUE}.{plugin_id}"


# ---------------------------------------------------------------------------- host binding

_bound: Host | None = None
_bound_pid: int | None = None
_bind_lock = threading.Lock()


def bind_host(host: Host | None) -> None:
    """Make :func:`deliver` use ``host`` in this process (the worker, tests); ``None`` unbinds."""
    global _bound, _bound_pid
    with _bind_lock:
        _bound, _bound_pid = host, os.getpid() if host is not None else None


def current_host() -> Host:
    """The bound host, or one built once per process from the environment."""
    global _bound, _bound_pid
    with _bind_lock:
        if _bound is None:
            from core.config import Settings
            from core.host import Host

            _bound, _bound_pid = Host(Settings.from_env()), os.getpid()
        elif _bound_pid != os.getpid():
            # A forked process must not share the parent's pooled database connections.
            _bound.forget_connections()
            _bound_pid = os.getpid()
        return _bound


# ---------------------------------------------------------------------------- relay


@dataclass(frozen=True)
class _Claimed:
    seq: int
    kind: str
    name: str
    plugin_id: str | None


def relay_once(
    host: Host,
    *,
    batch_size: int = 500,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
) -> int:
    """Lease up to ``batch_size`` due rows, oldest first, and hand their ids to RQ.

    :returns: how many rows were handed to RQ. When Redis is down nothing is handed over:
        the rows stay leased (they come back when the lease expires) and the hand-over is not
        counted as an attempt.
    """
    claimed = _claim(host, batch_size=batch_size, lease_seconds=lease_seconds)
    if not claimed:
        return 0
    handed: list[int] = []
    try:
        for queue_name, seqs, timeout, job_id in _rq_jobs(host, claimed):
            Queue(queue_name, connection=host.redis).enqueue(
                DELIVER_FUNCTION,
                seqs,
                lease_seconds=lease_seconds,
                job_timeout=timeout,
                result_ttl=0,
                job_id=job_id,
                description=f"outbox rows {seqs[0]}..{seqs[-1]}",
            )
            handed.extend(seqs)
    except redis.RedisError as exc:
        log.warning("Redis unavailable, outbox rows wait for their lease to expire: %s", exc)
        _uncount_attempts(host, {c.seq for c in claimed} - set(handed))
    return len(handed)


def _claim(host: Host, *, batch_size: int, lease_seconds: int) -> list[_Claimed]:
    now = clock.now()
    due = (
        select(OutboxEvent.seq)
        .where(
            OutboxEvent.delivered_at.is_(None),
            or_(OutboxEvent.lease_until.is_(None), OutboxEvent.lease_until <= now),
            or_(OutboxEvent.available_at.is_(None), OutboxEvent.available_at <= now),
        )
        .order_by(OutboxEvent.seq)
        .limit(batch_size)
        # Several relays may run (one per worker): each skips the rows another is claiming.
        # SQLite ignores this, and serialises the single UPDATE statement instead.
        .with_for_update(skip_locked=True)
    )
    # One UPDATE … RETURNING: on SQLite a SELECT followed by an UPDATE in a deferred
    # transaction fails when another relay commits in between.
    claim = (
        update(OutboxEvent)
        .where(OutboxEvent.seq.in_(due.scalar_subquery()))
        .values(
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=OutboxEvent.attempts + 1,
        )
        .returning(OutboxEvent.seq, OutboxEvent.kind, OutboxEvent.name, OutboxEvent.installation_id)
        .execution_options(synchronize_session=False)
    )
    with host.transaction() as session:
        rows = session.execute(claim).all()
        job_installations = {r.installation_id for r in rows if r.kind == OutboxKind.JOB}
        plugin_of: dict[int, str] = {
            installation_id: plugin_id
            for installation_id, plugin_id in session.execute(
                select(Installation.id, Installation.plugin_id).where(
                    Installation.id.in_(job_installations)
                )
            )
        }
    return sorted(
        (_Claimed(r.seq, r.kind, r.name, plugin_of.get(r.installation_id)) for r in rows),
        key=lambda c: c.seq,
    )


def _rq_jobs(
    host: Host, claimed: Sequence[_Claimed]
) -> Iterable[tuple[str, list[int], int, str | None]]:
    """(queue, row ids, timeout, RQ job id) per RQ job: events in batches, each extension job
    alone under a known id (:func:`job_rq_id`) so that an uninstall can take it back."""
    events = [c.seq for c in claimed if c.kind != OutboxKind.JOB]
    for start in range(0, len(events), EVENTS_PER_RQ_JOB):
        batch = events[start : start + EVENTS_PER_RQ_JOB]
        yield EVENT_QUEUE, batch, EVENT_BATCH_TIMEOUT_SECONDS, None
    for c in claimed:
        if c.kind == OutboxKind.JOB:
            spec = host.plugins.job_spec(c.plugin_id, c.name) if c.plugin_id else None
            timeout = spec.timeout_seconds if spec is not None else DEFAULT_LEASE_SECONDS
            # An unknown plugin's row still goes to the event queue, where deliver() gives it up.
            queue_name = plugin_queue(c.plugin_id) if spec else EVENT_QUEUE
            yield queue_name, [c.seq], timeout, job_rq_id(c.seq)


def job_rq_id(seq: int) -> str:
    """The RQ job id of the extension job in outbox row ``seq``."""
    return f"deskhost-job-{seq}"


def forget_queued_jobs(host: Host, seqs: Iterable[int]) -> None:
    """Delete the RQ copies of these extension-job rows (an uninstall removes its jobs).

    Best effort: with Redis down nothing is deleted, and a copy that runs later finds its
    outbox row gone and does nothing.
    """
    try:
        for seq in seqs:
            try:
                Job.fetch(job_rq_id(seq), connection=host.redis).delete()
            except NoSuchJobError:
                continue
    except redis.RedisError as exc:
        log.warning("Redis unavailable, queued jobs are left to find their rows gone: %s", exc)


def _uncount_attempts(host: Host, seqs: set[int]) -> None:
    if not seqs:
        return
    try:
        with host.transaction() as session:
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.seq.in_(seqs))
                .values(attempts=OutboxEvent.attempts - 1)
                .execution_options(synchronize_session=False)
            )
    except Exception:  # only bookkeeping: the rows are safe either way
        log.exception("could not reset the attempt count of outbox rows")


def pending_count(host: Host) -> int:
    """Rows the relay would hand over now (undelivered, lease free or expired, available)."""
    now = clock.now()
    with host.sessions() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(
                    OutboxEvent.delivered_at.is_(None),
                    or_(OutboxEvent.lease_until.is_(None), OutboxEvent.lease_until <= now),
                    or_(OutboxEvent.available_at.is_(None), OutboxEvent.available_at <= now),
                )
            )
            or 0
        )


# ---------------------------------------------------------------------------- delivery


class _HookFailed(Exception):
    """An extension's hook or job raised (or its writes failed to flush)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _AlreadyDelivered(Exception):
    """A concurrent delivery of the same row won; this one rolls back."""


def deliver(row_ids: Sequence[int], lease_seconds: int = DEFAULT_LEASE_SECONDS) -> None:
    """The RQ job: deliver each outbox row of ``row_ids`` (already delivered ones are skipped).

    A row that fails is retried ``lease_seconds`` later, by the relay.
    """
    host = current_host()
    for seq in row_ids:
        row = _start(host, seq, lease_seconds)
        if row is None:
            continue
        if row.kind == OutboxKind.JOB:
            _run_job(host, row, lease_seconds)
        else:
            _deliver_event(host, row, lease_seconds)


def _start(host: Host, seq: int, lease_seconds: int) -> OutboxEvent | None:
    """The row if it still needs delivering, its lease renewed for the time this takes."""
    with host.transaction() as session:
        row = session.get(OutboxEvent, seq)
        if row is None or row.delivered_at is not None:
            return None
        running = lease_seconds
        if row.kind == OutboxKind.JOB:
            # A job may run up to its timeout: no other worker may start it meanwhile.
            installation = session.get(Installation, row.installation_id)
            spec = installation and host.plugins.job_spec(installation.plugin_id, row.name)
            running += spec.timeout_seconds if spec else 0
        row.lease_until = clock.now() + timedelta(seconds=running)
        return row


def event_of(row: OutboxEvent) -> Event:
    """The :class:`hostapi.Event` an outbox row of kind ``event`` carries."""
    return Event(
        id=row.id,
        name=row.name,
        occurred_at=row.occurred_at,
        payload=dict(row.payload),
        department_ids=tuple(row.department_ids or ()),
    )


def _deliver_event(host: Host, row: OutboxEvent, lease_seconds: int) -> None:
    event = event_of(row)
    sync_failed = set(row.sync_failed_installation_ids or ())
    with host.sessions() as session:
        # Only extensions with an asynchronous hook have anything to be delivered: the
        # others (most, for a contact's events) cost the row no more than this query.
        installation_ids = [
            installation.id
            for installation in host.plugins.installations_for(session, event)
            if host.plugins.implements(installation.plugin_id, "deskhost_event")
        ]
        done = (
            set(
                session.scalars(
                    select(EventDelivery.installation_id).where(EventDelivery.event_id == row.id)
                )
            )
            if installation_ids
            else set()
        )
    errors: list[str] = []
    for installation_id in installation_ids:
        if installation_id in done:
            continue
        try:
            _deliver_to(host, event, installation_id, installation_id in sync_failed)
        except _HookFailed as failure:
            errors.append(_record_failure(host, row, installation_id, "deskhost_event", failure))
        except (IntegrityError, _AlreadyDelivered):
            pass  # another worker delivered it to this installation meanwhile
    give_up = row.attempts >= MAX_EVENT_ATTEMPTS
    _finish(host, row.seq, errors, give_up=give_up, retry_after=lease_seconds)


def _deliver_to(host: Host, event: Event, installation_id: int, after_sync_error: bool) -> None:
    """Run one installation's asynchronous hook and mark it delivered, in one transaction
    (nothing, should it no longer be active)."""
    with host.transaction() as session:
        installation = host.plugins.active_installation(session, installation_id)
        if installation is None:
            return
        try:
            host.plugins.call_event_hook(session, installation, event, after_sync_error)
            session.flush()
        except Exception as exc:
            raise _HookFailed(exc) from exc
        session.add(
            EventDelivery(
                event_id=event.id, installation_id=installation_id, delivered_at=clock.now()
            )
        )
        session.flush()


def _run_job(host: Host, row: OutboxEvent, lease_seconds: int) -> None:
    with host.sessions() as session:
        installation = session.get(Installation, row.installation_id)
        plugin_id = installation.plugin_id if installation is not None else None
        state = installation.state if installation is not None else None
    spec = host.plugins.job_spec(plugin_id, row.name) if plugin_id else None
    if spec is None or state != InstallationState.ACTIVE:
        reason = (
            f"unknown job {row.name!r} of {plugin_id!r}"
            if spec is None
            else f"installation {row.installation_id} is {state}, not active"
        )
        _finish(host, row.seq, [reason], give_up=True, retry_after=lease_seconds)
        return
    try:
        _run_job_once(host, row, spec)
    except _HookFailed as failure:
        error = _record_failure(host, row, row.installation_id, f"job:{row.name}", failure)
        give_up = row.attempts >= spec.max_retries + 1
        _finish(host, row.seq, [error], give_up=give_up, retry_after=lease_seconds)
    except _AlreadyDelivered:
        pass


def _run_job_once(host: Host, row: OutboxEvent, spec: JobSpec) -> None:
    """Run the job and mark its row delivered in one transaction."""
    with host.transaction() as session:
        installation = session.get(Installation, row.installation_id)
        try:
            context = host.plugins.context_for(session, installation)
            spec.run(context, dict(row.payload))
            session.flush()
        except Exception as exc:
            raise _HookFailed(exc) from exc
        marked = session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.seq == row.seq, OutboxEvent.delivered_at.is_(None))
            .values(delivered_at=clock.now(), last_error=None)
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount == 0:  # type: ignore[attr-defined]
            raise _AlreadyDelivered


def _record_failure(
    host: Host, row: OutboxEvent, installation_id: int | None, hook: str, failure: _HookFailed
) -> str:
    """Record a HookError against the installation; returns a one-line summary."""
    with host.transaction() as session:
        installation = session.get(Installation, installation_id) if installation_id else None
        if installation is not None:
            host.plugins.record_hook_error(
                session, installation, hook, failure.error, event_id=row.id
            )
    return f"installation {installation_id}: {failure.error!r}"


def _finish(
    host: Host, seq: int, errors: Sequence[str], *, give_up: bool, retry_after: int
) -> None:
    """Mark the row delivered, or keep it with its error for a retry ``retry_after`` seconds on."""
    with host.transaction() as session:
        row = session.get(OutboxEvent, seq)
        if row is None or row.delivered_at is not None:
            return
        if not errors:
            row.delivered_at, row.last_error = clock.now(), None
            return
        row.last_error = "\n".join(errors)
        if give_up:
            log.error("outbox row %s (%s) given up after %s attempts", seq, row.name, row.attempts)
            row.delivered_at = clock.now()
        else:
            row.lease_until = clock.now() + timedelta(seconds=retry_after)


# ---------------------------------------------------------------------------- pruning


def prune(host: Host, older_than: timedelta, *, chunk: int = 5000) -> int:
    """Delete rows delivered more than ``older_than`` ago, with their delivery marks.

    :returns: how many outbox rows were deleted.
    """
    cutoff = clock.now() - older_than
    deleted = 0
    while True:
        with host.transaction() as session:
            rows = session.execute(
                select(OutboxEvent.seq, OutboxEvent.id)
                .where(OutboxEvent.delivered_at.is_not(None), OutboxEvent.delivered_at < cutoff)
                .order_by(OutboxEvent.seq)
                .limit(chunk)
            ).all()
            if not rows:
                return deleted
            _delete_rows(session, [r.seq for r in rows], [r.id for r in rows])
            deleted += len(rows)


def _delete_rows(session: Session, seqs: list[int], event_ids: list[str]) -> None:
    session.execute(delete(EventDelivery).where(EventDelivery.event_id.in_(event_ids)))
    session.execute(delete(OutboxEvent).where(OutboxEvent.seq.in_(seqs)))
