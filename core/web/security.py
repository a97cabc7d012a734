"""Agents' browser sessions: login state, CSRF on unsafe requests, and security headers.

Browsers authenticate with the Flask session cookie and must send a CSRF token with every
unsafe request; scripts and extensions send ``Authorization: Bearer`` and are authenticated by
the REST layer instead, so those requests skip the CSRF check (a cross-site page cannot make a
browser attach a bearer header).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, Response, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from core.models import Agent
from core.web.database import db_session

F = TypeVar("F", bound=Callable[..., Any])

_SESSION_KEY = "agent_id"

#: No external source anywhere; inline styles are allowed because extension panels return
#: HTML fragments (charts as inline SVG) that style elements in place. Scripts stay 'self'.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def has_bearer_token() -> bool:
    """True when the request carries an ``Authorization: Bearer`` header."""
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


class BearerAwareCSRFProtect(CSRFProtect):
    """Flask-WTF's CSRF protection, skipped for requests authenticated by a bearer token."""

    def protect(self, apply_exemptions: bool = False) -> None:
        """Check the CSRF token unless the request is a bearer-token (non-browser) call."""
        if has_bearer_token():
            return
        super().protect(apply_exemptions=apply_exemptions)


def init_app(app: Flask) -> None:
    """Install CSRF protection, the current-agent helpers for templates and security headers."""
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's lifetime
    csrf = BearerAwareCSRFProtect(app)
    app.extensions["csrf"] = csrf

    @app.context_processor
    def _security_context() -> dict[str, Any]:
        return {"csrf_token": generate_csrf, "current_agent": current_agent()}

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if current_agent() is not None:
            # Pages of a signed-in agent hold customer data: keep them out of shared caches.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(CSRFError)
    def _csrf_refused(error: CSRFError) -> tuple[str, int]:
        return render_template("errors/400.html", reason=error.description), 400


def login_agent(agent: Agent) -> None:
    """Start a session for ``agent`` (a fresh session: nothing carries over from before)."""
    session.clear()
    session[_SESSION_KEY] = agent.id
    session.permanent = True
    g.current_agent = agent


def logout() -> None:
    """End the current session."""
    session.clear()
    g.current_agent = None


def current_agent() -> Agent | None:
    """The signed-in, active agent of this request, or ``None`` (loaded once per request)."""
    if "current_agent" in g:
        return cast(Agent | None, g.current_agent)
    agent: Agent | None = None
    agent_id = session.get(_SESSION_KEY)
    if isinstance(agent_id, int):
        agent = db_session().get(Agent, agent_id)
        if agent is not None and not agent.is_active:
            agent = None
    g.current_agent = agent
    return agent


def login_required(view: F) -> F:
    """Send anonymous visitors of a page to /login (and back here after signing in)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_agent() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def safe_next_url(value: str | None, default: str) -> str:
    """``value`` when it is a path on this site, else ``default`` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value
