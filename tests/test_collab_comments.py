"""Comments on contacts and accounts: visible to the team, edited by their author, audited."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, ValidationFailed
from core.models import Account, Agent, AuditEntry, Contact, Department, OutboxEvent
from core.services import comments
from core.services.base import Cursor, Unit
from hostapi import events

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture
def author(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("author@example.com", name="Aiko Author", departments=[department])


@pytest.fixture
def colleague(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("colleague@example.com", name="Ken Colleague", departments=[department])


@pytest.fixture
def contact(make_contact: Callable[..., Contact]) -> Contact:
    return make_contact()


def _events(db: Session, name: str) -> list[OutboxEvent]:
    return list(db.scalars(select(OutboxEvent).where(OutboxEvent.name == name)))


def _audits(db: Session, action: str) -> list[AuditEntry]:
    return list(
        db.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_type == "customer_comment", AuditEntry.action == action
            )
        )
    )


def test_comment_is_visible_to_another_agent(
    db: Session, unit_for: UnitFor, author: Agent, colleague: Agent, contact: Contact
) -> None:
    comments.add_comment(unit_for(author), contact, body="Prefers phone calls.")
    db.commit()
    seen = comments.list_comments(unit_for(colleague), contact)
    assert [c.body for c in seen] == ["Prefers phone calls."]
    assert seen[0].author_id == author.id


def test_comments_come_newest_first_one_page_at_a_time(
    db: Session, unit_for: UnitFor, author: Agent, contact: Contact
) -> None:
    for number in range(3):
        comments.add_comment(unit_for(author), contact, body=f"note {number}")
    db.commit()
    first = comments.list_comments(unit_for(author), contact, limit=2)
    rest = comments.list_comments(unit_for(author), contact, limit=2, before=Cursor.of(first[-1]))
    assert [c.body for c in first + rest] == ["note 2", "note 1", "note 0"]


def test_comments_on_an_account_stay_on_the_account(
    db: Session,
    unit_for: UnitFor,
    author: Agent,
    contact: Contact,
    make_account: Callable[..., Account],
) -> None:
    account = make_account()
    comments.add_comment(unit_for(author), account, body="Renewal in March.")
    db.commit()
    assert [c.body for c in comments.list_comments(unit_for(author), account)] == [
        "Renewal in March."
    ]
    assert comments.list_comments(unit_for(author), contact) == []


def test_empty_body_is_refused_naming_body(
    db: Session, unit_for: UnitFor, author: Agent, contact: Contact
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        comments.add_comment(unit_for(author), contact, body="   ")
    assert list(refused.value.errors) == ["body"]
    db.rollback()
    assert comments.list_comments(unit_for(author), contact) == []


def test_overlong_body_is_refused_naming_body(
    unit_for: UnitFor, author: Agent, contact: Contact
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        comments.add_comment(unit_for(author), contact, body="x" * (comments.MAX_BODY_LENGTH + 1))
    assert list(refused.value.errors) == ["body"]


def test_author_edits_their_comment(
    db: Session, unit_for: UnitFor, author: Agent, contact: Contact
) -> None:
    comment = comments.add_comment(unit_for(author), contact, body="first")
    comments.update_comment(unit_for(author), comment, body="second")
    db.commit()
    assert comments.get_comment(unit_for(author), comment.id).body == "second"


def test_another_agent_cannot_edit_a_comment(
    db: Session, unit_for: UnitFor, author: Agent, colleague: Agent, contact: Contact
) -> None:
    comment = comments.add_comment(unit_for(author), contact, body="mine")
    db.commit()
    with pytest.raises(Forbidden):
        comments.update_comment(unit_for(colleague), comment, body="theirs")


def test_another_agent_cannot_delete_a_comment(
    db: Session, unit_for: UnitFor, author: Agent, colleague: Agent, contact: Contact
) -> None:
    comment = comments.add_comment(unit_for(author), contact, body="mine")
    db.commit()
    with pytest.raises(Forbidden):
        comments.delete_comment(unit_for(colleague), comment)


def test_author_deletes_their_comment(
    db: Session, unit_for: UnitFor, author: Agent, contact: Contact
) -> None:
    comment = comments.add_comment(unit_for(author), contact, body="oops")
    comments.delete_comment(unit_for(author), comment)
    db.commit()
    assert comments.list_comments(unit_for(author), contact) == []


def test_add_edit_and_delete_are_audited_with_before_and_after(
    db: Session, unit_for: UnitFor, author: Agent, contact: Contact
) -> None:
    comment = comments.add_comment(unit_for(author), contact, body="one")
    comments.update_comment(unit_for(author), comment, body="two")
    comments.delete_comment(unit_for(author), comment)
    db.commit()
    (added,) = _audits(db, "add")
    (updated,) = _audits(db, "update")
    (deleted,) = _audits(db, "delete")
    assert added.after["body"] == "one" and added.actor_agent_id == author.id
    assert (updated.before["body"], updated.after["body"]) == ("one", "two")
    assert deleted.before["body"] == "two" and deleted.after is None


def test_an_edit_that_changes_nothing_writes_nothing(
    db: Session, unit_for: UnitFor, author: Agent, contact: Contact
) -> None:
    comment = comments.add_comment(unit_for(author), contact, body="same")
    comments.update_comment(unit_for(author), comment, body="  same ")
    db.commit()
    assert _audits(db, "update") == []


def test_contact_comment_events_carry_the_documented_payloads(
    db: Session, unit_for: UnitFor, author: Agent, contact: Contact
) -> None:
    comment = comments.add_comment(unit_for(author), contact, body="one")
    comment_id = comment.id
    comments.update_comment(unit_for(author), comment, body="two")
    comments.delete_comment(unit_for(author), comment)
    db.commit()
    (added,) = _events(db, events.CONTACT_COMMENT_ADDED)
    (updated,) = _events(db, events.CONTACT_COMMENT_UPDATED)
    (deleted,) = _events(db, events.CONTACT_COMMENT_DELETED)
    assert added.payload["comment_id"] == comment_id
    assert added.payload["contact_id"] == contact.id
    assert added.payload["author_agent_id"] == author.id
    assert updated.payload["changes"] == {"body": ["one", "two"]}
    assert deleted.payload["comment_id"] == comment_id
    assert added.department_ids == []


def test_account_comment_emits_the_account_event(
    db: Session, unit_for: UnitFor, author: Agent, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    comments.add_comment(unit_for(author), account, body="hello")
    db.commit()
    (added,) = _events(db, events.ACCOUNT_COMMENT_ADDED)
    assert added.payload["account_id"] == account.id


def test_comment_events_reach_installations_with_the_customer_read_scope() -> None:
    assert events.CONTACT_COMMENT_ADDED in events.CUSTOMER_EVENTS
    assert events.ACCOUNT_COMMENT_DELETED in events.CUSTOMER_EVENTS
    # Installations receive organisation-wide events by name prefix (core.plugins.manager).
    assert events.CONTACT_COMMENT_ADDED.startswith("contact.")
    assert events.ACCOUNT_COMMENT_ADDED.startswith("account.")
