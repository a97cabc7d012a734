"""Periodic extension jobs: one run per cron tick, in the organisation's time zone, whatever
the number of schedulers."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import jobs, outbox, worker
from core.host import Host
from core.models import Installation, Organisation, OutboxEvent
from core.models.extensions import InstallationState
from hostapi import Context, JobSpec, clock, hookimpl

# 03:05:20 UTC on a Monday: a five-minute cron ticked 20 seconds ago.
START = datetime(2026, 3, 2, 3, 5, 20, tzinfo=UTC)


class PeriodicExtension:
    """Syncs articles every five minutes and records each run's tick."""

    def __init__(self, cron: str = "*/5 * * * *") -> None:
        self.cron = cron
        self.ticks: list[str] = []

    def _sync(self, context: Context, payload: Mapping[str, Any]) -> None:
        self.ticks.append(str(payload["scheduled_for"]))

    @hookimpl
    def deskhost_jobs(self) -> list[JobSpec]:
        return [JobSpec(name="sync_articles", run=self._sync, cron=self.cron)]


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    clock.freeze(START)
    yield
    clock.unfreeze()


@pytest.fixture
def periodic(host: Host, db: Session) -> Iterator[PeriodicExtension]:
    """A registered periodic extension with one active installation."""
    extension = PeriodicExtension()
    host.plugins.register_plugin(
        extension,
        {
            "id": "periodic",
            "name": "Periodic",
            "version": "1.0.0",
            "publisher": "Tests",
            "category": "testing",
            "description": {"en": "Runs on a schedule.", "ja": "定期的に実行します。"},
            "hostapi": ">=1.0,<2",
            "terms": {"en": "None.", "ja": "なし。"},
        },
    )
    now = clock.now()
    db.add(
        Installation(
            plugin_id="periodic",
            plugin_version="1.0.0",
            state=InstallationState.ACTIVE,
            granted_scopes=[],
            settings={},
            created_at=now,
            updated_at=now,
        )
    )
    db.commit()
    outbox.bind_host(host)
    yield extension
    outbox.bind_host(None)
    host.plugins.unregister_plugin("periodic")


def _runs(host: Host) -> int:
    with host.sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxEvent)) or 0


def test_tick_is_written_once_by_two_schedulers(host: Host, periodic: PeriodicExtension) -> None:
    assert jobs.schedule_due(host) == 1
    assert jobs.schedule_due(host) == 0
    assert _runs(host) == 1


def test_tick_is_written_once_by_two_concurrent_schedulers(
    host: Host, periodic: PeriodicExtension
) -> None:
    written: list[int] = []
    barrier = threading.Barrier(2)

    def scheduler() -> None:
        barrier.wait()
        written.append(jobs.schedule_due(host))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(written) == [0, 1]
    assert _runs(host) == 1


def test_next_tick_is_written_when_it_comes(host: Host, periodic: PeriodicExtension) -> None:
    jobs.schedule_due(host)
    clock.advance(timedelta(minutes=4))
    assert jobs.schedule_due(host) == 0
    clock.advance(timedelta(minutes=1))
    assert jobs.schedule_due(host) == 1


def test_periodic_job_runs_once_per_tick_through_the_worker(
    host: Host, periodic: PeriodicExtension
) -> None:
    worker.run(host, burst=True)
    worker.run(host, burst=True)
    clock.advance(timedelta(minutes=5))
    worker.run(host, burst=True)

    assert periodic.ticks == ["2026-03-02T03:05:00+00:00", "2026-03-02T03:10:00+00:00"]


def test_cron_is_evaluated_in_the_organisation_time_zone(
    host: Host, db: Session, periodic: PeriodicExtension
) -> None:
    periodic.cron = "0 12 * * *"
    db.scalars(select(Organisation)).one().timezone = "Asia/Tokyo"
    db.commit()
    clock.freeze(datetime(2026, 3, 2, 3, 0, 30, tzinfo=UTC))  # 12:00:30 in Tokyo

    worker.run(host, burst=True)

    assert periodic.ticks == ["2026-03-02T03:00:00+00:00"]


def test_tick_older_than_the_grace_period_is_not_written(
    host: Host, periodic: PeriodicExtension
) -> None:
    assert jobs.schedule_due(host, grace=timedelta(seconds=10)) == 0


def test_archived_installation_gets_no_runs(
    host: Host, db: Session, periodic: PeriodicExtension
) -> None:
    db.scalars(select(Installation)).one().state = InstallationState.ARCHIVED
    db.commit()

    assert jobs.schedule_due(host) == 0


def test_latest_tick_includes_a_tick_in_the_current_minute() -> None:
    now = datetime(2026, 3, 2, 3, 5, 0, tzinfo=UTC)
    assert jobs.latest_tick("*/5 * * * *", now, "UTC") == now


def test_latest_tick_follows_the_time_zone() -> None:
    now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
    assert jobs.latest_tick("0 9 * * *", now, "Asia/Tokyo") == datetime(
        2026, 3, 2, 0, 0, tzinfo=UTC
    )
