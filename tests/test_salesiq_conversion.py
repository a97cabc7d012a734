"""SalesIQ: chats of the stand-in become tickets by the settings' rule (which chats, when, with
which status), the transcript in the ticket's threads; a visitor without an email is left to
the agent; deliveries are verified, stored once and refused when bad. Over real HTTP."""

from __future__ import annotations

import json

import pytest
import requests

from plugins.salesiq import signatures
from tests.salesiq_desk import SalesDesk

pytest_plugins = ["tests.api_fixtures", "tests.salesiq_desk"]


def _rule(desk: SalesDesk, which: str, when: str, status: str = "open") -> None:
    desk.set_setting("convert_chats", which)
    desk.set_setting("convert_when", when)
    desk.set_setting("ticket_status", status)


# ------------------------------------------------------------------------------ the rule


def test_attended_chats_on_end_become_open_tickets_with_the_transcript(
    linked_desk: SalesDesk,
) -> None:
    _rule(linked_desk, "attended", "ended")
    chat_id = linked_desk.start_chat("Support")
    linked_desk.answer(chat_id, "Let me check.")
    linked_desk.work()
    assert linked_desk.ticket_of(chat_id) is None  # answered, not ended

    linked_desk.end(chat_id)
    linked_desk.work()

    ticket = linked_desk.ticket_of(chat_id)
    assert ticket is not None
    assert (ticket.channel, ticket.status, ticket.department_id) == (
        "chat",
        "Open",
        linked_desk.departments["Support"].id,
    )
    assert ticket.description == "Where is my order?"
    assert linked_desk.threads(ticket) == [("outgoing", "Let me check.")]
    assert ticket.contact is not None and ticket.contact.email == "visitor@example.com"


def test_converted_when_answered_the_ticket_gets_the_rest_when_the_chat_ends(
    linked_desk: SalesDesk,
) -> None:
    _rule(linked_desk, "attended", "answered")
    chat_id = linked_desk.start_chat("Support")
    linked_desk.answer(chat_id, "Let me check.")
    linked_desk.work()
    ticket = linked_desk.ticket_of(chat_id)
    assert ticket is not None and linked_desk.threads(ticket) == []  # attended before the reply

    linked_desk.end(chat_id)
    linked_desk.work()

    assert linked_desk.threads(ticket) == [("outgoing", "Let me check.")]
    assert linked_desk.chat(chat_id).converted_by == "rule"


def test_a_closed_status_setting_makes_closed_tickets(linked_desk: SalesDesk) -> None:
    _rule(linked_desk, "all", "ended", status="closed")
    chat_id = linked_desk.start_chat("Support")
    linked_desk.answer(chat_id)
    linked_desk.end(chat_id)
    linked_desk.work()

    ticket = linked_desk.ticket_of(chat_id)
    assert ticket is not None and (ticket.status, ticket.status_type) == ("Closed", "closed")


@pytest.mark.parametrize(
    ("which", "attended_converted", "missed_converted"),
    [
        ("all", True, True),
        ("attended", True, False),
        ("missed", False, True),
        ("none", False, False),
    ],
)
def test_which_chats_are_converted(
    linked_desk: SalesDesk, which: str, attended_converted: bool, missed_converted: bool
) -> None:
    _rule(linked_desk, which, "ended")
    attended = linked_desk.start_chat("Support")
    linked_desk.answer(attended)
    linked_desk.end(attended)
    missed = linked_desk.start_chat("Support", email="other@example.com")
    linked_desk.end(missed)
    linked_desk.work()

    assert (linked_desk.ticket_of(attended) is not None) == attended_converted
    assert (linked_desk.ticket_of(missed) is not None) == missed_converted


def test_a_missed_chat_is_converted_when_missed_even_with_the_answered_timing(
    linked_desk: SalesDesk,
) -> None:
    _rule(linked_desk, "missed", "answered")
    chat_id = linked_desk.start_chat("Support")
    linked_desk.end(chat_id)
    linked_desk.work()

    ticket = linked_desk.ticket_of(chat_id)
    assert ticket is not None and ticket.description == "Where is my order?"


# ------------------------------------------------------------------------------ no email


def test_a_visitor_without_an_email_is_not_converted_until_an_agent_adds_it(
    linked_desk: SalesDesk,
) -> None:
    _rule(linked_desk, "all", "ended")
    chat_id = linked_desk.start_chat("Support", email="")
    linked_desk.answer(chat_id)
    linked_desk.end(chat_id)
    linked_desk.work()
    assert linked_desk.ticket_of(chat_id) is None
    assert linked_desk.chat(chat_id).skipped == "no email"

    status, body = linked_desk.window(
        "POST",
        f"/chats/{chat_id}/convert",
        json={"visitor": {"name": "Hana Visitor", "email": "hana@example.com", "phone": ""}},
    )

    assert status == 201, body
    ticket = linked_desk.ticket_of(chat_id)
    assert ticket is not None and ticket.contact is not None
    assert ticket.contact.email == "hana@example.com"
    assert linked_desk.chat(chat_id).converted_by == "agent"


def test_converting_without_an_email_is_refused_with_the_reason(linked_desk: SalesDesk) -> None:
    _rule(linked_desk, "none", "ended")
    chat_id = linked_desk.start_chat("Support", email="")
    linked_desk.answer(chat_id)
    linked_desk.end(chat_id)
    linked_desk.work()

    status, body = linked_desk.window("POST", f"/chats/{chat_id}/convert", json={})

    assert status == 409 and "email" in body["message"]
    assert linked_desk.ticket_of(chat_id) is None


def test_an_agent_converts_by_hand_whatever_the_rule(linked_desk: SalesDesk) -> None:
    _rule(linked_desk, "none", "ended")
    chat_id = linked_desk.start_chat("Support")
    linked_desk.answer(chat_id)
    linked_desk.work()

    status, body = linked_desk.window("POST", f"/chats/{chat_id}/convert", json={})

    assert status == 201, body
    assert linked_desk.ticket_of(chat_id) is not None
    again, _ = linked_desk.window("POST", f"/chats/{chat_id}/convert", json={})
    assert again == 409


# ------------------------------------------------------------------------------ deliveries


def test_a_delivery_sent_again_is_stored_once(linked_desk: SalesDesk) -> None:
    chat_id = linked_desk.start_chat("Support")
    linked_desk.answer(chat_id)
    deliveries = linked_desk.control("GET", "/deliveries")["data"]
    attended = next(d for d in deliveries if d["event"] == "conversation.attended")

    replay = linked_desk.control("POST", f"/deliveries/{attended['index']}/replay")

    assert replay["status_code"] == 200
    assert [e.event for e in linked_desk.stored_events()].count("conversation.attended") == 1


def _post(desk: SalesDesk, body: bytes, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[signatures.SIGNATURE_HEADER] = signature
    url = f"{desk.url}/hooks/salesiq/{desk.installation.id}/events"
    return requests.post(url, data=body, headers=headers, timeout=30)


def _signed(desk: SalesDesk, body: bytes) -> str:
    return signatures.sign(body, desk.standin.state.private_key_pem)


def _event(desk: SalesDesk, **changes: object) -> dict[str, object]:
    chat_id = desk.start_chat("Support")
    desk.answer(chat_id)
    deliveries = desk.control("GET", "/deliveries")["data"]
    event = json.loads(next(d for d in deliveries if d["event"] == "conversation.attended")["body"])
    return {**event, "event_id": "fresh-id", **changes}


def test_a_bad_signature_is_refused_and_stores_nothing(linked_desk: SalesDesk) -> None:
    body = json.dumps(_event(linked_desk)).encode()
    before = len(linked_desk.stored_events())

    for signature in (None, "garbage", _signed(linked_desk, body + b" ")):
        assert _post(linked_desk, body, signature).status_code == 401

    assert len(linked_desk.stored_events()) == before


def test_a_malformed_event_is_refused_naming_the_field(linked_desk: SalesDesk) -> None:
    event = _event(linked_desk, event="conversation.exploded")
    body = json.dumps(event).encode()
    before = len(linked_desk.stored_events())

    answer = _post(linked_desk, body, _signed(linked_desk, body))

    assert answer.status_code == 400 and "event" in answer.json()["errors"]
    not_json = b"{not json"
    assert _post(linked_desk, not_json, _signed(linked_desk, not_json)).status_code == 400
    assert len(linked_desk.stored_events()) == before


def test_a_chat_of_an_unknown_department_is_refused(linked_desk: SalesDesk) -> None:
    event = _event(linked_desk)
    entity = dict(event["entity"])  # type: ignore[arg-type]
    entity["department"] = {"id": "999999", "name": "Nowhere"}
    body = json.dumps({**event, "entity": entity}).encode()
    before = len(linked_desk.stored_events())

    answer = _post(linked_desk, body, _signed(linked_desk, body))

    assert answer.status_code == 422 and "unknown department" in answer.json()["error"]
    assert len(linked_desk.stored_events()) == before
