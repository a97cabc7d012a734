"""SalesIQ: the desk inside the chat window. The chat product calls the extension's endpoints
with the token the linking admin authorized: the visitor's details and recent tickets, search,
a ticket with its threads and chat transcripts, converting (with the agent's choices where the
chat department says choose each time), merging into a ticket and closing or reopening one.
What a chat department's window may see and do follows its mapping, and the linked admin's
permissions apply. Over real HTTP against the stand-in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.models import (
    Account,
    Agent,
    Contact,
    Department,
    Organisation,
    PermissionProfile,
    ProfilePermission,
    Ticket,
)
from hostapi import clock
from plugins.salesiq.api import LIMIT
from tests.salesiq_desk import START, SalesDesk

pytest_plugins = ["tests.api_fixtures", "tests.salesiq_desk"]

MakeTicket = Callable[..., Ticket]


# ------------------------------------------------------------------------------ helpers


def _read(desk: SalesDesk, path: str, department: str = "Support", **query: str) -> tuple[int, Any]:
    """A GET from the window of a chat of the stand-in's department ``department``."""
    return desk.window(
        "GET", path, query={"chat_department_id": desk.chat_department(department), **query}
    )


def _set_status(
    desk: SalesDesk, ticket_id: int, status: str, department: str = "Support"
) -> tuple[int, Any]:
    return desk.window(
        "POST",
        f"/tickets/{ticket_id}/status",
        json={"status": status, "chat_department_id": desk.chat_department(department)},
    )


def _ended_chat(desk: SalesDesk, department: str = "Support", **visitor: str) -> str:
    """A chat the operator answered, with a line from each side, ended and worked; its id."""
    chat_id = desk.start_chat(department, **visitor)
    desk.control("POST", f"/chats/{chat_id}/messages", sender="visitor", text="Order 1042?")
    desk.answer(chat_id, "Let me check.")
    desk.end(chat_id)
    desk.work()
    return chat_id


def _status(desk: SalesDesk, ticket: Ticket) -> str:
    """The ticket's status as stored now."""
    desk.db.rollback()
    # A column, not the entity: the session may hold the ticket as it was before the call.
    return desk.db.scalars(select(Ticket.status).where(Ticket.id == ticket.id)).one()


def _subjects(body: dict[str, Any]) -> list[str]:
    return [ticket["subject"] for ticket in body["tickets"]]


def _errors(body: dict[str, Any]) -> dict[str, Any]:
    """The fields a 422 names, wherever the arguments came from."""
    return {
        field: messages for place in body["errors"].values() for field, messages in place.items()
    }


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def hana(
    linked_desk: SalesDesk,
    make_contact: Callable[..., Contact],
    make_account: Callable[..., Account],
) -> Contact:
    """A contact of the account Acme, owned by the linked admin."""
    contact = make_contact("Yamada", first_name="Hanako", account=make_account("Acme"))
    contact.owner_id = linked_desk.admin.id
    linked_desk.db.commit()
    return contact


@pytest.fixture
def hana_tickets(
    linked_desk: SalesDesk, hana: Contact, make_ticket: MakeTicket
) -> dict[str, Ticket]:
    """Hana's tickets: one in Support, one in Sales."""
    return {
        "Support": make_ticket("Printer on fire", contact=hana),
        "Sales": make_ticket(
            "Quote for toner", contact=hana, department=linked_desk.departments["Sales"]
        ),
    }


@pytest.fixture
def prefixed(linked_desk: SalesDesk) -> str:
    """The organisation's ticket prefix, set to ``SUP-``."""
    organisation = linked_desk.db.scalars(select(Organisation)).one()
    organisation.ticket_prefix = "SUP-"
    linked_desk.db.commit()
    return "SUP-"


# ------------------------------------------------------------------------------ the visitor


def test_an_unknown_visitor_is_not_known_and_has_no_tickets(linked_desk: SalesDesk) -> None:
    status, body = _read(linked_desk, "/visitor", email="nobody@example.com")

    assert status == 200, body
    assert (body["known"], body["total_tickets"], body["overdue_tickets"]) == (False, 0, 0)


def test_a_known_visitor_shows_their_name_account_and_owner(
    linked_desk: SalesDesk, hana: Contact
) -> None:
    status, body = _read(linked_desk, "/visitor", email="hanako@example.com")

    assert status == 200, body
    assert body["known"] is True and body["contact_id"] == hana.id
    assert (body["name"], body["account_name"], body["contact_owner"]) == (
        "Hanako Yamada",
        "Acme",
        "Admin",
    )
    assert body["url"] == f"{linked_desk.url}/contacts/{hana.id}"


def test_a_visitor_known_by_a_secondary_email_is_known_with_the_ticket_their_chat_became(
    linked_desk: SalesDesk, hana: Contact
) -> None:
    hana.secondary_email = "hana.work@example.com"
    linked_desk.db.commit()
    chat_id = _ended_chat(linked_desk, email="hana.work@example.com")
    ticket = linked_desk.ticket_of(chat_id)
    assert ticket is not None and ticket.contact_id == hana.id  # conversion matched her

    status, body = _read(linked_desk, "/visitor", email="hana.work@example.com")

    assert status == 200, body
    assert (body["known"], body.get("contact_id"), body["total_tickets"]) == (True, hana.id, 1)


def test_a_visitor_whose_contact_was_merged_is_known_as_the_contact_it_became(
    linked_desk: SalesDesk, hana: Contact, make_contact: Callable[..., Contact]
) -> None:
    merged = make_contact("Yamada", first_name="Hana", email="hana.old@example.com")
    merged.merged_into_id = hana.id
    linked_desk.db.commit()
    chat_id = _ended_chat(linked_desk, email="hana.old@example.com")
    ticket = linked_desk.ticket_of(chat_id)
    assert ticket is not None and ticket.contact_id == hana.id  # conversion followed the merge

    status, body = _read(linked_desk, "/visitor", email="hana.old@example.com")

    assert status == 200, body
    assert (body["known"], body.get("contact_id"), body["total_tickets"]) == (True, hana.id, 1)


def test_a_contact_owner_outside_the_installations_departments_is_named(
    linked_desk: SalesDesk,
    hana: Contact,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
) -> None:
    owner = make_agent(
        "olga@example.com", name="Olga Owner", departments=[make_department("Field sales")]
    )
    hana.owner_id = owner.id
    linked_desk.db.commit()

    status, body = _read(linked_desk, "/visitor", email="hanako@example.com")

    assert status == 200, body
    assert body["contact_owner"] == "Olga Owner"


def test_a_visitor_found_by_a_converted_chat_counts_its_ticket(linked_desk: SalesDesk) -> None:
    _ended_chat(linked_desk, email="new.visitor@example.com", name="New Visitor")

    status, body = _read(linked_desk, "/visitor", email="new.visitor@example.com")

    assert status == 200, body
    assert (body["known"], body["name"], body["account_name"]) == (True, "New Visitor", None)
    assert (body["total_tickets"], body["overdue_tickets"]) == (1, 0)


def test_a_visitors_overdue_tickets_are_the_open_ones_past_their_due_time(
    linked_desk: SalesDesk, hana: Contact, make_ticket: MakeTicket
) -> None:
    hour = timedelta(hours=1)
    make_ticket("Overdue", contact=hana, due_at=START - hour)
    make_ticket("Closed late", contact=hana, due_at=START - hour, status="Closed")
    make_ticket("Due later", contact=hana, due_at=START + hour)
    make_ticket("No due time", contact=hana)

    status, body = _read(linked_desk, "/visitor", email="hanako@example.com")

    assert status == 200, body
    assert (body["total_tickets"], body["overdue_tickets"]) == (4, 1)


def test_a_visitors_ticket_becomes_overdue_when_the_desks_clock_passes_its_due_time(
    linked_desk: SalesDesk, hana: Contact, make_ticket: MakeTicket
) -> None:
    make_ticket("Due later", contact=hana, due_at=START + timedelta(hours=1))
    assert _read(linked_desk, "/visitor", email="hanako@example.com")[1]["overdue_tickets"] == 0

    clock.freeze(START + timedelta(hours=2))

    assert _read(linked_desk, "/visitor", email="hanako@example.com")[1]["overdue_tickets"] == 1


@pytest.mark.parametrize(("shown", "total"), [("associated", 1), ("all", 2)])
def test_a_mapped_departments_visitor_counts_follow_the_recent_tickets_setting(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket], shown: str, total: int
) -> None:
    linked_desk.set_setting("recent_tickets", shown)

    status, body = _read(linked_desk, "/visitor", email="hanako@example.com")

    assert status == 200, body
    assert body["total_tickets"] == total


# ------------------------------------------------------------------------------ recent tickets


def test_a_mapped_department_lists_only_its_desk_departments_tickets(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    status, body = _read(linked_desk, "/tickets/recent", email="hanako@example.com")

    assert status == 200, body
    assert _subjects(body) == ["Printer on fire"]


def test_a_mapped_department_lists_every_department_when_the_setting_says_all(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    linked_desk.set_setting("recent_tickets", "all")

    status, body = _read(linked_desk, "/tickets/recent", email="hanako@example.com")

    assert status == 200, body
    assert _subjects(body) == ["Quote for toner", "Printer on fire"]  # newest first


@pytest.mark.parametrize("mode", ["view_only", "choose"])
def test_view_only_and_choose_each_time_departments_list_every_department(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket], mode: str
) -> None:
    linked_desk.set_mode("Billing", mode)

    status, body = _read(linked_desk, "/tickets/recent", "Billing", email="hanako@example.com")

    assert status == 200, body
    assert sorted(_subjects(body)) == ["Printer on fire", "Quote for toner"]


def test_a_listed_ticket_opens_in_the_desk(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    ticket = hana_tickets["Support"]
    [listed] = _read(linked_desk, "/tickets/recent", email="hanako@example.com")[1]["tickets"]

    assert listed["url"] == f"{linked_desk.url}/tickets/{ticket.id}"
    page = linked_desk.browser.get(listed["url"])
    assert page.status_code == 200 and "Printer on fire" in page.text


def test_recent_tickets_are_the_newest_twenty(
    linked_desk: SalesDesk, hana: Contact, make_ticket: MakeTicket
) -> None:
    made = [make_ticket(f"Question {n}", contact=hana) for n in range(LIMIT + 1)]

    status, body = _read(linked_desk, "/tickets/recent", email="hanako@example.com")

    assert status == 200, body
    assert [t["id"] for t in body["tickets"]] == [t.id for t in reversed(made)][:LIMIT]


def test_an_unknown_visitor_has_no_recent_tickets(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    status, body = _read(linked_desk, "/tickets/recent", email="nobody@example.com")

    assert (status, body) == (200, {"tickets": []})


# ------------------------------------------------------------------------------ search


@pytest.mark.parametrize(
    ("describe", "found"),
    [
        pytest.param(lambda ticket, prefix: "Hanako Yamada", True, id="visitor name"),
        pytest.param(lambda ticket, prefix: "hanako@example.com", True, id="visitor email"),
        pytest.param(lambda ticket, prefix: f"{prefix}{ticket.number}", True, id="number"),
        pytest.param(lambda ticket, prefix: str(ticket.number), True, id="number without prefix"),
        pytest.param(
            lambda ticket, prefix: f"{prefix.lower()}{ticket.number}",
            True,
            id="number with the prefix in lower case",
        ),
        pytest.param(lambda ticket, prefix: "printer", True, id="subject word"),
        pytest.param(lambda ticket, prefix: "on fire", True, id="subject words"),
        pytest.param(lambda ticket, prefix: "nothing like it", False, id="no match"),
    ],
)
def test_search_finds_a_ticket(
    linked_desk: SalesDesk,
    hana: Contact,
    make_contact: Callable[..., Contact],
    make_ticket: MakeTicket,
    prefixed: str,
    describe: Callable[[Ticket, str], str],
    found: bool,
) -> None:
    ticket = make_ticket("Printer on fire", contact=hana)
    taro = make_contact("Suzuki", first_name="Taro", email="taro@example.net")
    make_ticket("Broken hinge", contact=taro)

    status, body = _read(linked_desk, "/tickets/search", q=describe(ticket, prefixed))

    assert status == 200, body
    assert [t["number"] for t in body["tickets"]] == ([f"SUP-{ticket.number}"] if found else [])


def test_search_in_a_mapped_department_finds_only_its_desk_departments_tickets(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    status, body = _read(linked_desk, "/tickets/search", q="hanako@example.com")

    assert status == 200, body
    assert _subjects(body) == ["Printer on fire"]


# ------------------------------------------------------------------------------ a ticket


def test_a_tickets_details_include_its_threads_and_the_chat_transcript(
    linked_desk: SalesDesk,
) -> None:
    chat_id = _ended_chat(linked_desk)
    ticket = linked_desk.ticket_of(chat_id)
    assert ticket is not None

    status, body = _read(linked_desk, f"/tickets/{ticket.id}")

    assert status == 200, body
    assert (body["id"], body["subject"], body["department"]) == (
        ticket.id,
        "Chat: Where is my order?",
        "Support",
    )
    assert [(t["kind"], t["body"]) for t in body["threads"]] == [
        ("incoming", "Order 1042?"),
        ("outgoing", "Let me check."),
    ]
    [transcript] = body["chats"]
    assert transcript["chat_id"] == chat_id
    assert [(m["sender"], m["text"]) for m in transcript["messages"]] == [
        ("visitor", "Where is my order?"),
        ("visitor", "Order 1042?"),
        ("operator", "Let me check."),
    ]


def test_a_ticket_of_another_desk_department_is_not_found_from_a_mapped_department(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    status, _ = _read(linked_desk, f"/tickets/{hana_tickets['Sales'].id}")

    assert status == 404


# ------------------------------------------------------------------------------ no integration


def test_a_department_without_integration_answers_404_to_every_window_call(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    chat_id = linked_desk.start_chat("Sales")
    linked_desk.answer(chat_id)
    linked_desk.work()
    linked_desk.set_mode("Sales", "none")
    ticket_id = hana_tickets["Sales"].id

    calls = {
        "visitor": _read(linked_desk, "/visitor", "Sales", email="hanako@example.com"),
        "recent": _read(linked_desk, "/tickets/recent", "Sales", email="hanako@example.com"),
        "search": _read(linked_desk, "/tickets/search", "Sales", q="toner"),
        "ticket": _read(linked_desk, f"/tickets/{ticket_id}", "Sales"),
        "options": _read(linked_desk, "/options", "Sales"),
        "status": _set_status(linked_desk, ticket_id, "closed", "Sales"),
        "convert": linked_desk.window("POST", f"/chats/{chat_id}/convert", json={}),
        "merge": linked_desk.window(
            "POST", f"/chats/{chat_id}/merge", json={"ticket_id": ticket_id}
        ),
    }

    assert {name: status for name, (status, _) in calls.items()} == dict.fromkeys(calls, 404)
    assert linked_desk.ticket_of(chat_id) is None


def test_a_department_without_integration_has_no_chat_converted_by_the_rule(
    linked_desk: SalesDesk,
) -> None:
    linked_desk.set_mode("Sales", "none")

    chat_id = _ended_chat(linked_desk, "Sales")

    assert linked_desk.ticket_of(chat_id) is None
    assert linked_desk.chat(chat_id).skipped == "department mode none"


# ------------------------------------------------------------------------------ view only


def test_a_view_only_department_reads_tickets(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    linked_desk.set_mode("Billing", "view_only")
    ticket_id = hana_tickets["Sales"].id

    calls = {
        "visitor": _read(linked_desk, "/visitor", "Billing", email="hanako@example.com"),
        "recent": _read(linked_desk, "/tickets/recent", "Billing", email="hanako@example.com"),
        "search": _read(linked_desk, "/tickets/search", "Billing", q="toner"),
        "ticket": _read(linked_desk, f"/tickets/{ticket_id}", "Billing"),
        "options": _read(linked_desk, "/options", "Billing"),
    }

    assert {name: status for name, (status, _) in calls.items()} == dict.fromkeys(calls, 200)
    assert calls["ticket"][1]["subject"] == "Quote for toner"


def test_a_view_only_department_may_not_convert_a_chat(linked_desk: SalesDesk) -> None:
    linked_desk.set_mode("Billing", "view_only")
    chat_id = _ended_chat(linked_desk, "Billing")

    status, body = linked_desk.window("POST", f"/chats/{chat_id}/convert", json={})

    assert status == 403 and "view only" in body["message"]
    assert linked_desk.ticket_of(chat_id) is None


def test_a_view_only_department_may_not_change_a_tickets_status(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    linked_desk.set_mode("Billing", "view_only")
    ticket = hana_tickets["Support"]

    status, body = _set_status(linked_desk, ticket.id, "closed", "Billing")

    assert status == 403 and "view only" in body["message"]
    assert _status(linked_desk, ticket) == "Open"


# ------------------------------------------------------------------------------ choose each time


def test_a_choose_each_time_department_has_no_chat_converted_by_the_rule(
    linked_desk: SalesDesk,
) -> None:
    linked_desk.set_setting("convert_chats", "all")

    chat_id = _ended_chat(linked_desk, "Billing")

    assert linked_desk.ticket_of(chat_id) is None
    assert linked_desk.chat(chat_id).skipped == "department mode choose"


def test_converting_in_a_choose_each_time_department_needs_the_department(
    linked_desk: SalesDesk,
) -> None:
    chat_id = _ended_chat(linked_desk, "Billing")

    status, body = linked_desk.window("POST", f"/chats/{chat_id}/convert", json={})

    assert status == 422 and "department_id" in _errors(body)
    assert linked_desk.ticket_of(chat_id) is None


def test_converting_in_a_choose_each_time_department_takes_the_chosen_values(
    linked_desk: SalesDesk,
) -> None:
    chat_id = _ended_chat(linked_desk, "Billing")
    status, options = _read(linked_desk, "/options", "Billing")
    assert status == 200, options
    sales = next(d["value"] for d in options["departments"] if d["label"] == "Sales")
    priority, status_name, classification = "urgent", "On Hold", "Problem"
    assert priority in [p["value"] for p in options["priorities"]]
    assert status_name in [s["value"] for s in options["statuses"]]
    assert classification in [c["value"] for c in options["classifications"]]

    status, body = linked_desk.window(
        "POST",
        f"/chats/{chat_id}/convert",
        json={
            "department_id": int(sales),
            "priority": priority,
            "status": status_name,
            "classification": classification,
        },
    )

    assert status == 201, body
    ticket = linked_desk.ticket_of(chat_id)
    assert ticket is not None and body["id"] == ticket.id
    assert (ticket.department_id, ticket.priority, ticket.status, ticket.classification) == (
        linked_desk.departments["Sales"].id,
        "urgent",
        "On Hold",
        "Problem",
    )
    assert linked_desk.chat(chat_id).converted_by == "agent"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("department_id", 999999),
        ("priority", "whenever"),
        ("status", "Pending forever"),
        ("classification", "Gossip"),
    ],
)
def test_a_value_not_offered_is_refused_naming_the_field(
    linked_desk: SalesDesk, field: str, value: object
) -> None:
    chat_id = _ended_chat(linked_desk, "Billing")
    choices = {"department_id": linked_desk.departments["Support"].id, field: value}

    status, body = linked_desk.window("POST", f"/chats/{chat_id}/convert", json=choices)

    assert status == 422 and list(_errors(body)) == [field]
    assert linked_desk.ticket_of(chat_id) is None


# ------------------------------------------------------------------------------ merge


def test_merging_adds_the_chats_messages_to_the_ticket_and_links_them(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    linked_desk.set_setting("convert_chats", "none")
    chat_id = _ended_chat(linked_desk)
    ticket = hana_tickets["Support"]

    status, body = linked_desk.window(
        "POST", f"/chats/{chat_id}/merge", json={"ticket_id": ticket.id}
    )

    assert status == 200, body
    assert body["id"] == ticket.id
    assert linked_desk.threads(ticket) == [
        ("incoming", "Where is my order?"),
        ("incoming", "Order 1042?"),
        ("outgoing", "Let me check."),
    ]
    chat = linked_desk.chat(chat_id)
    assert (chat.ticket_id, chat.converted_by) == (ticket.id, "merge")
    details = _read(linked_desk, f"/tickets/{ticket.id}")[1]
    assert [c["chat_id"] for c in details["chats"]] == [chat_id]


def test_a_merged_chat_is_neither_merged_nor_converted_again(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket], make_ticket: MakeTicket
) -> None:
    linked_desk.set_setting("convert_chats", "none")
    chat_id = _ended_chat(linked_desk)
    ticket = hana_tickets["Support"]
    linked_desk.window("POST", f"/chats/{chat_id}/merge", json={"ticket_id": ticket.id})
    other = make_ticket("Another one")

    merged_again = linked_desk.window(
        "POST", f"/chats/{chat_id}/merge", json={"ticket_id": other.id}
    )
    converted = linked_desk.window("POST", f"/chats/{chat_id}/convert", json={})

    assert (merged_again[0], converted[0]) == (409, 409)
    assert linked_desk.chat(chat_id).ticket_id == ticket.id
    assert linked_desk.threads(other) == []


def test_merging_into_a_ticket_the_window_does_not_show_is_not_found(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    linked_desk.set_setting("convert_chats", "none")
    chat_id = _ended_chat(linked_desk)
    sales_ticket = hana_tickets["Sales"]

    status, _ = linked_desk.window(
        "POST", f"/chats/{chat_id}/merge", json={"ticket_id": sales_ticket.id}
    )

    assert status == 404
    assert linked_desk.chat(chat_id).ticket_id is None
    assert linked_desk.threads(sales_ticket) == []


# ------------------------------------------------------------------------------ status


def test_a_ticket_is_closed_and_reopened_from_the_window(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    ticket = hana_tickets["Support"]

    closed = _set_status(linked_desk, ticket.id, "closed")
    assert closed[0] == 200, closed[1]
    assert (closed[1]["status_type"], _status(linked_desk, ticket)) == ("closed", "Closed")

    reopened = _set_status(linked_desk, ticket.id, "open")
    assert reopened[0] == 200, reopened[1]
    assert (reopened[1]["status_type"], _status(linked_desk, ticket)) == ("open", "Open")


def test_an_invalid_status_is_refused_naming_the_field(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    ticket = hana_tickets["Support"]

    status, body = _set_status(linked_desk, ticket.id, "pending")

    assert status == 422 and "status" in _errors(body)
    assert _status(linked_desk, ticket) == "Open"


# ------------------------------------------------------------------------------ permissions


def _demote(desk: SalesDesk, profile: str) -> None:
    """Give the linking admin the permission profile ``profile``."""
    admin = desk.db.get_one(Agent, desk.admin.id)
    admin.profile = desk.db.scalars(
        select(PermissionProfile).where(PermissionProfile.name == profile)
    ).one()
    desk.db.commit()


@pytest.mark.parametrize(
    ("permission", "change"),
    [
        (
            "ticket.change_status",
            lambda desk, chat_id, ticket: _set_status(desk, ticket.id, "closed"),
        ),
        (
            "ticket.create",
            lambda desk, chat_id, ticket: desk.window("POST", f"/chats/{chat_id}/convert", json={}),
        ),
        (
            "ticket.edit",
            lambda desk, chat_id, ticket: desk.window(
                "POST", f"/chats/{chat_id}/merge", json={"ticket_id": ticket.id}
            ),
        ),
    ],
)
def test_a_linking_admin_demoted_to_a_profile_without_the_permission_gets_403(
    linked_desk: SalesDesk,
    hana_tickets: dict[str, Ticket],
    permission: str,
    change: Callable[[SalesDesk, str, Ticket], tuple[int, Any]],
) -> None:
    linked_desk.set_setting("convert_chats", "none")
    chat_id = _ended_chat(linked_desk)
    ticket = hana_tickets["Support"]
    _demote(linked_desk, "Light Agent")

    status, body = change(linked_desk, chat_id, ticket)

    assert status == 403 and permission in body["message"]
    assert _status(linked_desk, ticket) == "Open"
    assert linked_desk.ticket_of(chat_id) is None


def test_a_demoted_linking_admin_still_reads_through_the_window(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    _demote(linked_desk, "Light Agent")

    status, body = _read(linked_desk, "/tickets/recent", email="hanako@example.com")

    assert status == 200, body
    assert _subjects(body) == ["Printer on fire"]


def test_a_linking_admin_who_may_not_view_tickets_reads_nothing(
    linked_desk: SalesDesk, hana_tickets: dict[str, Ticket]
) -> None:
    linked_desk.db.add(
        PermissionProfile(
            name="Knowledge base only", permissions=[ProfilePermission(permission="kb.view")]
        )
    )
    linked_desk.db.commit()
    _demote(linked_desk, "Knowledge base only")

    status, body = _read(linked_desk, "/tickets/recent", email="hanako@example.com")

    assert status == 403 and "ticket.view" in body["message"]
