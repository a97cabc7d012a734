"""The OAuth 2.0 authorization server: consent, the code flow with PKCE, refusals, the host's
in-process consent, refresh, revocation (RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core.host import Host
from core.models import AccessToken, Agent, AuditEntry, Department, Installation, OAuthClient
from core.models.extensions import InstallationState
from core.services.base import Actor, Unit
from hostapi import clock, scopes
from marketplace_registry import lifecycle, oauth
from tests.factories import install_for, system_unit

PLUGIN = "ticket_history"
pytest_plugins = ["tests.api_fixtures"]

CLIENT_REDIRECT = "https://extension.example/callback"
HOST_CALLBACK = "http://localhost/oauth/callback"

#: The ``sign_in_as`` fixture of tests.api_fixtures: a browser session; returns the CSRF header.
SignIn = Callable[[Agent], dict[str, str]]


# ------------------------------------------------------------------------------ helpers


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def query_of(answer: TestResponse) -> dict[str, str]:
    """The query parameters of a redirect's Location."""
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of the consent form."""
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    }


@dataclass
class Flow:
    """An authorization request of one client, walked through the consent page."""

    web: FlaskClient
    client_id: str
    redirect_uri: str
    verifier: str
    challenge: str
    state: str = "state-123"

    def params(self, **overrides: Any) -> dict[str, str]:
        """The authorization request's query parameters (``None`` drops one)."""
        values = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            **overrides,
        }
        return {k: v for k, v in values.items() if v is not None}

    def consent_page(self, **overrides: Any) -> TestResponse:
        """GET the consent page."""
        return self.web.get("/oauth/authorize", query_string=self.params(**overrides))

    def decide(self, decision: str, **overrides: Any) -> TestResponse:
        """Open the consent page and answer it."""
        page = self.consent_page(**overrides)
        assert page.status_code == 200, page.get_data(as_text=True)
        form = {**hidden_fields(page.get_data(as_text=True)), "decision": decision}
        return self.web.post("/oauth/authorize", data=form)

    def code(self, **overrides: Any) -> str:
        """Approve and return the code sent to the redirect URI."""
        answer = self.decide("approve", **overrides)
        assert answer.status_code == 302
        return query_of(answer)["code"]


def token_request(
    web: FlaskClient, data: dict[str, str], secret: str | None = None
) -> TestResponse:
    """POST to the token endpoint (with HTTP Basic when ``secret`` is given)."""
    headers = {}
    if secret is not None:
        basic = base64.b64encode(f"{data['client_id']}:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    return web.post("/oauth/token", data=data, headers=headers)


def exchange(web: FlaskClient, flow: Flow, code: str, secret: str | None = None) -> TestResponse:
    """Exchange ``code`` with the flow's verifier."""
    return token_request(
        web,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flow.redirect_uri,
            "client_id": flow.client_id,
            "code_verifier": flow.verifier,
        },
        secret,
    )


def client_auth(client_id: str, secret: str | None) -> dict[str, str]:
    """Form fields authenticating a client at the revocation / introspection endpoints."""
    return {"client_id": client_id, **({"client_secret": secret} if secret else {})}


def bearer(access_token: str) -> dict[str, str]:
    """The Authorization header of a token."""
    return {"Authorization": f"Bearer {access_token}"}


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def frozen_clock() -> Iterator[None]:
    """The clock stopped now (moved on by the test), running again afterwards."""
    clock.freeze(clock.now())
    yield
    clock.unfreeze()


@pytest.fixture
def awaiting(db: Session, host: Host, department: Department) -> Installation:
    """ticket_history installed for Support, awaiting authorization."""
    installation = install_for(db, host, PLUGIN, [department.id], authorize=False)
    db.commit()
    return installation


@pytest.fixture
def active(db: Session, host: Host, department: Department) -> Installation:
    """ticket_history installed for Support and authorized with every scope it requests."""
    installation = install_for(db, host, PLUGIN, [department.id])
    db.commit()
    return installation


@pytest.fixture
def admin_web(client: FlaskClient, sign_in_as: SignIn, admin_agent: Agent) -> FlaskClient:
    """The test client signed in as the admin."""
    sign_in_as(admin_agent)
    return client


@pytest.fixture
def registered(
    db: Session, host: Host, admin_agent: Agent, active: Installation
) -> tuple[str, str]:
    """A confidential client of the active installation: its client id and secret."""
    unit = Unit(db, Actor(admin_agent), host)
    record, secret = oauth.register_client(
        unit, active, name="Insights worker", redirect_uris=[CLIENT_REDIRECT]
    )
    db.commit()
    return record.client_id, secret


@pytest.fixture
def confidential_flow(admin_web: FlaskClient, registered: tuple[str, str]) -> Flow:
    """An authorization request of the registered confidential client."""
    verifier, challenge = pkce_pair()
    return Flow(admin_web, registered[0], CLIENT_REDIRECT, verifier, challenge)


@pytest.fixture
def issued(admin_web: FlaskClient, confidential_flow: Flow, registered: tuple[str, str]) -> dict:
    """Tokens the confidential client obtained through the whole code flow."""
    answer = exchange(admin_web, confidential_flow, confidential_flow.code(), registered[1])
    assert answer.status_code == 200, answer.json
    return answer.json


def host_flow(app: Any, db: Session, web: FlaskClient, installation: Installation) -> Flow:
    """An authorization request of the installation's host client, made by hand."""
    with app.test_request_context():
        client = oauth.host_client(db, installation)
    db.commit()
    verifier, challenge = pkce_pair()
    return Flow(web, client.client_id, client.redirect_uris[0], verifier, challenge)


def start_host_consent(web: FlaskClient, installation: Installation) -> TestResponse:
    """The admin's "Authorize" link, followed to the consent page."""
    start = web.get(f"/admin/marketplace/installations/{installation.id}/authorize")
    assert start.status_code == 302
    return web.get(start.headers["Location"])


def answer_consent(web: FlaskClient, page: TestResponse, decision: str) -> TestResponse:
    """Answer a consent page and follow the redirect to the host's callback."""
    form = {**hidden_fields(page.get_data(as_text=True)), "decision": decision}
    answer = web.post("/oauth/authorize", data=form)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(HOST_CALLBACK)
    return web.get(answer.headers["Location"])


def reload(db: Session, installation: Installation) -> Installation:
    """The installation as stored now."""
    db.expire_all()
    return db.get(Installation, installation.id)


# ------------------------------------------------------------------------------ host consent


def test_host_consent_activates_the_installation_with_the_requested_scopes(
    host: Host, db: Session, admin_web: FlaskClient, admin_agent: Agent, awaiting: Installation
) -> None:
    page = start_host_consent(admin_web, awaiting)
    done = answer_consent(admin_web, page, "approve")

    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/admin/marketplace/installations/{awaiting.id}")
    installation = reload(db, awaiting)
    assert installation.state == InstallationState.ACTIVE
    assert installation.granted_scopes == sorted(host.plugins.manifest(PLUGIN).scopes)
    assert installation.authorized_by_id == admin_agent.id


def test_host_consent_stores_only_hashed_tokens_bound_to_the_admin(
    db: Session, admin_web: FlaskClient, admin_agent: Agent, awaiting: Installation
) -> None:
    answer_consent(admin_web, start_host_consent(admin_web, awaiting), "approve")

    token = db.scalars(select(AccessToken).where(AccessToken.installation_id == awaiting.id)).one()
    host_client = db.scalars(select(OAuthClient).where(OAuthClient.is_host_callback)).one()
    assert token.kind == "oauth"
    assert token.client_id == host_client.client_id
    assert token.agent_id == admin_agent.id
    assert len(token.token_hash) == 64 and len(token.refresh_token_hash) == 64
    assert host_client.client_secret_hash is None
    assert host_client.redirect_uris == [HOST_CALLBACK]


def test_deny_keeps_the_installation_awaiting_authorization(
    db: Session, admin_web: FlaskClient, awaiting: Installation
) -> None:
    done = answer_consent(admin_web, start_host_consent(admin_web, awaiting), "deny")

    assert done.headers["Location"].endswith(f"/admin/marketplace/installations/{awaiting.id}")
    assert reload(db, awaiting).state == InstallationState.AWAITING_AUTHORIZATION
    assert db.scalars(select(AccessToken)).all() == []
    denial = db.scalars(select(AuditEntry).where(AuditEntry.sub_action == "deny")).one()
    assert denial.entity_id == str(awaiting.id)


def test_deny_redirects_with_access_denied_and_the_state(confidential_flow: Flow) -> None:
    answer = confidential_flow.decide("deny")

    assert answer.headers["Location"].startswith(CLIENT_REDIRECT)
    assert query_of(answer) == {
        "error": "access_denied",
        "error_description": query_of(answer)["error_description"],
        "state": confidential_flow.state,
    }


def test_callback_with_an_unknown_state_grants_nothing(
    db: Session, admin_web: FlaskClient, awaiting: Installation
) -> None:
    page = start_host_consent(admin_web, awaiting)
    form = {**hidden_fields(page.get_data(as_text=True)), "decision": "approve"}
    code = query_of(admin_web.post("/oauth/authorize", data=form))["code"]

    answer = admin_web.get("/oauth/callback", query_string={"code": code, "state": "forged"})

    assert answer.status_code == 400
    assert reload(db, awaiting).state == InstallationState.AWAITING_AUTHORIZATION


def test_consent_after_an_upgrade_marks_the_scopes_not_granted_yet(
    app: Any, db: Session, host: Host, admin_web: FlaskClient, department: Department
) -> None:
    installation = install_for(db, host, PLUGIN, [department.id], scopes=[scopes.TICKETS_READ])
    db.commit()

    page = start_host_consent(admin_web, installation).get_data(as_text=True)

    new = set(re.findall(r'<li data-scope="([^"]+)" class="scope-new">', page))
    assert new == set(host.plugins.manifest(PLUGIN).scopes) - {scopes.TICKETS_READ}


# ------------------------------------------------------------------------------ consent page


def test_consent_page_names_the_extension_its_departments_and_profiles(
    admin_web: FlaskClient, awaiting: Installation, host: Host
) -> None:
    page = start_host_consent(admin_web, awaiting).get_data(as_text=True)

    manifest = host.plugins.manifest(PLUGIN)
    assert manifest.name in page
    assert manifest.publisher in page
    assert "Support" in page
    assert all(profile.name in page for profile in awaiting.profiles)


def test_consent_page_lists_scopes_in_words(admin_web: FlaskClient, awaiting: Installation) -> None:
    page = start_host_consent(admin_web, awaiting).get_data(as_text=True)

    assert scopes.ALL[scopes.TICKETS_READ][0] in page


def test_consent_page_lists_scopes_in_japanese_for_a_japanese_agent(
    client: FlaskClient,
    sign_in_as: SignIn,
    make_agent: Callable[..., Agent],
    department: Department,
    awaiting: Installation,
) -> None:
    admin = make_agent(
        "kanri@example.com", profile="Administrator", departments=[department], locale="ja"
    )
    sign_in_as(admin)

    page = start_host_consent(client, awaiting).get_data(as_text=True)

    assert scopes.ALL[scopes.TICKETS_READ][1] in page
    assert scopes.ALL[scopes.CONTACTS_READ][1] in page
    assert scopes.ALL[scopes.TICKETS_READ][0] not in page


def test_consent_page_needs_the_marketplace_permission(
    client: FlaskClient,
    sign_in_as: SignIn,
    make_agent: Callable[..., Agent],
    department: Department,
    awaiting: Installation,
) -> None:
    sign_in_as(make_agent("agent@example.com", departments=[department]))

    answer = client.get(f"/admin/marketplace/installations/{awaiting.id}/authorize")

    assert answer.status_code == 403


def test_consent_page_sends_a_visitor_to_sign_in(client: FlaskClient) -> None:
    answer = client.get("/oauth/authorize", query_string={"client_id": "x"})

    assert answer.status_code == 302
    assert "/login" in answer.headers["Location"]


def test_consent_form_needs_its_csrf_token(confidential_flow: Flow) -> None:
    page = confidential_flow.consent_page()
    form = {**hidden_fields(page.get_data(as_text=True)), "decision": "approve"}
    del form["csrf_token"]

    answer = confidential_flow.web.post("/oauth/authorize", data=form)

    assert answer.status_code == 400
    assert "Location" not in answer.headers


def test_other_clients_wait_for_the_installation_to_be_authorized(
    db: Session, host: Host, admin_web: FlaskClient, admin_agent: Agent, awaiting: Installation
) -> None:
    record, _secret = oauth.register_client(
        Unit(db, Actor(admin_agent), host), awaiting, name="Worker", redirect_uris=[CLIENT_REDIRECT]
    )
    db.commit()
    verifier, challenge = pkce_pair()

    answer = Flow(admin_web, record.client_id, CLIENT_REDIRECT, verifier, challenge).consent_page()

    assert answer.status_code == 409
    assert "Location" not in answer.headers


# ------------------------------------------------------------------------------ code flow


def test_confidential_client_gets_access_and_refresh_tokens(issued: dict) -> None:
    assert issued["token_type"] == "Bearer"
    assert issued["expires_in"] == 3600
    assert issued["access_token"] and issued["refresh_token"]
    assert set(issued["scope"].split()) == {
        scopes.TICKETS_READ,
        scopes.CONTACTS_READ,
        scopes.ACCOUNTS_READ,
        scopes.THREADS_READ,
        scopes.AGENTS_READ,
    }


def test_confidential_clients_token_calls_the_rest_api(admin_web: FlaskClient, issued) -> None:

    answer = admin_web.get("/api/v1/tickets", headers=bearer(issued["access_token"]))

    assert answer.status_code == 200


def test_issued_tokens_are_stored_only_hashed(db: Session, issued: dict) -> None:
    stored = db.scalars(select(AccessToken).where(AccessToken.kind == "oauth")).one()
    assert stored.token_hash == hashlib.sha256(issued["access_token"].encode()).hexdigest()
    assert stored.refresh_token_hash == (
        hashlib.sha256(issued["refresh_token"].encode()).hexdigest()
    )


def test_state_comes_back_untouched(confidential_flow: Flow) -> None:
    confidential_flow.state = "ä b/c?d=e&f=%20"

    answer = confidential_flow.decide("approve")

    assert query_of(answer)["state"] == "ä b/c?d=e&f=%20"


def test_request_without_pkce_is_refused_at_the_redirect_uri(confidential_flow: Flow) -> None:
    answer = confidential_flow.consent_page(code_challenge=None, code_challenge_method=None)

    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(CLIENT_REDIRECT)
    assert query_of(answer)["error"] == "invalid_request"
    assert query_of(answer)["state"] == confidential_flow.state


def test_plain_pkce_method_is_refused(confidential_flow: Flow) -> None:
    answer = confidential_flow.consent_page(
        code_challenge=confidential_flow.verifier, code_challenge_method="plain"
    )

    assert query_of(answer)["error"] == "invalid_request"


def test_pkce_without_a_method_is_refused(confidential_flow: Flow) -> None:
    answer = confidential_flow.consent_page(code_challenge_method=None)

    assert query_of(answer)["error"] == "invalid_request"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        CLIENT_REDIRECT + "/",
        CLIENT_REDIRECT + "?next=/x",
        "https://EXTENSION.example/callback",
        "https://attacker.example/callback",
    ],
)
def test_redirect_uri_not_exactly_registered_shows_an_error_page(
    confidential_flow: Flow, redirect_uri: str
) -> None:
    answer = confidential_flow.consent_page(redirect_uri=redirect_uri)

    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert 'id="oauth-error"' in answer.get_data(as_text=True)


def test_missing_redirect_uri_shows_an_error_page(confidential_flow: Flow) -> None:
    answer = confidential_flow.consent_page(redirect_uri=None)

    assert answer.status_code == 400
    assert "Location" not in answer.headers


def test_unknown_client_shows_an_error_page(confidential_flow: Flow) -> None:
    answer = confidential_flow.consent_page(client_id="dhc_unknown")

    assert answer.status_code == 400
    assert "Location" not in answer.headers


def test_scope_beyond_the_installations_grant_is_refused(confidential_flow: Flow) -> None:
    answer = confidential_flow.consent_page(scope=f"{scopes.TICKETS_READ} {scopes.KB_WRITE}")

    assert query_of(answer)["error"] == "invalid_scope"


def test_wrong_code_verifier_is_refused(
    admin_web: FlaskClient, confidential_flow: Flow, registered: tuple[str, str]
) -> None:
    code = confidential_flow.code()
    confidential_flow.verifier = pkce_pair()[0]

    answer = exchange(admin_web, confidential_flow, code, registered[1])

    assert answer.status_code == 400
    assert answer.json["error"] == "invalid_grant"


def test_missing_code_verifier_is_refused(
    admin_web: FlaskClient, confidential_flow: Flow, registered: tuple[str, str]
) -> None:
    answer = token_request(
        admin_web,
        {
            "grant_type": "authorization_code",
            "code": confidential_flow.code(),
            "redirect_uri": CLIENT_REDIRECT,
            "client_id": registered[0],
        },
        registered[1],
    )

    assert answer.status_code == 400
    assert answer.json["error"] == "invalid_request"


def test_token_request_with_another_redirect_uri_is_refused(
    admin_web: FlaskClient, confidential_flow: Flow, registered: tuple[str, str]
) -> None:
    code = confidential_flow.code()
    confidential_flow.redirect_uri = CLIENT_REDIRECT + "/other"

    answer = exchange(admin_web, confidential_flow, code, registered[1])

    assert answer.json["error"] == "invalid_grant"


def test_reused_code_is_refused_and_revokes_what_it_issued(
    admin_web: FlaskClient, confidential_flow: Flow, registered: tuple[str, str]
) -> None:
    code = confidential_flow.code()
    first = exchange(admin_web, confidential_flow, code, registered[1]).json

    second = exchange(admin_web, confidential_flow, code, registered[1])

    assert second.status_code == 400
    assert second.json["error"] == "invalid_grant"
    assert (
        admin_web.get("/api/v1/tickets", headers=bearer(first["access_token"])).status_code == 401
    )


@pytest.mark.usefixtures("frozen_clock")
def test_expired_code_is_refused(
    admin_web: FlaskClient, confidential_flow: Flow, registered: tuple[str, str]
) -> None:
    code = confidential_flow.code()
    clock.advance(oauth.AUTHORIZATION_CODE_LIFETIME + timedelta(seconds=1))

    answer = exchange(admin_web, confidential_flow, code, registered[1])

    assert answer.json["error"] == "invalid_grant"


def test_wrong_client_secret_is_refused(admin_web: FlaskClient, confidential_flow: Flow) -> None:
    answer = exchange(admin_web, confidential_flow, confidential_flow.code(), "dhs_wrong")

    assert answer.status_code == 401
    assert answer.json["error"] == "invalid_client"


def test_confidential_client_cannot_skip_its_secret(
    admin_web: FlaskClient, confidential_flow: Flow
) -> None:
    answer = exchange(admin_web, confidential_flow, confidential_flow.code())

    assert answer.json["error"] == "invalid_client"


def test_host_client_exchanges_its_code_with_pkce_and_no_secret(
    app: Any, db: Session, admin_web: FlaskClient, active: Installation
) -> None:
    flow = host_flow(app, db, admin_web, active)

    answer = exchange(admin_web, flow, flow.code())

    assert answer.status_code == 200
    assert answer.json["refresh_token"]


# ------------------------------------------------------------------------------ refresh


def refresh(web: FlaskClient, client_id: str, secret: str, refresh_token: str) -> TestResponse:
    """Use a refresh token."""
    return token_request(
        web,
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id},
        secret,
    )


def test_refresh_issues_new_tokens(
    admin_web: FlaskClient, registered: tuple[str, str], issued: dict
) -> None:
    answer = refresh(admin_web, *registered, issued["refresh_token"])

    assert answer.status_code == 200
    assert answer.json["access_token"] != issued["access_token"]
    assert answer.json["refresh_token"] != issued["refresh_token"]
    assert answer.json["scope"] == issued["scope"]
    assert (
        admin_web.get("/api/v1/tickets", headers=bearer(answer.json["access_token"])).status_code
        == 200
    )


def test_refresh_rotates_so_the_old_refresh_token_stops_working(
    admin_web: FlaskClient, registered: tuple[str, str], issued: dict
) -> None:
    refresh(admin_web, *registered, issued["refresh_token"])

    again = refresh(admin_web, *registered, issued["refresh_token"])

    assert again.status_code == 400
    assert again.json["error"] == "invalid_grant"


@pytest.mark.usefixtures("frozen_clock")
def test_access_token_expires_after_an_hour_and_refresh_still_works(
    admin_web: FlaskClient, registered: tuple[str, str], issued: dict
) -> None:
    clock.advance(oauth.ACCESS_TOKEN_LIFETIME + timedelta(seconds=1))

    expired = admin_web.get("/api/v1/tickets", headers=bearer(issued["access_token"]))
    renewed = refresh(admin_web, *registered, issued["refresh_token"])

    assert expired.status_code == 401
    assert renewed.status_code == 200


def test_refresh_token_of_another_client_is_refused(
    db: Session,
    host: Host,
    admin_web: FlaskClient,
    admin_agent: Agent,
    active: Installation,
    issued: dict,
) -> None:
    other, secret = oauth.register_client(
        Unit(db, Actor(admin_agent), host), active, name="Other", redirect_uris=[CLIENT_REDIRECT]
    )
    db.commit()

    answer = refresh(admin_web, other.client_id, secret, issued["refresh_token"])

    assert answer.json["error"] == "invalid_grant"


# ------------------------------------------------------------------------------ revocation


def revoke(
    web: FlaskClient, client_id: str, secret: str | None, token: str, hint: str = ""
) -> TestResponse:
    """POST to the revocation endpoint."""
    data = {"token": token, **client_auth(client_id, secret)}
    if hint:
        data["token_type_hint"] = hint
    return web.post("/oauth/revoke", data=data)


def test_revocation_of_an_unknown_token_answers_200(
    admin_web: FlaskClient, registered: tuple[str, str]
) -> None:
    assert revoke(admin_web, *registered, "dho_never-issued").status_code == 200


def test_revoked_access_token_gets_401_from_the_api(
    admin_web: FlaskClient, registered: tuple[str, str], issued: dict
) -> None:
    assert revoke(admin_web, *registered, issued["access_token"]).status_code == 200

    answer = admin_web.get("/api/v1/tickets", headers=bearer(issued["access_token"]))

    assert answer.status_code == 401
    assert answer.json["error"] == "invalid_token"


def test_revoking_the_refresh_token_revokes_its_access_token(
    admin_web: FlaskClient, registered: tuple[str, str], issued: dict
) -> None:
    revoke(admin_web, *registered, issued["refresh_token"], hint="refresh_token")

    assert (
        admin_web.get("/api/v1/tickets", headers=bearer(issued["access_token"])).status_code == 401
    )
    assert refresh(admin_web, *registered, issued["refresh_token"]).json["error"] == "invalid_grant"


def test_revocation_finds_a_token_despite_a_wrong_hint(
    admin_web: FlaskClient, registered: tuple[str, str], issued: dict
) -> None:
    revoke(admin_web, *registered, issued["access_token"], hint="refresh_token")

    assert introspect(admin_web, *registered, issued["access_token"]).json == {"active": False}


def test_revocation_needs_client_authentication(
    admin_web: FlaskClient, registered: tuple[str, str], issued: dict
) -> None:
    answer = revoke(admin_web, registered[0], "dhs_wrong", issued["access_token"])

    assert answer.status_code in (400, 401)
    assert answer.json["error"] == "invalid_client"


def test_revoking_the_host_clients_token_ends_the_grant(
    app: Any, db: Session, admin_web: FlaskClient, active: Installation
) -> None:
    flow = host_flow(app, db, admin_web, active)
    tokens = exchange(admin_web, flow, flow.code()).json

    answer = revoke(admin_web, flow.client_id, None, tokens["refresh_token"])

    assert answer.status_code == 200
    installation = reload(db, active)
    assert installation.state == InstallationState.AWAITING_AUTHORIZATION
    assert installation.granted_scopes == []


# ------------------------------------------------------------------------------ introspection


def introspect(web: FlaskClient, client_id: str, secret: str | None, token: str) -> TestResponse:
    """POST to the introspection endpoint."""
    return web.post("/oauth/introspect", data={"token": token, **client_auth(client_id, secret)})


def test_introspection_describes_an_active_token(
    admin_web: FlaskClient, admin_agent: Agent, registered: tuple[str, str], issued: dict
) -> None:
    before = int(clock.now().timestamp())

    answer = introspect(admin_web, *registered, issued["access_token"]).json

    assert answer["active"] is True
    assert answer["scope"] == issued["scope"]
    assert answer["client_id"] == registered[0]
    assert answer["username"] == admin_agent.email
    assert answer["sub"] == str(admin_agent.id)
    assert answer["token_type"] == "Bearer"
    assert answer["iat"] <= before + 1
    assert answer["exp"] - answer["iat"] == 3600


def test_introspection_of_a_refresh_token(
    admin_web: FlaskClient, registered: tuple[str, str], issued: dict
) -> None:
    answer = introspect(admin_web, *registered, issued["refresh_token"]).json

    assert answer["active"] is True
    assert answer["token_type"] == "refresh_token"
    assert answer["exp"] - answer["iat"] == int(oauth.REFRESH_TOKEN_LIFETIME.total_seconds())


def test_introspection_says_inactive_for_an_unknown_token(
    admin_web: FlaskClient, registered: tuple[str, str]
) -> None:
    assert introspect(admin_web, *registered, "dho_unknown").json == {"active": False}


def test_introspection_says_inactive_for_a_revoked_token(
    admin_web: FlaskClient, registered: tuple[str, str], issued: dict
) -> None:
    revoke(admin_web, *registered, issued["access_token"])

    assert introspect(admin_web, *registered, issued["access_token"]).json == {"active": False}


@pytest.mark.usefixtures("frozen_clock")
def test_introspection_says_inactive_for_an_expired_token(
    admin_web: FlaskClient, registered: tuple[str, str], issued: dict
) -> None:
    clock.advance(oauth.ACCESS_TOKEN_LIFETIME)

    assert introspect(admin_web, *registered, issued["access_token"]).json == {"active": False}


def test_introspection_says_inactive_once_the_grant_is_revoked(
    db: Session,
    host: Host,
    admin_web: FlaskClient,
    registered: tuple[str, str],
    issued: dict,
    active: Installation,
) -> None:
    lifecycle.revoke_grant(system_unit(db, host), reload(db, active))
    db.commit()

    assert introspect(admin_web, *registered, issued["access_token"]).json == {"active": False}


@pytest.mark.parametrize("keep_data", [True, False], ids=["keep", "purge"])
@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_introspection_says_inactive_once_the_installation_is_uninstalled(
    db: Session,
    host: Host,
    admin_web: FlaskClient,
    registered: tuple[str, str],
    issued: dict,
    active: Installation,
    keep_data: bool,
    kind: str,
) -> None:
    lifecycle.uninstall(
        system_unit(db, host), reload(db, active), confirmed=True, keep_data=keep_data
    )
    db.commit()

    answer = introspect(admin_web, *registered, issued[kind])

    assert (answer.status_code, answer.json) == (200, {"active": False})


def test_a_purge_keeps_the_revoked_client_without_its_installation(
    db: Session, host: Host, registered: tuple[str, str], active: Installation
) -> None:
    lifecycle.uninstall(system_unit(db, host), reload(db, active), confirmed=True, keep_data=False)
    db.commit()

    db.expire_all()
    client = db.scalars(select(OAuthClient).where(OAuthClient.client_id == registered[0])).one()
    assert (client.installation_id, client.revoked_at is not None) == (None, True)


@pytest.mark.parametrize("keep_data", [True, False], ids=["keep", "purge"])
def test_a_client_revoked_by_uninstall_gets_no_more_tokens(
    db: Session,
    host: Host,
    admin_web: FlaskClient,
    registered: tuple[str, str],
    issued: dict,
    active: Installation,
    keep_data: bool,
) -> None:
    lifecycle.uninstall(
        system_unit(db, host), reload(db, active), confirmed=True, keep_data=keep_data
    )
    db.commit()

    answer = token_request(
        admin_web,
        {
            "grant_type": "refresh_token",
            "refresh_token": issued["refresh_token"],
            "client_id": registered[0],
        },
        registered[1],
    )

    assert (answer.status_code, answer.json["error"]) == (401, "invalid_client")


def test_a_client_revoked_by_uninstall_still_needs_its_secret_to_introspect(
    db: Session,
    host: Host,
    admin_web: FlaskClient,
    registered: tuple[str, str],
    issued: dict,
    active: Installation,
) -> None:
    lifecycle.uninstall(system_unit(db, host), reload(db, active), confirmed=True, keep_data=True)
    db.commit()

    answer = introspect(admin_web, registered[0], "dhs_wrong", issued["access_token"])

    assert (answer.status_code, answer.json["error"]) == (401, "invalid_client")


def test_an_unknown_client_cannot_introspect(admin_web: FlaskClient, issued: dict) -> None:
    answer = introspect(admin_web, "dhc_unknown", "dhs_unknown", issued["access_token"])

    assert answer.json["error"] == "invalid_client"


def as_introspected(answer: TestResponse) -> tuple[int, Any]:
    """What the introspection endpoint answered: its status and its JSON."""
    return answer.status_code, answer.json


def test_another_clients_token_is_introspected_as_an_unknown_token_is(
    db: Session,
    host: Host,
    admin_web: FlaskClient,
    admin_agent: Agent,
    active: Installation,
    issued: dict,
) -> None:
    other, secret = oauth.register_client(
        Unit(db, Actor(admin_agent), host), active, name="Other", redirect_uris=[CLIENT_REDIRECT]
    )
    db.commit()

    theirs = introspect(admin_web, other.client_id, secret, issued["access_token"])
    unknown = introspect(admin_web, other.client_id, secret, "dho_unknown")

    assert as_introspected(theirs) == as_introspected(unknown) == (200, {"active": False})


def test_the_host_clients_answer_for_another_clients_token_is_that_of_an_unknown_token(
    app: Any, db: Session, admin_web: FlaskClient, active: Installation, issued: dict
) -> None:
    flow = host_flow(app, db, admin_web, active)

    theirs = introspect(admin_web, flow.client_id, None, issued["refresh_token"])
    unknown = introspect(admin_web, flow.client_id, None, "dho_unknown")

    assert as_introspected(theirs) == as_introspected(unknown) == (200, {"active": False})


def test_public_host_client_introspects_with_no_secret(
    app: Any, db: Session, admin_web: FlaskClient, active: Installation
) -> None:
    flow = host_flow(app, db, admin_web, active)
    tokens = exchange(admin_web, flow, flow.code()).json

    assert introspect(admin_web, flow.client_id, None, tokens["access_token"]).json["active"]


def secret_in_headers(query_client: Callable[[str], Any], request: Any) -> Any:
    """A client authentication method a deployment registers: id and secret in headers."""
    client = query_client(request.headers.get("X-Client-Id"))
    secret = request.headers.get("X-Client-Secret", "")
    return client if client is not None and client.check_client_secret(secret) else None


def test_a_revoked_client_introspects_by_the_methods_registered_on_the_server(
    app: Any,
    db: Session,
    host: Host,
    registered: tuple[str, str],
    issued: dict,
    active: Installation,
) -> None:
    lifecycle.uninstall(system_unit(db, host), reload(db, active), confirmed=True, keep_data=True)
    db.commit()
    server = oauth.DeskAuthorizationServer()
    server.register_endpoint(oauth.IntrospectionEndpoint)
    # Under a name the clients accept: Basic authentication is replaced by the headers.
    server.register_client_auth_method("client_secret_basic", secret_in_headers)
    client_id, secret = registered

    with app.test_request_context(
        "/oauth/introspect",
        method="POST",
        data={"token": issued["access_token"]},
        headers={"X-Client-Id": client_id, "X-Client-Secret": secret},
    ):
        answer = server.create_endpoint_response(oauth.IntrospectionEndpoint.ENDPOINT_NAME)

    assert as_introspected(answer) == (200, {"active": False})


# ------------------------------------------------------------------------------ clients


def test_registered_client_secret_is_stored_only_hashed(
    db: Session, registered: tuple[str, str]
) -> None:
    record = db.scalars(select(OAuthClient).where(OAuthClient.client_id == registered[0])).one()
    assert record.client_secret_hash == hashlib.sha256(registered[1].encode()).hexdigest()
    assert registered[1] not in repr(record.__dict__)


def test_registering_a_client_is_audited(db: Session, registered: tuple[str, str]) -> None:
    entry = db.scalars(select(AuditEntry).where(AuditEntry.entity_type == "oauth_client")).one()
    assert entry.after["client_id"] == registered[0]
    assert entry.after["redirect_uris"] == [CLIENT_REDIRECT]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://extension.example/callback",
        "ftp://extension.example/callback",
        "/relative/callback",
        "https://extension.example/callback#fragment",
    ],
)
def test_client_redirect_uris_must_be_https_or_loopback(
    db: Session, host: Host, admin_agent: Agent, active: Installation, redirect_uri: str
) -> None:
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        oauth.register_client(
            Unit(db, Actor(admin_agent), host), active, name="X", redirect_uris=[redirect_uri]
        )

    assert "redirect_uris" in refused.value.errors


@pytest.mark.parametrize(
    "redirect_uri", ["http://127.0.0.1:8123/callback", "http://localhost/callback"]
)
def test_loopback_http_redirect_uris_are_accepted(
    db: Session, host: Host, admin_agent: Agent, active: Installation, redirect_uri: str
) -> None:
    record, _secret = oauth.register_client(
        Unit(db, Actor(admin_agent), host), active, name="Local", redirect_uris=[redirect_uri]
    )

    assert record.redirect_uris == [redirect_uri]


def test_registering_a_client_needs_the_marketplace_permission(
    db: Session, host: Host, make_agent: Callable[..., Agent], active: Installation
) -> None:
    from core.errors import Forbidden

    agent = make_agent("agent@example.com")

    with pytest.raises(Forbidden):
        oauth.register_client(
            Unit(db, Actor(agent), host), active, name="X", redirect_uris=[CLIENT_REDIRECT]
        )


def test_host_client_is_created_once_per_installation(
    app: Any, db: Session, active: Installation
) -> None:
    with app.test_request_context():
        first = oauth.host_client(db, active)
        second = oauth.host_client(db, active)

    assert first.client_id == second.client_id
    assert first.is_host_callback and first.redirect_uris == [HOST_CALLBACK]
