"""History import: counts, refusal by line, skipping, references, events and live parity."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.host import Host
from core.importer import ImportRefused, run_import
from core.models import (
    Agent,
    AuditEntry,
    Contact,
    Department,
    HappinessRating,
    OutboxEvent,
    StatusChange,
    Thread,
    Ticket,
    TimeEntry,
)
from core.services import tickets as ticket_service
from core.services.base import Actor, Unit
from hostapi import events

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    """An ISO time ``minutes`` after T0, written with a +09:00 offset."""
    return (T0 + timedelta(minutes=minutes)).astimezone().isoformat()


def jsonl(*records: dict[str, Any]) -> io.BytesIO:
    """A JSON Lines file of ``records``."""
    return io.BytesIO(b"".join(msgspec.json.encode(r) + b"\n" for r in records))


def base_records() -> list[dict[str, Any]]:
    """A department, an agent, an account and a contact."""
    return [
        {"type": "department", "id": "d1", "name": "Support"},
        {"type": "profile", "id": "p-agent", "name": "Agent"},
        {
            "type": "agent",
            "id": "a1",
            "email": "rin@example.com",
            "name": "Rin",
            "profile": "p-agent",
            "departments": ["d1"],
        },
        {"type": "account", "id": "acc1", "name": "Acme 株式会社"},
        {
            "type": "contact",
            "id": "c1",
            "last_name": "Yamada",
            "first_name": "Hanako",
            "email": "hanako@example.jp",
            "account": "acc1",
            "tags": ["vip"],
            "identities": [{"channel": "line", "external_id": "U123"}],
        },
    ]


def reopened_ticket(ref: str = "t1", **overrides: Any) -> dict[str, Any]:
    """A ticket closed, reopened and closed again, with threads, ratings and time."""
    record = {
        "type": "ticket",
        "id": ref,
        "subject": "Cannot sign in",
        "department": "d1",
        "contact": "c1",
        "assignee": "a1",
        "channel": "email",
        "created_at": at(0),
        "status_history": [
            {"to_status": "Open", "changed_at": at(0)},
            {"to_status": "Closed", "changed_at": at(60), "agent": "a1"},
            {"to_status": "Open", "changed_at": at(120)},
            {"to_status": "Resolved", "changed_at": at(180), "agent": "a1"},
        ],
        "threads": [
            {"kind": "outgoing", "agent": "a1", "body": "Try again?", "created_at": at(30)},
            {"kind": "incoming", "contact": "c1", "body": "Still broken", "created_at": at(120)},
            {"kind": "comment", "agent": "a1", "body": "Known bug", "created_at": at(121)},
            {"kind": "notification", "body": "Auto-reply", "created_at": at(122)},
        ],
        "ratings": [
            {"rating": "bad", "created_at": at(70)},
            {"rating": "good", "feedback": "Thanks", "created_at": at(200)},
        ],
        "time_entries": [{"seconds": 600, "billable": True, "agent": "a1", "logged_at": at(90)}],
    }
    record.update(overrides)
    return record


def count(db: Session, model: Any) -> int:
    """Rows of ``model``."""
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_small_file_imports_every_record(host: Host, db: Session) -> None:
    report = run_import(host, jsonl(*base_records(), reopened_ticket()))
    assert report.counts == {
        "department": 1,
        "profile": 1,
        "agent": 1,
        "account": 1,
        "contact": 1,
        "ticket": 1,
        "thread": 4,
        "status_change": 4,
        "rating": 2,
        "time_entry": 1,
    }
    assert report.skipped == []
    assert (count(db, Thread), count(db, HappinessRating), count(db, TimeEntry)) == (4, 2, 1)
    contact = db.scalars(select(Contact)).one()
    assert contact.account is not None and contact.account.name == "Acme 株式会社"
    assert [t.name for t in contact.tags] == ["vip"]
    assert [(i.channel, i.external_id) for i in contact.identities] == [("line", "U123")]
    agent = db.scalars(select(Agent)).one()
    assert [d.name for d in agent.departments] == ["Support"]


def test_imported_phones_are_normalised_for_matching(host: Host, db: Session) -> None:
    records = base_records()
    records[-1] = {**records[-1], "phone": "03-1234-5678", "mobile": "+81 90 1234 5678"}
    run_import(host, jsonl(*records))
    contact = db.scalars(select(Contact)).one()
    assert (contact.phone_e164, contact.mobile_e164) == ("+81312345678", "+819012345678")


def test_imported_ticket_takes_the_contacts_account_and_a_number(host: Host, db: Session) -> None:
    run_import(host, jsonl(*base_records(), reopened_ticket()))
    ticket = db.scalars(select(Ticket)).one()
    assert ticket.account is not None and ticket.account.name == "Acme 株式会社"
    assert ticket.number == 1
    assert ticket.external_id == "t1"


def test_imported_history_matches_live_history(host: Host, db: Session) -> None:
    run_import(host, jsonl(*base_records(), reopened_ticket()))
    imported = db.scalars(select(Ticket)).one()
    agent = db.scalars(select(Agent)).one()
    with host.transaction() as session:
        unit = Unit(session, Actor(agent=session.get(Agent, agent.id)), host)
        live = ticket_service.create_ticket(
            unit,
            subject="Cannot sign in",
            department_id=imported.department_id,
            channel="email",
            contact_id=imported.contact_id,
            created_at=T0,
        )
        for minutes, status in ((60, "Closed"), (120, "Open"), (180, "Resolved")):
            ticket_service.change_status(
                unit, live, status, changed_at=T0 + timedelta(minutes=minutes)
            )
        live_id = live.id

    def history(ticket_id: int) -> list[tuple[Any, ...]]:
        return [
            (c.from_status, c.from_type, c.to_status, c.to_type, c.changed_at)
            for c in db.scalars(
                select(StatusChange)
                .where(StatusChange.ticket_id == ticket_id)
                .order_by(StatusChange.changed_at, StatusChange.id)
            )
        ]

    db.rollback()
    live_ticket = db.get(Ticket, live_id)
    assert live_ticket is not None
    assert history(imported.id) == history(live_id)
    assert imported.closed_at == live_ticket.closed_at == T0 + timedelta(minutes=60 * 3)
    assert imported.status_type == live_ticket.status_type == "closed"
    assert imported.account_id == live_ticket.account_id


def test_ticket_without_history_gets_its_creation_status_change(host: Host, db: Session) -> None:
    ticket = reopened_ticket(status="Closed", status_history=[], threads=[], ratings=[])
    run_import(host, jsonl(*base_records(), ticket))
    change = db.scalars(select(StatusChange)).one()
    assert (change.from_status, change.to_status, change.to_type) == (None, "Closed", "closed")
    assert change.changed_at == T0
    assert db.scalars(select(Ticket)).one().closed_at == T0


def test_reopened_ticket_has_no_closed_time(host: Host, db: Session) -> None:
    history = reopened_ticket()["status_history"][:3]
    run_import(host, jsonl(*base_records(), reopened_ticket(status_history=history)))
    ticket = db.scalars(select(Ticket)).one()
    assert (ticket.status, ticket.status_type, ticket.closed_at) == ("Open", "open", None)


def test_bad_record_refuses_the_import_naming_line_and_field(host: Host, db: Session) -> None:
    bad = reopened_ticket("t2")
    bad["threads"][1]["kind"] = "email"
    with pytest.raises(ImportRefused) as refused:
        run_import(host, jsonl(*base_records(), reopened_ticket(), bad))
    [(line, message)] = refused.value.errors
    assert line == 7
    assert "threads[1].kind" in message
    assert (count(db, Ticket), count(db, Department), count(db, Contact)) == (0, 0, 0)
    assert count(db, OutboxEvent) == 0


def test_time_without_offset_is_refused(host: Host) -> None:
    bad = reopened_ticket(created_at="2025-03-01T09:00:00")
    with pytest.raises(ImportRefused) as refused:
        run_import(host, jsonl(*base_records(), bad))
    assert refused.value.errors[0][0] == 6
    assert "created_at" in refused.value.errors[0][1]


def test_thread_before_the_ticket_is_refused(host: Host) -> None:
    bad = reopened_ticket()
    bad["threads"][0]["created_at"] = at(-5)
    with pytest.raises(ImportRefused) as refused:
        run_import(host, jsonl(*base_records(), bad))
    assert "threads[0].created_at" in refused.value.errors[0][1]


def test_history_out_of_order_is_refused(host: Host) -> None:
    bad = reopened_ticket()
    bad["status_history"][2]["changed_at"] = at(10)
    with pytest.raises(ImportRefused) as refused:
        run_import(host, jsonl(*base_records(), bad))
    assert "status_history[2].changed_at" in refused.value.errors[0][1]


def test_reference_to_unknown_department_is_refused(host: Host, db: Session) -> None:
    with pytest.raises(ImportRefused) as refused:
        run_import(host, jsonl(*base_records(), reopened_ticket(department="nowhere")))
    [(line, message)] = refused.value.errors
    assert line == 6
    assert "department" in message and "nowhere" in message
    assert count(db, Ticket) == 0


def test_skip_invalid_imports_the_rest_and_reports_dependents(host: Host, db: Session) -> None:
    records = base_records()
    records[4] = {**records[4], "email": "not an email"}
    records.append(reopened_ticket("t1"))
    records.append(reopened_ticket("t2", contact=None, threads=[], ratings=[]))
    report = run_import(host, jsonl(*records), skip_invalid=True)
    assert [line for line, _ in report.skipped] == [5, 6]
    assert "email" in report.skipped[0][1]
    assert "refused (line 5)" in report.skipped[1][1]
    assert report.counts["ticket"] == 1
    assert db.scalars(select(Ticket.external_id)).all() == ["t2"]


def test_later_import_refers_to_earlier_imported_records(host: Host, db: Session) -> None:
    run_import(host, jsonl(*base_records()))
    run_import(host, jsonl(reopened_ticket()))
    assert db.scalars(select(Ticket)).one().contact_id is not None


def test_same_ref_imported_twice_is_refused(host: Host) -> None:
    run_import(host, jsonl(*base_records()))
    with pytest.raises(ImportRefused) as refused:
        run_import(host, jsonl({"type": "department", "id": "d1", "name": "Other"}))
    assert "already defined" in refused.value.errors[0][1]


def test_one_import_event_per_batch(host: Host, db: Session) -> None:
    tickets = [reopened_ticket(f"t{n}") for n in range(5)]
    run_import(host, jsonl(*base_records(), *tickets), batch_tickets=2)
    outbox = db.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.name == events.HISTORY_IMPORTED)
        .order_by(OutboxEvent.seq)
    ).all()
    assert [e.payload["batch"] for e in outbox] == [1, 2, 3]
    assert [e.payload["counts"]["ticket"] for e in outbox] == [2, 2, 1]
    first, last = outbox[0].payload["ticket_ids"]
    assert last - first == 1
    assert count(db, OutboxEvent) == 3


def test_import_is_audited_once(host: Host, db: Session) -> None:
    run_import(host, jsonl(*base_records(), reopened_ticket()))
    entry = db.scalars(select(AuditEntry)).one()
    assert (entry.actor_label, entry.entity_type) == ("import", "import")
    assert entry.after is not None and entry.after["counts"]["ticket"] == 1


def test_given_ticket_numbers_advance_the_counter(host: Host, db: Session) -> None:
    run_import(host, jsonl(*base_records(), reopened_ticket("t1", number=500)))
    run_import(host, jsonl(reopened_ticket("t2")))
    assert sorted(db.scalars(select(Ticket.number))) == [500, 501]


def test_taken_ticket_number_is_refused(host: Host) -> None:
    run_import(host, jsonl(*base_records(), reopened_ticket("t1", number=7)))
    with pytest.raises(ImportRefused) as refused:
        run_import(host, jsonl(reopened_ticket("t2", number=7)))
    assert "number" in refused.value.errors[0][1]


def test_large_import_keeps_every_foreign_key(
    host: Host, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import inspect

    from core.importer import runner

    def foreign_keys() -> list[str]:
        inspector = inspect(host.engine)
        return sorted(
            str(fk["name"])
            for table in (
                "ticket",
                "ticket_status_change",
                "thread",
                "happiness_rating",
                "time_entry",
            )
            for fk in inspector.get_foreign_keys(table)
        )

    before = foreign_keys()
    monkeypatch.setattr(runner, "LARGE_IMPORT_BYTES", 0)
    run_import(host, jsonl(*base_records(), reopened_ticket()))
    assert foreign_keys() == before
    assert count(db, Thread) == 4
