"""The spam list and spam rules pages."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.intake import email_in, spam
from core.models import Agent, Department, SpamMessage, SpamRule, Ticket
from core.services.base import Unit
from core.web.i18n import compile_catalogs
from core.web.ui import labels
from tests.intake_helpers import WorkIn, raw_email
from tests.page_helpers import csrf_token_of

pytest_plugins = ["tests.intake_fixtures", "tests.api_fixtures"]


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalogs() -> None:
    """The Japanese pages need compiled catalogs even when pytest runs without make."""
    compile_catalogs()


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


def test_every_rule_kind_has_a_translated_label() -> None:
    assert set(labels.SPAM_RULE_KINDS) == set(spam.RULE_KINDS)


def test_rule_list_names_each_rules_kind_in_the_admins_language(
    client: FlaskClient,
    sign_in_as,
    make_agent: Callable[..., Agent],
    department: Department,
    unit_for: Callable[[Agent | None], Unit],
    db: Session,
) -> None:
    japanese_admin = make_agent(
        "kanri@example.com", profile="Administrator", departments=[department], locale="ja"
    )
    rule = spam.create_rule(unit_for(japanese_admin), kind="domain", pattern="spam.example")
    db.commit()
    sign_in_as(japanese_admin)

    page = client.get("/admin/spam-rules").get_data(as_text=True)

    row = page[page.index(f'id="rule-{rule.id}"') :].split("</tr>")[0]
    kind_cell = re.search(r"<td[^>]*>(.*?)</td>", row)
    assert kind_cell and kind_cell.group(1) == "送信者のドメイン（サブドメインを含む）"
