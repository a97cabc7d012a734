"""Following contacts and accounts: followers hear of new tickets, replies and comments."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Account, Agent, Contact, Department, Notification, Ticket
from core.services import comments, follows
from core.services import tickets as ticket_service
from core.services.base import Unit

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture
def follower(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("follower@example.com", name="Fumi Follower", departments=[department])


@pytest.fixture
def actor(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("actor@example.com", name="Aki Actor", departments=[department])


@pytest.fixture
def account(make_account: Callable[..., Account]) -> Account:
    return make_account()


@pytest.fixture
def contact(make_contact: Callable[..., Contact], account: Account) -> Contact:
    return make_contact(account=account)


def _told(db: Session, agent: Agent, kind: str | None = None) -> list[Notification]:
    query = select(Notification).where(Notification.agent_id == agent.id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    return list(db.scalars(query.order_by(Notification.id)))


def _follow(db: Session, unit_for: UnitFor, agent: Agent, record: Contact | Account) -> None:
    follows.follow(unit_for(agent), record)
    db.commit()


def test_following_is_counted_once(
    db: Session, unit_for: UnitFor, follower: Agent, contact: Contact
) -> None:
    assert follows.follow(unit_for(follower), contact) is True
    assert follows.follow(unit_for(follower), contact) is False
    db.commit()
    assert follows.follower_count(unit_for(follower), contact) == 1
    assert follows.is_following(unit_for(follower), contact)


def test_contact_follower_hears_of_a_new_ticket(
    db: Session, unit_for: UnitFor, follower: Agent, contact: Contact, make_ticket
) -> None:
    _follow(db, unit_for, follower, contact)
    ticket = make_ticket("Cannot log in", contact=contact)
    (told,) = _told(db, follower, "new_ticket")
    assert (told.ticket_id, told.summary) == (ticket.id, "Cannot log in")


def test_account_follower_hears_of_a_new_ticket_of_its_contact(
    db: Session, unit_for: UnitFor, follower: Agent, account: Account, contact: Contact, make_ticket
) -> None:
    _follow(db, unit_for, follower, account)
    ticket = make_ticket(contact=contact)
    assert [n.ticket_id for n in _told(db, follower, "new_ticket")] == [ticket.id]


def test_follower_of_both_contact_and_account_is_told_once(
    db: Session, unit_for: UnitFor, follower: Agent, account: Account, contact: Contact, make_ticket
) -> None:
    _follow(db, unit_for, follower, account)
    _follow(db, unit_for, follower, contact)
    make_ticket(contact=contact)
    assert len(_told(db, follower, "new_ticket")) == 1


def test_agent_who_creates_the_ticket_is_not_told(
    db: Session, unit_for: UnitFor, actor: Agent, contact: Contact, make_ticket
) -> None:
    _follow(db, unit_for, actor, contact)
    make_ticket(contact=contact, actor=actor, raised_by="agent")
    assert _told(db, actor) == []


def test_follower_outside_the_tickets_department_is_not_told(
    db: Session,
    unit_for: UnitFor,
    make_agent: Callable[..., Agent],
    make_department: Callable[..., Department],
    contact: Contact,
    make_ticket,
) -> None:
    sales = make_department("Sales")
    outsider = make_agent("outsider@example.com", departments=[sales])
    _follow(db, unit_for, outsider, contact)
    make_ticket(contact=contact)
    assert _told(db, outsider) == []


def test_unfollowing_stops_the_notifications(
    db: Session, unit_for: UnitFor, follower: Agent, contact: Contact, make_ticket
) -> None:
    _follow(db, unit_for, follower, contact)
    assert follows.unfollow(unit_for(follower), contact) is True
    db.commit()
    make_ticket(contact=contact)
    assert _told(db, follower) == []


def _reply(db: Session, unit: Unit, ticket: Ticket, kind: str, body: str) -> None:
    ticket_service.add_thread(unit, ticket, kind=kind, body=body)
    db.commit()


def test_follower_hears_of_a_customer_message_and_a_public_reply(
    db: Session,
    unit_for: UnitFor,
    follower: Agent,
    actor: Agent,
    contact: Contact,
    make_ticket,
) -> None:
    ticket = make_ticket(contact=contact)
    _follow(db, unit_for, follower, contact)
    _reply(db, unit_for(None), ticket, "incoming", "It is still broken")
    _reply(db, unit_for(actor), ticket, "outgoing", "We are on it")
    assert [n.summary for n in _told(db, follower, "reply")] == [
        "It is still broken",
        "We are on it",
    ]


def test_internal_comment_on_a_ticket_tells_no_follower(
    db: Session, unit_for: UnitFor, follower: Agent, actor: Agent, contact: Contact, make_ticket
) -> None:
    ticket = make_ticket(contact=contact)
    _follow(db, unit_for, follower, contact)
    _reply(db, unit_for(actor), ticket, "comment", "internal note")
    assert _told(db, follower) == []


def test_agent_who_replies_is_not_told_of_their_reply(
    db: Session, unit_for: UnitFor, actor: Agent, contact: Contact, make_ticket
) -> None:
    ticket = make_ticket(contact=contact)
    _follow(db, unit_for, actor, contact)
    _reply(db, unit_for(actor), ticket, "outgoing", "done")
    assert _told(db, actor) == []


def test_follower_hears_of_a_new_comment_but_not_the_author(
    db: Session, unit_for: UnitFor, follower: Agent, actor: Agent, account: Account
) -> None:
    _follow(db, unit_for, follower, account)
    _follow(db, unit_for, actor, account)
    comment = comments.add_comment(unit_for(actor), account, body="Renewal due")
    db.commit()
    (told,) = _told(db, follower, "comment")
    assert (told.comment_id, told.account_id, told.actor_id) == (comment.id, account.id, actor.id)
    assert _told(db, actor) == []


def test_mentioned_follower_is_told_once_by_the_mention(
    db: Session, unit_for: UnitFor, follower: Agent, actor: Agent, contact: Contact
) -> None:
    _follow(db, unit_for, follower, contact)
    comments.add_comment(unit_for(actor), contact, body=comments.mention_token(follower))
    db.commit()
    assert [n.kind for n in _told(db, follower)] == ["mention"]


def test_a_follow_racing_another_ends_as_one_follow(
    db: Session,
    unit_for: UnitFor,
    follower: Agent,
    contact: Contact,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    follows.follow(unit_for(follower), contact)
    db.commit()
    # As if a concurrent request had committed its follow after this one checked.
    monkeypatch.setattr(follows, "is_following", lambda _unit, _customer: False)
    assert follows.follow(unit_for(follower), contact) is False
    db.commit()
    monkeypatch.undo()
    assert follows.follower_count(unit_for(follower), contact) == 1
