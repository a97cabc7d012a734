"""Database engine and sessions for both backends (SQLite embedded, PostgreSQL in production)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from core.savepoints import defer_savepoints
from hostapi.columns import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of the core's tables (one Alembic stream: ``core``).

    Every table it maps never issues an id twice: ids reach URLs, events, audit entries and
    other records, so an id freed by a delete must not name a new record. PostgreSQL's
    sequences never go back; SQLite reuses the highest freed rowid unless the table is
    created ``AUTOINCREMENT``, which is therefore set here for every table (SQLite applies it
    to a single integer primary key and ignores it elsewhere).
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = cls.__dict__.get("__table__")
        if table is not None:
            table.dialect_kwargs["sqlite_autoincrement"] = True


#: Execution option marking connections that will write (``BEGIN IMMEDIATE`` on SQLite).
WRITE_OPTION = "deskhost_writes"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite, make transactions, savepoints and DDL really transactional."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {}).update({"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        _make_sqlite_transactional(engine)
        return engine
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    defer_savepoints(engine)
    return engine


#: A pooled connection idle longer than this is checked with a ping before use.
IDLE_PING_SECONDS = 1.0

_RETURNED_AT = "deskhost_returned_at"


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection with a ping before handing it out, when it has been idle for
    ``IDLE_PING_SECONDS`` (a server restarted meanwhile closed it); a dead one is replaced, and
    the pool's other connections with it.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip of every request,
    a seventh of what a webhook's acknowledgement costs the server and the app together. A
    connection that finished a transaction a moment ago answers just as surely; should the
    server go away within that moment, the request fails as one caught mid-way would, and the
    disconnect empties the pool for the next.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_RETURNED_AT, 0.0) < IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise InvalidatePoolError() from error  # the pool connects anew
            raise


def _make_sqlite_transactional(engine: Engine) -> None:
    # pysqlite's implicit BEGIN breaks SAVEPOINT and commits DDL early; SQLAlchemy's documented
    # fix is to turn it off and emit BEGIN ourselves, so an install that fails rolls back DDL too.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads, then writes after another writer committed fails
        # at once with "database is locked" (the busy timeout cannot help it); writers therefore
        # take the write lock up front and queue behind each other instead.
        immediate = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


#: ``Session.info`` key marking a session that runs without a transaction (a webhook's, with
#: ``Webhook.autocommit`` on PostgreSQL): what needs one refuses to run in it.
AUTOCOMMIT_INFO = "deskhost_autocommit"


def make_session_factory(
    engine: Engine, *, writes: bool = False, autocommit: bool = False
) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (views render after committing).

    ``writes`` marks sessions meant to change data: on SQLite they begin with the write lock.
    ``autocommit`` marks sessions of an engine in autocommit (``AUTOCOMMIT_INFO``).
    """
    bind = engine.execution_options(**{WRITE_OPTION: True}) if writes else engine
    info = {AUTOCOMMIT_INFO: True} if autocommit else None
    return sessionmaker(bind=bind, expire_on_commit=False, info=info)


def end_reading(session: Session) -> None:
    """Close a session that only read: its transaction ends with COMMIT, not ROLLBACK.

    Both change nothing, but psycopg answers a ROLLBACK by deallocating every statement it
    prepared on the connection: read requests ending that way left PostgreSQL to plan each
    query of every page anew (a tenth of a millisecond to half a millisecond each). A session
    holding unflushed changes is rolled back as before: reading never writes them.
    """
    try:
        if session.in_transaction() and not (session.new or session.dirty or session.deleted):
            session.commit()
    finally:
        session.close()


@contextmanager
def throwaway_postgres_database(url: str, prefix: str = "deskhost_tmp") -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of ``url``, dropped on exit.

    Test runs and benchmarks use it so they never see each other's data.
    """
    server = make_url(url).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
