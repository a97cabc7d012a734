"""REST API of the setup: organisation, permission profiles, the permission catalogue,
statuses and department deactivation — field errors, permission and scope refusals."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import permissions
from core.models import Agent, Department, PermissionProfile, Ticket, TicketStatus
from hostapi import scopes

pytest_plugins = ["tests.api_fixtures"]

SignIn = Callable[[Agent], dict[str, str]]


@pytest.fixture
def admin(client: FlaskClient, admin_agent: Agent, sign_in_as: SignIn) -> dict[str, str]:
    """The client signed in as an administrator; the CSRF header."""
    return sign_in_as(admin_agent)


def _profile_id(db: Session, name: str) -> int:
    return db.scalars(select(PermissionProfile.id).where(PermissionProfile.name == name)).one()


# ------------------------------------------------------------------------------ organisation


def test_organisation_is_read_and_changed(client: FlaskClient, admin: dict[str, str]) -> None:
    answer = client.patch(
        "/api/v1/organisation",
        json={"timezone": "Asia/Tokyo", "phone_region": "jp", "week_start": 6},
        headers=admin,
    )
    assert answer.status_code == 200, answer.json
    read = client.get("/api/v1/organisation").json
    assert (read["timezone"], read["phone_region"], read["week_start"]) == ("Asia/Tokyo", "JP", 6)


def test_bad_organisation_fields_are_named(client: FlaskClient, admin: dict[str, str]) -> None:
    answer = client.patch(
        "/api/v1/organisation", json={"phone_region": "ZZ", "week_start": 9}, headers=admin
    )
    assert answer.status_code == 422
    assert set(answer.json["errors"]["json"]) == {"week_start"}
    answer = client.patch("/api/v1/organisation", json={"phone_region": "ZZ"}, headers=admin)
    assert answer.status_code == 422
    assert set(answer.json["errors"]["json"]) == {"phone_region"}


def test_agent_cannot_change_the_organisation(browser: tuple[FlaskClient, dict]) -> None:
    client, csrf = browser
    answer = client.patch("/api/v1/organisation", json={"name": "Mine"}, headers=csrf)
    assert answer.status_code == 403
    assert answer.json["permission"] == permissions.SETUP_MANAGE


def test_settings_read_token_reads_but_cannot_write(
    client: FlaskClient, admin_agent: Agent, bearer_for: Callable[..., dict[str, str]]
) -> None:
    headers = bearer_for(admin_agent, [scopes.SETTINGS_READ])
    assert client.get("/api/v1/statuses", headers=headers).status_code == 200
    answer = client.post(
        "/api/v1/statuses", json={"name": "Parked", "status_type": "on_hold"}, headers=headers
    )
    assert answer.status_code == 403
    assert answer.json["error"] == "insufficient_scope"


def test_token_without_settings_read_cannot_read_profiles(
    client: FlaskClient, admin_agent: Agent, bearer_for: Callable[..., dict[str, str]]
) -> None:
    headers = bearer_for(admin_agent, [scopes.TICKETS_READ])
    answer = client.get("/api/v1/profiles", headers=headers)
    assert answer.status_code == 403
    assert answer.json["scope"] == scopes.SETTINGS_READ


# ---------------------------------------------------------------------------------- profiles


def test_profiles_page_by_name_with_agent_counts(
    client: FlaskClient, admin: dict[str, str], db: Session
) -> None:
    first = client.get("/api/v1/profiles?limit=3").json
    assert [p["name"] for p in first["items"]] == ["Administrator", "Agent", "Light Agent"]
    assert first["items"][0]["agent_count"] == 1 and first["items"][0]["is_builtin"]
    rest = client.get(f"/api/v1/profiles?limit=3&cursor={first['next_cursor']}").json
    assert [p["name"] for p in rest["items"]] == ["Support Manager"]
    assert rest["next_cursor"] is None


def test_malformed_profile_cursor_is_a_422_on_cursor(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    answer = client.get("/api/v1/profiles?cursor=@@@")
    assert answer.status_code == 422
    assert "cursor" in answer.json["errors"]["json"]


def test_profile_is_cloned_edited_and_deleted(
    client: FlaskClient, admin: dict[str, str], db: Session
) -> None:
    agent_id = _profile_id(db, "Agent")
    clone = client.post(
        f"/api/v1/profiles/{agent_id}/clone", json={"name": "Tier 2"}, headers=admin
    )
    assert clone.status_code == 201, clone.json
    assert not clone.json["is_builtin"]
    url = f"/api/v1/profiles/{clone.json['id']}"
    edited = client.patch(
        url,
        json={"permissions": ["ticket.view", "kb.view"], "requires_two_factor": True},
        headers=admin,
    )
    assert edited.json["permissions"] == ["kb.view", "ticket.view"]
    assert edited.json["requires_two_factor"]
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url).status_code == 404


def test_unknown_permission_is_a_field_error(client: FlaskClient, admin: dict[str, str]) -> None:
    answer = client.post(
        "/api/v1/profiles", json={"name": "Odd", "permissions": ["ticket.fly"]}, headers=admin
    )
    assert answer.status_code == 422
    assert "permissions" in answer.json["errors"]["json"]


def test_built_in_profile_answers_409_to_changes(
    client: FlaskClient, admin: dict[str, str], db: Session
) -> None:
    url = f"/api/v1/profiles/{_profile_id(db, 'Agent')}"
    assert client.patch(url, json={"name": "Renamed"}, headers=admin).status_code == 409
    assert client.delete(url, headers=admin).status_code == 409


def test_profile_in_use_answers_409_with_the_count(
    client: FlaskClient, admin: dict[str, str], db: Session, make_agent: Callable[..., Agent]
) -> None:
    clone = client.post(
        f"/api/v1/profiles/{_profile_id(db, 'Agent')}/clone", json={"name": "Held"}, headers=admin
    ).json
    db.commit()  # end the test session's read: the clone was committed by the request
    make_agent("held@example.com", profile="Held")
    answer = client.delete(f"/api/v1/profiles/{clone['id']}", headers=admin)
    assert answer.status_code == 409
    assert "1 agent use" in answer.json["message"]


def test_agent_cannot_read_profiles(browser: tuple[FlaskClient, dict], db: Session) -> None:
    client, _csrf = browser
    assert client.get("/api/v1/profiles").status_code == 403
    assert client.get(f"/api/v1/profiles/{_profile_id(db, 'Agent')}").status_code == 403


def test_unknown_profile_is_404_before_its_body_is_read(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    answer = client.patch("/api/v1/profiles/999999", json={"name": ""}, headers=admin)
    assert answer.status_code == 404


def test_permission_catalogue_groups_by_area(client: FlaskClient, admin: dict[str, str]) -> None:
    groups = client.get("/api/v1/permissions").json["items"]
    assert [g["key"] for g in groups][: len(permissions.AREAS)] == list(permissions.AREAS)
    ticket_view = groups[0]["permissions"][0]
    assert ticket_view["name"] == "ticket.view" and ticket_view["description_ja"]


# ---------------------------------------------------------------------------------- statuses


def test_status_is_added_renamed_hidden_and_moved(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    created = client.post(
        "/api/v1/statuses", json={"name": "Parked", "status_type": "on_hold"}, headers=admin
    )
    assert created.status_code == 201
    url = f"/api/v1/statuses/{created.json['id']}"
    changed = client.patch(url, json={"name": "Parked long", "is_active": False}, headers=admin)
    assert (changed.json["name"], changed.json["is_active"]) == ("Parked long", False)
    order = client.post(f"{url}/move", json={"direction": "up"}, headers=admin).json["items"]
    assert [s["name"] for s in order][-2:] == ["Parked long", "Closed"]


def test_bad_status_fields_are_named(client: FlaskClient, admin: dict[str, str]) -> None:
    answer = client.post(
        "/api/v1/statuses", json={"name": "", "status_type": "paused"}, headers=admin
    )
    assert answer.status_code == 422
    assert set(answer.json["errors"]["json"]) == {"name", "status_type"}


def test_built_in_status_rename_is_a_422(
    client: FlaskClient, admin: dict[str, str], db: Session
) -> None:
    open_id = db.scalars(select(TicketStatus.id).where(TicketStatus.name == "Open")).one()
    answer = client.patch(f"/api/v1/statuses/{open_id}", json={"name": "Neu"}, headers=admin)
    assert answer.status_code == 422


def test_agent_cannot_add_statuses(browser: tuple[FlaskClient, dict]) -> None:
    client, csrf = browser
    answer = client.post(
        "/api/v1/statuses", json={"name": "Mine", "status_type": "open"}, headers=csrf
    )
    assert answer.status_code == 403


# ------------------------------------------------------------------------------- departments


def test_deactivation_with_open_tickets_needs_a_target(
    client: FlaskClient,
    admin: dict[str, str],
    department: Department,
    make_ticket: Callable[..., Ticket],
) -> None:
    make_ticket()
    answer = client.post(f"/api/v1/departments/{department.id}/deactivate", json={}, headers=admin)
    assert answer.status_code == 422
    assert "is_active" in answer.json["errors"]["json"]


def test_deactivation_moves_open_tickets_to_the_target(
    client: FlaskClient,
    admin_agent: Agent,
    sign_in_as: SignIn,
    department: Department,
    make_department: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    db: Session,
) -> None:
    sales = make_department("Sales")
    admin_agent.departments = [department, sales]
    db.commit()
    ticket = make_ticket()
    csrf = sign_in_as(admin_agent)
    answer = client.post(
        f"/api/v1/departments/{department.id}/deactivate",
        json={"move_to_department_id": sales.id},
        headers=csrf,
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["is_active"] is False
    db.refresh(ticket)
    assert ticket.department_id == sales.id
    listed = client.get("/api/v1/departments?include_inactive=true").json["items"]
    assert {d["name"]: d["is_active"] for d in listed} == {"Sales": True, "Support": False}


def test_departments_page_by_name(
    client: FlaskClient, admin: dict[str, str], make_department: Callable[..., Department]
) -> None:
    for name in ("Alpha", "Beta", "Gamma"):
        make_department(name)
    first = client.get("/api/v1/departments?limit=2").json
    rest = client.get(f"/api/v1/departments?limit=2&cursor={first['next_cursor']}").json
    names = [d["name"] for d in first["items"] + rest["items"]]
    assert names == ["Alpha", "Beta", "Gamma", "Support"]
