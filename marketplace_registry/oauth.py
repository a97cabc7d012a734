"""The OAuth 2.0 authorization server (Authlib): every installation is a client.

- Each installation has a *host client* (:func:`host_client`): public, its one redirect URI the
  host's own ``/oauth/callback``. The admin's consent through it records the installation's
  grant (``lifecycle.grant``); revoking its token ends the grant.
- An out-of-process extension, or a product an installation links, gets a confidential client
  (:func:`register_client`) with exact-match redirect URIs. Its consent needs the installation
  authorized already, and asks only for scopes the installation was granted.
- PKCE with ``S256`` is required of every client (``plain`` is refused); the redirect URI must
  be given and match a registered one exactly; codes are single use and short-lived.
- Codes, access tokens, refresh tokens and client secrets are stored only as SHA-256. An access
  token lives :data:`ACCESS_TOKEN_LIFETIME`; its refresh token :data:`REFRESH_TOKEN_LIFETIME`
  and rotates on use (an access token and its refresh token share one row and die together).
- Revocation (RFC 7009) and introspection (RFC 7662) accept public clients (auth method
  ``none``); a client sees and revokes only its own tokens. Introspecting another client's
  token answers ``{"active": false}``, exactly as for a token that does not exist, so that the
  answer does not tell whether it does.
- An uninstall revokes the installation's clients (a purge keeps their rows, without the
  installation): they get no tokens any more, even after a restore, but still authenticate to
  the introspection endpoint, which tells them their tokens are inactive (RFC 7662 §2.2)
  rather than refusing them. They authenticate there by the methods registered on the server,
  as everywhere else.

The server is built per app (:func:`init_app`) and reads the request's database session.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientAuthentication,
    ClientMixin,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from flask import Flask, current_app, request, url_for
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core import tokens
from core.errors import Conflict, ValidationFailed
from core.models import AccessToken, Agent, Installation, OAuthAuthorizationCode, OAuthClient
from core.models.extensions import InstallationState
from core.permissions import MARKETPLACE_MANAGE
from core.services.base import Actor, Unit, clean_text, gather
from hostapi import clock

if TYPE_CHECKING:
    from core.host import Host

ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
REFRESH_TOKEN_LIFETIME = timedelta(days=90)
#: RFC 6749 §4.1.2 recommends at most ten minutes.
AUTHORIZATION_CODE_LIFETIME = timedelta(minutes=10)

CLIENT_ID_PREFIX = "dhc_"
CLIENT_SECRET_PREFIX = "dhs_"
HOST_CLIENT_NAME = "deskhost"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_SECRET_METHODS = ("client_secret_basic", "client_secret_post")
#: Confidential clients authenticate with their secret; public ones (the host clients) with
#: "none", which Authlib accepts only for clients whose ``check_endpoint_auth_method`` says so.
_CLIENT_AUTH_METHODS = [*_SECRET_METHODS, "none"]
_EXTENSION_KEY = "deskhost.oauth"


# ------------------------------------------------------------------------------ clients


def host_client(
    session: Session, installation: Installation, *, redirect_uri: str | None = None
) -> OAuthClient:
    """The installation's own public client, created on first need (the caller commits).

    Its one redirect URI is the host's callback (``url_for("oauth.callback", _external=True)``
    unless ``redirect_uri`` is given), stored exactly as it is at creation.
    """
    existing = session.scalar(
        select(OAuthClient)
        .where(
            OAuthClient.installation_id == installation.id,
            OAuthClient.is_host_callback.is_(True),
            OAuthClient.revoked_at.is_(None),
        )
        .order_by(OAuthClient.id)
        .limit(1)
    )
    if existing is not None:
        return existing
    client = OAuthClient(
        client_id=_new_client_id(),
        client_secret_hash=None,
        installation_id=installation.id,
        name=HOST_CLIENT_NAME,
        redirect_uris=[redirect_uri or url_for("oauth.callback", _external=True)],
        is_host_callback=True,
        created_at=clock.now(),
    )
    session.add(client)
    session.flush()
    return client


def register_client(
    unit: Unit,
    installation: Installation,
    *,
    name: str,
    redirect_uris: Iterable[str],
    linked_product: bool = False,
) -> tuple[OAuthClient, str]:
    """Register a confidential client for an out-of-process extension of ``installation``,
    or (``linked_product``) for a product it links, whose tokens reach the installation's own
    endpoints only.

    Returns the client and its secret, which is shown once and stored only as its SHA-256.
    Redirect URIs must be absolute ``https`` URIs (``http`` only on 127.0.0.1 / localhost)
    without a fragment; they are matched exactly.

    :raises Forbidden: the actor may not manage the marketplace.
    :raises ValidationFailed: on ``name`` or ``redirect_uris``.
    :raises Conflict: the installation is archived.
    """
    unit.actor.require(MARKETPLACE_MANAGE)
    values = gather(
        {
            "name": lambda: clean_text(name, "name", max_length=200, required=True),
            "redirect_uris": lambda: _valid_redirect_uris(redirect_uris),
        }
    )
    if installation.state == InstallationState.ARCHIVED:
        raise Conflict("this installation is archived; restore it first")
    secret = CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=_new_client_id(),
        client_secret_hash=tokens.hash_token(secret),
        installation_id=installation.id,
        name=values["name"],
        redirect_uris=values["redirect_uris"],
        is_host_callback=False,
        is_linked_product=linked_product,
        created_at=clock.now(),
    )
    unit.session.add(client)
    unit.session.flush()
    unit.audit(
        "add",
        "oauth_client",
        client.id,
        after={
            "client_id": client.client_id,
            "installation_id": installation.id,
            "name": client.name,
            "redirect_uris": list(client.redirect_uris),
            "linked_product": linked_product,
        },
    )
    return client, secret


def revoke_client(session: Session, installation_id: int, client_id: str) -> None:
    """Revoke one of ``installation_id``'s confidential clients with its tokens and pending
    codes (the caller commits); any other client, or one revoked already, is left alone."""
    client = session.scalar(
        select(OAuthClient).where(
            OAuthClient.client_id == client_id,
            OAuthClient.installation_id == installation_id,
            OAuthClient.is_host_callback.is_(False),
            OAuthClient.revoked_at.is_(None),
        )
    )
    if client is None:
        return
    now = clock.now()
    client.revoked_at = now
    session.execute(
        update(AccessToken)
        .where(AccessToken.client_id == client_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(OAuthAuthorizationCode).where(OAuthAuthorizationCode.client_id == client_id)
    )
    session.flush()


def _new_client_id() -> str:
    return CLIENT_ID_PREFIX + secrets.token_urlsafe(18)


def _valid_redirect_uris(redirect_uris: Iterable[str]) -> list[str]:
    if isinstance(redirect_uris, (str, bytes)):
        raise ValidationFailed({"redirect_uris": ["Give a list of redirect URIs."]})
    uris = list(dict.fromkeys(redirect_uris))
    if not uris:
        raise ValidationFailed({"redirect_uris": ["Give at least one redirect URI."]})
    problems = [problem for uri in uris if (problem := _redirect_uri_problem(uri))]
    if problems:
        raise ValidationFailed({"redirect_uris": problems})
    return uris


def _redirect_uri_problem(uri: object) -> str | None:
    if not isinstance(uri, str) or len(uri) > 2000:
        return "Each redirect URI must be text of at most 2000 characters."
    try:
        parts = urlsplit(uri)
    except ValueError:
        return f"Not a valid URI: {uri}"
    if not parts.hostname or parts.fragment:
        return f"Give an absolute URI without a fragment: {uri}"
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS):
        return None
    return f"Use https (http only for 127.0.0.1 or localhost): {uri}"


class Client(ClientMixin):
    """Authlib's view of an :class:`OAuthClient` and the scopes it may ask for."""

    def __init__(self, record: OAuthClient, allowed_scopes: Sequence[str]) -> None:
        self.record = record
        self.allowed_scopes = tuple(sorted(set(allowed_scopes)))

    @property
    def installation(self) -> Installation | None:
        """The installation this client belongs to; ``None`` once it was purged."""
        return self.record.installation

    @property
    def is_public(self) -> bool:
        """True for a client without a secret (the host's own)."""
        return self.record.client_secret_hash is None

    def get_client_id(self) -> str:
        return self.record.client_id

    def get_default_redirect_uri(self) -> None:
        # Every authorization request must name its redirect URI: nothing is implied.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(self.allowed_scopes)
        return " ".join(sorted(set(scope.split()) & set(self.allowed_scopes)))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.record.redirect_uris or ())

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.record.client_secret_hash
        return stored is not None and hmac.compare_digest(stored, tokens.hash_token(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none" if self.is_public else method in _SECRET_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


def live_client(session: Session, client_id: str | None) -> OAuthClient | None:
    """The client with ``client_id`` unless it is revoked."""
    if not client_id:
        return None
    return session.scalar(
        select(OAuthClient).where(
            OAuthClient.client_id == client_id, OAuthClient.revoked_at.is_(None)
        )
    )


def allowed_scopes(host: Host, client: OAuthClient) -> list[str] | None:
    """What ``client`` may ask for: the manifest's scopes for the host client, the
    installation's granted scopes for any other; ``None`` when the extension is not loaded."""
    installation = client.installation
    info = host.plugins.loaded.get(installation.plugin_id) if installation is not None else None
    if installation is None or info is None:
        return None
    if client.is_host_callback:
        return list(info.manifest.scopes)
    return list(installation.granted_scopes or ())


# ------------------------------------------------------------------------------ codes and tokens


class AuthorizationCode(AuthorizationCodeMixin):
    """Authlib's view of a stored (hashed) authorization code."""

    def __init__(self, record: OAuthAuthorizationCode) -> None:
        self.record = record
        self.code_challenge = record.code_challenge
        self.code_challenge_method = record.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope


class StoredToken(TokenMixin):
    """Authlib's view of an OAuth :class:`AccessToken` row, found by its access or refresh token."""

    def __init__(self, record: AccessToken, *, refresh: bool) -> None:
        self.record = record
        self.refresh = refresh

    def check_client(self, client: Client) -> bool:
        return self.record.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.record.scopes

    def get_expires_in(self) -> int:
        ends = self.expires_at
        return int((ends - self.record.created_at).total_seconds()) if ends else 0

    @property
    def expires_at(self) -> Any:
        """When this token (access or refresh, as it was found) expires."""
        return self.record.refresh_expires_at if self.refresh else self.record.expires_at

    def is_expired(self) -> bool:
        ends = self.expires_at
        return ends is not None and ends <= clock.now()

    def is_revoked(self) -> bool:
        return self.record.revoked_at is not None

    def get_user(self) -> Agent:
        return self.record.agent


def _find_token(session: Session, plaintext: str, hint: str | None) -> StoredToken | None:
    # RFC 7009 §2.1: a wrong hint only changes the order of the search.
    order = (True, False) if hint == "refresh_token" else (False, True)
    for refresh in order:
        record = tokens.find_oauth_token(session, plaintext, refresh=refresh)
        if record is not None:
            return StoredToken(record, refresh=refresh)
    return None


def _installation_of(session: Session, token: AccessToken) -> Installation | None:
    if token.installation_id is None:
        return None
    return session.get(Installation, token.installation_id)


# ------------------------------------------------------------------------------ grants


class RequireS256(CodeChallenge):
    """PKCE for every client, with ``S256`` only: ``plain`` protects nothing once the
    authorization request leaks."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE with S256 is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """The authorization code grant, its codes stored hashed in ``oauth_authorization_code``."""

    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        requested = set((self.request.payload.scope or "").split())
        unknown = requested - set(self.request.client.allowed_scopes)
        if unknown:
            raise InvalidScopeError(
                f"This client may not ask for: {' '.join(sorted(unknown))}.",
            )

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        client: Client = request.client
        now = clock.now()
        _session().add(
            OAuthAuthorizationCode(
                code_hash=tokens.hash_token(code),
                client_id=client.get_client_id(),
                installation_id=client.record.installation_id,
                agent_id=request.user.id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope or "",
                code_challenge=request.payload.data.get("code_challenge"),
                code_challenge_method=request.payload.data.get("code_challenge_method"),
                created_at=now,
                expires_at=now + AUTHORIZATION_CODE_LIFETIME,
            )
        )
        _session().flush()

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        session = _session()
        record = session.scalar(
            select(OAuthAuthorizationCode).where(
                OAuthAuthorizationCode.code_hash == tokens.hash_token(code),
                OAuthAuthorizationCode.client_id == client.get_client_id(),
            )
        )
        if record is None or record.expires_at <= clock.now():
            return None
        if record.used_at is not None:
            _revoke_tokens_of_reused_code(session, record)
            return None
        return AuthorizationCode(record)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Kept, marked used, so that a second use is recognised as a replay.
        authorization_code.record.used_at = clock.now()
        _session().flush()

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Agent | None:
        agent = _session().get(Agent, authorization_code.record.agent_id)
        return agent if agent is not None and agent.is_active else None


def _revoke_tokens_of_reused_code(session: Session, code: OAuthAuthorizationCode) -> None:
    """RFC 6749 §4.1.2: a code used twice may have leaked, so the tokens issued from it (and
    those rotated from them since) stop working: every token of that client and agent issued
    after the code was, to be safe."""
    session.execute(
        update(AccessToken)
        .where(
            AccessToken.client_id == code.client_id,
            AccessToken.agent_id == code.agent_id,
            AccessToken.created_at >= code.created_at,
            AccessToken.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """The refresh token grant; every use rotates the refresh token."""

    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> StoredToken | None:
        session = _session()
        record = tokens.find_oauth_token(session, refresh_token, refresh=True)
        if record is None:
            return None
        token = StoredToken(record, refresh=True)
        installation = _installation_of(session, record)
        if token.is_revoked() or token.is_expired():
            return None
        if installation is None or not installation.is_active:
            return None
        return token

    def authenticate_user(self, refresh_token: StoredToken) -> Agent | None:
        agent = refresh_token.get_user()
        return agent if agent.is_active else None

    def revoke_old_credential(self, refresh_token: StoredToken) -> None:
        refresh_token.record.revoked_at = clock.now()
        _session().flush()


# ------------------------------------------------------------------------------ endpoints


class RevocationEndpoint(_RevocationEndpoint):
    """RFC 7009. Revoking either token of a pair revokes both; revoking the host client's
    token ends the installation's grant."""

    CLIENT_AUTH_METHODS = _CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        return _find_token(_session(), token_string, token_type_hint)

    def revoke_token(self, token: StoredToken, request: OAuth2Request) -> None:
        from marketplace_registry import lifecycle

        session = _session()
        client: Client = request.client
        label = f"oauth-client:{client.get_client_id()}"
        tokens.revoke(session, token.record, ip_address=_remote_addr(), label=label)
        installation = _installation_of(session, token.record)
        if client.record.is_host_callback and installation is not None:
            unit = Unit(session, Actor(None, ip_address=_remote_addr(), label=label), _host())
            lifecycle.revoke_grant(unit, installation)


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """RFC 7662: what a token is and whether it still works; a client introspects only its own
    tokens, another's answering ``{"active": false}`` as an unknown token does.

    A revoked client (its installation uninstalled or purged) still authenticates here (see
    :meth:`DeskAuthorizationServer.authenticate_client`), so that the extension's service
    learns that its tokens are dead (``"active": false``) instead of being answered 401
    ``invalid_client``: its tokens were revoked with it.
    """

    CLIENT_AUTH_METHODS = _CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        return _find_token(_session(), token_string, token_type_hint)

    def check_permission(self, token: StoredToken, client: Client, request: Any) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: StoredToken) -> dict[str, Any]:
        record = token.record
        session = _session()
        installation = _installation_of(session, record)
        client = live_client(session, record.client_id)
        if (
            installation is None
            or not installation.is_active
            or client is None
            or not record.agent.is_active
        ):
            return {"active": False}
        granted = set(installation.granted_scopes or ())
        payload: dict[str, Any] = {
            "active": True,
            "scope": " ".join(sorted(record.scope_set & granted)),
            "client_id": record.client_id,
            "username": record.agent.email,
            "sub": str(record.agent_id),
            "token_type": "refresh_token" if token.refresh else "Bearer",
            "iat": int(record.created_at.timestamp()),
            "installation_id": installation.id,
        }
        if token.expires_at is not None:
            payload["exp"] = int(token.expires_at.timestamp())
        return payload


def _live_or_revoked_client(client_id: str) -> Client | None:
    """The client with ``client_id``, revoked or not, for the introspection endpoint only: it
    may ask for no scope."""
    record = _session().scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    return None if record is None else Client(record, ())


# ------------------------------------------------------------------------------ the server


class DeskAuthorizationServer(AuthorizationServer):
    """Authlib's Flask authorization server on deskhost's tables.

    Clients authenticate by the methods registered on it (:meth:`register_client_auth_method`)
    at every endpoint; at the introspection endpoint, revoked clients are found too.
    """

    def __init__(self) -> None:
        super().__init__()
        self._introspection_client_auth = ClientAuthentication(_live_or_revoked_client)

    def register_client_auth_method(self, method: str, func: Any) -> None:
        super().register_client_auth_method(method, func)
        self._introspection_client_auth.register(method, func)

    def authenticate_client(
        self, request: OAuth2Request, methods: Sequence[str], endpoint: str = "token"
    ) -> Client:
        if endpoint == IntrospectionEndpoint.ENDPOINT_NAME:
            return self._introspection_client_auth(request, methods, endpoint)
        return super().authenticate_client(request, methods, endpoint)

    def query_client(self, client_id: str) -> Client | None:
        record = live_client(_session(), client_id)
        if record is None or record.installation is None:
            return None
        if record.installation.state == InstallationState.ARCHIVED:
            return None
        scopes = allowed_scopes(_host(), record)
        return None if scopes is None else Client(record, scopes)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        client: Client = request.client
        agent: Agent = request.user
        now = clock.now()
        refresh = token.get("refresh_token")
        record = AccessToken(
            token_hash=tokens.hash_token(token["access_token"]),
            token_hint=token["access_token"][:12],
            name=client.record.name,
            kind=tokens.TokenKind.OAUTH.value,
            agent_id=agent.id,
            installation_id=client.record.installation_id,
            scopes=token.get("scope", ""),
            client_id=client.get_client_id(),
            refresh_token_hash=tokens.hash_token(refresh) if refresh else None,
            refresh_expires_at=now + REFRESH_TOKEN_LIFETIME if refresh else None,
            created_at=now,
            expires_at=now + timedelta(seconds=int(token["expires_in"])),
        )
        session = _session()
        session.add(record)
        session.flush()
        if request.payload.grant_type == "authorization_code":
            # Consent turned into a token: a security event (refresh rotations are not logged).
            Unit(session, Actor(agent, ip_address=_remote_addr()), _host()).audit(
                "add",
                "access_token",
                record.id,
                sub_action=tokens.TokenKind.OAUTH.value,
                after={
                    "client_id": record.client_id,
                    "installation_id": record.installation_id,
                    "scopes": record.scopes,
                },
            )

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        # An in-process exchange (the host's callback) hands over a ready request.
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)

    def create_bearer_token_generator(self, config: Any) -> BearerTokenGenerator:
        lifetime = int(ACCESS_TOKEN_LIFETIME.total_seconds())
        return BearerTokenGenerator(
            lambda **_: tokens.new_oauth_token(),
            lambda **_: tokens.new_refresh_token(),
            lambda client, grant_type: lifetime,
        )


def init_app(app: Flask) -> DeskAuthorizationServer:
    """Build the app's authorization server (grants, PKCE, revocation, introspection)."""
    server = DeskAuthorizationServer()
    server.init_app(app)
    server.register_grant(AuthorizationCodeGrant, [RequireS256(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    app.extensions[_EXTENSION_KEY] = server
    return server


def authorization_server() -> DeskAuthorizationServer:
    """The current app's authorization server."""
    return current_app.extensions[_EXTENSION_KEY]


class _InProcessRequest(OAuth2Request):
    """A token request built in-process: the form is a plain mapping."""

    def __init__(self, uri: str, form: dict[str, str]) -> None:
        super().__init__("POST", uri, headers={})
        self.payload = BasicOAuth2Payload(form)
        self._form = form

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


def exchange_code(
    client: OAuthClient, *, code: str, redirect_uri: str, code_verifier: str
) -> dict[str, Any]:
    """Exchange an authorization code for ``client`` (a public one) through Authlib's token
    endpoint logic, in-process: the host's callback does not make an HTTP request to itself.

    Returns the token response (``access_token``, ``refresh_token``, ``scope``...); the caller
    commits.

    :raises OAuth2Error: the exchange was refused (bad code, verifier or redirect URI).
    """
    server = authorization_server()
    oauth_request = _InProcessRequest(
        url_for("oauth.token", _external=True),
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client.client_id,
            "code_verifier": code_verifier,
        },
    )
    grant = server.get_token_grant(oauth_request)
    grant.validate_token_request()
    _status, body, _headers = grant.create_token_response()
    return dict(body)


def supersede_host_tokens(session: Session, client: OAuthClient, keep: str) -> None:
    """Revoke the host client's other live tokens: one consent stands at a time, so revoking
    an old one cannot end a newer grant."""
    session.execute(
        update(AccessToken)
        .where(
            AccessToken.client_id == client.client_id,
            AccessToken.token_hash != tokens.hash_token(keep),
            AccessToken.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )


def _session() -> Session:
    from core.web.database import db_session

    return db_session()


def _host() -> Host:
    return current_app.extensions["deskhost.host"]


def _remote_addr() -> str | None:
    return request.remote_addr
