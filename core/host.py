"""The running host: settings, database, Redis and loaded extensions, shared by web and workers.

Nothing here holds state another process needs: installations and their state live in the
database, so every web worker and job worker sees the same thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core import redis as redis_connections
from core.config import Settings
from core.db import make_engine, make_session_factory

if TYPE_CHECKING:
    from core.plugins.manager import PluginHost


class Host:
    """One process's handle on deskhost's resources."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings.database_url)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)
        self.write_sessions: sessionmaker[Session] = make_session_factory(self.engine, writes=True)
        # Sessions opening no transaction, for a webhook that stores a delivery with one
        # statement (``Webhook.autocommit``): on PostgreSQL an engine of their own, in
        # autocommit from the start (switching a shared pool's connection to autocommit and
        # back took 20 µs more a delivery); on SQLite, write sessions.
        self._autocommit_engine: Engine | None = None
        self.autocommit_sessions = self.write_sessions
        if self.engine.dialect.name != "sqlite":
            self._autocommit_engine = make_engine(
                settings.database_url, isolation_level="AUTOCOMMIT"
            )
            self.autocommit_sessions = make_session_factory(
                self._autocommit_engine, autocommit=True
            )

    @cached_property
    def redis(self) -> redis.Redis:
        """The Redis connection (a server from ``REDIS_URL`` or the embedded one)."""
        return redis_connections.connect(self.settings.redis_url, self.settings.instance_dir)

    @cached_property
    def plugins(self) -> PluginHost:
        """The extensions loaded from the ``deskhost.plugins`` entry points."""
        from core.plugins.manager import PluginHost

        plugin_host = PluginHost(self)
        plugin_host.load_entry_points()
        return plugin_host

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed on success, rolled back on error."""
        with self.write_sessions() as session, session.begin():
            yield session

    def forget_connections(self) -> None:
        """In a forked process: leave the pooled connections to the parent (closing them here
        would close the parent's) and connect afresh."""
        self.engine.dispose(close=False)
        if self._autocommit_engine is not None:
            self._autocommit_engine.dispose(close=False)

    def dispose(self) -> None:
        """Release pooled connections and the embedded Redis (tests, forked workers).

        The process that started the embedded server stops it when its last host is disposed.
        """
        self.engine.dispose()
        if self._autocommit_engine is not None:
            self._autocommit_engine.dispose()
        client = self.__dict__.pop("redis", None)
        if client is not None:
            client.close()
            if not self.settings.redis_url:
                redis_connections.release(self.settings.instance_dir)
