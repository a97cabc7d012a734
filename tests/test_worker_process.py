"""The worker as its own process: it builds its host from the environment, delivers the outbox
and stops gracefully on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core import redis as redis_connections
from core.events import emit
from core.host import Host
from core.models import OutboxEvent
from hostapi import clock

WORKER = (
    "from core.config import Settings; from core.host import Host; from core.worker import run; "
    "run(Host(Settings.from_env()), relay_interval=0.1)"
)


@pytest.fixture
def worker_process(host: Host, repo_root) -> Iterator[subprocess.Popen[bytes]]:
    """A ``core.worker.run`` process on this test run's database and Redis."""
    env = {
        **os.environ,
        "DESKHOST_INSTANCE_DIR": str(host.settings.instance_dir),
        "DATABASE_URL": host.settings.database_url,
        "REDIS_URL": redis_connections.url_of(host.redis),
        "SECRET_KEY": host.settings.secret_key,
        "DESKHOST_ENCRYPTION_KEY": ",".join(host.settings.encryption_keys),
    }
    process = subprocess.Popen([sys.executable, "-c", WORKER], env=env, cwd=repo_root)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


def _delivered(host: Host, event_id: str) -> bool:
    with host.sessions() as session:
        row = session.scalars(select(OutboxEvent).where(OutboxEvent.id == event_id)).one()
        return row.delivered_at is not None


def test_worker_process_delivers_the_outbox_and_stops_on_sigterm(
    host: Host, worker_process: subprocess.Popen[bytes]
) -> None:
    with host.transaction() as session:
        event_id = emit(session, host, "contact.created", {"contact_id": 1}).id

    deadline = clock.monotonic() + 60
    while not _delivered(host, event_id) and clock.monotonic() < deadline:
        assert worker_process.poll() is None, "the worker exited early"
        time.sleep(0.1)
    assert _delivered(host, event_id)

    worker_process.send_signal(signal.SIGTERM)
    assert worker_process.wait(timeout=30) == 0
