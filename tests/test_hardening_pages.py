"""The contacts and accounts lists render, with more rows than one page, in both languages."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.models import Account, Agent, Contact, Department
from core.web.ui.customers import PAGE_SIZE
from hostapi import clock

pytest_plugins = ["tests.api_fixtures"]

LANGUAGES = ["en", "ja"]


@pytest.fixture(params=LANGUAGES)
def signed_in(
    request: pytest.FixtureRequest,
    client: FlaskClient,
    make_agent: Callable[..., Agent],
    department: Department,
    sign_in_as: Callable[[Agent], dict[str, str]],
) -> FlaskClient:
    """The test client signed in as an agent who reads the UI in English, then in Japanese."""
    agent = make_agent(
        "lists@example.com", name="Hikari Owner", departments=[department], locale=request.param
    )
    sign_in_as(agent)
    return client


@pytest.fixture
def owner(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """The agent who owns every listed record (so the owner column has names to look up)."""
    return make_agent("owner@example.com", name="Owner Agent", departments=[department])


@pytest.fixture
def many_accounts(db: Session, owner: Agent) -> int:
    """More accounts named "Hikari …" than one page holds, each with an owner."""
    now = clock.now()
    total = PAGE_SIZE + 5
    db.add_all(
        Account(
            name=f"Hikari {number:03d}",
            owner_id=owner.id,
            created_at=now - timedelta(minutes=number),
            updated_at=now,
        )
        for number in range(total)
    )
    db.commit()
    return total


@pytest.fixture
def many_contacts(db: Session, owner: Agent) -> int:
    """More contacts named 山田 than one page holds, each with an owner."""
    now = clock.now()
    total = PAGE_SIZE + 5
    db.add_all(
        Contact(
            last_name="山田",
            first_name=f"花子{number:03d}",
            email=f"yamada{number}@example.com",
            owner_id=owner.id,
            created_at=now - timedelta(minutes=number),
            updated_at=now,
        )
        for number in range(total)
    )
    db.commit()
    return total


def _rows(page: str, entity: str) -> list[str]:
    return re.findall(rf'<a href="/{entity}s/\d+(?:\?[^"]*)?">([^<]*)</a>', page)


def _next_link(page: str) -> str:
    match = re.search(r'id="next-page" href="([^"]+)"', page)
    assert match, "the first page links to the next one"
    return match.group(1).replace("&amp;", "&")


@pytest.mark.parametrize("query", ["", "?q=Hikari", "?view=all"])
def test_accounts_list_renders_more_than_one_page(
    signed_in: FlaskClient, many_accounts: int, query: str
) -> None:
    first = signed_in.get(f"/accounts{query}")
    assert first.status_code == 200
    first_page = first.get_data(as_text=True)
    assert len(_rows(first_page, "account")) == PAGE_SIZE
    assert "Owner Agent" in first_page
    second = signed_in.get(_next_link(first_page))
    assert second.status_code == 200
    assert len(_rows(second.get_data(as_text=True), "account")) == many_accounts - PAGE_SIZE


def test_contact_search_matching_more_than_one_page_renders_its_pager(
    signed_in: FlaskClient, many_contacts: int
) -> None:
    first = signed_in.get("/contacts?q=山田")
    assert first.status_code == 200
    first_page = first.get_data(as_text=True)
    assert len(_rows(first_page, "contact")) == PAGE_SIZE
    next_link = _next_link(first_page)
    assert "q=" in next_link, "the next page keeps the search"
    second = signed_in.get(next_link)
    assert second.status_code == 200
    second_page = second.get_data(as_text=True)
    assert len(_rows(second_page, "contact")) == many_contacts - PAGE_SIZE
    assert 'id="previous-page"' in second_page


def test_merge_review_of_owned_contacts_names_their_owners(
    client: FlaskClient,
    admin_agent: Agent,
    owner: Agent,
    db: Session,
    sign_in_as: Callable[[Agent], dict[str, str]],
) -> None:
    now = clock.now()
    twins = [
        Contact(
            last_name="山田",
            email="hanako@example.com",
            owner_id=owner.id,
            created_at=now,
            updated_at=now,
        )
        for _copy in range(2)
    ]
    db.add_all(twins)
    db.commit()
    sign_in_as(admin_agent)
    review = client.get(f"/contacts/merge?ids={twins[0].id}&ids={twins[1].id}")
    assert review.status_code == 200
    assert "Owner Agent" in review.get_data(as_text=True)
