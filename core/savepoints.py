"""Savepoints on PostgreSQL without round trips of their own.

Every extension hook that runs inside a change gets a savepoint, so that its failure undoes
only its own writes (``core.plugins.manager``). On PostgreSQL a ``SAVEPOINT`` and its
``RELEASE`` each cost a round trip to the server: together 0.45 ms of the 2 ms that keeping
Customer Insights' figures added to a reply. Neither needs its answer at once, so here they
wait and go to the server in one pipeline with the next statement:

- ``SAVEPOINT`` waits for the next statement; a savepoint released or rolled back before any
  statement ran inside it never reaches the server at all;
- ``RELEASE`` waits for the next statement, and is dropped at ``COMMIT`` or ``ROLLBACK``,
  which end every savepoint anyway;
- ``ROLLBACK TO SAVEPOINT`` runs at once, after whatever waits.

An error of a waiting command is raised by the statement it went with, as the server reports
it; the savepoints stand as they would have. Two kinds of statement cannot share a pipeline
and have the commands waiting sent first, in a pipeline of their own: a server-side cursor's,
and one without parameters (which may hold several statements, allowed only outside one).

Work done on the driver's connection directly (``COPY``) does not see the commands waiting:
run a statement through SQLAlchemy inside the savepoint first, as the bulk loaders do.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy.engine import Connection, Engine

#: The commands waiting on each connection of the driver, in order.
_waiting: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


def defer_savepoints(engine: Engine) -> None:
    """Make ``engine``'s savepoints wait for the statement after them (a psycopg engine whose
    libpq has pipelines; any other is left as it is)."""
    dialect = engine.dialect
    if dialect.driver != "psycopg" or not psycopg.Pipeline.is_supported():
        return
    quote = dialect.identifier_preparer.quote
    execute, execute_no_params = dialect.do_execute, dialect.do_execute_no_params
    executemany, commit, rollback = dialect.do_executemany, dialect.do_commit, dialect.do_rollback
    begin = dialect.do_begin

    def do_savepoint(connection: Connection, name: str) -> None:
        _commands(connection).append(f"SAVEPOINT {quote(name)}")

    def unsent(connection: Connection, name: str) -> bool:
        """Whether the savepoint ``name`` is still waiting with nothing run inside it (then it
        is dropped: the server never needs to hear of it)."""
        waiting = _commands(connection)
        if waiting and waiting[-1] == f"SAVEPOINT {quote(name)}":
            waiting.pop()
            return True
        return False

    def do_release_savepoint(connection: Connection, name: str) -> None:
        if not unsent(connection, name):
            _commands(connection).append(f"RELEASE SAVEPOINT {quote(name)}")

    def do_rollback_to_savepoint(connection: Connection, name: str) -> None:
        if not unsent(connection, name):
            # Through SQLAlchemy, which sends what waits and reports errors as its own.
            connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {quote(name)}")

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        _with_waiting(
            cursor, lambda: execute(cursor, statement, parameters, context), bool(parameters)
        )

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        _with_waiting(cursor, lambda: execute_no_params(cursor, statement, context), False)

    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        _with_waiting(cursor, lambda: executemany(cursor, statement, parameters, context), True)

    def do_begin(dbapi_connection: Any) -> None:
        # A two-phase transaction ends without do_commit or do_rollback: start clean.
        _drop_waiting(dbapi_connection)
        begin(dbapi_connection)

    def do_commit(dbapi_connection: Any) -> None:
        _drop_waiting(dbapi_connection)
        commit(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        _drop_waiting(dbapi_connection)
        rollback(dbapi_connection)

    overrides: dict[str, Callable[..., None]] = {
        "do_savepoint": do_savepoint,
        "do_release_savepoint": do_release_savepoint,
        "do_rollback_to_savepoint": do_rollback_to_savepoint,
        "do_execute": do_execute,
        "do_execute_no_params": do_execute_no_params,
        "do_executemany": do_executemany,
        "do_begin": do_begin,
        "do_commit": do_commit,
        "do_rollback": do_rollback,
    }
    for name, override in overrides.items():
        setattr(dialect, name, override)


def _commands(connection: Connection) -> list[str]:
    return _waiting.setdefault(_driver_connection(connection.connection), [])


def _drop_waiting(connection: Any) -> None:
    """Forget what waits on a connection whose transaction ends (which ends its savepoints)."""
    _waiting.pop(_driver_connection(connection), None)


def _driver_connection(connection: Any) -> Any:
    """The driver's own connection (SQLAlchemy hands some methods a proxy of it)."""
    return getattr(connection, "dbapi_connection", connection)


def _with_waiting(cursor: Any, run: Callable[[], None], may_share: bool) -> None:
    """``run`` the statement on ``cursor`` after the commands waiting: in one pipeline with
    them when it ``may_share`` one and is not a server-side cursor's."""
    connection = cursor.connection
    waiting = _waiting.pop(connection, None)
    if not waiting:
        run()
        return
    shares = may_share and not getattr(cursor, "name", None)
    helper = connection.cursor()
    try:
        with connection.pipeline():
            for command in waiting:
                helper.execute(command)
            if shares:
                run()
    finally:
        helper.close()
    if not shares:
        run()
