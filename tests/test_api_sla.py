"""The SLA setup endpoints and the SLA fields of tickets in the REST API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.models import Agent, Department, Ticket
from core.services import sla
from core.services.base import Actor, Unit
from hostapi import clock, scopes

pytest_plugins = ["tests.api_fixtures"]

TARGETS = {"medium": {"first_response_minutes": 240, "resolution_minutes": 480}}
WEEKDAYS = [{"weekday": d, "start_minute": 540, "end_minute": 1080} for d in range(5)]


def _system(db: Session) -> Unit:
    return Unit(session=db, actor=Actor.system("test"), host=None)


def test_an_admin_creates_reads_and_changes_a_policy(
    client: FlaskClient, sign_in_as, admin_agent: Agent, department: Department
) -> None:
    csrf = sign_in_as(admin_agent)
    created = client.post(
        "/api/v1/sla-policies",
        json={"name": "Standard", "department_ids": [department.id], "targets": TARGETS},
        headers=csrf,
    )
    assert created.status_code == 201, created.json
    policy_id = created.json["id"]
    assert created.json["targets"] == TARGETS and created.json["is_active"] is True
    changed = client.patch(
        f"/api/v1/sla-policies/{policy_id}",
        json={"targets": {"urgent": {"first_response_minutes": 30, "resolution_minutes": 120}}},
        headers=csrf,
    )
    assert changed.status_code == 200 and list(changed.json["targets"]) == ["urgent"]
    off = client.patch(f"/api/v1/sla-policies/{policy_id}", json={"is_active": False}, headers=csrf)
    assert off.json["is_active"] is False
    assert client.get(f"/api/v1/sla-policies/{policy_id}").json["name"] == "Standard"


def test_bad_policy_input_names_the_field(
    client: FlaskClient, sign_in_as, admin_agent: Agent, department: Department, db: Session
) -> None:
    csrf = sign_in_as(admin_agent)
    unknown = client.post(
        "/api/v1/sla-policies",
        json={"name": "X", "targets": {"someday": {"first_response_minutes": 1}}},
        headers=csrf,
    )
    assert unknown.status_code == 422 and "targets" in unknown.json["errors"]["json"]
    sla.create_policy(_system(db), name="Gold", targets=TARGETS, department_ids=[department.id])
    db.commit()
    taken = client.post(
        "/api/v1/sla-policies",
        json={"name": "Silver", "targets": TARGETS, "department_ids": [department.id]},
        headers=csrf,
    )
    assert taken.status_code == 422
    assert taken.json["errors"]["json"] == {
        "department_ids": ["A chosen department is covered by another active policy."]
    }


def test_a_settings_read_token_pages_through_policies(
    client: FlaskClient, bearer_for, admin_agent: Agent, db: Session
) -> None:
    for name in ("A", "B", "C"):
        sla.create_policy(_system(db), name=name, targets=TARGETS)
    db.commit()
    headers = bearer_for(admin_agent, [scopes.SETTINGS_READ])
    first = client.get("/api/v1/sla-policies?limit=2", headers=headers)
    assert [p["name"] for p in first.json["items"]] == ["C", "B"]
    second = client.get(
        f"/api/v1/sla-policies?limit=2&cursor={first.json['next_cursor']}", headers=headers
    )
    assert [p["name"] for p in second.json["items"]] == ["A"]
    assert second.json["next_cursor"] is None


def test_a_token_without_the_settings_scope_is_refused(
    client: FlaskClient, bearer_for, admin_agent: Agent
) -> None:
    answer = client.get(
        "/api/v1/sla-policies", headers=bearer_for(admin_agent, [scopes.TICKETS_READ])
    )
    assert answer.status_code == 403 and answer.json["scope"] == scopes.SETTINGS_READ


def test_an_agent_without_setup_permission_gets_403(
    client: FlaskClient, sign_in_as, api_agent: Agent, department: Department
) -> None:
    sign_in_as(api_agent)
    assert client.get("/api/v1/sla-policies").status_code == 403
    assert client.get(f"/api/v1/business-hours/{department.id}").status_code == 403


def test_business_hours_are_read_and_replaced(
    client: FlaskClient, sign_in_as, admin_agent: Agent, department: Department
) -> None:
    csrf = sign_in_as(admin_agent)
    path = f"/api/v1/business-hours/{department.id}"
    assert client.get(path).json == {
        "department_id": department.id,
        "timezone": None,
        "effective_timezone": "UTC",
        "always_open": True,
        "intervals": [],
        "updated_at": None,
    }
    put = client.put(
        path,
        json={"timezone": "Asia/Tokyo", "always_open": False, "intervals": WEEKDAYS},
        headers=csrf,
    )
    assert put.status_code == 200, put.json
    assert put.json["effective_timezone"] == "Asia/Tokyo" and put.json["intervals"] == WEEKDAYS
    bad = client.put(
        path,
        json={"timezone": "Mars/Olympus", "always_open": False, "intervals": WEEKDAYS},
        headers=csrf,
    )
    assert bad.status_code == 422 and bad.json["errors"]["json"] == {
        "timezone": ["Unknown time zone."]
    }


def test_business_hours_of_an_unknown_or_foreign_department_answer_404(
    client: FlaskClient, sign_in_as, admin_agent: Agent, make_department
) -> None:
    sales = make_department("Sales")
    csrf = sign_in_as(admin_agent)
    assert client.get("/api/v1/business-hours/9999").status_code == 404
    assert client.get(f"/api/v1/business-hours/{sales.id}").status_code == 404
    body = {"always_open": True}
    assert (
        client.put(f"/api/v1/business-hours/{sales.id}", json=body, headers=csrf).status_code == 404
    )


def test_holidays_are_added_paged_and_removed(
    client: FlaskClient, sign_in_as, admin_agent: Agent, department: Department
) -> None:
    csrf = sign_in_as(admin_agent)
    path = f"/api/v1/business-hours/{department.id}/holidays"
    one = client.post(path, json={"day": "2026-12-29", "name": "Year-end"}, headers=csrf)
    assert one.status_code == 201 and one.json["day"] == "2026-12-29"
    again = client.post(path, json={"day": "2026-12-29", "name": "Twice"}, headers=csrf)
    assert again.status_code == 422 and "day" in again.json["errors"]["json"]
    national = client.post(
        f"{path}/national", json={"country": "JP", "year": 2026, "language": "ja"}, headers=csrf
    )
    assert national.status_code == 201 and national.json["items"][0]["name"] == "元日"
    total = len(national.json["items"]) + 1
    seen: list[str] = []
    cursor = ""
    while True:
        page = client.get(f"{path}?limit=5&cursor={cursor}").json
        seen += [h["day"] for h in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert len(seen) == total and seen == sorted(seen)
    deleted = client.delete(f"{path}/{one.json['id']}", headers=csrf)
    assert deleted.status_code == 204
    assert client.delete(f"{path}/{one.json['id']}", headers=csrf).status_code == 404


def test_a_malformed_holiday_cursor_is_a_422_on_the_query(
    client: FlaskClient, sign_in_as, admin_agent: Agent, department: Department
) -> None:
    sign_in_as(admin_agent)
    answer = client.get(f"/api/v1/business-hours/{department.id}/holidays?cursor=nope")
    assert answer.status_code == 422 and "cursor" in answer.json["errors"]["query"]


def test_a_ticket_answers_its_sla_fields(
    client: FlaskClient,
    sign_in_as,
    api_agent: Agent,
    department: Department,
    db: Session,
    make_ticket: Callable[..., Ticket],
) -> None:
    policy = sla.create_policy(
        _system(db), name="Standard", targets=TARGETS, department_ids=[department.id]
    )
    db.commit()
    tokyo = ZoneInfo("Asia/Tokyo")
    clock.freeze(datetime(2026, 12, 7, 9, 0, tzinfo=tokyo))
    try:
        ticket = make_ticket()
        clock.freeze(datetime(2026, 12, 7, 14, 0, tzinfo=tokyo))
        sign_in_as(api_agent)
        answer = client.get(f"/api/v1/tickets/{ticket.id}").json
    finally:
        clock.unfreeze()
    assert answer["sla_policy_id"] == policy.id
    assert answer["first_response_due_at"] == "2026-12-07T04:00:00+00:00"
    assert answer["due_at"] == "2026-12-07T08:00:00+00:00"
    assert answer["overdue"] is True


def test_a_ticket_created_through_the_api_answers_its_due_times_at_once(
    client: FlaskClient, sign_in_as, api_agent: Agent, department: Department, db: Session
) -> None:
    sla.create_policy(_system(db), name="Standard", targets=TARGETS, department_ids=[department.id])
    db.commit()
    csrf = sign_in_as(api_agent)
    answer = client.post(
        "/api/v1/tickets", json={"subject": "Help", "department_id": department.id}, headers=csrf
    )
    assert answer.status_code == 201, answer.json
    assert answer.json["first_response_due_at"] is not None
    assert answer.json["due_at"] is not None and answer.json["overdue"] is False
