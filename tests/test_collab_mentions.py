"""@mentions in comments: stored as tokens, rendered escaped, each new mentionee notified."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.models import Agent, Contact, Department, Notification
from core.services import comments
from core.services.base import Unit

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture
def author(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("author@example.com", name="Aiko Author", departments=[department])


@pytest.fixture
def mentioned(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("ken@example.com", name="Ken Sato", departments=[department])


@pytest.fixture
def contact(make_contact: Callable[..., Contact]) -> Contact:
    return make_contact()


def _notifications(db: Session, agent: Agent) -> list[Notification]:
    return list(db.scalars(select(Notification).where(Notification.agent_id == agent.id)))


def test_mentioned_agent_gets_a_mention_notification(
    db: Session, unit_for: UnitFor, author: Agent, mentioned: Agent, contact: Contact
) -> None:
    body = f"Can you call back, {comments.mention_token(mentioned)}?"
    comment = comments.add_comment(unit_for(author), contact, body=body)
    db.commit()
    (notification,) = _notifications(db, mentioned)
    assert notification.kind == "mention"
    assert notification.actor_id == author.id
    assert (notification.contact_id, notification.comment_id) == (contact.id, comment.id)
    assert notification.summary == "Can you call back, @Ken Sato?"
    assert comment.mentioned_agent_ids == [mentioned.id]


def test_mentioning_yourself_notifies_nobody(
    db: Session, unit_for: UnitFor, author: Agent, contact: Contact
) -> None:
    comments.add_comment(unit_for(author), contact, body=f"memo {comments.mention_token(author)}")
    db.commit()
    assert _notifications(db, author) == []


def test_editing_to_add_a_mention_notifies_only_the_new_one(
    db: Session,
    unit_for: UnitFor,
    author: Agent,
    mentioned: Agent,
    make_agent: Callable[..., Agent],
    contact: Contact,
) -> None:
    newcomer = make_agent("mei@example.com", name="Mei Ito")
    comment = comments.add_comment(
        unit_for(author), contact, body=f"{comments.mention_token(mentioned)} please look"
    )
    comments.update_comment(
        unit_for(author),
        comment,
        body=f"{comments.mention_token(mentioned)} and {comments.mention_token(newcomer)} look",
    )
    db.commit()
    assert len(_notifications(db, mentioned)) == 1
    assert len(_notifications(db, newcomer)) == 1
    assert comment.mentioned_agent_ids == [mentioned.id, newcomer.id]


def test_inactive_agent_cannot_be_mentioned(
    db: Session, unit_for: UnitFor, author: Agent, mentioned: Agent, contact: Contact
) -> None:
    mentioned.is_active = False
    db.commit()
    with pytest.raises(ValidationFailed) as refused:
        comments.add_comment(unit_for(author), contact, body=comments.mention_token(mentioned))
    assert list(refused.value.errors) == ["body"]


def test_unknown_agent_cannot_be_mentioned(
    unit_for: UnitFor, author: Agent, contact: Contact
) -> None:
    with pytest.raises(ValidationFailed):
        comments.add_comment(unit_for(author), contact, body="hi @[Ghost](agent:999999)")


def test_token_name_is_rewritten_to_the_agents_name(
    db: Session, unit_for: UnitFor, author: Agent, mentioned: Agent, contact: Contact
) -> None:
    comment = comments.add_comment(
        unit_for(author), contact, body=f"@[The CEO](agent:{mentioned.id}) approved"
    )
    assert comment.body == f"@[Ken Sato](agent:{mentioned.id}) approved"


def test_plain_at_name_is_not_a_mention(
    db: Session, unit_for: UnitFor, author: Agent, mentioned: Agent, contact: Contact
) -> None:
    comment = comments.add_comment(unit_for(author), contact, body="ask @Ken Sato")
    db.commit()
    assert comment.mentioned_agent_ids == []
    assert _notifications(db, mentioned) == []


def test_rendering_escapes_html_and_highlights_mentions() -> None:
    html = str(
        comments.render_body(
            "<script>alert(1)</script> @[Ken <b>](agent:7) & co", {7: "Ken <i>Sato</i>"}
        )
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<span class="mention" data-agent-id="7">@Ken &lt;i&gt;Sato&lt;/i&gt;</span>' in html
    assert "&amp; co" in html


def test_rendering_falls_back_to_the_stored_name_of_an_unknown_agent() -> None:
    html = str(comments.render_body("@[Old Name](agent:5)"))
    assert html == '<span class="mention" data-agent-id="5">@Old Name</span>'


def test_mentionable_agents_match_name_words_and_leave_out_inactive_ones(
    db: Session, unit_for: UnitFor, author: Agent, mentioned: Agent, make_agent
) -> None:
    gone = make_agent("kenji@example.com", name="Kenji Gone")
    gone.is_active = False
    db.commit()
    found = comments.mentionable_agents(unit_for(author), "sat")
    assert [a.name for a in found] == ["Ken Sato"]
    assert [a.name for a in comments.mentionable_agents(unit_for(author), "ken")] == ["Ken Sato"]
