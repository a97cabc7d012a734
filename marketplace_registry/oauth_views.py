"""The OAuth 2.0 endpoints, the consent page and the admin's in-process consent flow.

- ``GET /oauth/authorize``: the consent page, for admins who may manage the marketplace;
  ``POST`` (a CSRF-protected form) approves (a code, sent to the exact redirect URI with the
  state) or denies (``error=access_denied``; the installation stays inactive).
- ``POST /oauth/token`` (``authorization_code``, ``refresh_token``), ``POST /oauth/revoke``
  (RFC 7009) and ``POST /oauth/introspect`` (RFC 7662): called by clients, not browsers, so
  exempt from CSRF.
- ``GET /admin/marketplace/installations/<id>/authorize`` starts the consent for the
  installation's host client (PKCE verifier and state kept in the session);
  ``GET /oauth/callback`` checks the state, exchanges the code in-process and records the grant.

A request the server cannot send back to a verified redirect URI (unknown client, redirect URI
not registered) shows an error page instead: nothing is ever redirected to an unverified URI.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as browser_session
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext

from core.errors import Forbidden
from core.models import Agent, Installation
from core.models.extensions import InstallationState
from core.permissions import MARKETPLACE_MANAGE
from core.plugins import requirements
from core.web.database import db_session, writes_on_get
from core.web.security import CONTENT_SECURITY_POLICY, current_agent, login_required
from core.web.ui.units import request_unit
from hostapi import clock, scopes
from marketplace_registry import lifecycle, oauth

F = TypeVar("F", bound=Callable[..., Any])

blueprint = Blueprint("oauth", __name__)

#: The authorization request's parameters the consent form carries over to its POST.
OAUTH_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
_PENDING_KEY = "deskhost.oauth_pending"
#: Consents started in one browser session and not finished yet; older ones are dropped.
_MAX_PENDING = 5


def init_app(app: Flask) -> None:
    """Build the authorization server and register the OAuth endpoints and consent flow."""
    oauth.init_app(app)
    app.register_blueprint(blueprint)
    csrf = app.extensions["csrf"]
    for view in (token, revoke, introspect):
        csrf.exempt(view)


def _marketplace_manager() -> Agent:
    agent = current_agent()
    if agent is None or not agent.has_permission(MARKETPLACE_MANAGE):
        raise Forbidden(MARKETPLACE_MANAGE)
    return agent


# ------------------------------------------------------------------------------ authorization


@dataclass(frozen=True)
class ScopeLine:
    """One requested scope as the consent page shows it."""

    name: str
    description: str
    is_new: bool


def describe_scope(name: str, locale: str) -> str:
    """A scope in words, in Japanese for a ``ja`` locale (its name when it has no words)."""
    texts = scopes.ALL.get(name)
    if texts is None:
        return name
    return texts[1] if locale.startswith("ja") else texts[0]


@blueprint.route("/oauth/authorize", methods=["GET", "POST"])
@login_required
def authorize() -> ResponseReturnValue:
    """The consent page (GET) and the admin's decision on it (POST)."""
    agent = _marketplace_manager()
    refusal = _unavailable_installation(request.values.get("client_id"))
    if refusal is not None:
        return _error_page(refusal, 409)
    server = oauth.authorization_server()
    try:
        grant = server.get_consent_grant(end_user=agent)
    except OAuth2Error as error:
        return _authorization_error(error)
    if request.method == "GET":
        return _consent_page(grant)
    decision = request.form.get("decision")
    if decision not in ("approve", "deny"):
        return _error_page(gettext("Choose whether to approve or deny the request."), 400)
    if decision == "deny":
        lifecycle.deny(request_unit(), grant.client.installation)
    response = server.create_authorization_response(
        grant_user=agent if decision == "approve" else None, grant=grant
    )
    db_session().commit()
    return response


def _unavailable_installation(client_id: str | None) -> str | None:
    """Why a known client's installation cannot be authorized through it now, if it cannot."""
    record = oauth.live_client(db_session(), client_id)
    if record is None:
        return None  # Authlib answers for unknown clients
    installation = record.installation
    if installation.state == InstallationState.ARCHIVED:
        return gettext("This installation is archived: restore it before authorizing it.")
    if not record.is_host_callback and not installation.is_active:
        return gettext(
            "Authorize this installation of the extension before approving its other clients."
        )
    return None


def _authorization_error(error: OAuth2Error) -> ResponseReturnValue:
    if error.redirect_uri:
        # The redirect URI was verified against the client: the client gets the error.
        return oauth.authorization_server().handle_error_response(None, error)
    return _error_page(
        gettext("The application that sent you here made a request this desk cannot accept."),
        error.status_code or 400,
        detail=f"{error.error}: {error.description}" if error.description else error.error,
    )


def _consent_page(grant: Any) -> ResponseReturnValue:
    client: oauth.Client = grant.client
    installation = client.installation
    host = current_app.extensions["deskhost.host"]
    manifest = host.plugins.manifest(installation.plugin_id)
    locale = str(get_locale() or "en")
    awaiting_consent = (
        set(lifecycle.pending_scopes(host, installation)) if installation.is_active else set()
    )
    requested = (grant.request.scope or "").split()
    lines = [
        ScopeLine(name, describe_scope(name, locale), name in awaiting_consent)
        for name in requested
    ]
    fields = {name: request.args.get(name, "") for name in OAUTH_PARAMETERS}
    fields["scope"] = grant.request.scope or ""
    response = make_response(
        render_template(
            "marketplace/consent.html",
            manifest=manifest,
            installation=installation,
            client=client.record,
            redirect_uri=grant.redirect_uri,
            departments=sorted(installation.departments, key=lambda d: d.name),
            profiles=sorted(installation.profiles, key=lambda p: p.name),
            scope_lines=lines,
            requirement_lines=requirements.requirement_lines(
                manifest, requirements.desk_locale(db_session())
            ),
            fields={name: value for name, value in fields.items() if value},
        )
    )
    response.headers["Content-Security-Policy"] = _policy_allowing_form_to(grant.redirect_uri)
    return response


def _policy_allowing_form_to(redirect_uri: str) -> str:
    """The page's policy, letting the consent form's answer redirect to the client: browsers
    apply ``form-action`` to the redirect that follows a form submission."""
    parts = urlsplit(redirect_uri)
    origin = f"{parts.scheme}://{parts.netloc}"
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")


def _error_page(message: str, status: int, *, detail: str | None = None) -> ResponseReturnValue:
    return render_template("marketplace/consent.html", error=message, detail=detail), status


# ------------------------------------------------------------------------------ token endpoints


@blueprint.post("/oauth/token")
def token() -> ResponseReturnValue:
    """Issue tokens: the ``authorization_code`` (PKCE) and ``refresh_token`` grants."""
    response = oauth.authorization_server().create_token_response()
    # Committed on refusals too: a replayed code revokes the tokens issued from it.
    db_session().commit()
    return response


@blueprint.post("/oauth/revoke")
def revoke() -> ResponseReturnValue:
    """Revoke an access or refresh token (RFC 7009); unknown tokens answer 200 as well."""
    response = oauth.authorization_server().create_endpoint_response(
        oauth.RevocationEndpoint.ENDPOINT_NAME
    )
    db_session().commit()
    return response


@blueprint.post("/oauth/introspect")
def introspect() -> ResponseReturnValue:
    """Describe a token of the calling client (RFC 7662)."""
    return oauth.authorization_server().create_endpoint_response(
        oauth.IntrospectionEndpoint.ENDPOINT_NAME
    )


# ------------------------------------------------------------------------------ host consent


@blueprint.get("/admin/marketplace/installations/<id:installation_id>/authorize")
@writes_on_get
@login_required
def start_authorization(installation_id: int) -> ResponseReturnValue:
    """Send the admin to the consent page for the installation's own (host) client."""
    _marketplace_manager()
    session = db_session()
    installation = session.get(Installation, installation_id)
    if installation is None:
        abort(404)
    if installation.state == InstallationState.ARCHIVED:
        return _error_page(
            gettext("This installation is archived: restore it before authorizing it."), 409
        )
    info = current_app.extensions["deskhost.host"].plugins.loaded.get(installation.plugin_id)
    if info is None:
        return _error_page(gettext("This extension is no longer installed on this host."), 409)
    client = oauth.host_client(session, installation)
    session.commit()
    verifier = secrets.token_urlsafe(64)
    state = secrets.token_urlsafe(24)
    redirect_uri = client.redirect_uris[0]
    _remember_pending(
        state,
        {
            "installation_id": installation.id,
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "verifier": verifier,
            "at": clock.now().timestamp(),
        },
    )
    return redirect(
        url_for(
            "oauth.authorize",
            response_type="code",
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=" ".join(info.manifest.scopes),
            state=state,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
    )


@blueprint.get("/oauth/callback")
@writes_on_get
@login_required
def callback() -> ResponseReturnValue:
    """The host clients' redirect URI: exchange the code in-process and record the grant."""
    _marketplace_manager()
    pending = _pop_pending(request.args.get("state", ""))
    if pending is None:
        return _error_page(
            gettext(
                "This answer does not match an authorization started here. "
                "Start the authorization again."
            ),
            400,
        )
    session = db_session()
    installation = session.get(Installation, pending["installation_id"])
    if installation is None:
        abort(404)
    destination = installation_page(installation.id)
    name = _extension_name(installation)
    error = request.args.get("error")
    if error == "access_denied":
        flash(gettext("%(name)s was not authorized: it stays inactive.", name=name), "info")
        return redirect(destination)
    if error:
        reason = request.args.get("error_description") or error
        return _authorization_failed(name, reason, destination)
    client = oauth.live_client(session, pending["client_id"])
    try:
        if client is None:
            raise InvalidClientError()
        answer = oauth.exchange_code(
            client,
            code=request.args.get("code", ""),
            redirect_uri=pending["redirect_uri"],
            code_verifier=pending["verifier"],
        )
    except OAuth2Error as failure:
        session.rollback()
        return _authorization_failed(name, failure.description or failure.error, destination)
    lifecycle.grant(request_unit(), installation, (answer.get("scope") or "").split())
    oauth.supersede_host_tokens(session, client, keep=answer["access_token"])
    session.commit()
    flash(gettext("%(name)s is authorized.", name=name), "success")
    return redirect(destination)


def _authorization_failed(name: str, reason: str, destination: str) -> ResponseReturnValue:
    flash(
        gettext("%(name)s could not be authorized: %(reason)s", name=name, reason=reason),
        "error",
    )
    return redirect(destination)


def installation_page(installation_id: int) -> str:
    """The admin page of one installation (where the consent flow ends)."""
    return f"{request.script_root}/admin/marketplace/installations/{installation_id}"


def _extension_name(installation: Installation) -> str:
    info = current_app.extensions["deskhost.host"].plugins.loaded.get(installation.plugin_id)
    return info.manifest.name if info is not None else installation.plugin_id


def _remember_pending(state: str, entry: dict[str, Any]) -> None:
    pending = dict(browser_session.get(_PENDING_KEY) or {})
    pending[state] = entry
    while len(pending) > _MAX_PENDING:
        oldest = min(pending, key=lambda key: pending[key].get("at", 0))
        del pending[oldest]
    browser_session[_PENDING_KEY] = pending


def _pop_pending(state: str) -> dict[str, Any] | None:
    pending = dict(browser_session.get(_PENDING_KEY) or {})
    entry = pending.pop(state, None) if state else None
    browser_session[_PENDING_KEY] = pending
    return entry
