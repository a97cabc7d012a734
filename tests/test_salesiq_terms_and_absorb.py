"""SalesIQ's chat window: the visitor's contract and SLA names, and an existing ticket merged
into the ticket the chat became. Over real HTTP through the stand-in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import select

from core.models import Account, Contact, Thread, Ticket
from core.services import contracts, sla, tickets
from tests.factories import system_unit
from tests.salesiq_desk import SalesDesk

pytest_plugins = ["tests.api_fixtures", "tests.salesiq_desk"]

TARGETS = {"medium": {"first_response_minutes": 240, "resolution_minutes": 480}}


def _visitor(desk: SalesDesk, email: str) -> dict[str, object]:
    status, body = desk.window(
        "GET",
        "/visitor",
        query={"email": email, "chat_department_id": desk.chat_department("Support")},
    )
    assert status == 200, body
    return body


def test_the_visitor_shows_the_contract_in_force_and_its_sla(
    linked_desk: SalesDesk,
    make_account: Callable[..., Account],
    make_contact: Callable[..., Contact],
) -> None:
    unit = system_unit(linked_desk.db, linked_desk.host)
    support = linked_desk.departments["Support"]
    sla.create_policy(unit, name="Standard", targets=TARGETS, department_ids=[support.id])
    gold = sla.create_policy(unit, name="Gold", targets=TARGETS)
    account = make_account("Acme")
    make_contact(email="hana@example.com", account=account)
    contracts.create_contract(
        unit, account.id, name="Premium 2026", starts_on=date(2026, 1, 1), sla_policy_id=gold.id
    )
    linked_desk.db.commit()

    shown = _visitor(linked_desk, "hana@example.com")

    assert (shown["account_name"], shown["contract_name"], shown["sla_name"]) == (
        "Acme",
        "Premium 2026",
        "Gold",
    )


def test_without_a_contract_the_sla_is_the_departments(
    linked_desk: SalesDesk,
    make_account: Callable[..., Account],
    make_contact: Callable[..., Contact],
) -> None:
    unit = system_unit(linked_desk.db, linked_desk.host)
    support = linked_desk.departments["Support"]
    sla.create_policy(unit, name="Standard", targets=TARGETS, department_ids=[support.id])
    make_contact(email="hana@example.com", account=make_account("Acme"))
    linked_desk.db.commit()

    shown = _visitor(linked_desk, "hana@example.com")

    assert (shown["contract_name"], shown["sla_name"]) == (None, "Standard")


def test_an_existing_ticket_merges_into_the_chats_new_ticket(
    linked_desk: SalesDesk, make_ticket: Callable[..., Ticket]
) -> None:
    linked_desk.set_setting("convert_chats", "all")
    chat_id = linked_desk.start_chat("Support")
    linked_desk.answer(chat_id, "Let me check.")
    linked_desk.end(chat_id)
    linked_desk.work()
    new = linked_desk.ticket_of(chat_id)
    assert new is not None
    older = make_ticket(subject="Parcel late", description="My parcel is late", contact=new.contact)
    tickets.add_thread(
        system_unit(linked_desk.db, linked_desk.host), older, kind="outgoing", body="Checking."
    )
    linked_desk.db.commit()

    status, body = linked_desk.window(
        "POST", f"/chats/{chat_id}/absorb", json={"ticket_id": older.id}
    )

    assert status == 200, body
    linked_desk.db.rollback()
    linked_desk.db.refresh(older)
    assert (older.merged_into_id, older.status_type) == (new.id, "closed")
    bodies = linked_desk.db.scalars(select(Thread.body).where(Thread.ticket_id == new.id))
    assert {"My parcel is late", "Checking.", "Let me check."} <= set(bodies)


def test_a_ticket_cannot_be_merged_into_a_chat_not_yet_converted(
    linked_desk: SalesDesk, make_ticket: Callable[..., Ticket]
) -> None:
    linked_desk.set_setting("convert_chats", "none")
    chat_id = linked_desk.start_chat("Support")
    linked_desk.answer(chat_id)
    linked_desk.work()
    older = make_ticket(subject="Parcel late")
    linked_desk.db.commit()

    status, body = linked_desk.window(
        "POST", f"/chats/{chat_id}/absorb", json={"ticket_id": older.id}
    )

    assert status == 409 and "Convert the chat" in body["message"]
