"""Views over REST: saved views, their records page by page, counts, and bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Agent, Contact, CustomView
from core.services import fields
from core.services.base import Unit
from hostapi import scopes

pytest_plugins = ["tests.api_fixtures"]


@pytest.fixture
def tier(unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, db: Session) -> str:
    """A contact picklist "Tier" (Gold, Silver); returns its key."""
    field = fields.create_field(
        unit_for(admin_agent),
        entity="contact",
        label="Tier",
        field_type="picklist",
        options=["Gold", "Silver"],
    )
    db.commit()
    return field.key


@pytest.fixture
def contacts(db: Session, tier: str) -> None:
    """Five contacts: three Gold managers, one Gold clerk, one Silver manager."""
    base = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [
        ("G1", "Manager", "Gold"),
        ("G2", "Manager", "Gold"),
        ("Clerk", "Clerk", "Gold"),
        ("G3", "Manager", "Gold"),
        ("Silver", "Manager", "Silver"),
    ]
    for age, (name, title, value) in enumerate(rows):
        at = base - timedelta(hours=age)
        db.add(
            Contact(
                last_name=name,
                title=title,
                custom_fields={tier: value},
                created_at=at,
                updated_at=at,
            )
        )
    db.commit()


def _gold_managers(tier: str) -> dict[str, Any]:
    return {
        "entity": "contact",
        "name": "Gold managers",
        "conditions": [
            {"field": tier, "operator": "is", "value": "Gold"},
            {"field": "title", "operator": "is", "value": "Manager"},
        ],
        "columns": ["name", tier, "created_at"],
    }


def test_saved_view_lists_its_records_with_the_count(
    browser: Any, tier: str, contacts: None
) -> None:
    client, csrf = browser
    created = client.post("/api/v1/views", json=_gold_managers(tier), headers=csrf)
    assert created.status_code == 201, created.json
    page = client.get(f"/api/v1/views/contact/{created.json['key']}/records").json
    assert [c["last_name"] for c in page["items"]] == ["G1", "G2", "G3"]
    assert (page["count"], page["count_capped"]) == (3, False)


def test_records_page_with_next_and_previous_cursors(
    browser: Any, tier: str, contacts: None
) -> None:
    client, _csrf = browser
    first = client.get("/api/v1/views/contact/all/records?limit=2").json
    second = client.get(f"/api/v1/views/contact/all/records?limit=2&cursor={first['next_cursor']}")
    assert [c["last_name"] for c in second.json["items"]] == ["Clerk", "G3"]
    back = client.get(
        f"/api/v1/views/contact/all/records?limit=2&cursor={second.json['previous_cursor']}"
    ).json
    assert [c["last_name"] for c in back["items"]] == ["G1", "G2"]


def test_default_views_are_listed_first(browser: Any) -> None:
    client, _csrf = browser
    keys = [v["key"] for v in client.get("/api/v1/views?entity=contact").json["items"]]
    assert keys[:5] == ["all", "mine", "today", "last_30_days", "spam"]


def test_bad_condition_answers_422_naming_it_and_saves_nothing(
    browser: Any, db: Session, tier: str
) -> None:
    client, csrf = browser
    view = _gold_managers(tier) | {
        "conditions": [{"field": tier, "operator": "gt", "value": "Gold"}]
    }
    answer = client.post("/api/v1/views", json=view, headers=csrf)
    assert answer.status_code == 422
    assert list(answer.json["errors"]["json"]) == ["conditions.0.operator"]
    assert db.scalar(select(CustomView.id)) is None


def test_malformed_cursor_answers_422(browser: Any) -> None:
    client, _csrf = browser
    answer = client.get("/api/v1/views/contact/all/records?cursor=garbage")
    assert answer.status_code == 422
    assert "cursor" in answer.json["errors"]["json"]


def test_another_agents_private_view_is_404(
    client: Any, sign_in_as: Callable, admin_agent: Agent, api_agent: Agent, tier: str
) -> None:
    csrf = sign_in_as(admin_agent)
    key = client.post("/api/v1/views", json=_gold_managers(tier), headers=csrf).json["key"]
    sign_in_as(api_agent)
    assert client.get(f"/api/v1/views/{key}").status_code == 404
    assert client.get(f"/api/v1/views/contact/{key}/records").status_code == 404


def test_a_bad_change_to_another_agents_private_view_is_404_not_422(
    client: Any, sign_in_as: Callable, admin_agent: Agent, api_agent: Agent, tier: str
) -> None:
    csrf = sign_in_as(admin_agent)
    key = client.post("/api/v1/views", json=_gold_managers(tier), headers=csrf).json["key"]
    csrf = sign_in_as(api_agent)
    answer = client.patch(f"/api/v1/views/{key}", json={"name": 7}, headers=csrf)
    assert answer.status_code == 404


def test_owner_updates_and_deletes_a_view(browser: Any, tier: str, db: Session) -> None:
    client, csrf = browser
    key = client.post("/api/v1/views", json=_gold_managers(tier), headers=csrf).json["key"]
    renamed = client.patch(f"/api/v1/views/{key}", json={"name": "Gold"}, headers=csrf)
    assert renamed.json["name"] == "Gold"
    assert client.delete(f"/api/v1/views/{key}", headers=csrf).status_code == 204
    assert db.scalar(select(CustomView.id)) is None


def test_token_without_contacts_read_cannot_list_records(
    client: Any, bearer_for: Callable, api_agent: Agent
) -> None:
    headers = bearer_for(api_agent, [scopes.TICKETS_READ])
    answer = client.get("/api/v1/views/contact/all/records", headers=headers)
    assert (answer.status_code, answer.json["scope"]) == (403, scopes.CONTACTS_READ)
