"""Pooled PostgreSQL connections are pinged before use only after being idle (``core.db``):
one used a moment ago goes straight to work, one idle longer is checked, and one the server
closed meanwhile is replaced without the caller noticing; a forked process's host connects
afresh on both its engines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from core import db
from core.db import make_engine
from core.host import Host


@pytest.fixture
def engine(host: Host) -> Iterator[Engine]:
    """An engine of the test database (PostgreSQL only: SQLite has no server to lose)."""
    if host.engine.dialect.name != "postgresql":
        pytest.skip("pings are for a database server")
    engine = make_engine(host.engine.url.render_as_string(hide_password=False), pool_size=1)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The pings ``engine`` sends, one entry each."""
    sent: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        sent.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return sent


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")))


def test_a_connection_used_a_moment_ago_is_not_pinged(engine: Engine, pings: list[object]) -> None:
    first = _backend(engine)
    assert _backend(engine) == first
    assert pings == []


def test_a_connection_idle_for_a_while_is_pinged_first(
    engine: Engine, pings: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(engine)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    assert _backend(engine) == first
    assert len(pings) == 1


def test_an_idle_connection_the_server_closed_is_replaced(
    engine: Engine, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost = _backend(engine)
    with host.engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost})
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)

    replacement = _backend(engine)

    assert replacement != lost


def test_a_forked_process_connects_afresh_on_both_engines(host: Host) -> None:
    if host.engine.dialect.name != "postgresql":
        pytest.skip("pools of server connections")

    def backends() -> tuple[int, int]:
        with host.autocommit_sessions() as session:
            autocommitted = int(session.scalar(text("SELECT pg_backend_pid()")))
        return _backend(host.engine), autocommitted

    parents = backends()
    host.forget_connections()  # what a forked process does first (the parent's stay its own)
    ours = backends()

    assert ours[0] != parents[0] and ours[1] != parents[1]
