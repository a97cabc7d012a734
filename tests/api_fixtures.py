"""Fixtures of the REST API tests: a signed-in browser client and bearer tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core import tokens
from core.models import Agent, Department


@pytest.fixture
def api_agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An agent (the "Agent" profile) of the "Support" department."""
    return make_agent("api-agent@example.com", name="API Agent", departments=[department])


def sign_in(client: FlaskClient, agent: Agent) -> dict[str, str]:
    """Start a browser session for ``agent``; return the CSRF header for unsafe requests."""
    with client.session_transaction() as session:
        session["agent_id"] = agent.id
    answer = client.get("/api/v1/me")
    assert answer.status_code == 200, answer.json
    return {"X-CSRFToken": answer.json["csrf_token"]}


@pytest.fixture
def sign_in_as(client: FlaskClient) -> Callable[[Agent], dict[str, str]]:
    """``sign_in_as(agent)``: a browser session on ``client``; returns the CSRF header."""
    return lambda agent: sign_in(client, agent)


@pytest.fixture
def browser(client: FlaskClient, api_agent: Agent) -> tuple[FlaskClient, dict[str, str]]:
    """The test client signed in as ``api_agent``, and its CSRF header."""
    return client, sign_in(client, api_agent)


@pytest.fixture
def bearer_for(db: Session) -> Callable[..., dict[str, str]]:
    """``bearer_for(agent, scopes)``: the Authorization header of a new personal token."""

    def make(agent: Agent, scopes: Iterable[str]) -> dict[str, str]:
        _token, plaintext = tokens.create_personal_token(db, agent, "test", scopes)
        db.commit()
        return {"Authorization": f"Bearer {plaintext}"}

    return make


@pytest.fixture
def mail_server_headers(
    bearer_for: Callable[..., dict[str, str]], admin_agent: Agent
) -> dict[str, str]:
    """Headers of the mail server handing over raw mail: its credential and the MIME type."""
    return bearer_for(admin_agent, [tokens.MAIL_INGEST_SCOPE]) | {"Content-Type": "message/rfc822"}
