"""Host API 1.5: ``Context.convert_chat`` is the one way a chat becomes a ticket (IM Dashboard
and SalesIQ both use it): created at the chat's start, the customer's opening message its
description, every later message a thread at its own time; ``add_transcript`` adds a chat to
an existing ticket the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.host import Host
from core.models import Agent, Contact, Department, Installation, StatusChange, Thread, Ticket
from hostapi import ChatTranscript, Context, ScopeError, TranscriptMessage, scopes
from tests.factories import install_for
from tests.plugin_fixtures import manifest

PLUGIN = "livechat"
STARTED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def loaded(host: Host) -> Iterator[None]:
    granted = [scopes.TICKETS_READ, scopes.TICKETS_WRITE, scopes.THREADS_WRITE]
    host.plugins.register_plugin(object(), manifest(PLUGIN, scopes=granted))
    yield
    host.plugins.unregister_plugin(PLUGIN)


@pytest.fixture
def installation(loaded: None, db: Session, host: Host, department: Department) -> Installation:
    installed = install_for(db, host, PLUGIN, [department.id])
    db.commit()
    return installed


@pytest.fixture
def in_transaction(host: Host, installation: Installation) -> Callable[..., object]:
    """``in_transaction(action)``: run ``action(context)`` in a job's write transaction."""

    def run(action: Callable[[Context], object]) -> object:
        with host.transaction() as session:
            return action(host.plugins.context_for(session, installation))

    return run


@pytest.fixture
def operator(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent(name="Aiko", departments=[department])


def _chat(operator: Agent) -> ChatTranscript:
    return ChatTranscript(
        channel="chat",
        started_at=STARTED,
        messages=(
            TranscriptMessage("customer", "My order is late", STARTED),
            TranscriptMessage("customer", "Order 1042", STARTED + timedelta(seconds=20)),
            TranscriptMessage(
                "agent", "Checking now", STARTED + timedelta(seconds=80), agent_id=operator.id
            ),
        ),
    )


def _threads(db: Session, ticket_id: int) -> list[tuple[str, str, datetime]]:
    rows = db.scalars(
        select(Thread).where(Thread.ticket_id == ticket_id).order_by(Thread.created_at)
    )
    return [(row.kind, row.body, row.created_at) for row in rows]


def test_a_chat_becomes_a_ticket_created_at_its_start_with_its_messages_as_threads(
    in_transaction: Callable[..., object],
    db: Session,
    department: Department,
    make_contact: Callable[..., Contact],
    operator: Agent,
) -> None:
    visitor = make_contact(email="visitor@example.com")

    record = in_transaction(
        lambda context: context.convert_chat(
            _chat(operator),
            subject="Late order",
            department_id=department.id,
            contact_id=visitor.id,
        )
    )

    ticket = db.get(Ticket, record.id)
    assert ticket is not None
    assert (ticket.created_at, ticket.channel, ticket.description, ticket.raised_by) == (
        STARTED,
        "chat",
        "My order is late",
        "customer",
    )
    assert _threads(db, ticket.id) == [
        ("incoming", "Order 1042", STARTED + timedelta(seconds=20)),
        ("outgoing", "Checking now", STARTED + timedelta(seconds=80)),
    ]


def test_an_agents_message_is_a_public_reply_by_that_agent(
    in_transaction: Callable[..., object], db: Session, department: Department, operator: Agent
) -> None:
    record = in_transaction(
        lambda context: context.convert_chat(
            _chat(operator), subject="Late order", department_id=department.id, contact_id=None
        )
    )

    reply = db.scalars(
        select(Thread).where(Thread.ticket_id == record.id, Thread.kind == "outgoing")
    ).one()
    assert (reply.author_agent_id, reply.is_public_agent_reply) == (operator.id, True)


def test_a_closed_status_is_set_after_the_messages(
    in_transaction: Callable[..., object], db: Session, department: Department, operator: Agent
) -> None:
    record = in_transaction(
        lambda context: context.convert_chat(
            _chat(operator),
            subject="Late order",
            department_id=department.id,
            contact_id=None,
            status="Closed",
        )
    )

    changes = db.scalars(
        select(StatusChange).where(StatusChange.ticket_id == record.id).order_by(StatusChange.id)
    )
    assert [(change.to_status, change.to_type) for change in changes] == [
        ("Open", "open"),
        ("Closed", "closed"),
    ]


def test_a_chat_added_to_a_ticket_brings_every_message_as_a_thread(
    in_transaction: Callable[..., object],
    db: Session,
    make_ticket: Callable[..., Ticket],
    department: Department,
    operator: Agent,
) -> None:
    ticket = make_ticket(department=department)
    db.commit()

    in_transaction(lambda context: context.add_transcript(ticket.id, _chat(operator)))

    assert [kind for kind, _, _ in _threads(db, ticket.id)] == ["incoming", "incoming", "outgoing"]


def test_a_failing_message_leaves_no_ticket(
    in_transaction: Callable[..., object], db: Session, department: Department
) -> None:
    unknown_agent = TranscriptMessage("agent", "Hello", STARTED, agent_id=987654)
    chat = ChatTranscript(
        channel="chat",
        started_at=STARTED,
        messages=(TranscriptMessage("customer", "Hi", STARTED), unknown_agent),
    )
    before = db.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))

    with pytest.raises(ValidationFailed, match="author_agent_id"):
        in_transaction(
            lambda context: context.convert_chat(
                chat, subject="Hi", department_id=department.id, contact_id=None
            )
        )

    db.expire_all()
    assert db.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1)) == before


def test_converting_needs_the_threads_write_scope(
    host: Host, db: Session, department: Department
) -> None:
    host.plugins.register_plugin(object(), manifest("readonly", scopes=[scopes.TICKETS_WRITE]))
    try:
        installed = install_for(db, host, "readonly", [department.id])
        db.commit()
        with pytest.raises(ScopeError), host.transaction() as session:
            context = host.plugins.context_for(session, installed)
            context.convert_chat(
                ChatTranscript(
                    channel="chat",
                    started_at=STARTED,
                    messages=(
                        TranscriptMessage("customer", "Hi", STARTED),
                        TranscriptMessage("agent", "Hello", STARTED + timedelta(seconds=5)),
                    ),
                ),
                subject="Hi",
                department_id=department.id,
                contact_id=None,
            )
    finally:
        host.plugins.unregister_plugin("readonly")


@pytest.mark.parametrize(
    ("sender", "text", "sent_at", "problem"),
    [
        ("visitor", "Hi", STARTED, "sender"),
        ("customer", "  ", STARTED, "text"),
        ("customer", "Hi", STARTED.replace(tzinfo=None), "aware"),
    ],
)
def test_a_transcript_message_refuses_what_no_thread_could_be(
    sender: str, text: str, sent_at: datetime, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        TranscriptMessage(sender, text, sent_at)


def test_a_transcript_refuses_messages_out_of_order_or_before_its_start() -> None:
    later = TranscriptMessage("customer", "second", STARTED + timedelta(seconds=5))
    earlier = TranscriptMessage("customer", "first", STARTED)
    with pytest.raises(ValueError, match="order"):
        ChatTranscript(channel="chat", started_at=STARTED, messages=(later, earlier))
    with pytest.raises(ValueError, match="before"):
        ChatTranscript(
            channel="chat", started_at=STARTED + timedelta(seconds=1), messages=(earlier,)
        )
