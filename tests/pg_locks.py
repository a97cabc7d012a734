"""Waiting, in a test, for a PostgreSQL connection to block on another's lock."""

from __future__ import annotations

import time

from sqlalchemy import text

from core.host import Host


def wait_until_a_backend_waits_on_a_lock(host: Host, what: str = "the second transaction") -> None:
    """Poll PostgreSQL (with a deadline) until another connection is blocked on a lock."""
    deadline = time.monotonic() + 30
    with host.engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            connection.rollback()
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError(f"{what} never waited on the first one's locks")
