"""REST: comments of contacts and accounts, follows, and the caller's notifications."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Account, Agent, Contact, Department, Notification
from core.services import comments
from core.services.base import Unit
from hostapi import scopes

pytest_plugins = ["tests.api_fixtures"]

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture
def colleague(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("ken@example.com", name="Ken Sato", departments=[department])


@pytest.fixture
def contact(make_contact: Callable[..., Contact]) -> Contact:
    return make_contact()


def test_comment_is_created_and_listed_newest_first(browser, contact: Contact) -> None:
    client, headers = browser
    for body in ("first", "second"):
        answer = client.post(
            f"/api/v1/contacts/{contact.id}/comments", json={"body": body}, headers=headers
        )
        assert answer.status_code == 201, answer.json
    page = client.get(f"/api/v1/contacts/{contact.id}/comments?limit=1").json
    assert [c["body"] for c in page["items"]] == ["second"]
    rest = client.get(
        f"/api/v1/contacts/{contact.id}/comments?limit=1&cursor={page['next_cursor']}"
    ).json
    assert [c["body"] for c in rest["items"]] == ["first"]
    assert rest["next_cursor"] is None


def test_empty_comment_answers_422_naming_body(browser, contact: Contact) -> None:
    client, headers = browser
    answer = client.post(
        f"/api/v1/contacts/{contact.id}/comments", json={"body": ""}, headers=headers
    )
    assert answer.status_code == 422
    assert "body" in answer.json["errors"]["json"]


def test_missing_body_answers_422_naming_body(browser, contact: Contact) -> None:
    client, headers = browser
    answer = client.post(f"/api/v1/contacts/{contact.id}/comments", json={}, headers=headers)
    assert answer.status_code == 422
    assert "body" in answer.json["errors"]["json"]


def test_comment_html_is_escaped_with_mentions_highlighted(
    browser, colleague: Agent, contact: Contact
) -> None:
    client, headers = browser
    body = f"<img src=x> {comments.mention_token(colleague)}"
    created = client.post(
        f"/api/v1/contacts/{contact.id}/comments", json={"body": body}, headers=headers
    ).json
    assert created["mentioned_agent_ids"] == [colleague.id]
    assert created["body_html"].startswith('&lt;img src=x&gt; <span class="mention"')


def test_another_agents_comment_answers_403_on_edit_and_delete(
    db: Session, unit_for: UnitFor, browser, colleague: Agent, make_account
) -> None:
    client, headers = browser
    account: Account = make_account()
    theirs = comments.add_comment(unit_for(colleague), account, body="mine")
    db.commit()
    path = f"/api/v1/accounts/{account.id}/comments/{theirs.id}"
    assert client.patch(path, json={"body": "x"}, headers=headers).status_code == 403
    assert client.delete(path, headers=headers).status_code == 403


def test_author_edits_and_deletes_through_the_api(browser, contact: Contact) -> None:
    client, headers = browser
    created = client.post(
        f"/api/v1/contacts/{contact.id}/comments", json={"body": "one"}, headers=headers
    ).json
    path = f"/api/v1/contacts/{contact.id}/comments/{created['id']}"
    assert client.patch(path, json={"body": "two"}, headers=headers).json["body"] == "two"
    assert client.delete(path, headers=headers).status_code == 204
    assert client.get(f"/api/v1/contacts/{contact.id}/comments").json["items"] == []


def test_comment_of_another_record_is_not_found(
    db: Session,
    unit_for: UnitFor,
    browser,
    api_agent: Agent,
    contact: Contact,
    make_contact: Callable[..., Contact],
) -> None:
    client, headers = browser
    other = make_contact("Suzuki", email="suzuki@example.com")
    comment = comments.add_comment(unit_for(api_agent), other, body="elsewhere")
    db.commit()
    path = f"/api/v1/contacts/{contact.id}/comments/{comment.id}"
    assert client.delete(path, headers=headers).status_code == 404


def test_token_needs_the_write_scope_to_comment(
    client, bearer_for, api_agent: Agent, contact: Contact
) -> None:
    reader = bearer_for(api_agent, [scopes.CONTACTS_READ])
    answer = client.post(
        f"/api/v1/contacts/{contact.id}/comments", json={"body": "x"}, headers=reader
    )
    assert answer.status_code == 403
    assert answer.json["scope"] == scopes.CONTACTS_WRITE


def test_put_and_delete_follow(browser, contact: Contact) -> None:
    client, headers = browser
    path = f"/api/v1/contacts/{contact.id}/follow"
    assert client.put(path, headers=headers).json == {"following": True, "follower_count": 1}
    assert client.put(path, headers=headers).json == {"following": True, "follower_count": 1}
    assert client.delete(path, headers=headers).json == {"following": False, "follower_count": 0}


def test_follow_of_an_unknown_account_is_404(browser) -> None:
    client, headers = browser
    assert client.put("/api/v1/accounts/999999/follow", headers=headers).status_code == 404


def _mention(db: Session, unit_for: UnitFor, by: Agent, of: Agent, contact: Contact) -> None:
    comments.add_comment(unit_for(by), contact, body=comments.mention_token(of))
    db.commit()


def test_notifications_list_unread_filter_and_mark_read(
    db: Session, unit_for: UnitFor, browser, api_agent: Agent, colleague: Agent, contact: Contact
) -> None:
    client, headers = browser
    for _ in range(2):
        _mention(db, unit_for, colleague, api_agent, contact)
    listed = client.get("/api/v1/me/notifications").json["items"]
    assert [n["kind"] for n in listed] == ["mention", "mention"]
    marked = client.post(f"/api/v1/me/notifications/{listed[0]['id']}/read", headers=headers)
    assert marked.json["read_at"] is not None
    unread = client.get("/api/v1/me/notifications?unread=true").json["items"]
    assert [n["id"] for n in unread] == [listed[1]["id"]]
    assert client.get("/api/v1/me/notifications/unread-count").json == {"unread": 1}


def test_mark_all_read_through_the_api(
    db: Session, unit_for: UnitFor, browser, api_agent: Agent, colleague: Agent, contact: Contact
) -> None:
    client, headers = browser
    for _ in range(3):
        _mention(db, unit_for, colleague, api_agent, contact)
    assert client.post("/api/v1/me/notifications/read-all", headers=headers).json == {"marked": 3}
    assert client.get("/api/v1/me/notifications/unread-count").json == {"unread": 0}


def test_notifications_page_with_a_cursor(
    db: Session, unit_for: UnitFor, browser, api_agent: Agent, colleague: Agent, contact: Contact
) -> None:
    client, _headers = browser
    for _ in range(3):
        _mention(db, unit_for, colleague, api_agent, contact)
    first = client.get("/api/v1/me/notifications?limit=2").json
    rest = client.get(f"/api/v1/me/notifications?limit=2&cursor={first['next_cursor']}").json
    ids = [n["id"] for n in first["items"] + rest["items"]]
    assert len(set(ids)) == 3 and rest["next_cursor"] is None


def test_another_agents_notification_answers_404(
    db: Session, unit_for: UnitFor, browser, api_agent: Agent, colleague: Agent, contact: Contact
) -> None:
    client, headers = browser
    _mention(db, unit_for, api_agent, colleague, contact)
    theirs = db.scalar(select(Notification.id))
    answer = client.post(f"/api/v1/me/notifications/{theirs}/read", headers=headers)
    assert answer.status_code == 404
