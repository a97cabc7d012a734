"""One database session per request, committed by the view that changes data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, g
from sqlalchemy.orm import Session

from core.db import end_reading
from core.host import Host


def init_app(app: Flask) -> None:
    """Close the request's session when the request ends."""

    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is None:
            return
        if exc is None and not g.pop("db_session_writes", True):
            end_reading(session)
        else:
            session.close()


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_WRITES_ON_GET = "deskhost_writes_on_get"

F = TypeVar("F", bound=Callable[..., Any])


def writes_on_get(view: F) -> F:
    """Mark a GET view that changes data (an OAuth callback recording a grant): its request's
    session takes SQLite's write lock up front, whichever code opens the session first."""
    setattr(view, _WRITES_ON_GET, True)
    return view


def db_session(*, autocommit: bool = False) -> Session:
    """The current request's session (opened on first use).

    ``autocommit``: a request that writes opens it without a transaction on PostgreSQL, for a
    webhook that stores with one statement (a session opened earlier in the request, by a
    check of a signed-in agent's cookie, stays as it is: in a transaction).
    """
    from flask import current_app, request

    session = g.get("db_session")
    if session is None:
        host: Host = current_app.extensions["deskhost.host"]
        # Requests that may change data take SQLite's write lock up front (see core.db).
        view = current_app.view_functions.get(request.endpoint or "")
        writes = request.method not in _READ_METHODS or getattr(view, _WRITES_ON_GET, False)
        if writes:
            factory = host.autocommit_sessions if autocommit else host.write_sessions
        else:
            factory = host.sessions
        session = g.db_session = factory()
        g.db_session_writes = writes
    return session
