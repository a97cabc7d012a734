"""REST API: tickets — validation, department visibility, paging and sub-resources."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Agent, Department, OutboxEvent, Ticket

pytest_plugins = ["tests.api_fixtures"]


def _counts(db: Session) -> tuple[int, int]:
    db.commit()  # end the snapshot: see what the app committed
    return (
        db.scalar(select(func.count()).select_from(Ticket)),
        db.scalar(select(func.count()).select_from(OutboxEvent)),
    )


def test_creating_a_ticket_without_subject_answers_422_naming_subject_and_stores_nothing(
    browser, db: Session, department: Department
) -> None:
    client, csrf = browser
    before = _counts(db)
    answer = client.post("/api/v1/tickets", json={"department_id": department.id}, headers=csrf)
    assert answer.status_code == 422
    assert answer.json["status"] == "Unprocessable Entity"
    assert list(answer.json["errors"]["json"]) == ["subject"]
    assert _counts(db) == before


def test_creating_a_ticket_with_blank_subject_answers_422_naming_subject(
    browser, department: Department
) -> None:
    client, csrf = browser
    answer = client.post(
        "/api/v1/tickets", json={"subject": "  ", "department_id": department.id}, headers=csrf
    )
    assert answer.status_code == 422
    assert "subject" in answer.json["errors"]["json"]


@pytest.mark.parametrize("which", ["unknown", "not_a_member"])
def test_creating_a_ticket_in_an_unknown_department_answers_422_naming_it_and_stores_nothing(
    browser, db: Session, make_department: Callable[..., Department], which: str
) -> None:
    client, csrf = browser
    department_id = 999_999 if which == "unknown" else make_department("Sales").id
    before = _counts(db)
    answer = client.post(
        "/api/v1/tickets", json={"subject": "Help", "department_id": department_id}, headers=csrf
    )
    assert answer.status_code == 422
    assert answer.json["errors"] == {"json": {"department_id": ["Unknown department."]}}
    assert _counts(db) == before


def test_creating_a_ticket_answers_201_and_records_its_event(
    browser, db: Session, department: Department
) -> None:
    client, csrf = browser
    before = _counts(db)
    answer = client.post(
        "/api/v1/tickets", json={"subject": "Help", "department_id": department.id}, headers=csrf
    )
    assert answer.status_code == 201
    assert answer.json["subject"] == "Help"
    assert answer.json["channel"] == "api"
    assert _counts(db) == (before[0] + 1, before[1] + 1)


def test_unknown_body_field_is_refused_by_name(browser, department: Department) -> None:
    client, csrf = browser
    answer = client.post(
        "/api/v1/tickets",
        json={"subject": "Help", "department_id": department.id, "colour": "red"},
        headers=csrf,
    )
    assert answer.status_code == 422
    assert "colour" in answer.json["errors"]["json"]


def test_ticket_of_another_department_answers_404(
    browser, make_ticket, make_department: Callable[..., Department]
) -> None:
    client, _csrf = browser
    ticket = make_ticket(department=make_department("Sales"))
    answer = client.get(f"/api/v1/tickets/{ticket.id}")
    assert answer.status_code == 404
    assert answer.json["code"] == 404


def test_list_shows_only_tickets_of_the_callers_departments(
    browser, make_ticket, make_department: Callable[..., Department]
) -> None:
    client, _csrf = browser
    mine = make_ticket("Mine")
    make_ticket("Theirs", department=make_department("Sales"))
    answer = client.get("/api/v1/tickets")
    assert [item["id"] for item in answer.json["items"]] == [mine.id]


def test_cursor_pages_through_tickets_newest_first(browser, make_ticket) -> None:
    client, _csrf = browser
    created = [make_ticket(f"Ticket {n}").id for n in range(5)]
    seen: list[int] = []
    sizes: list[int] = []
    url = "/api/v1/tickets?limit=2"
    while url:
        answer = client.get(url).json
        sizes.append(len(answer["items"]))
        seen.extend(item["id"] for item in answer["items"])
        cursor = answer["next_cursor"]
        url = f"/api/v1/tickets?limit=2&cursor={cursor}" if cursor else ""
    assert seen == sorted(created, reverse=True)
    assert sizes == [2, 2, 1]


def test_malformed_cursor_answers_422_naming_cursor(browser) -> None:
    client, _csrf = browser
    answer = client.get("/api/v1/tickets?cursor=not-a-cursor")
    assert answer.status_code == 422
    assert "cursor" in answer.json["errors"]["query"]


def test_patch_changes_only_the_fields_given(browser, make_ticket) -> None:
    client, csrf = browser
    ticket = make_ticket("Old subject", priority="low")
    answer = client.patch(
        f"/api/v1/tickets/{ticket.id}", json={"subject": "New subject"}, headers=csrf
    )
    assert answer.status_code == 200
    assert (answer.json["subject"], answer.json["priority"]) == ("New subject", "low")


def test_status_change_closes_the_ticket_and_enters_its_history(browser, make_ticket) -> None:
    client, csrf = browser
    ticket = make_ticket()
    answer = client.post(
        f"/api/v1/tickets/{ticket.id}/status", json={"status": "Closed"}, headers=csrf
    )
    assert answer.json["status_type"] == "closed"
    history = client.get(f"/api/v1/tickets/{ticket.id}/status-history").json["items"]
    assert [change["to_status"] for change in history] == ["Open", "Closed"]


def test_unknown_status_answers_422_naming_status(browser, make_ticket) -> None:
    client, csrf = browser
    ticket = make_ticket()
    answer = client.post(
        f"/api/v1/tickets/{ticket.id}/status", json={"status": "Vanished"}, headers=csrf
    )
    assert answer.status_code == 422
    assert "status" in answer.json["errors"]["json"]


def test_reply_is_added_and_listed_as_a_thread(browser, make_ticket, api_agent: Agent) -> None:
    client, csrf = browser
    ticket = make_ticket()
    added = client.post(
        f"/api/v1/tickets/{ticket.id}/threads",
        json={"kind": "outgoing", "body": "On our way."},
        headers=csrf,
    )
    assert added.status_code == 201
    assert added.json["author_agent_id"] == api_agent.id
    listed = client.get(f"/api/v1/tickets/{ticket.id}/threads").json["items"]
    assert [thread["body"] for thread in listed] == ["On our way."]


def test_rating_is_recorded_and_listed(browser, make_ticket) -> None:
    client, csrf = browser
    ticket = make_ticket()
    added = client.post(
        f"/api/v1/tickets/{ticket.id}/ratings", json={"rating": "good"}, headers=csrf
    )
    assert added.status_code == 201
    listed = client.get(f"/api/v1/tickets/{ticket.id}/ratings").json["items"]
    assert [rating["rating"] for rating in listed] == ["good"]


def test_time_entry_is_logged_and_listed(browser, make_ticket) -> None:
    client, csrf = browser
    ticket = make_ticket()
    added = client.post(
        f"/api/v1/tickets/{ticket.id}/time-entries",
        json={"seconds": 900, "billable": True},
        headers=csrf,
    )
    assert added.status_code == 201
    listed = client.get(f"/api/v1/tickets/{ticket.id}/time-entries").json["items"]
    assert [(entry["seconds"], entry["billable"]) for entry in listed] == [(900, True)]
