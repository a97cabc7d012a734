"""REST calls with an extension's OAuth token: the consenting admin, capped by the token's
scopes, the installation's grant and the installation's departments."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Department, Installation, Ticket
from core.models.extensions import InstallationState
from core.services.base import Actor, Unit
from hostapi import scopes
from marketplace_registry import lifecycle, oauth
from tests.factories import install_for, system_unit
from tests.test_oauth_server import (
    CLIENT_REDIRECT,
    PLUGIN,
    Flow,
    SignIn,
    bearer,
    exchange,
    pkce_pair,
)

pytest_plugins = ["tests.api_fixtures"]


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    """A second department, which the installation does not cover."""
    return make_department("Sales")


@pytest.fixture
def admin(make_agent: Callable[..., Agent], department: Department, sales: Department) -> Agent:
    """An admin of both Support and Sales."""
    return make_agent("boss@example.com", profile="Administrator", departments=[department, sales])


@pytest.fixture
def installation(db: Session, host: Host, department: Department) -> Installation:
    """ticket_history for Support only, authorized with every scope it requests."""
    installed = install_for(db, host, PLUGIN, [department.id])
    db.commit()
    return installed


@pytest.fixture
def token(
    db: Session,
    host: Host,
    client: FlaskClient,
    sign_in_as: SignIn,
    admin: Agent,
    installation: Installation,
) -> dict[str, str]:
    """The Authorization header of a token the admin consented to for a confidential client."""
    record, secret = oauth.register_client(
        Unit(db, Actor(admin), host), installation, name="Worker", redirect_uris=[CLIENT_REDIRECT]
    )
    db.commit()
    sign_in_as(admin)
    verifier, challenge = pkce_pair()
    flow = Flow(client, record.client_id, CLIENT_REDIRECT, verifier, challenge)
    answer = exchange(client, flow, flow.code(), secret)
    assert answer.status_code == 200, answer.json
    with client.session_transaction() as browser:
        browser.clear()  # from here on only the token authenticates
    return bearer(answer.json["access_token"])


def test_token_reads_a_ticket_of_the_installations_department(
    client: FlaskClient, token: dict[str, str], make_ticket: Callable[..., Ticket]
) -> None:
    ticket = make_ticket()

    assert client.get(f"/api/v1/tickets/{ticket.id}", headers=token).status_code == 200


def test_ticket_of_another_department_answers_404_though_the_admin_sees_it(
    client: FlaskClient,
    token: dict[str, str],
    make_ticket: Callable[..., Ticket],
    sales: Department,
) -> None:
    ticket = make_ticket(department=sales)

    assert client.get(f"/api/v1/tickets/{ticket.id}", headers=token).status_code == 404


def test_ticket_list_covers_only_the_installations_departments(
    client: FlaskClient,
    token: dict[str, str],
    make_ticket: Callable[..., Ticket],
    sales: Department,
) -> None:
    support_ticket = make_ticket("Support question")
    make_ticket("Sales question", department=sales)

    items = client.get("/api/v1/tickets", headers=token).json["items"]

    assert [item["id"] for item in items] == [support_ticket.id]


def test_scope_the_extension_was_not_granted_answers_403_insufficient_scope(
    client: FlaskClient, token: dict[str, str], department: Department
) -> None:
    answer = client.post(
        "/api/v1/tickets", json={"subject": "Hi", "department_id": department.id}, headers=token
    )

    assert answer.status_code == 403
    assert answer.json["error"] == "insufficient_scope"
    assert answer.json["scope"] == scopes.TICKETS_WRITE


def test_installations_grant_caps_the_tokens_scopes(
    db: Session,
    host: Host,
    client: FlaskClient,
    token: dict[str, str],
    installation: Installation,
) -> None:
    lifecycle.grant(
        system_unit(db, host), db.get(Installation, installation.id), [scopes.CONTACTS_READ]
    )
    db.commit()

    answer = client.get("/api/v1/tickets", headers=token)

    assert answer.status_code == 403
    assert answer.json["scope"] == scopes.TICKETS_READ


def test_me_reports_the_scopes_the_token_may_use(
    db: Session,
    host: Host,
    client: FlaskClient,
    token: dict[str, str],
    installation: Installation,
) -> None:
    lifecycle.grant(
        system_unit(db, host),
        db.get(Installation, installation.id),
        [scopes.TICKETS_READ, scopes.CONTACTS_READ],
    )
    db.commit()

    me = client.get("/api/v1/me", headers=token).json

    assert me["auth"] == "bearer"
    assert me["scopes"] == [scopes.CONTACTS_READ, scopes.TICKETS_READ]


def test_token_of_an_installation_awaiting_authorization_answers_401(
    db: Session,
    host: Host,
    client: FlaskClient,
    token: dict[str, str],
    installation: Installation,
) -> None:
    lifecycle.revoke_grant(system_unit(db, host), db.get(Installation, installation.id))
    db.commit()

    answer = client.get("/api/v1/tickets", headers=token)

    assert answer.status_code == 401
    assert answer.json["error"] == "invalid_token"


def test_token_stops_working_while_its_installation_is_not_active(
    db: Session, client: FlaskClient, token: dict[str, str], installation: Installation
) -> None:
    # Only the state changes here: the token itself is neither revoked nor expired.
    db.get(Installation, installation.id).state = InstallationState.FAILED.value
    db.commit()

    assert client.get("/api/v1/tickets", headers=token).status_code == 401


def test_token_of_an_archived_installation_answers_401(
    db: Session,
    host: Host,
    client: FlaskClient,
    token: dict[str, str],
    installation: Installation,
) -> None:
    lifecycle.uninstall(
        system_unit(db, host),
        db.get(Installation, installation.id),
        confirmed=True,
        keep_data=True,
    )
    db.commit()

    answer = client.get("/api/v1/tickets", headers=token)

    assert answer.status_code == 401
    assert answer.json["error"] == "invalid_token"


def test_department_limit_narrows_what_an_agent_actor_sees(
    admin: Agent, department: Department, sales: Department
) -> None:
    actor = Actor(admin, department_limit=frozenset({department.id}))

    assert actor.visible_department_ids() == frozenset({department.id})
    assert actor.can_see_department(department.id)
    assert not actor.can_see_department(sales.id)


def test_department_limit_applies_to_a_system_actor_too() -> None:
    actor = Actor(None, label="extension:x", department_limit=frozenset({7}))

    assert actor.visible_department_ids() == frozenset({7})
    assert not actor.can_see_department(8)
