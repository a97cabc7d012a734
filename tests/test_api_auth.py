"""REST API authentication: browser session + CSRF, bearer tokens, scopes, token lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import tokens
from core.models import AccessToken, Agent, Department
from hostapi import clock, scopes

pytest_plugins = ["tests.api_fixtures"]


@pytest.fixture
def frozen_clock() -> Iterator[None]:
    """The clock stopped now (moved on by the test), running again afterwards."""
    clock.freeze(clock.now())
    yield
    clock.unfreeze()


def _new_ticket(department: Department) -> dict[str, object]:
    return {"subject": "Help", "department_id": department.id}


def test_request_without_credentials_answers_401_json(client: FlaskClient) -> None:
    answer = client.get("/api/v1/tickets")
    assert answer.status_code == 401
    assert answer.json["code"] == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_unsafe_request_without_credentials_answers_401_not_a_csrf_error(
    client: FlaskClient, department: Department
) -> None:
    assert client.post("/api/v1/tickets", json=_new_ticket(department)).status_code == 401


def test_session_post_without_csrf_token_is_refused_400(
    client: FlaskClient, sign_in_as, api_agent: Agent, department: Department
) -> None:
    sign_in_as(api_agent)
    answer = client.post("/api/v1/tickets", json=_new_ticket(department))
    assert answer.status_code == 400
    assert "CSRF" in answer.json["message"]


def test_session_post_with_csrf_token_is_accepted(browser, department: Department) -> None:
    client, csrf = browser
    assert (
        client.post("/api/v1/tickets", json=_new_ticket(department), headers=csrf).status_code
        == 201
    )


def test_bearer_token_with_read_scope_lists_tickets(
    client: FlaskClient, bearer_for, api_agent: Agent, make_ticket
) -> None:
    ticket = make_ticket()
    answer = client.get("/api/v1/tickets", headers=bearer_for(api_agent, [scopes.TICKETS_READ]))
    assert [item["id"] for item in answer.json["items"]] == [ticket.id]


def test_read_only_token_cannot_create_a_ticket(
    client: FlaskClient, bearer_for, api_agent: Agent, department: Department
) -> None:
    answer = client.post(
        "/api/v1/tickets",
        json=_new_ticket(department),
        headers=bearer_for(api_agent, [scopes.TICKETS_READ]),
    )
    assert answer.status_code == 403
    assert (answer.json["error"], answer.json["scope"]) == (
        "insufficient_scope",
        scopes.TICKETS_WRITE,
    )
    assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]


def test_bearer_post_needs_no_csrf_token(
    client: FlaskClient, bearer_for, api_agent: Agent, department: Department
) -> None:
    answer = client.post(
        "/api/v1/tickets",
        json=_new_ticket(department),
        headers=bearer_for(api_agent, [scopes.TICKETS_WRITE]),
    )
    assert answer.status_code == 201


def test_token_is_limited_by_its_agents_permissions(
    client: FlaskClient, bearer_for, make_agent: Callable[..., Agent], department: Department
) -> None:
    light = make_agent("light@example.com", profile="Light Agent", departments=[department])
    answer = client.post(
        "/api/v1/tickets",
        json=_new_ticket(department),
        headers=bearer_for(light, [scopes.TICKETS_WRITE]),
    )
    assert answer.status_code == 403
    assert answer.json["permission"] == "ticket.create"


def test_token_is_limited_by_its_agents_departments(
    client: FlaskClient, bearer_for, api_agent: Agent, make_ticket, make_department
) -> None:
    ticket = make_ticket(department=make_department("Sales"))
    answer = client.get(
        f"/api/v1/tickets/{ticket.id}", headers=bearer_for(api_agent, [scopes.TICKETS_READ])
    )
    assert answer.status_code == 404


def test_unknown_token_answers_401_invalid_token(client: FlaskClient) -> None:
    answer = client.get("/api/v1/tickets", headers={"Authorization": "Bearer dhp_nonsense"})
    assert answer.status_code == 401
    assert answer.json["error"] == "invalid_token"
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_expired_token_answers_401(
    client: FlaskClient, db: Session, api_agent: Agent, frozen_clock: None
) -> None:
    _token, plaintext = tokens.create_personal_token(
        db, api_agent, "short", [scopes.TICKETS_READ], clock.now() + timedelta(hours=1)
    )
    db.commit()
    clock.advance(timedelta(hours=1, seconds=1))
    answer = client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {plaintext}"})
    assert answer.status_code == 401


def test_created_token_shows_its_secret_once(browser) -> None:
    client, csrf = browser
    created = client.post(
        "/api/v1/me/tokens", json={"name": "script", "scopes": [scopes.TICKETS_READ]}, headers=csrf
    )
    assert created.status_code == 201
    assert created.json["token"].startswith(tokens.PERSONAL_TOKEN_PREFIX)
    listed = client.get("/api/v1/me/tokens").json["items"]
    assert [item["name"] for item in listed] == ["script"]
    assert "token" not in listed[0]


def test_token_is_stored_only_as_its_hash(db: Session, api_agent: Agent) -> None:
    token, plaintext = tokens.create_personal_token(db, api_agent, "x", [scopes.TICKETS_READ])
    db.commit()
    stored = db.scalars(select(AccessToken)).one()
    assert stored.token_hash == tokens.hash_token(plaintext)
    assert plaintext not in {stored.token_hash, stored.name, stored.scopes}
    assert tokens.resolve(db, plaintext) is token


def test_created_token_authenticates_as_its_agent(browser, api_agent: Agent) -> None:
    client, csrf = browser
    secret = client.post(
        "/api/v1/me/tokens", json={"name": "script", "scopes": [scopes.TICKETS_READ]}, headers=csrf
    ).json["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json
    assert (me["id"], me["auth"], me["scopes"]) == (api_agent.id, "bearer", [scopes.TICKETS_READ])


def test_revoked_token_answers_401(browser) -> None:
    client, csrf = browser
    created = client.post(
        "/api/v1/me/tokens", json={"name": "script", "scopes": [scopes.TICKETS_READ]}, headers=csrf
    ).json
    bearer = {"Authorization": f"Bearer {created['token']}"}
    assert client.delete(f"/api/v1/me/tokens/{created['id']}", headers=csrf).status_code == 204
    assert client.get("/api/v1/tickets", headers=bearer).status_code == 401


def test_token_with_unknown_scope_is_refused_naming_scopes(browser) -> None:
    client, csrf = browser
    answer = client.post(
        "/api/v1/me/tokens", json={"name": "script", "scopes": ["desk.everything"]}, headers=csrf
    )
    assert answer.status_code == 422
    assert "scopes" in answer.json["errors"]["json"]


def test_a_token_cannot_manage_tokens(client: FlaskClient, bearer_for, api_agent: Agent) -> None:
    answer = client.post(
        "/api/v1/me/tokens",
        json={"name": "more", "scopes": [scopes.TICKETS_READ]},
        headers=bearer_for(api_agent, [scopes.TICKETS_WRITE]),
    )
    assert answer.status_code == 403


def test_another_agents_token_cannot_be_revoked(
    browser, db: Session, make_agent: Callable[..., Agent]
) -> None:
    client, csrf = browser
    other = make_agent("other@example.com")
    token, _plaintext = tokens.create_personal_token(db, other, "theirs", [scopes.TICKETS_READ])
    db.commit()
    assert client.delete(f"/api/v1/me/tokens/{token.id}", headers=csrf).status_code == 404


def test_last_use_is_recorded_at_most_once_a_minute(
    db: Session, api_agent: Agent, frozen_clock: None
) -> None:
    token, plaintext = tokens.create_personal_token(db, api_agent, "x", [scopes.TICKETS_READ])
    first_use = clock.now()
    tokens.resolve(db, plaintext)
    clock.advance(timedelta(seconds=30))
    tokens.resolve(db, plaintext)
    assert token.last_used_at == first_use
    clock.advance(timedelta(seconds=31))
    tokens.resolve(db, plaintext)
    assert token.last_used_at == clock.now()


def test_unknown_api_path_answers_json_404(browser) -> None:
    client, _csrf = browser
    answer = client.get("/api/v1/no-such-thing")
    assert (answer.status_code, answer.json["code"]) == (404, 404)
