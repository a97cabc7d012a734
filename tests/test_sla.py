"""SLA due times: computed on create and priority change, paused on hold, escalated once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.host import Host
from core.models import Agent, AuditEntry, Department, Holiday, OutboxEvent, Ticket, TicketSla
from core.services import sla, tickets
from core.services.base import Unit
from hostapi import clock, events

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_18 = [
    {"weekday": day, "start_minute": 9 * 60, "end_minute": 18 * 60} for day in range(5)
]
TARGETS = {
    "low": {"first_response_minutes": 8 * 60, "resolution_minutes": 40 * 60},
    "medium": {"first_response_minutes": 4 * 60, "resolution_minutes": 8 * 60},
    "urgent": {"first_response_minutes": 60, "resolution_minutes": 4 * 60},
}


@pytest.fixture
def frozen() -> Iterator[Callable[[datetime], None]]:
    """Set the host's clock; it runs again after the test."""
    yield clock.freeze
    clock.unfreeze()


@pytest.fixture
def system(unit_for: Callable[[Agent | None], Unit]) -> Unit:
    return unit_for(None)


@pytest.fixture
def office(db: Session, department: Department, system: Unit) -> Callable[..., Department]:
    """Give the Support department weekday hours 9:00–18:00 in a zone, holidays and a policy."""

    def arrange(zone: ZoneInfo = TOKYO, holidays: tuple[date, ...] = ()) -> Department:
        sla.set_business_hours(
            system,
            department.id,
            timezone=zone.key,
            always_open=False,
            intervals=WEEKDAYS_9_TO_18,
        )
        for day in holidays:
            sla.add_holiday(system, department.id, day=day, name="Holiday")
        sla.create_policy(system, name="Standard", targets=TARGETS, department_ids=[department.id])
        db.commit()
        return department

    return arrange


def _sla(db: Session, ticket: Ticket) -> TicketSla:
    record = db.get(TicketSla, ticket.id)
    assert record is not None
    return record


def _breaches(db: Session) -> list[OutboxEvent]:
    return list(
        db.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.name == events.TICKET_SLA_BREACHED)
            .order_by(OutboxEvent.seq)
        )
    )


def test_ticket_created_friday_1730_is_due_monday_1230(
    db: Session, office: Callable[..., Department], make_ticket: Callable[..., Ticket], frozen
) -> None:
    office(TOKYO)
    frozen(datetime(2026, 12, 4, 17, 30, tzinfo=TOKYO))
    ticket = make_ticket()
    assert _sla(db, ticket).first_response_due_at == datetime(2026, 12, 7, 12, 30, tzinfo=TOKYO)
    assert ticket.due_at == datetime(2026, 12, 7, 16, 30, tzinfo=TOKYO)


@pytest.mark.parametrize(
    ("zone", "friday", "monday"),
    [
        (BERLIN, date(2026, 3, 27), date(2026, 3, 30)),
        (NEW_YORK, date(2026, 10, 30), date(2026, 11, 2)),
    ],
    ids=["berlin-spring-forward", "new-york-fall-back"],
)
def test_due_time_across_a_dst_change_is_monday_1230_local(
    db: Session,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    frozen,
    zone: ZoneInfo,
    friday: date,
    monday: date,
) -> None:
    office(zone)
    frozen(datetime(friday.year, friday.month, friday.day, 17, 30, tzinfo=zone))
    ticket = make_ticket()
    due = _sla(db, ticket).first_response_due_at
    assert due == datetime(monday.year, monday.month, monday.day, 12, 30, tzinfo=zone)


def test_a_monday_holiday_moves_the_due_time_to_tuesday_1230(
    db: Session, office: Callable[..., Department], make_ticket: Callable[..., Ticket], frozen
) -> None:
    office(TOKYO, holidays=(date(2026, 12, 7),))
    frozen(datetime(2026, 12, 4, 17, 30, tzinfo=TOKYO))
    ticket = make_ticket()
    assert _sla(db, ticket).first_response_due_at == datetime(2026, 12, 8, 12, 30, tzinfo=TOKYO)


def test_on_hold_pauses_and_resuming_moves_due_times_by_the_business_time_held(
    db: Session,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    system: Unit,
    frozen,
) -> None:
    office(TOKYO)
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    ticket = make_ticket()
    assert _sla(db, ticket).first_response_due_at == datetime(2026, 12, 7, 13, 0, tzinfo=TOKYO)
    frozen(datetime(2026, 12, 7, 10, 0, tzinfo=TOKYO))
    tickets.change_status(system, ticket, "On Hold")
    db.commit()
    assert _sla(db, ticket).first_response_watch_at is None
    frozen(datetime(2026, 12, 7, 15, 0, tzinfo=TOKYO))
    tickets.change_status(system, ticket, "Open")
    db.commit()
    clock_record = _sla(db, ticket)
    assert clock_record.paused_seconds == 5 * 3600
    assert clock_record.first_response_due_at == datetime(2026, 12, 7, 18, 0, tzinfo=TOKYO)
    assert clock_record.first_response_watch_at == clock_record.first_response_due_at
    # Resolution: 8 business hours from Monday 9:00 was 17:00; 5 hours later is Tuesday 13:00.
    assert ticket.due_at == datetime(2026, 12, 8, 13, 0, tzinfo=TOKYO)


def test_a_paused_ticket_is_not_overdue(
    db: Session,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    system: Unit,
    frozen,
) -> None:
    office(TOKYO)
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    ticket = make_ticket()
    tickets.change_status(system, ticket, "On Hold")
    db.commit()
    later = datetime(2026, 12, 9, 9, 0, tzinfo=TOKYO)
    assert not sla.is_overdue(ticket, later)
    tickets.change_status(system, ticket, "Open", changed_at=later)
    assert not sla.is_overdue(ticket, later)


def test_a_priority_change_recomputes_the_due_times(
    db: Session,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    system: Unit,
    frozen,
) -> None:
    office(TOKYO)
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    ticket = make_ticket()
    frozen(datetime(2026, 12, 7, 9, 30, tzinfo=TOKYO))
    tickets.update_ticket(system, ticket, priority="urgent")
    db.commit()
    assert _sla(db, ticket).first_response_due_at == datetime(2026, 12, 7, 10, 0, tzinfo=TOKYO)
    assert ticket.due_at == datetime(2026, 12, 7, 13, 0, tzinfo=TOKYO)


def test_a_due_date_set_by_hand_wins_until_the_priority_changes(
    db: Session,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    make_department: Callable[..., Department],
    system: Unit,
    frozen,
) -> None:
    office(TOKYO)
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    ticket = make_ticket()
    by_hand = datetime(2026, 12, 24, 12, 0, tzinfo=TOKYO)
    tickets.update_ticket(system, ticket, due_at=by_hand)
    assert sla.due_at_is_manual(ticket)
    tickets.update_ticket(system, ticket, department_id=make_department("Sales").id)
    assert ticket.due_at == by_hand
    tickets.update_ticket(system, ticket, priority="low")
    db.commit()
    assert not sla.due_at_is_manual(ticket)
    assert ticket.due_at is None  # Sales has no policy


def test_a_department_move_takes_the_new_departments_policy(
    db: Session,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    make_department: Callable[..., Department],
    system: Unit,
    frozen,
) -> None:
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    ticket = make_ticket()
    assert ticket.due_at is None
    support = office(TOKYO)
    sales = make_department("Sales")
    tickets.update_ticket(system, ticket, department_id=sales.id)
    tickets.update_ticket(system, ticket, department_id=support.id)
    db.commit()
    assert _sla(db, ticket).first_response_due_at == datetime(2026, 12, 7, 13, 0, tzinfo=TOKYO)


def test_the_first_public_agent_reply_meets_the_first_response_target(
    db: Session,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    admin_agent: Agent,
    unit_for: Callable[[Agent | None], Unit],
    frozen,
) -> None:
    office(TOKYO)
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    ticket = make_ticket()
    agent_unit = unit_for(admin_agent)
    tickets.add_thread(agent_unit, ticket, kind="comment", body="Looking into it")
    assert _sla(db, ticket).first_responded_at is None
    frozen(datetime(2026, 12, 7, 10, 0, tzinfo=TOKYO))
    tickets.add_thread(agent_unit, ticket, kind="outgoing", body="Hello")
    db.commit()
    record = _sla(db, ticket)
    assert record.first_responded_at == datetime(2026, 12, 7, 10, 0, tzinfo=TOKYO)
    assert record.first_response_watch_at is None
    assert not sla.is_overdue(ticket, datetime(2026, 12, 7, 16, 0, tzinfo=TOKYO))


def test_a_breach_is_emitted_once_per_target_and_due_time(
    db: Session,
    host: Host,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    frozen,
) -> None:
    office(TOKYO)
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    ticket = make_ticket()
    frozen(datetime(2026, 12, 7, 13, 30, tzinfo=TOKYO))
    assert sla.is_overdue(ticket)
    assert sla.escalate_breaches(host) == 1
    assert sla.escalate_breaches(host) == 0
    db.commit()  # a fresh snapshot: the scheduler committed in its own sessions
    (breach,) = _breaches(db)
    assert breach.payload == {
        "ticket_id": ticket.id,
        "department_id": ticket.department_id,
        "target": "first_response",
        "due_at": datetime(2026, 12, 7, 13, 0, tzinfo=TOKYO)
        .astimezone(clock.now().tzinfo)
        .isoformat(),
        "breached_at": clock.now().isoformat(),
    }
    assert breach.department_ids == [ticket.department_id]
    frozen(datetime(2026, 12, 7, 17, 30, tzinfo=TOKYO))
    assert sla.escalate_breaches(host) == 1
    db.commit()  # a fresh snapshot: the scheduler committed in its own sessions
    assert [event.payload["target"] for event in _breaches(db)] == [
        "first_response",
        "resolution",
    ]
    audit = db.scalars(select(AuditEntry).where(AuditEntry.sub_action == "sla_breached")).all()
    assert len(audit) == 2


def test_a_new_due_time_after_a_priority_change_can_breach_again(
    db: Session,
    host: Host,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    system: Unit,
    frozen,
) -> None:
    office(TOKYO)
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    ticket = make_ticket()
    frozen(datetime(2026, 12, 7, 13, 30, tzinfo=TOKYO))
    assert sla.escalate_breaches(host) == 1
    db.commit()  # a fresh snapshot: the scheduler committed in its own sessions
    tickets.update_ticket(system, db.get(Ticket, ticket.id), priority="low")
    db.commit()
    frozen(datetime(2026, 12, 7, 17, 30, tzinfo=TOKYO))
    assert sla.escalate_breaches(host) == 1  # low: 8 h, due 17:00
    frozen(datetime(2026, 12, 7, 17, 45, tzinfo=TOKYO))
    assert sla.escalate_breaches(host) == 0


def test_two_schedulers_at_once_emit_each_breach_once(
    db: Session,
    host: Host,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    frozen,
) -> None:
    office(TOKYO)
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    for number in range(6):
        make_ticket(f"Ticket {number}")
    frozen(datetime(2026, 12, 8, 9, 0, tzinfo=TOKYO))
    counts: list[int] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        counts.append(sla.escalate_breaches(host))

    runners = [threading.Thread(target=run) for _ in range(2)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(timeout=60)
    assert sum(counts) == 12
    db.commit()  # a fresh snapshot: the scheduler committed in its own sessions
    assert len(_breaches(db)) == 12


def test_a_closed_ticket_is_not_escalated(
    db: Session,
    host: Host,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    system: Unit,
    frozen,
) -> None:
    office(TOKYO)
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    ticket = make_ticket()
    tickets.change_status(system, ticket, "Closed")
    db.commit()
    frozen(datetime(2026, 12, 9, 9, 0, tzinfo=TOKYO))
    assert sla.escalate_breaches(host) == 0
    assert not sla.is_overdue(ticket)


def test_overlapping_intervals_are_refused(department: Department, system: Unit) -> None:
    with pytest.raises(ValidationFailed) as failed:
        sla.set_business_hours(
            system,
            department.id,
            timezone="Asia/Tokyo",
            always_open=False,
            intervals=[
                {"weekday": 0, "start_minute": 540, "end_minute": 720},
                {"weekday": 0, "start_minute": 700, "end_minute": 1080},
            ],
        )
    assert "intervals" in failed.value.errors


def test_business_hours_need_a_known_time_zone_and_some_hours(
    department: Department, system: Unit
) -> None:
    with pytest.raises(ValidationFailed) as failed:
        sla.set_business_hours(
            system, department.id, timezone="Mars/Olympus", always_open=False, intervals=[]
        )
    assert set(failed.value.errors) == {"timezone", "intervals"}


def test_business_hours_change_is_audited_and_emitted(
    db: Session, department: Department, system: Unit
) -> None:
    sla.set_business_hours(system, department.id, timezone=None, always_open=True)
    db.commit()
    (event,) = db.scalars(
        select(OutboxEvent).where(OutboxEvent.name == events.BUSINESS_HOURS_UPDATED)
    ).all()
    assert event.payload["department_id"] == department.id
    assert event.payload["changes"]["always_open"] == [None, True]


def test_a_department_belongs_to_one_active_policy(
    db: Session, department: Department, system: Unit
) -> None:
    sla.create_policy(system, name="Gold", targets=TARGETS, department_ids=[department.id])
    with pytest.raises(ValidationFailed) as failed:
        sla.create_policy(system, name="Silver", targets=TARGETS, department_ids=[department.id])
    assert failed.value.errors == {
        "department_ids": ["A chosen department is covered by another active policy."]
    }


def test_a_deactivated_policys_department_can_be_taken_by_another(
    db: Session, department: Department, system: Unit
) -> None:
    gold = sla.create_policy(system, name="Gold", targets=TARGETS, department_ids=[department.id])
    sla.update_policy(system, gold, is_active=False)
    silver = sla.create_policy(
        system, name="Silver", targets=TARGETS, department_ids=[department.id]
    )
    db.commit()
    assert sla.policy_for_department(db, department.id) is silver
    assert gold.department_ids == []
    names = [e.name for e in db.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))]
    assert names.count(events.SLA_POLICY_CREATED) == 2
    assert names.count(events.SLA_POLICY_UPDATED) == 1


def test_policy_targets_are_checked_per_priority(department: Department, system: Unit) -> None:
    with pytest.raises(ValidationFailed) as failed:
        sla.create_policy(
            system,
            name="",
            targets={"medium": {"first_response_minutes": 0, "resolution_minutes": 60}},
        )
    assert set(failed.value.errors) == {"name", "targets.medium.first_response_minutes"}


def test_national_holidays_of_a_year_are_added_once(
    db: Session, department: Department, system: Unit
) -> None:
    added = sla.add_national_holidays(system, department.id, country="JP", year=2026, language="ja")
    assert date(2026, 1, 1) in {h.day for h in added}
    assert any(h.name == "元日" for h in added)
    assert sla.add_national_holidays(system, department.id, country="JP", year=2026) == []
    db.commit()
    count = len(db.scalars(select(Holiday).where(Holiday.department_id == department.id)).all())
    assert count == len(added)


def test_an_unknown_country_is_refused(department: Department, system: Unit) -> None:
    with pytest.raises(ValidationFailed) as failed:
        sla.add_national_holidays(system, department.id, country="XX", year=1800)
    assert set(failed.value.errors) == {"country", "year"}


def test_the_worker_scheduler_emits_the_breaches_due(
    db: Session,
    host: Host,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    frozen,
) -> None:
    from core import worker

    office(TOKYO)
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    make_ticket()
    frozen(datetime(2026, 12, 7, 13, 30, tzinfo=TOKYO))
    worker.run(host, burst=True)
    db.commit()
    assert [event.payload["target"] for event in _breaches(db)] == ["first_response"]


def test_clocks_started_late_count_from_creation_and_do_not_escalate_the_past(
    db: Session,
    host: Host,
    department: Department,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    admin_agent: Agent,
    unit_for: Callable[[Agent | None], Unit],
    system: Unit,
    frozen,
) -> None:
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    answered = make_ticket("Answered", due_at=datetime(2027, 1, 1, tzinfo=TOKYO))
    tickets.add_thread(unit_for(admin_agent), answered, kind="outgoing", body="On it")
    waiting = make_ticket("Waiting")
    office(TOKYO)  # the policy comes after the tickets
    frozen(datetime(2026, 12, 7, 14, 0, tzinfo=TOKYO))
    assert sla.start_clocks(system, [answered, waiting]) == 2
    db.commit()
    assert not sla.due_at_is_manual(answered)
    assert answered.due_at == datetime(2026, 12, 7, 17, 0, tzinfo=TOKYO)
    assert _sla(db, answered).first_responded_at == datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO)
    assert sla.is_overdue(waiting)  # first response was due at 13:00
    assert sla.escalate_breaches(host) == 0
    frozen(datetime(2026, 12, 7, 17, 30, tzinfo=TOKYO))
    assert sla.escalate_breaches(host) == 2  # both resolutions, due 17:00, after the start


def test_a_priority_change_reports_the_moved_due_date_in_its_event(
    db: Session,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    system: Unit,
    frozen,
) -> None:
    office(TOKYO)
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    ticket = make_ticket()
    tickets.update_ticket(system, ticket, priority="urgent")
    db.commit()
    (event,) = db.scalars(
        select(OutboxEvent).where(OutboxEvent.name == events.TICKET_UPDATED)
    ).all()
    assert event.payload["changes"]["due_at"] == [
        "2026-12-07T08:00:00+00:00",  # 17:00 in Tokyo
        "2026-12-07T04:00:00+00:00",  # 13:00 in Tokyo
    ]


def test_a_ticket_recorded_after_the_fact_is_not_escalated_for_the_past(
    db: Session,
    host: Host,
    office: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    frozen,
) -> None:
    office(TOKYO)
    frozen(datetime(2026, 12, 9, 9, 0, tzinfo=TOKYO))
    ticket = make_ticket(created_at=datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    assert sla.is_overdue(ticket)
    assert sla.escalate_breaches(host) == 0


def test_policies_know_every_ticket_priority() -> None:
    assert sla.PRIORITIES == tickets.PRIORITIES
