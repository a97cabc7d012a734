"""Serving the stand-in (or any WSGI app) on 127.0.0.1 in a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

LOOPBACK = "127.0.0.1"


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's request handler without a log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def serving(app: Flask, *, port: int = 0, quiet: bool = True) -> Iterator[BaseWSGIServer]:
    """Serve ``app`` on 127.0.0.1 (port 0: a free one) until the block ends."""
    server = make_server(
        LOOPBACK,
        port,
        app,
        threaded=True,
        request_handler=QuietHandler if quiet else WSGIRequestHandler,
    )
    # A short poll interval: shutdown() waits for the loop to look, half a second by default.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"serving-{app.name}",
        daemon=True,
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def base_url(server: BaseWSGIServer) -> str:
    """``http://127.0.0.1:<port>`` of a server :func:`serving` started."""
    return f"http://{LOOPBACK}:{server.server_port}"
