"""Agents' browser sessions: login state, CSRF on unsafe requests, and security headers.

Browsers authenticate with the Flask session cookie and must send a CSRF token with every
unsafe request, whatever other headers they carry: an ``Authorization`` header does not switch
the check off here. Only the REST API's blueprints are exempt from this app-wide check, and
they verify the bearer token themselves (:mod:`core.api.auth`) or, for a session caller, check
the CSRF token after authenticating.

A session is revocable on the server: it records the agent's ``session_generation`` when it
starts, and a request whose session holds an older generation is anonymous. Signing out,
changing the password and deactivation bump the generation
(:func:`core.services.org.end_sessions`), so a copy
of the cookie taken before stops working everywhere at once.

The session cookie is ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` whenever the request came
over HTTPS (directly, or through the trusted proxies counted by ``DESKHOST_TRUSTED_PROXIES``);
HTTPS responses also carry ``Strict-Transport-Security``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, Response, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask.wrappers import Request
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from core.models import Agent
from core.services import org
from core.web.database import db_session

F = TypeVar("F", bound=Callable[..., Any])

_SESSION_KEY = "agent_id"
_GENERATION_KEY = "generation"

#: One year, the usual HSTS lifetime; sent only on HTTPS responses.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"

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

_SECURITY_HEADERS_BY_LOWERED = [
    (name.lower(), (name, value)) for name, value in SECURITY_HEADERS.items()
]


class DeskSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` set on every cookie sent over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure when configured so or when this request came over HTTPS."""
        return bool(super().get_cookie_secure(app)) or request.is_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session when the request has no cookie (webhooks, bearer-token calls),
        without building a signing serializer only to find nothing to read."""
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """As Flask's, without working out the cookie's every attribute first for a session
        that was empty and stayed so (a webhook's, a token call's): no cookie to send."""
        if session or session.modified:
            super().save_session(app, session, response)
        elif session.accessed:
            response.vary.add("Cookie")


def init_app(app: Flask) -> None:
    """Install CSRF protection, the current-agent helpers for templates and security headers."""
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's lifetime
    app.session_interface = DeskSessionInterface()
    csrf = CSRFProtect(app)
    app.extensions["csrf"] = csrf

    @app.context_processor
    def _security_context() -> dict[str, Any]:
        return {"csrf_token": generate_csrf, "current_agent": current_agent()}

    @app.after_request
    def _security_headers(response: Response) -> Response:
        # One pass over the response's headers rather than one per header set: a webhook's
        # answer is little more than these.
        present = {name.lower() for name, _ in response.headers}
        response.headers.extend(
            [header for lowered, header in _SECURITY_HEADERS_BY_LOWERED if lowered not in present]
        )
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
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
    session[_GENERATION_KEY] = agent.session_generation
    session.permanent = True
    g.current_agent = agent


def logout() -> None:
    """End the current session, and every other session of its agent (a copied cookie too)."""
    agent = current_agent()
    if agent is not None:
        org.end_sessions(agent)
        db_session().commit()
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
        revoked = agent is not None and session.get(_GENERATION_KEY, 0) != agent.session_generation
        if agent is not None and (revoked or not agent.is_active):
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
    """``value`` when it is a path on this site, else ``default`` (no open redirects).

    Browsers drop tabs and line breaks from URLs and read ``\\`` as ``/``, so
    ``/%09/evil.test`` (a tab) would become ``//evil.test``: any control character or
    backslash is refused outright, and what is left must parse with no scheme and no host, as
    a path starting with one ``/``.
    """
    if not value or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return default
    if "\\" in value or not value.startswith("/") or value.startswith("//"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return default
    return value
