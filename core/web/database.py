"""One database session per request, committed by the view that changes data."""

from __future__ import annotations

from flask import Flask, g
from sqlalchemy.orm import Session

from core.host import Host


def init_app(app: Flask) -> None:
    """Close the request's session when the request ends."""

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.close()


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def db_session() -> Session:
    """The current request's session (opened on first use)."""
    from flask import current_app, request

    session = g.get("db_session")
    if session is None:
        host: Host = current_app.extensions["deskhost.host"]
        # Requests that may change data take SQLite's write lock up front (see core.db).
        factory = host.sessions if request.method in _READ_METHODS else host.write_sessions
        session = g.db_session = factory()
    return session
