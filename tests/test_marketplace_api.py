"""REST: /api/v1/marketplace/extensions and /api/v1/installations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import tokens
from core.host import Host
from core.models import AccessToken, Agent, AuditEntry, Department, Installation, PermissionProfile
from core.models.extensions import InstallationState
from hostapi import clock, scopes
from marketplace_registry import lifecycle
from tests.factories import install_for, system_unit
from tests.plugin_fixtures import manifest

pytest_plugins = ["tests.api_fixtures"]

CALLER_IP = "198.51.100.4"


@pytest.fixture
def admin(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("boss@example.com", profile="Administrator", departments=[department])


@pytest.fixture
def csrf(sign_in_as: Callable[[Agent], dict[str, str]], admin: Agent) -> dict[str, str]:
    """The client signed in as the admin; the CSRF header for changes."""
    return sign_in_as(admin)


def fresh(db: Session) -> Session:
    """``db`` seeing what the app committed since."""
    db.rollback()
    db.expire_all()
    return db


def count(db: Session) -> int:
    return fresh(db).scalar(select(func.count()).select_from(Installation)) or 0


def profile_id(db: Session, name: str = "Agent") -> int:
    return db.scalars(select(PermissionProfile.id).where(PermissionProfile.name == name)).one()


def body(db: Session, department: Department, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "plugin_id": "ticket_history",
        "department_ids": [department.id],
        "profile_ids": [profile_id(db)],
        "terms_accepted": True,
        "settings": {"page_size": 20},
        "label": "Support",
    }
    data.update(overrides)
    return data


@pytest.fixture
def installed(host: Host, db: Session, department: Department) -> Installation:
    installation = install_for(db, host, "ticket_history", [department.id])
    db.commit()
    return installation


# ------------------------------------------------------------------------------ extensions


def test_extension_list_has_the_bundled_extensions(client: FlaskClient, csrf: dict) -> None:
    answer = client.get("/api/v1/marketplace/extensions")
    assert answer.status_code == 200
    ids = {item["id"] for item in answer.json["items"]}
    assert {"customer_insights", "ticket_history", "salesiq", "im_dashboard"} <= ids
    assert answer.json["registry_errors"] == []


def test_extension_search_in_japanese(client: FlaskClient, csrf: dict) -> None:
    answer = client.get("/api/v1/marketplace/extensions", query_string={"q": "分析"})
    ids = {item["id"] for item in answer.json["items"]}
    assert ids == {"customer_insights", "im_dashboard"}


def test_extension_list_filters_by_installed(
    client: FlaskClient, csrf: dict, installed: Installation
) -> None:
    answer = client.get("/api/v1/marketplace/extensions", query_string={"installed": "true"})
    [item] = answer.json["items"]
    assert (item["id"], item["installed"]) == ("ticket_history", True)
    assert item["installations"] == [
        {"id": installed.id, "plugin_version": "0.2.0", "state": "active"}
    ]


def test_extension_detail_describes_it_in_both_languages(client: FlaskClient, csrf: dict) -> None:
    answer = client.get("/api/v1/marketplace/extensions/customer_insights")
    assert answer.status_code == 200
    assert answer.json["category_label"] == {"en": "Analytics", "ja": "分析"}
    assert answer.json["description"]["ja"].startswith("問い合わせの横に")
    assert "desk.tickets.read" in answer.json["scopes"]


def test_unknown_extension_is_404(client: FlaskClient, csrf: dict) -> None:
    assert client.get("/api/v1/marketplace/extensions/no_such_thing").status_code == 404


# ------------------------------------------------------------------------------ install


def test_install_answers_201_awaiting_authorization_and_is_audited_with_the_ip(
    client: FlaskClient, csrf: dict, db: Session, department: Department, admin: Agent
) -> None:
    answer = client.post(
        "/api/v1/installations",
        json=body(db, department),
        headers=csrf,
        environ_base={"REMOTE_ADDR": CALLER_IP},
    )
    assert answer.status_code == 201, answer.json
    created = answer.json
    assert created["state"] == InstallationState.AWAITING_AUTHORIZATION
    assert (created["department_ids"], created["settings"]) == ([department.id], {"page_size": 20})
    assert created["pending_scopes"] == sorted(created["pending_scopes"]) != []
    assert created["authorize_url"] == f"/admin/marketplace/installations/{created['id']}/authorize"
    entry = (
        fresh(db).scalars(select(AuditEntry).where(AuditEntry.entity_type == "installation")).one()
    )
    assert (entry.actor_agent_id, entry.ip_address, entry.sub_action) == (
        admin.id,
        CALLER_IP,
        "install",
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"terms_accepted": False}, "terms_accepted"),
        ({"department_ids": [999999]}, "department_ids"),
        ({"profile_ids": []}, "profile_ids"),
        ({"settings": {"page_size": 500}}, "settings.page_size"),
        ({"settings": {"colour": "red"}}, "settings.colour"),
        ({"plugin_id": "no_such_thing"}, "plugin_id"),
        ({"terms_accepted": "maybe"}, "terms_accepted"),
    ],
)
def test_refused_install_answers_422_naming_the_field_and_stores_nothing(
    client: FlaskClient,
    csrf: dict,
    db: Session,
    department: Department,
    overrides: dict[str, Any],
    field: str,
) -> None:
    answer = client.post(
        "/api/v1/installations", json=body(db, department, **overrides), headers=csrf
    )
    assert answer.status_code == 422
    assert field in answer.json["errors"]["json"]
    assert count(db) == 0


def test_missing_field_is_422(
    client: FlaskClient, csrf: dict, db: Session, department: Department
) -> None:
    data = body(db, department)
    del data["department_ids"]
    answer = client.post("/api/v1/installations", json=data, headers=csrf)
    assert answer.status_code == 422
    assert "department_ids" in answer.json["errors"]["json"]


def test_second_install_of_a_single_install_extension_is_409(
    client: FlaskClient, csrf: dict, db: Session, department: Department
) -> None:
    data = body(db, department, plugin_id="salesiq", settings={})
    assert client.post("/api/v1/installations", json=data, headers=csrf).status_code == 201
    assert client.post("/api/v1/installations", json=data, headers=csrf).status_code == 409
    assert count(db) == 1


# ------------------------------------------------------------------------------ read and edit


def test_installation_list_and_detail(
    client: FlaskClient, csrf: dict, installed: Installation
) -> None:
    listed = client.get("/api/v1/installations").json["items"]
    assert [item["id"] for item in listed] == [installed.id]
    one = client.get(f"/api/v1/installations/{installed.id}").json
    assert (one["plugin_id"], one["state"], one["upgrade_available"]) == (
        "ticket_history",
        "active",
        False,
    )
    archived = client.get("/api/v1/installations", query_string={"state": "archived"})
    assert archived.json["items"] == []


def test_unknown_installation_is_404(client: FlaskClient, csrf: dict) -> None:
    assert client.get("/api/v1/installations/999999").status_code == 404


def test_patch_changes_departments_and_settings_audited(
    client: FlaskClient,
    csrf: dict,
    db: Session,
    installed: Installation,
    make_department: Callable[..., Department],
    department: Department,
) -> None:
    billing = make_department("Billing")
    answer = client.patch(
        f"/api/v1/installations/{installed.id}",
        json={"department_ids": [department.id, billing.id], "settings": {"page_size": 30}},
        headers=csrf,
        environ_base={"REMOTE_ADDR": CALLER_IP},
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["department_ids"] == sorted([department.id, billing.id])
    assert answer.json["settings"] == {"page_size": 30}
    actions = {
        entry.sub_action: entry.ip_address
        for entry in fresh(db).scalars(
            select(AuditEntry).where(AuditEntry.entity_id == str(installed.id))
        )
    }
    assert actions["scope"] == actions["settings"] == CALLER_IP


def test_refused_patch_changes_nothing(
    client: FlaskClient, csrf: dict, db: Session, installed: Installation, department: Department
) -> None:
    answer = client.patch(
        f"/api/v1/installations/{installed.id}",
        json={"department_ids": [department.id, 999999], "settings": {"page_size": 30}},
        headers=csrf,
    )
    assert answer.status_code == 422
    assert "department_ids" in answer.json["errors"]["json"]
    installation = fresh(db).get(Installation, installed.id)
    assert (installation.department_ids, installation.settings) == (
        {department.id},
        {"page_size": 10},
    )


def test_patch_of_an_archived_installation_is_409(
    client: FlaskClient, csrf: dict, host: Host, db: Session, installed: Installation
) -> None:
    lifecycle.uninstall(system_unit(db, host), installed, confirmed=True, keep_data=True)
    db.commit()
    answer = client.patch(
        f"/api/v1/installations/{installed.id}", json={"settings": {"page_size": 30}}, headers=csrf
    )
    assert answer.status_code == 409


# ------------------------------------------------------------------------------ lifecycle


class _NoHooks:
    """A test extension that implements no hook."""


@pytest.fixture
def growing(host: Host) -> Iterator[Callable[[str, list[str]], None]]:
    """``deploy(version, scopes)``: (re)load the test extension ``growing`` in that version."""

    def deploy(version: str, requested: list[str]) -> None:
        if "growing" in host.plugins.loaded:
            host.plugins.unregister_plugin("growing")
        host.plugins.register_plugin(
            _NoHooks(), manifest("growing", version=version, scopes=requested)
        )

    yield deploy
    if "growing" in host.plugins.loaded:
        host.plugins.unregister_plugin("growing")


def test_upgrade_brings_the_deployed_version_and_lists_new_scopes_as_pending(
    client: FlaskClient,
    csrf: dict,
    host: Host,
    db: Session,
    department: Department,
    growing: Callable[[str, list[str]], None],
) -> None:
    growing("1.0.0", [scopes.TICKETS_READ])
    installation = install_for(db, host, "growing", [department.id])
    db.commit()
    growing("1.1.0", [scopes.TICKETS_READ, scopes.CONTACTS_READ])
    path = f"/api/v1/installations/{installation.id}"
    assert client.get(path).json["upgrade_available"] is True
    answer = client.post(f"{path}/upgrade", headers=csrf)
    assert answer.status_code == 200
    assert (answer.json["plugin_version"], answer.json["pending_scopes"]) == (
        "1.1.0",
        [scopes.CONTACTS_READ],
    )
    assert answer.json["granted_scopes"] == [scopes.TICKETS_READ]


def test_uninstall_without_confirmation_is_422_and_changes_nothing(
    client: FlaskClient, csrf: dict, db: Session, installed: Installation
) -> None:
    answer = client.delete(
        f"/api/v1/installations/{installed.id}",
        query_string={"keep_data": "true"},
        headers=csrf,
    )
    assert answer.status_code == 422
    assert "confirmed" in answer.json["errors"]["json"]
    assert fresh(db).get(Installation, installed.id).state == InstallationState.ACTIVE


def test_uninstall_without_a_data_choice_is_422(
    client: FlaskClient, csrf: dict, installed: Installation
) -> None:
    answer = client.delete(
        f"/api/v1/installations/{installed.id}", query_string={"confirmed": "true"}, headers=csrf
    )
    assert answer.status_code == 422
    assert "keep_data" in answer.json["errors"]["json"]


def test_uninstall_keeping_data_archives_and_restore_brings_it_back(
    client: FlaskClient, csrf: dict, installed: Installation
) -> None:
    path = f"/api/v1/installations/{installed.id}"
    answer = client.delete(
        path, query_string={"confirmed": "true", "keep_data": "true"}, headers=csrf
    )
    assert answer.status_code == 200
    assert (answer.json["state"], answer.json["authorize_url"]) == ("archived", None)
    restored = client.post(f"{path}/restore", headers=csrf)
    assert restored.status_code == 200
    assert restored.json["state"] == InstallationState.AWAITING_AUTHORIZATION


def test_uninstall_purging_with_a_json_body_answers_204_and_deletes_it(
    client: FlaskClient, csrf: dict, db: Session, installed: Installation
) -> None:
    answer = client.delete(
        f"/api/v1/installations/{installed.id}",
        json={"confirmed": True, "keep_data": False},
        headers=csrf,
    )
    assert answer.status_code == 204
    assert count(db) == 0


def test_restoring_a_live_installation_is_409(
    client: FlaskClient, csrf: dict, installed: Installation
) -> None:
    assert (
        client.post(f"/api/v1/installations/{installed.id}/restore", headers=csrf).status_code
        == 409
    )


# ------------------------------------------------------------------------------ who may call


def test_no_credentials_is_401(client: FlaskClient) -> None:
    assert client.get("/api/v1/installations").status_code == 401


def test_agent_without_marketplace_permission_gets_403(
    client: FlaskClient, sign_in_as: Callable[[Agent], dict[str, str]], api_agent: Agent
) -> None:
    sign_in_as(api_agent)
    answer = client.get("/api/v1/installations")
    assert answer.status_code == 403
    assert answer.json["permission"] == "marketplace.manage"


def test_session_change_without_csrf_header_is_400(
    client: FlaskClient, csrf: dict, db: Session, department: Department
) -> None:
    assert client.post("/api/v1/installations", json=body(db, department)).status_code == 400
    assert count(db) == 0


def test_personal_token_with_settings_read_may_read(
    client: FlaskClient, bearer_for: Callable[..., dict[str, str]], admin: Agent
) -> None:
    headers = bearer_for(admin, [scopes.SETTINGS_READ])
    assert client.get("/api/v1/installations", headers=headers).status_code == 200
    assert client.get("/api/v1/marketplace/extensions", headers=headers).status_code == 200


def test_personal_token_without_settings_read_gets_insufficient_scope(
    client: FlaskClient, bearer_for: Callable[..., dict[str, str]], admin: Agent
) -> None:
    answer = client.get("/api/v1/installations", headers=bearer_for(admin, [scopes.TICKETS_READ]))
    assert answer.status_code == 403
    assert answer.json["error"] == "insufficient_scope"


def test_personal_token_cannot_change_installations(
    client: FlaskClient,
    bearer_for: Callable[..., dict[str, str]],
    admin: Agent,
    db: Session,
    department: Department,
) -> None:
    headers = bearer_for(admin, [scopes.SETTINGS_READ])
    answer = client.post("/api/v1/installations", json=body(db, department), headers=headers)
    assert answer.status_code == 403
    assert count(db) == 0


def test_extension_oauth_token_is_refused_even_for_reading(
    client: FlaskClient, db: Session, admin: Agent, installed: Installation
) -> None:
    plaintext = tokens.new_oauth_token()
    db.add(
        AccessToken(
            token_hash=tokens.hash_token(plaintext),
            token_hint=plaintext[:12],
            kind=tokens.TokenKind.OAUTH.value,
            agent_id=admin.id,
            installation_id=installed.id,
            scopes=" ".join(scopes.ALL),
            created_at=clock.now(),
        )
    )
    db.commit()
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/api/v1/installations", headers=headers).status_code == 403
    answer = client.delete(
        f"/api/v1/installations/{installed.id}",
        query_string={"confirmed": "true", "keep_data": "false"},
        headers=headers,
    )
    assert answer.status_code == 403
    assert count(db) == 1


# ------------------------------------------------------------------------------ document


def test_openapi_document_says_who_may_manage_installations(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    delete = document["paths"]["/api/v1/installations/{installation_id}"]["delete"]
    assert delete["security"] == [{"sessionCookie": [], "csrfToken": []}]
    assert {"confirmed", "keep_data"} <= {p["name"] for p in delete["parameters"]}
    listing = document["paths"]["/api/v1/installations"]["get"]
    assert {"bearerAuth": [scopes.SETTINGS_READ]} in listing["security"]
    tags = {tag["name"]: tag.get("description", "") for tag in document["tags"]}
    assert "OAuth token is always refused" in tags["api_installations"]
