"""The product as an OAuth client of the desk: authorization code with PKCE (S256).

An admin opens ``/integrations/desk/connect`` in a browser; the product sends them to the
desk's authorize URL and takes the code back at ``/oauth/desk/callback``, exchanging it at the
token URL with HTTP Basic client authentication. Calls to the desk then carry the access token,
renewed with the refresh token once expired, or once when the desk answers 401.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from flask import Blueprint, Response, redirect, request, url_for

from .errors import ConflictError, DeskUnavailableError
from .model import DeskIntegration, DeskTokens, PendingLink
from .state import StandinState, current_state

#: Seconds the desk has to answer a token request or an API call.
DESK_TIMEOUT = 10.0

blueprint = Blueprint("desk_oauth", __name__)


class TokenRequestError(Exception):
    """The desk's token endpoint refused or could not be reached; ``reason`` is URL-safe."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def code_challenge(code_verifier: str) -> str:
    """The PKCE S256 challenge of a verifier: base64url(SHA-256), without padding."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@blueprint.get("/integrations/desk/connect")
def connect() -> Response:
    """Send the admin's browser to the desk to authorise the product."""
    state = current_state()
    integration = state.integration()
    if integration is None:
        return _plain("No desk integration is registered yet.", 409)
    link_state = secrets.token_urlsafe(24)
    pending = PendingLink(
        code_verifier=secrets.token_urlsafe(64),
        redirect_uri=url_for("desk_oauth.callback", _external=True),
    )
    state.start_link(link_state, pending)
    return redirect(
        _with_query(
            integration.authorize_url,
            response_type="code",
            client_id=integration.client_id,
            redirect_uri=pending.redirect_uri,
            scope=integration.scope,
            state=link_state,
            code_challenge=code_challenge(pending.code_verifier),
            code_challenge_method="S256",
        )
    )


@blueprint.get("/oauth/desk/callback")
def callback() -> Response:
    """Take the desk's answer, exchange the code for tokens, send the admin back to the desk."""
    state = current_state()
    integration = state.integration()
    if integration is None:
        return _plain("No desk integration is registered.", 409)
    pending = state.finish_link(request.args.get("state", ""))
    if "error" in request.args:
        return _back(integration, link_error=request.args["error"])
    if pending is None:
        return _back(integration, link_error="invalid_state")
    code = request.args.get("code", "")
    if not code:
        return _back(integration, link_error="missing_code")
    try:
        tokens = _token_request(
            state,
            integration,
            grant_type="authorization_code",
            code=code,
            redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier,
        )
    except TokenRequestError as error:
        return _back(integration, link_error=error.reason)
    state.store_tokens(tokens)
    return _back(integration, linked="1")


def call_desk(
    state: StandinState,
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    json: Any = None,
) -> requests.Response:
    """Call the desk's API at ``api_base + path`` with the access token, renewing it as needed."""
    integration = state.integration()
    if integration is None or state.tokens() is None:
        raise ConflictError("the desk is not linked")
    tokens = _fresh_tokens(state, integration)
    response = _send(integration, tokens, method, path, query, json)
    if response.status_code == 401 and tokens.refresh_token:
        tokens = _refreshed_tokens(state, integration, spent=tokens)
        response = _send(integration, tokens, method, path, query, json)
    return response


def _send(
    integration: DeskIntegration,
    tokens: DeskTokens,
    method: str,
    path: str,
    query: dict[str, str] | None,
    json: Any,
) -> requests.Response:
    try:
        return requests.request(
            method,
            integration.api_base.rstrip("/") + path,
            params=query,
            json=json,
            headers={"Authorization": f"Bearer {tokens.access_token}"},
            timeout=DESK_TIMEOUT,
        )
    except requests.RequestException as error:
        raise DeskUnavailableError(f"the desk could not be reached: {error}") from None


def _fresh_tokens(state: StandinState, integration: DeskIntegration) -> DeskTokens:
    tokens = state.tokens()
    if tokens is None:
        raise ConflictError("the desk is not linked")
    expired = tokens.expires_time is not None and state.now_ms() >= tokens.expires_time
    if expired and tokens.refresh_token:
        return _refreshed_tokens(state, integration, spent=tokens)
    return tokens


def _refreshed_tokens(
    state: StandinState, integration: DeskIntegration, *, spent: DeskTokens
) -> DeskTokens:
    with state.desk_token_lock:
        current = state.tokens()
        if current is None:
            raise ConflictError("the desk is not linked")
        if current.access_token != spent.access_token:
            return current  # another call renewed it meanwhile
        if not current.refresh_token:
            raise DeskUnavailableError("the desk's token expired and there is no refresh token")
        try:
            renewed = _token_request(
                state,
                integration,
                grant_type="refresh_token",
                refresh_token=current.refresh_token,
            )
        except TokenRequestError as error:
            raise DeskUnavailableError(
                f"renewing the desk's token failed: {error.reason}"
            ) from None
        if renewed.refresh_token is None:
            # The desk may keep the refresh token rather than rotate it.
            renewed.refresh_token = current.refresh_token
        state.store_tokens(renewed)
        return renewed


def _token_request(state: StandinState, integration: DeskIntegration, **form: str) -> DeskTokens:
    try:
        response = requests.post(
            integration.token_url,
            data=form,
            auth=(integration.client_id, integration.client_secret),
            headers={"Accept": "application/json"},
            timeout=DESK_TIMEOUT,
        )
    except requests.RequestException:
        raise TokenRequestError("token_endpoint_unreachable") from None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200:
        error = answer.get("error") if isinstance(answer, dict) else None
        raise TokenRequestError(
            error if isinstance(error, str) and error else "token_request_failed"
        )
    if not isinstance(answer, dict):
        raise TokenRequestError("invalid_token_response")
    access_token = answer.get("access_token")
    refresh_token = answer.get("refresh_token")
    expires_in = answer.get("expires_in")
    if not isinstance(access_token, str) or not access_token:
        raise TokenRequestError("invalid_token_response")
    return DeskTokens(
        access_token=access_token,
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        expires_time=(
            state.now_ms() + int(expires_in) * 1000
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
            else None
        ),
    )


def _back(integration: DeskIntegration, **params: str) -> Response:
    return redirect(_with_query(integration.return_url, **params))


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _plain(text: str, status: int) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain")
