"""The spam list and spam rules pages."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.intake import email_in, spam
from core.models import Agent, Department, SpamMessage, SpamRule, Ticket
from tests.intake_helpers import WorkIn, raw_email
from tests.page_helpers import csrf_token_of

pytest_plugins = ["tests.intake_fixtures", "tests.api_fixtures"]


def _hold_one(work_in: WorkIn) -> SpamMessage:
    with work_in() as unit:
        spam.create_rule(unit, kind="content", pattern="casino")
    with work_in() as unit:
        return email_in.receive_email(
            unit, raw_email(sender="Lucky <lucky@casino.example>", subject="Casino night")
        ).spam_message


@pytest.fixture
def held(sign_in_as, admin_agent: Agent, work_in: WorkIn, department: Department) -> SpamMessage:
    """One message held by a content rule, with the admin signed in to act on it."""
    message = _hold_one(work_in)
    sign_in_as(admin_agent)
    return message


def _count(db: Session, model: type) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_the_spam_list_shows_held_messages_with_sender_and_reason(
    client: FlaskClient, held: SpamMessage
) -> None:
    html = client.get("/spam").get_data(as_text=True)
    assert f'id="spam-{held.id}"' in html
    assert "lucky@casino.example" in html and "Content matches casino" in html


def test_agents_without_the_spam_permission_get_403(
    client: FlaskClient, sign_in_as, api_agent: Agent
) -> None:
    sign_in_as(api_agent)
    assert client.get("/spam").status_code == 403


def test_releasing_from_the_list_opens_the_new_ticket(
    client: FlaskClient, held: SpamMessage, db: Session
) -> None:
    answer = client.post(
        f"/spam/{held.id}/release", data={"csrf_token": csrf_token_of(client, "/spam")}
    )
    ticket = db.scalar(select(Ticket))
    assert answer.headers["Location"].endswith(f"/tickets/{ticket.id}")
    assert f'id="spam-{held.id}"' not in client.get("/spam").get_data(as_text=True)


def test_blocking_from_the_list_adds_a_sender_rule(
    client: FlaskClient, held: SpamMessage, db: Session
) -> None:
    client.post(f"/spam/{held.id}/block", data={"csrf_token": csrf_token_of(client, "/spam")})
    assert db.scalar(select(SpamRule).where(SpamRule.kind == "sender")).pattern == (
        "lucky@casino.example"
    )
    assert "blocked" in client.get("/spam").get_data(as_text=True)


def test_deleting_from_the_list_removes_the_message(
    client: FlaskClient, held: SpamMessage, db: Session
) -> None:
    client.post(f"/spam/{held.id}/delete", data={"csrf_token": csrf_token_of(client, "/spam")})
    assert _count(db, SpamMessage) == 0


def test_an_admin_adds_toggles_and_deletes_a_rule(
    client: FlaskClient, sign_in_as, admin_agent: Agent, db: Session
) -> None:
    sign_in_as(admin_agent)
    token = csrf_token_of(client, "/admin/spam-rules")
    added = client.post(
        "/admin/spam-rules",
        data={"csrf_token": token, "kind": "domain", "pattern": "@Spam.Example"},
    )
    assert added.status_code == 302
    rule = db.scalar(select(SpamRule))
    assert (rule.pattern, rule.is_active) == ("spam.example", True)
    client.post(f"/admin/spam-rules/{rule.id}/toggle", data={"csrf_token": token})
    db.rollback()
    assert db.get(SpamRule, rule.id).is_active is False
    client.post(f"/admin/spam-rules/{rule.id}/delete", data={"csrf_token": token})
    assert _count(db, SpamRule) == 0


def test_a_bad_regex_reshows_the_rule_form_with_the_error(
    client: FlaskClient, sign_in_as, admin_agent: Agent, db: Session
) -> None:
    sign_in_as(admin_agent)
    answer = client.post(
        "/admin/spam-rules",
        data={
            "csrf_token": csrf_token_of(client, "/admin/spam-rules"),
            "kind": "content",
            "pattern": "/[unclosed/",
        },
    )
    assert answer.status_code == 422
    assert 'id="error-pattern"' in answer.get_data(as_text=True)
    assert _count(db, SpamRule) == 0


def test_rules_page_needs_the_setup_permission(
    client: FlaskClient, sign_in_as, api_agent: Agent
) -> None:
    sign_in_as(api_agent)
    assert client.get("/admin/spam-rules").status_code == 403
