"""Ticket work in the services: bulk changes, the timeline, tags, delivery states, mentions in
ticket comments, opening a ticket with a new contact, counts and the status-name filter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import NotFound, ValidationFailed
from core.host import Host
from core.models import (
    Agent,
    AuditEntry,
    Contact,
    Department,
    MailDirection,
    MailMessage,
    Notification,
    Ticket,
)
from core.services import new_ticket, ticket_bulk, ticket_tags, ticket_timeline, tickets
from core.services.base import Actor, Cursor, Unit
from core.services.comments import mention_token
from hostapi import clock

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture
def frozen_clock() -> Iterator[None]:
    """The clock stands at 2026-12-01 09:00 UTC until advanced (and runs again afterwards)."""
    clock.freeze(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    yield
    clock.unfreeze()


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    return make_department("Sales")


@pytest.fixture
def taro(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("taro@example.com", name="Taro", departments=[department])


@pytest.fixture
def hanako(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("hanako@example.com", name="Hanako", departments=[department])


def _audits(db: Session, ticket: Ticket) -> list[AuditEntry]:
    db.commit()
    return list(
        db.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_type == "ticket",
                AuditEntry.entity_id == str(ticket.id),
                AuditEntry.action == "update",
            )
        )
    )


# ------------------------------------------------------------------------------------- bulk


def test_bulk_assign_changes_each_ticket_it_may_and_reports_the_others(
    db: Session,
    unit_for: UnitFor,
    make_ticket: Callable[..., Ticket],
    hanako: Agent,
    taro: Agent,
    sales: Department,
) -> None:
    mine, also_mine = make_ticket("One"), make_ticket("Two")
    hidden = make_ticket("Elsewhere", department=sales)
    outcomes = ticket_bulk.apply(
        unit_for(hanako),
        ticket_ids=[mine.id, hidden.id, also_mine.id, 999_999],
        action="assign",
        value=taro.id,
    )
    db.commit()
    assert [(o.ticket_id, o.ok, o.failure) for o in outcomes] == [
        (mine.id, True, None),
        (hidden.id, False, "not_found"),
        (also_mine.id, True, None),
        (999_999, False, "not_found"),
    ]
    db.expire_all()
    assert db.get(Ticket, mine.id).assignee_id == taro.id
    assert db.get(Ticket, also_mine.id).assignee_id == taro.id
    assert db.get(Ticket, hidden.id).assignee_id is None
    assert len(_audits(db, mine)) == 1 and len(_audits(db, also_mine)) == 1
    assert _audits(db, hidden) == []


def test_bulk_assign_to_an_agent_of_another_department_fails_that_ticket_alone(
    db: Session,
    unit_for: UnitFor,
    make_ticket: Callable[..., Ticket],
    make_agent: Callable[..., Agent],
    department: Department,
    sales: Department,
) -> None:
    admin = make_agent("boss@example.com", profile="Administrator", departments=[department, sales])
    seller = make_agent("seller@example.com", name="Seller", departments=[sales])
    support_ticket, sales_ticket = make_ticket("Support"), make_ticket("Sales", department=sales)
    outcomes = ticket_bulk.apply(
        unit_for(admin),
        ticket_ids=[support_ticket.id, sales_ticket.id],
        action="assign",
        value=seller.id,
    )
    db.commit()
    assert outcomes[0].failure == "invalid"
    assert outcomes[0].number == support_ticket.number
    assert "assignee_id" in outcomes[0].messages
    assert outcomes[1].ok
    db.expire_all()
    assert db.get(Ticket, sales_ticket.id).assignee_id == seller.id


def test_bulk_change_without_the_permission_is_forbidden_per_ticket(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket], make_agent, department
) -> None:
    light = make_agent("light@example.com", profile="Light Agent", departments=[department])
    ticket = make_ticket()
    [outcome] = ticket_bulk.apply(
        unit_for(light), ticket_ids=[ticket.id], action="priority", value="high"
    )
    assert (outcome.ok, outcome.failure, outcome.permission) == (
        False,
        "forbidden",
        "ticket.edit",
    )
    db.rollback()
    assert db.get(Ticket, ticket.id).priority == "medium"


def test_bulk_close_moves_each_ticket_to_the_first_closed_status(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket], hanako: Agent
) -> None:
    first, second = make_ticket("A"), make_ticket("B")
    outcomes = ticket_bulk.apply(unit_for(hanako), ticket_ids=[first.id, second.id], action="close")
    db.commit()
    assert all(o.ok for o in outcomes)
    db.expire_all()
    closed = ticket_bulk.close_status(unit_for(hanako))
    assert {db.get(Ticket, t.id).status for t in (first, second)} == {closed}
    assert db.get(Ticket, first.id).closed_at is not None


@pytest.mark.parametrize(
    ("ids", "action", "value", "field"),
    [
        ([], "assign", None, "ticket_ids"),
        ("12", "assign", None, "ticket_ids"),
        ([1], "delete", None, "action"),
        ([1], "priority", "whenever", "value"),
        ([1], "status", "No such status", "value"),
        ([1], "assign", "someone", "value"),
    ],
)
def test_a_bad_bulk_request_changes_nothing_and_names_the_field(
    unit_for: UnitFor, hanako: Agent, ids: object, action: str, value: object, field: str
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        ticket_bulk.apply(unit_for(hanako), ticket_ids=ids, action=action, value=value)  # type: ignore[arg-type]
    assert field in failure.value.errors


# -------------------------------------------------------------------------------- timeline


def test_timeline_interleaves_threads_and_changes_by_time(
    db: Session,
    unit_for: UnitFor,
    make_ticket: Callable[..., Ticket],
    hanako: Agent,
    taro: Agent,
    sales: Department,
    frozen_clock: None,
) -> None:
    ticket = make_ticket()
    unit = unit_for(hanako)
    clock.advance(timedelta(minutes=1))
    tickets.add_thread(unit, ticket, kind="outgoing", body="On it")
    clock.advance(timedelta(minutes=1))
    tickets.update_ticket(unit, ticket, assignee_id=taro.id)
    clock.advance(timedelta(minutes=1))
    tickets.update_ticket(unit, ticket, priority="high")
    clock.advance(timedelta(minutes=1))
    tickets.change_status(unit, ticket, "On Hold")
    clock.advance(timedelta(minutes=1))
    ticket_tags.set_ticket_tags(unit, ticket, ["Billing", "vip"])
    clock.advance(timedelta(minutes=1))
    tickets.update_ticket(unit, ticket, department_id=sales.id)
    db.commit()

    admin = Unit(db, Actor.system("test"), None)
    entries = ticket_timeline.conversation(admin, ticket)
    told = [
        ("thread", e.thread.body)
        if e.thread
        else (e.change.what, e.change.actor, e.change.before, e.change.after)
        for e in entries
    ]
    assert told == [
        ("thread", "On it"),
        ("assignee", "Hanako", None, "Taro"),
        ("priority", "Hanako", "medium", "high"),
        ("status", "Hanako", "Open", "On Hold"),
        ("tags", "Hanako", [], ["billing", "vip"]),
        # The move takes the assignee off: Taro is not in Sales.
        ("department", "Hanako", "Support", "Sales"),
        ("assignee", "Hanako", "Taro", None),
    ]


def test_timeline_tells_a_due_date_as_an_aware_time(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket], hanako: Agent
) -> None:
    ticket = make_ticket()
    due = datetime(2026, 12, 24, 18, 0, tzinfo=UTC)
    tickets.update_ticket(unit_for(hanako), ticket, due_at=due)
    db.commit()
    [entry] = ticket_timeline.changes(unit_for(hanako), ticket)
    assert entry.change.what == "due_at"
    assert entry.change.after == due


# ------------------------------------------------------------------------------------ tags


def test_tags_are_set_added_and_removed_with_an_audit_entry_each(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket], hanako: Agent
) -> None:
    ticket, other = make_ticket(), make_ticket("Other")
    unit = unit_for(hanako)
    assert ticket_tags.add_ticket_tags(unit, ticket, ["VIP", " refund "]) == ["refund", "vip"]
    assert ticket_tags.add_ticket_tags(unit, ticket, ["vip"]) == ["refund", "vip"]  # no change
    assert ticket_tags.remove_ticket_tag(unit, ticket, "refund") == ["vip"]
    ticket_tags.set_ticket_tags(unit, other, ["vip"])
    db.commit()
    assert ticket_tags.tags_of_tickets(unit, [ticket.id, other.id]) == {
        ticket.id: ["vip"],
        other.id: ["vip"],
    }
    assert [a.sub_action for a in _audits(db, ticket)] == ["tags", "tags"]


def test_an_empty_tag_is_refused_naming_the_field(
    unit_for: UnitFor, make_ticket: Callable[..., Ticket], hanako: Agent
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        ticket_tags.add_ticket_tags(unit_for(hanako), make_ticket(), ["  "])
    assert "tags" in failure.value.errors


def test_a_light_agent_cannot_tag_a_ticket(
    unit_for: UnitFor, make_ticket: Callable[..., Ticket], make_agent, department
) -> None:
    light = make_agent("light@example.com", profile="Light Agent", departments=[department])
    from core.errors import Forbidden

    with pytest.raises(Forbidden):
        ticket_tags.set_ticket_tags(unit_for(light), make_ticket(), ["vip"])


# -------------------------------------------------------------------------------- delivery


def _mail(db: Session, ticket: Ticket, thread_id: int, **values: object) -> MailMessage:
    mail = MailMessage(
        message_id=f"<{thread_id}-{values.get('attempts', 0)}@test>",
        ticket_id=ticket.id,
        thread_id=thread_id,
        direction=MailDirection.OUTBOUND.value,
        created_at=clock.now(),
        sent_at=values.get("sent_at"),
        attempts=values.get("attempts", 0),
        last_error=values.get("last_error", ""),
    )
    db.add(mail)
    db.commit()
    return mail


@pytest.mark.parametrize(
    ("values", "configured", "state", "reason"),
    [
        ({}, True, "queued", ""),
        ({}, False, "not_configured", ""),
        (
            {"attempts": 2, "last_error": "SMTPServerDisconnected: gone"},
            True,
            "retrying",
            "SMTPServerDisconnected: gone",
        ),
        (
            {"attempts": 5, "last_error": "SMTPRecipientsRefused"},
            True,
            "failed",
            "SMTPRecipientsRefused",
        ),
        ({"attempts": 1, "sent_at": datetime(2026, 12, 1, tzinfo=UTC)}, False, "sent", ""),
    ],
)
def test_a_replys_delivery_state_comes_from_its_outbound_mail(
    db: Session,
    make_ticket: Callable[..., Ticket],
    hanako: Agent,
    values: dict[str, object],
    configured: bool,
    state: str,
    reason: str,
) -> None:
    ticket = make_ticket(channel="phone")  # a phone ticket: no mail is queued by itself
    thread = tickets.add_thread(Unit(db, Actor(hanako), None), ticket, kind="outgoing", body="Hi")
    db.commit()
    mail = _mail(db, ticket, thread.id, **values)
    delivery = ticket_timeline.delivery_of(mail, configured=configured)
    assert (delivery.state, delivery.reason) == (state, reason)


def test_deliveries_of_a_desk_without_smtp_say_mail_is_not_configured(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket], hanako: Agent
) -> None:
    ticket = make_ticket(channel="phone")
    thread = tickets.add_thread(unit_for(hanako), ticket, kind="outgoing", body="Hi")
    db.commit()
    _mail(db, ticket, thread.id)
    found = ticket_timeline.deliveries(unit_for(hanako), [thread])
    assert found[thread.id].state == "not_configured"


def test_a_thread_without_mail_has_no_delivery(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket], hanako: Agent
) -> None:
    ticket = make_ticket(channel="phone")
    thread = tickets.add_thread(unit_for(hanako), ticket, kind="comment", body="Note")
    assert ticket_timeline.deliveries(unit_for(hanako), [thread]) == {}


# -------------------------------------------------------------------------------- mentions


def _mentions_of(db: Session, agent: Agent) -> list[Notification]:
    db.commit()
    return list(
        db.scalars(
            select(Notification).where(
                Notification.agent_id == agent.id, Notification.kind == "mention"
            )
        )
    )


def test_a_mention_in_a_ticket_comment_notifies_agents_who_see_the_ticket(
    db: Session,
    unit_for: UnitFor,
    make_ticket: Callable[..., Ticket],
    make_agent: Callable[..., Agent],
    hanako: Agent,
    taro: Agent,
    sales: Department,
) -> None:
    outsider = make_agent("out@example.com", name="Outsider", departments=[sales])
    ticket = make_ticket()
    body = f"{mention_token(taro)} and {mention_token(outsider)} and {mention_token(hanako)}: look"
    tickets.add_thread(unit_for(hanako), ticket, kind="comment", body=body)
    [told] = _mentions_of(db, taro)
    assert (told.ticket_id, told.actor_id) == (ticket.id, hanako.id)
    assert "@Taro" in told.summary
    assert _mentions_of(db, outsider) == []  # cannot see the Support ticket
    assert _mentions_of(db, hanako) == []  # the author is not told of their own mention


def test_a_mention_token_in_a_reply_notifies_nobody(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket], hanako: Agent, taro: Agent
) -> None:
    tickets.add_thread(
        unit_for(hanako), make_ticket(), kind="outgoing", body=f"{mention_token(taro)} hi"
    )
    assert _mentions_of(db, taro) == []


# ---------------------------------------------------------------------- opening a ticket


def test_opening_a_ticket_with_a_known_email_uses_that_contact(
    host: Host, make_contact: Callable[..., Contact], department: Department, hanako: Agent
) -> None:
    known = make_contact(email="hanako@example.com")
    with host.write_sessions() as session:
        unit = Unit(session, Actor(session.get(Agent, hanako.id)), None)
        ticket = new_ticket.open_ticket(
            unit,
            subject="Callback please",
            department_id=department.id,
            new_contact=new_ticket.NewContact("Someone Else", " HANAKO@example.com ", ""),
        )
        session.commit()
        assert ticket.contact_id == known.id
        assert ticket.channel == "phone"
        assert session.scalar(select(func.count()).select_from(Contact)) == 1


def test_opening_a_ticket_with_a_new_contact_registers_it(
    host: Host, department: Department, hanako: Agent
) -> None:
    with host.write_sessions() as session:
        unit = Unit(session, Actor(session.get(Agent, hanako.id)), None)
        ticket = new_ticket.open_ticket(
            unit,
            subject="Hello",
            department_id=department.id,
            channel="email",
            new_contact=new_ticket.NewContact("Ito Jun", "jun@example.com", ""),
        )
        session.commit()
        contact = session.get(Contact, ticket.contact_id)
        assert contact is not None and contact.email == "jun@example.com"


def test_a_refused_ticket_takes_its_new_contact_back(
    host: Host, department: Department, hanako: Agent
) -> None:
    with host.write_sessions() as session:
        unit = Unit(session, Actor(session.get(Agent, hanako.id)), None)
        with pytest.raises(ValidationFailed) as failure:
            new_ticket.open_ticket(
                unit,
                subject="Hello",
                department_id=department.id,
                priority="whenever",
                new_contact=new_ticket.NewContact("Ito Jun", "jun@example.com", ""),
            )
        assert "priority" in failure.value.errors
        assert session.scalar(select(func.count()).select_from(Contact)) == 0


def test_a_new_contact_needs_an_email_or_phone_and_valid_ones(
    host: Host, department: Department, hanako: Agent
) -> None:
    with host.write_sessions() as session:
        unit = Unit(session, Actor(session.get(Agent, hanako.id)), None)
        for contact, field in (
            (new_ticket.NewContact("No way to reach"), "contact_email"),
            (new_ticket.NewContact("Bad", "not-an-address"), "contact_email"),
            (new_ticket.NewContact("Bad", "", "12"), "contact_phone"),
        ):
            with pytest.raises(ValidationFailed) as failure:
                new_ticket.open_ticket(
                    unit, subject="", department_id=department.id, new_contact=contact
                )
            assert {field, "subject"} <= set(failure.value.errors)


# ------------------------------------------------------------------------ list, count, move


def test_tickets_are_listed_and_counted_by_status_name(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket], hanako: Agent
) -> None:
    system = unit_for(None)
    tickets.create_status(system, name="Awaiting parts", status_type="on_hold")
    waiting = make_ticket("Waiting", status="Awaiting parts")
    make_ticket("Other", status="On Hold")
    unit = unit_for(hanako)
    assert [t.id for t in tickets.list_tickets(unit, status="Awaiting parts")] == [waiting.id]
    assert tickets.count_tickets(unit, status="Awaiting parts").count == 1
    assert tickets.count_tickets(unit, status_type="on_hold").count == 2


def test_count_says_how_many_come_before_the_page(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket], hanako: Agent
) -> None:
    for n in range(7):
        make_ticket(f"T{n}")
    unit = unit_for(hanako)
    first_page = tickets.list_tickets(unit, limit=3)
    count = tickets.count_tickets(unit, before=Cursor.of(first_page[-1]))
    assert (count.count, count.capped, count.newer) == (7, False, 3)


def test_a_ticket_may_move_to_a_department_the_mover_is_not_in(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket], hanako: Agent, sales
) -> None:
    ticket = make_ticket(assignee_id=hanako.id)
    unit = unit_for(hanako)
    tickets.update_ticket(unit, ticket, department_id=sales.id)
    db.commit()
    assert (ticket.department_id, ticket.assignee_id) == (sales.id, None)
    with pytest.raises(NotFound):
        tickets.get_ticket(unit, ticket.id)


def test_assignable_agents_are_the_active_members_of_the_department(
    db: Session, unit_for: UnitFor, hanako: Agent, taro: Agent, make_agent, department, sales
) -> None:
    make_agent("seller@example.com", name="Seller", departments=[sales])
    gone = make_agent("gone@example.com", name="Gone", departments=[department])
    gone.is_active = False
    db.commit()
    names = [a.name for a in tickets.assignable_agents(unit_for(hanako), department.id)]
    assert names == ["Hanako", "Taro"]
    with pytest.raises(NotFound):
        tickets.assignable_agents(unit_for(hanako), sales.id)
