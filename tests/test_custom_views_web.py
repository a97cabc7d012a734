"""The contacts and accounts list pages driven by views, and the view form, through the client."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Agent, Contact, CustomView
from core.services import fields, views
from core.services.base import Unit
from tests.page_helpers import csrf_token_of

pytest_plugins = ["tests.api_fixtures"]


def _listed(page: str) -> list[str]:
    return re.findall(r'<a href="/contacts/\d+(?:\?[^"]*)?">([^<]*)</a>', page)


@pytest.fixture
def agent_client(client: FlaskClient, sign_in_as: Callable, api_agent: Agent) -> FlaskClient:
    """The test client signed in as an agent."""
    sign_in_as(api_agent)
    return client


@pytest.fixture
def tier(unit_for: Callable[[Agent | None], Unit], admin_agent: Agent, db: Session) -> str:
    """A contact picklist "Tier" with three contacts: Gold manager, Gold clerk, Silver manager."""
    field = fields.create_field(
        unit_for(admin_agent),
        entity="contact",
        label="Tier",
        field_type="picklist",
        options=["Gold", "Silver"],
    )
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for age, (name, title, value) in enumerate(
        [
            ("Gold Manager", "Manager", "Gold"),
            ("Gold Clerk", "Clerk", "Gold"),
            ("Silver Manager", "Manager", "Silver"),
        ]
    ):
        at = base - timedelta(hours=age)
        db.add(
            Contact(
                last_name=name,
                title=title,
                custom_fields={field.key: value},
                created_at=at,
                updated_at=at,
            )
        )
    db.commit()
    return field.key


def test_list_page_shows_the_all_view_with_its_count(agent_client: FlaskClient, tier: str) -> None:
    page = agent_client.get("/contacts").get_data(as_text=True)
    assert _listed(page) == ["Gold Manager", "Gold Clerk", "Silver Manager"]
    assert re.search(r'id="view-count"[^>]*>\s*3 contacts', page)


def test_view_form_saves_a_view_with_two_conditions(
    agent_client: FlaskClient, tier: str, db: Session
) -> None:
    token = csrf_token_of(agent_client, "/contacts/views/new")
    answer = agent_client.post(
        "/contacts/views/new",
        data={
            "csrf_token": token,
            "name": "Gold managers",
            "match": "all",
            "condition_field": [tier, "title", ""],
            "condition_operator": ["is", "is", "is"],
            "condition_value": ["Gold", "Manager", ""],
            "condition_value2": ["", "", ""],
            "sort_field": "created_at",
            "sort_direction": "desc",
            "columns": ["name", tier],
        },
    )
    assert answer.status_code == 302
    page = agent_client.get(answer.headers["Location"]).get_data(as_text=True)
    assert _listed(page) == ["Gold Manager"]
    assert re.search(r'id="view-count"[^>]*>\s*1 contact\b', page)


def test_view_form_errors_name_the_condition(
    agent_client: FlaskClient, tier: str, db: Session
) -> None:
    token = csrf_token_of(agent_client, "/contacts/views/new")
    answer = agent_client.post(
        "/contacts/views/new",
        data={
            "csrf_token": token,
            "name": "Bad",
            "condition_field": ["created_at"],
            "condition_operator": ["before"],
            "condition_value": ["next week"],
            "condition_value2": [""],
            "columns": ["name"],
        },
    )
    assert answer.status_code == 422
    assert "Give a date as YYYY-MM-DD." in answer.get_data(as_text=True)
    assert db.scalar(select(CustomView.id)) is None


def test_pager_walks_to_the_next_and_previous_pages(
    agent_client: FlaskClient, tier: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.web.ui import customers as customer_pages

    monkeypatch.setattr(customer_pages, "PAGE_SIZE", 2)
    first = agent_client.get("/contacts").get_data(as_text=True)
    next_href = re.search(r'id="next-page" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = agent_client.get(next_href).get_data(as_text=True)
    assert _listed(second) == ["Silver Manager"]
    back = re.search(r'id="previous-page" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert _listed(agent_client.get(back).get_data(as_text=True)) == ["Gold Manager", "Gold Clerk"]


def test_owner_sees_edit_and_delete_for_their_view(
    agent_client: FlaskClient, api_agent: Agent, unit_for: Callable, db: Session
) -> None:
    view = views.create_view(unit_for(api_agent), entity="contact", name="Mine")
    db.commit()
    page = agent_client.get(f"/contacts?view={view.id}").get_data(as_text=True)
    assert 'id="edit-view"' in page
    token = csrf_token_of(agent_client, "/contacts")
    agent_client.post(f"/contacts/views/{view.id}/delete", data={"csrf_token": token})
    assert db.scalar(select(CustomView.id)) is None


def test_shared_view_of_another_agent_has_no_edit_button(
    agent_client: FlaskClient, admin_agent: Agent, unit_for: Callable, db: Session
) -> None:
    view = views.create_view(unit_for(admin_agent), entity="contact", name="Team", shared=True)
    db.commit()
    page = agent_client.get(f"/contacts?view={view.id}").get_data(as_text=True)
    assert "Team" in page and 'id="edit-view"' not in page


def test_accounts_page_lists_accounts_in_views(
    agent_client: FlaskClient, make_account: Callable
) -> None:
    make_account("Acme")
    page = agent_client.get("/accounts?view=all").get_data(as_text=True)
    assert "Acme" in page and re.search(r'id="view-count"[^>]*>\s*1 account\b', page)
