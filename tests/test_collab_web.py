"""The desk's collaboration pages: comments on customer pages, follow, the notification centre."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Account, Agent, Contact, CustomerComment, Department, Notification
from core.services import comments
from core.services.base import Unit
from core.web.i18n import compile_catalogs

pytest_plugins = ["tests.api_fixtures"]

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs() -> None:
    compile_catalogs()


@pytest.fixture
def colleague(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("ken@example.com", name="Ken Sato", departments=[department])


@pytest.fixture
def contact(make_contact: Callable[..., Contact]) -> Contact:
    return make_contact()


@pytest.fixture
def signed_in(browser: tuple[FlaskClient, dict[str, str]]) -> FlaskClient:
    return browser[0]


def _csrf(headers: dict[str, str]) -> str:
    return headers["X-CSRFToken"]


def test_contact_page_shows_comments_with_mentions_escaped(
    db: Session,
    unit_for: UnitFor,
    signed_in: FlaskClient,
    colleague: Agent,
    contact: Contact,
) -> None:
    comments.add_comment(
        unit_for(colleague), contact, body=f"<b>bold</b> {comments.mention_token(colleague)}"
    )
    db.commit()
    page = signed_in.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert f'<span class="mention" data-agent-id="{colleague.id}">@Ken Sato</span>' in page


def test_posting_a_comment_stores_it_and_returns_to_the_page(
    db: Session, browser, contact: Contact
) -> None:
    client, headers = browser
    answer = client.post(
        f"/contacts/{contact.id}/comments", data={"body": "Called", "csrf_token": _csrf(headers)}
    )
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(f"/contacts/{contact.id}#comment-")
    assert db.scalar(select(CustomerComment.body)) == "Called"


def test_empty_comment_is_a_form_error_and_nothing_is_stored(
    db: Session, browser, contact: Contact
) -> None:
    client, headers = browser
    answer = client.post(
        f"/contacts/{contact.id}/comments", data={"body": "  ", "csrf_token": _csrf(headers)}
    )
    assert answer.status_code == 422
    assert "Write a comment before adding it." in answer.get_data(as_text=True)
    assert db.scalar(select(CustomerComment.id)) is None


def test_another_agents_comment_cannot_be_edited_from_the_page(
    db: Session, unit_for: UnitFor, browser, colleague: Agent, contact: Contact
) -> None:
    client, headers = browser
    theirs = comments.add_comment(unit_for(colleague), contact, body="mine")
    db.commit()
    answer = client.post(
        f"/comments/{theirs.id}/edit", data={"body": "hacked", "csrf_token": _csrf(headers)}
    )
    assert answer.status_code == 403
    db.expire_all()
    assert db.get(CustomerComment, theirs.id).body == "mine"


def test_author_edits_and_deletes_from_the_page(
    db: Session, browser, api_agent: Agent, unit_for: UnitFor, contact: Contact
) -> None:
    client, headers = browser
    mine = comments.add_comment(unit_for(api_agent), contact, body="draft").id
    db.commit()
    edited = client.post(
        f"/comments/{mine}/edit", data={"body": "final", "csrf_token": _csrf(headers)}
    )
    assert edited.status_code == 302
    assert "final" in client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    deleted = client.post(f"/comments/{mine}/delete", data={"csrf_token": _csrf(headers)})
    assert deleted.status_code == 302
    db.expire_all()
    assert db.get(CustomerComment, mine) is None


def test_mention_autocomplete_offers_active_agents_with_their_token(
    browser, colleague: Agent
) -> None:
    client, _headers = browser
    items = client.get("/mentions/agents?q=ken").json["items"]
    assert items == [
        {
            "id": colleague.id,
            "name": "Ken Sato",
            "email": "ken@example.com",
            "token": f"@[Ken Sato](agent:{colleague.id})",
        }
    ]


def test_follow_button_follows_and_unfollows(browser, make_account: Callable[..., Account]) -> None:
    client, headers = browser
    account = make_account()
    client.post(
        f"/accounts/{account.id}/follow", data={"following": "1", "csrf_token": _csrf(headers)}
    )
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert 'aria-pressed="true"' in page and "1 follower" in page
    client.post(
        f"/accounts/{account.id}/follow", data={"following": "0", "csrf_token": _csrf(headers)}
    )
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert 'aria-pressed="false"' in page and "0 followers" in page


def test_notification_centre_lists_highlights_and_opens_a_mention(
    db: Session, unit_for: UnitFor, browser, api_agent: Agent, colleague: Agent, contact: Contact
) -> None:
    client, _headers = browser
    comment = comments.add_comment(
        unit_for(colleague), contact, body=f"see {comments.mention_token(api_agent)}"
    )
    db.commit()
    assert client.get("/notifications/unread-count").json == {"unread": 1}
    page = client.get("/notifications").get_data(as_text=True)
    assert "Ken Sato mentioned you on Hanako Yamada" in page
    assert 'class="notification unread' in page
    (notification_id,) = db.scalars(select(Notification.id))
    opened = client.get(f"/notifications/{notification_id}/open")
    assert opened.headers["Location"] == f"/contacts/{contact.id}#comment-{comment.id}"
    assert client.get("/notifications/unread-count").json == {"unread": 0}


def test_mark_one_and_mark_all_read_from_the_centre(
    db: Session, unit_for: UnitFor, browser, api_agent: Agent, colleague: Agent, contact: Contact
) -> None:
    client, headers = browser
    for _ in range(3):
        comments.add_comment(unit_for(colleague), contact, body=comments.mention_token(api_agent))
    db.commit()
    first = db.scalars(select(Notification.id)).first()
    client.post(f"/notifications/{first}/read", data={"csrf_token": _csrf(headers)})
    assert client.get("/notifications/unread-count").json == {"unread": 2}
    client.post("/notifications/read-all", data={"csrf_token": _csrf(headers)})
    assert client.get("/notifications/unread-count").json == {"unread": 0}


def test_another_agents_notification_cannot_be_opened(
    db: Session, unit_for: UnitFor, browser, api_agent: Agent, colleague: Agent, contact: Contact
) -> None:
    client, _headers = browser
    comments.add_comment(unit_for(api_agent), contact, body=comments.mention_token(colleague))
    db.commit()
    (theirs,) = db.scalars(select(Notification.id))
    assert client.get(f"/notifications/{theirs}/open").status_code == 404


def test_pages_know_the_unread_count_for_the_nav_badge(
    app, db: Session, unit_for: UnitFor, api_agent: Agent, colleague: Agent, contact: Contact
) -> None:
    from flask import render_template_string

    from core.web.security import login_agent

    comments.add_comment(unit_for(colleague), contact, body=comments.mention_token(api_agent))
    db.commit()
    with app.test_request_context("/"):
        from core.web.database import db_session

        login_agent(db_session().get(Agent, api_agent.id))
        assert render_template_string("{{ unread_notifications_count }}") == "1"


def test_followed_contacts_new_ticket_is_in_the_centre_and_opens_the_ticket(
    db: Session, unit_for: UnitFor, browser, api_agent: Agent, contact: Contact, make_ticket
) -> None:
    from core.services import follows

    client, _headers = browser
    follows.follow(unit_for(api_agent), contact)
    db.commit()
    ticket = make_ticket("Cannot print", contact=contact)
    page = client.get("/notifications").get_data(as_text=True)
    assert "New ticket for Hanako Yamada" in page and "Cannot print" in page
    (notification_id,) = db.scalars(select(Notification.id))
    opened = client.get(f"/notifications/{notification_id}/open")
    assert opened.headers["Location"] == f"/tickets/{ticket.id}"
