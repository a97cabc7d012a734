"""Mail as real processes: ``deskhost mail listen`` takes mail in; the worker sends replies."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from core import redis as redis_connections
from core.host import Host
from core.intake import email_in
from core.models import Agent, Department, Ticket
from core.services import tickets
from hostapi import clock
from tests.intake_helpers import SmtpSink, WorkIn, free_port, raw_email

pytest_plugins = ["tests.intake_fixtures"]

WORKER = (
    "from core.config import Settings; from core.host import Host; from core.worker import run; "
    "run(Host(Settings.from_env()), relay_interval=0.1)"
)


@pytest.fixture
def process_env(host: Host) -> dict[str, str]:
    """The environment of a deskhost process on this test run's database and Redis."""
    return {
        **os.environ,
        "DESKHOST_INSTANCE_DIR": str(host.settings.instance_dir),
        "DATABASE_URL": host.settings.database_url,
        "REDIS_URL": redis_connections.url_of(host.redis),
        "SECRET_KEY": host.settings.secret_key,
        "DESKHOST_ENCRYPTION_KEY": ",".join(host.settings.encryption_keys),
    }


@pytest.fixture
def start(repo_root) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:  # type: ignore[no-untyped-def]
    """``start(args, env)``: a process this test owns, killed if still running at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def run(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(args, env=env, cwd=repo_root)
        started.append(process)
        return process

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _poll(condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = clock.monotonic() + 60
    while not condition():
        assert process.poll() is None, f"the process exited before {what}"
        assert clock.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_mail_listen_takes_mail_in_and_stops_on_sigterm(
    start, process_env: dict[str, str], department: Department, host: Host
) -> None:
    port = free_port()
    listener = start(
        [sys.executable, "-m", "core.cli", "mail", "listen", "--port", str(port)], process_env
    )
    _poll(lambda: _accepts(port), listener, "the listener accepted connections")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail("hanako@example.com", ["support@desk.example"], raw_email(subject="Hi"))
    with host.sessions() as session:
        assert [t.subject for t in session.scalars(select(Ticket))] == ["Hi"]
    listener.send_signal(signal.SIGTERM)
    assert listener.wait(timeout=30) == 0


def test_the_worker_sends_an_agents_reply(
    start,
    process_env: dict[str, str],
    smtp_sink: SmtpSink,
    work_in: WorkIn,
    admin_agent: Agent,
    department: Department,
) -> None:
    with work_in() as unit:
        ticket_id = email_in.receive_email(unit, raw_email()).ticket.id
    with work_in(admin_agent) as unit:
        ticket = unit.session.get(Ticket, ticket_id)
        tickets.add_thread(unit, ticket, kind="outgoing", body="On its way.")
    env = process_env | {
        "DESKHOST_SMTP_HOST": smtp_sink.host,
        "DESKHOST_SMTP_PORT": str(smtp_sink.port),
    }
    worker = start([sys.executable, "-c", WORKER], env)
    _poll(lambda: bool(smtp_sink.messages), worker, "the reply was sent")
    assert smtp_sink.messages[0]["To"] == "hanako@example.com"
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
