"""``python -m plugins.salesiq.standin``: serve the chat product stand-in for a demo."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from . import create_app
from .server import base_url, serving
from .state import EXTENSION_KEY, StandinState


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until TERM or INT; print the base URL and the operator's API token first."""
    parser = argparse.ArgumentParser(
        prog="python -m plugins.salesiq.standin",
        description="A stand-in for the live-chat product, on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=5100, help="0 picks a free port")
    parser.add_argument("--portal", default="acme")
    parser.add_argument("--operator-email", default="admin@example.com")
    parser.add_argument("--operator-name", default="Admin")
    parser.add_argument(
        "--department",
        action="append",
        help="a department to start with (repeatable; default: Support)",
    )
    options = parser.parse_args(argv)

    app = create_app(
        portal=options.portal,
        operator_email=options.operator_email,
        operator_name=options.operator_name,
    )
    state: StandinState = app.extensions[EXTENSION_KEY]
    for name in options.department or ["Support"]:
        state.add_department(name)  # no webhook can be subscribed yet: nothing to send

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with serving(app, port=options.port, quiet=False) as server:
        url = base_url(server)
        print(f"Chat product stand-in at {url} (portal {state.portal})", flush=True)
        print(f"API base: {url}/api/v2/{state.portal}", flush=True)
        print(
            f"Operator {state.first_operator.email} API token: {state.first_operator.api_token}",
            flush=True,
        )
        stop.wait()
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
