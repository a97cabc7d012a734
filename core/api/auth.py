"""Who calls the API: a signed-in browser (session cookie + CSRF) or a bearer token.

A bearer request acts as the token's agent, limited to the token's scopes *and* to the
agent's own permissions and departments (the services check those). An extension's OAuth token
acts as the admin who authorized it, further limited to the scopes its installation was granted
and to the installation's departments. A browser session is not limited by scopes. Every API
request is authenticated before its view runs:

- a bad, expired or revoked token, or an extension's token whose installation is not active
  (awaiting authorization, archived) → 401 with ``WWW-Authenticate: Bearer error="invalid_token"``;
- no credentials → 401;
- a token without the endpoint's scope → 403 ``insufficient_scope`` naming the scope (RFC 6750);
- a session request with an unsafe method and no valid CSRF token → 400;
- more requests than the rate limits allow, per client address and per token → 429 with
  ``Retry-After`` (:mod:`core.web.throttle`; counted before the credentials are checked, so
  guessing tokens is throttled too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, NoReturn, TypeVar, cast

from flask import current_app, g, request
from flask_smorest import Blueprint, abort
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import AccessToken, Agent, Installation, OAuthClient
from core.services.base import Actor, Unit
from core.tokens import resolve
from core.web import throttle
from core.web.database import db_session
from core.web.security import current_agent

F = TypeVar("F", bound=Callable[..., Any])

#: Names of the security schemes in the OpenAPI document.
BEARER_SCHEME = "bearerAuth"
SESSION_SCHEME = "sessionCookie"
CSRF_SCHEME = "csrfToken"

REALM = "deskhost"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one API request."""

    agent: Agent
    token: AccessToken | None = None
    installation: Installation | None = None

    @property
    def is_bearer(self) -> bool:
        """True when the request authenticated with a bearer token (not the browser session)."""
        return self.token is not None

    @property
    def scopes(self) -> frozenset[str] | None:
        """The scopes the caller may use; ``None`` for a browser session (not limited by scopes).

        An extension's token is capped by its installation's grant: a scope revoked there (or
        not consented to yet after an upgrade) is not usable even if the token names it.
        """
        if self.token is None:
            return None
        if self.installation is None:
            return self.token.scope_set
        return self.token.scope_set & frozenset(self.installation.granted_scopes or ())

    @property
    def department_limit(self) -> frozenset[int] | None:
        """The installation's departments for an extension's token; ``None`` otherwise."""
        return self.installation.department_ids if self.installation is not None else None

    @property
    def department_ids(self) -> frozenset[int]:
        """The departments the caller acts in: the agent's, within the installation's."""
        own = self.agent.department_ids
        limit = self.department_limit
        return own if limit is None else own & limit

    def has_scope(self, scope: str) -> bool:
        """True when the caller may use ``scope`` (always, in a browser session)."""
        allowed = self.scopes
        return allowed is None or scope in allowed


def authenticate() -> None:
    """Authenticate the current API request (a blueprint ``before_request``); aborts on failure."""
    refusal = throttle.api_refusal()
    if refusal is not None:
        retry_after, which = refusal
        abort(
            429,
            message=f"Too many requests from this {which}: try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )
    header = request.headers.get("Authorization", "")
    if header:
        g.api_principal = _bearer_principal(header)
        return
    agent = current_agent()
    if agent is None:
        abort(
            401,
            message="Sign in, or send a token in an 'Authorization: Bearer' header.",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
        )
    if request.method in _UNSAFE_METHODS:
        # The API's blueprints are exempt from the app-wide check so that a request without any
        # credentials answers 401 rather than 400; a session caller still needs the token.
        current_app.extensions["csrf"].protect()
    g.api_principal = Principal(agent=agent)


def _bearer_principal(header: str) -> Principal:
    kind, _, plaintext = header.partition(" ")
    if kind.lower() != "bearer" or not plaintext.strip():
        _invalid_token("The Authorization header must be 'Bearer <token>'.", "invalid_request", 400)
    session = db_session()
    token = resolve(session, plaintext.strip())
    if token is None:
        _invalid_token(
            "The token is unknown, expired or revoked, or its extension is not authorized.",
            "invalid_token",
            401,
        )
    # resolve() may have recorded the use; keep that even if the request itself fails.
    session.commit()
    installation = (
        session.get(Installation, token.installation_id)
        if token.installation_id is not None
        else None
    )
    if installation is not None and _of_linked_product(session, token.client_id):
        from core.api.extension_routes import installation_prefix  # it imports this module

        own = installation_prefix(installation.plugin_id, installation.id) + "/"
        if not request.path.startswith(own):
            abort(
                403,
                message="This token is a linked product's: it reaches its extension's "
                "endpoints only.",
                error="insufficient_scope",
            )
    return Principal(agent=token.agent, token=token, installation=installation)


def _of_linked_product(session: Session, client_id: str | None) -> bool:
    """Whether ``client_id`` is a client of a product an installation links."""
    if client_id is None:
        return False
    return bool(
        session.scalar(
            select(OAuthClient.is_linked_product).where(OAuthClient.client_id == client_id)
        )
    )


def _invalid_token(description: str, error: str, status: int) -> NoReturn:
    abort(
        status,
        message=description,
        error=error,
        headers={
            "WWW-Authenticate": f'Bearer realm="{REALM}", error="{error}", '
            f'error_description="{description}"'
        },
    )


def principal() -> Principal:
    """The authenticated caller of this request (set by :func:`authenticate`)."""
    return cast(Principal, g.api_principal)


def unit() -> Unit:
    """A unit of work for a service call, acting as the request's agent from its IP (within
    the installation's departments for an extension's token)."""
    host = current_app.extensions["deskhost.host"]
    caller = principal()
    actor = Actor(
        caller.agent,
        ip_address=request.remote_addr,
        department_limit=caller.department_limit,
        installation_id=caller.installation.id if caller.installation is not None else None,
    )
    return Unit(db_session(), actor, host)


def require_scope(scope: str) -> None:
    """Abort 403 ``insufficient_scope`` unless the caller may use ``scope``."""
    if principal().has_scope(scope):
        return
    abort(
        403,
        message=f"The token lacks the scope {scope!r}.",
        error="insufficient_scope",
        scope=scope,
        headers={
            "WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", '
            f'scope="{scope}"'
        },
    )


def scoped(scope: str, *, unsafe: bool | None = None) -> Callable[[F], F]:
    """Guard a view with ``scope`` for bearer callers, and document how it authenticates.

    ``unsafe`` (default: the scope is a write scope) adds the CSRF header to the session
    alternative in the document. Put it right under ``@blp.route`` so that the scope is
    checked before the request body is parsed.
    """
    needs_csrf = scope.endswith(".write") if unsafe is None else unsafe

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            require_scope(scope)
            return view(*args, **kwargs)

        session_requirement = {SESSION_SCHEME: [], **({CSRF_SCHEME: []} if needs_csrf else {})}
        security = [{BEARER_SCHEME: [scope]}, session_requirement]
        return cast(F, Blueprint.doc(security=security)(wrapper))

    return decorator


def token_only(scope: str) -> Callable[[F], F]:
    """Guard a view that only a bearer token carrying ``scope`` may call, an agent's own
    token of an administrator (for host-only scopes such as the mail server's credential).

    A browser session, an extension's token, or a token whose agent is no longer an
    administrator gets 403 — unlike :func:`scoped`, a session is not enough.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = principal()
            if not caller.is_bearer or caller.installation is not None:
                abort(
                    403,
                    message=f"Only a token with the scope {scope!r} may call this endpoint.",
                    error="insufficient_scope",
                    scope=scope,
                )
            require_scope(scope)
            if not caller.agent.is_admin:
                abort(
                    403,
                    message="The token's agent is no longer an administrator.",
                    permission="admin",
                )
            return view(*args, **kwargs)

        return cast(F, Blueprint.doc(security=[{BEARER_SCHEME: [scope]}])(wrapper))

    return decorator


def session_only(view: F) -> F:
    """Refuse bearer callers (403): for managing tokens, which a token must not do itself."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if principal().is_bearer:
            abort(403, message="Manage access tokens from a signed-in session, not with a token.")
        return view(*args, **kwargs)

    security = [{SESSION_SCHEME: [], CSRF_SCHEME: []}]
    return cast(F, Blueprint.doc(security=security)(wrapper))


def install(blueprint: Blueprint) -> None:
    """Authenticate every request of ``blueprint`` before its view runs."""
    blueprint.before_request(authenticate)
