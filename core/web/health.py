"""``/healthz`` (process up) and ``/readyz`` (database reachable, migrations current)."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import text

from core.migrate import is_current


def init_app(app: Flask) -> None:
    """Register the health endpoints (no authentication, no CSRF)."""
    host = app.extensions["deskhost.host"]

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        """The process is up."""
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():  # type: ignore[no-untyped-def]
        """Ready when the database answers and its schema is current; Redis only degrades."""
        checks: dict[str, str] = {}
        try:
            with host.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            checks["database"] = "ok"
            checks["migrations"] = "ok" if is_current(host.engine) else "pending"
        except Exception as exc:  # any database failure means not ready
            checks["database"] = f"error: {exc.__class__.__name__}"
        try:
            host.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # the outbox keeps accepting work meanwhile
            checks["redis"] = f"degraded: {exc.__class__.__name__}"
        ready = checks.get("database") == "ok" and checks.get("migrations") == "ok"
        return jsonify(status="ready" if ready else "not ready", checks=checks), (
            200 if ready else 503
        )
