"""``/api/v1/agents`` and the host-only ``desk.settings.write`` scope."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import tokens
from core.errors import ValidationFailed
from core.models import AccessToken, Agent, Department, PermissionProfile
from core.plugins.manifest import ManifestError, load_manifest
from core.services import org
from core.services.base import Actor, Unit
from core.tokens import SETTINGS_WRITE_SCOPE
from hostapi import scopes
from tests.plugin_fixtures import manifest

pytest_plugins = ["tests.api_fixtures"]
pytestmark = pytest.mark.usefixtures("host")

Bearer = Callable[..., dict[str, str]]


def _profile_id(db: Session, name: str) -> int:
    return db.scalars(select(PermissionProfile.id).where(PermissionProfile.name == name)).one()


def _new(db: Session, department: Department, **fields: object) -> dict[str, object]:
    return {
        "name": "Hanako Yamada",
        "email": "hanako@example.com",
        "locale": "ja",
        "profile_id": _profile_id(db, "Agent"),
        "department_ids": [department.id],
    } | fields


# ---------------------------------------------------------------------------------- reading


def test_agents_are_listed_by_name_in_pages(
    client: FlaskClient,
    bearer_for: Bearer,
    admin_agent: Agent,
    make_agent: Callable[..., Agent],
) -> None:
    for index in range(5):
        make_agent(f"staff{index}@example.com", name=f"Staff {index}")
    headers = bearer_for(admin_agent, [scopes.AGENTS_READ])
    names: list[str] = []
    cursor = ""
    while True:
        answer = client.get(f"/api/v1/agents?search=staff&limit=2&cursor={cursor}", headers=headers)
        assert answer.status_code == 200, answer.json
        names += [item["name"] for item in answer.json["items"]]
        cursor = answer.json["next_cursor"]
        if cursor is None:
            break
    assert names == [f"Staff {index}" for index in range(5)]


def test_one_agent_is_read_with_agents_read(
    client: FlaskClient, bearer_for: Bearer, api_agent: Agent
) -> None:
    answer = client.get(
        f"/api/v1/agents/{api_agent.id}", headers=bearer_for(api_agent, [scopes.AGENTS_READ])
    )
    assert answer.status_code == 200
    assert answer.json["email"] == api_agent.email and answer.json["has_password"] is True


def test_reading_without_the_scope_is_refused(
    client: FlaskClient, bearer_for: Bearer, api_agent: Agent
) -> None:
    answer = client.get("/api/v1/agents", headers=bearer_for(api_agent, [scopes.TICKETS_READ]))
    assert answer.status_code == 403 and answer.json["error"] == "insufficient_scope"


def test_an_unknown_agent_is_404(client: FlaskClient, bearer_for: Bearer, api_agent: Agent) -> None:
    headers = bearer_for(api_agent, [scopes.AGENTS_READ])
    assert client.get("/api/v1/agents/999999", headers=headers).status_code == 404


def test_a_bad_cursor_is_a_field_error(
    client: FlaskClient, bearer_for: Bearer, api_agent: Agent
) -> None:
    answer = client.get(
        "/api/v1/agents?cursor=garbage", headers=bearer_for(api_agent, [scopes.AGENTS_READ])
    )
    assert answer.status_code == 422 and "cursor" in answer.json["errors"]["json"]


# ---------------------------------------------------------------------------------- writing


def test_an_admin_token_with_settings_write_adds_an_agent_and_gets_the_link(
    client: FlaskClient,
    bearer_for: Bearer,
    admin_agent: Agent,
    department: Department,
    db: Session,
) -> None:
    headers = bearer_for(admin_agent, [SETTINGS_WRITE_SCOPE])
    answer = client.post("/api/v1/agents", json=_new(db, department), headers=headers)
    assert answer.status_code == 201, answer.json
    link = answer.json["set_password_link"]
    assert link["mailed"] is False and "/password/set/dhl_" in link["url"]
    assert answer.json["has_password"] is False
    assert client.get(link["url"].split("localhost", 1)[1]).status_code == 200


def test_a_session_adds_an_agent_with_the_csrf_header(
    client: FlaskClient,
    sign_in_as: Callable[[Agent], dict[str, str]],
    admin_agent: Agent,
    department: Department,
    db: Session,
) -> None:
    csrf = sign_in_as(admin_agent)
    answer = client.post("/api/v1/agents", json=_new(db, department), headers=csrf)
    assert answer.status_code == 201


def test_writing_without_settings_write_is_refused_before_the_body(
    client: FlaskClient, bearer_for: Bearer, admin_agent: Agent
) -> None:
    headers = bearer_for(admin_agent, [scopes.AGENTS_READ])
    answer = client.post("/api/v1/agents", json={}, headers=headers)
    assert answer.status_code == 403 and answer.json["scope"] == SETTINGS_WRITE_SCOPE


def test_bad_fields_are_named(
    client: FlaskClient, bearer_for: Bearer, admin_agent: Agent, department: Department, db: Session
) -> None:
    headers = bearer_for(admin_agent, [SETTINGS_WRITE_SCOPE])
    shape = client.post(
        "/api/v1/agents",
        json=_new(db, department, name="", locale="fr", extra=1),
        headers=headers,
    )
    assert shape.status_code == 422
    assert {"name", "locale", "extra"} <= set(shape.json["errors"]["json"])
    meaning = client.post(
        "/api/v1/agents",
        json=_new(db, department, email="not-an-address", department_ids=[9999]),
        headers=headers,
    )
    assert meaning.status_code == 422
    assert {"email", "department_ids"} <= set(meaning.json["errors"]["json"])


def test_an_agent_without_agent_manage_gets_403(
    client: FlaskClient,
    sign_in_as: Callable[[Agent], dict[str, str]],
    api_agent: Agent,
    department: Department,
    db: Session,
) -> None:
    answer = client.post("/api/v1/agents", json=_new(db, department), headers=sign_in_as(api_agent))
    assert answer.status_code == 403 and answer.json["permission"] == "agent.manage"


def test_update_deactivate_and_reactivate(
    client: FlaskClient,
    bearer_for: Bearer,
    admin_agent: Agent,
    make_agent: Callable[..., Agent],
    db: Session,
) -> None:
    agent = make_agent("leaving@example.com")
    theirs = bearer_for(agent, [scopes.TICKETS_READ])
    headers = bearer_for(admin_agent, [SETTINGS_WRITE_SCOPE])
    changed = client.patch(
        f"/api/v1/agents/{agent.id}",
        json={"name": "Renamed", "status": "away", "locale": "en"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["name"], changed.json["status"]) == ("Renamed", "away")
    off = client.post(f"/api/v1/agents/{agent.id}/deactivate", headers=headers)
    assert off.status_code == 200 and off.json["is_active"] is False
    assert client.get("/api/v1/tickets", headers=theirs).status_code == 401
    on = client.post(f"/api/v1/agents/{agent.id}/reactivate", headers=headers)
    assert on.status_code == 200 and on.json["is_active"] is True
    assert client.get("/api/v1/tickets", headers=theirs).status_code == 401


def test_a_new_link_can_be_issued(
    client: FlaskClient, bearer_for: Bearer, admin_agent: Agent, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent("forgetful@example.com")
    answer = client.post(
        f"/api/v1/agents/{agent.id}/set-password-link",
        headers=bearer_for(admin_agent, [SETTINGS_WRITE_SCOPE]),
    )
    assert answer.status_code == 201 and "/password/set/" in answer.json["url"]


# --------------------------------------------------------------------- the host-only scope


def test_no_extension_may_request_settings_write() -> None:
    assert SETTINGS_WRITE_SCOPE not in scopes.ALL
    with pytest.raises(ManifestError):
        load_manifest(manifest("x_ext", scopes=[SETTINGS_WRITE_SCOPE]), "x_ext")


def test_only_setup_or_agent_managers_get_a_token_with_settings_write(
    db: Session, make_agent: Callable[..., Agent], admin_agent: Agent
) -> None:
    plain = make_agent("plain@example.com")
    with pytest.raises(ValidationFailed) as refused:
        tokens.create_personal_token(db, plain, "setup", [SETTINGS_WRITE_SCOPE])
    assert "scopes" in refused.value.errors
    _token, plaintext = tokens.create_personal_token(
        db, admin_agent, "setup", [SETTINGS_WRITE_SCOPE, scopes.TICKETS_READ]
    )
    assert plaintext.startswith(tokens.PERSONAL_TOKEN_PREFIX)
    managers = PermissionProfile(name="Managers", description="")
    db.add(managers)
    db.flush()
    org.update_profile(Unit(db, Actor.system("test"), None), managers, permissions=["agent.manage"])
    manager = make_agent("manager@example.com", profile="Managers")
    tokens.create_personal_token(db, manager, "setup", [SETTINGS_WRITE_SCOPE])
    assert db.scalars(select(AccessToken).where(AccessToken.agent_id == manager.id)).one()


def test_the_tokens_page_offers_settings_write_to_managers_only(
    client: FlaskClient,
    sign_in_as: Callable[[Agent], dict[str, str]],
    admin_agent: Agent,
    api_agent: Agent,
) -> None:
    sign_in_as(api_agent)
    assert SETTINGS_WRITE_SCOPE not in client.get("/settings/tokens").get_data(as_text=True)
    sign_in_as(admin_agent)
    page = client.get("/settings/tokens").get_data(as_text=True)
    assert f'value="{SETTINGS_WRITE_SCOPE}"' in page and 'id="setup-scopes"' in page
