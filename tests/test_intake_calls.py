"""Phone calls logged by agents become phone tickets; the caller is matched by number."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core.errors import ValidationFailed
from core.intake import calls
from core.models import Activity, Agent, Contact, Department, Ticket
from tests.intake_helpers import WorkIn
from tests.page_helpers import csrf_token_of

pytest_plugins = ["tests.intake_fixtures", "tests.api_fixtures"]


def _log(work_in: WorkIn, agent: Agent, department: Department, **fields: object) -> Ticket:
    values = {
        "phone": "03-1234-5678",
        "subject": "Billing question",
        "department_id": department.id,
    }
    with work_in(agent) as unit:
        ticket, _activity = calls.log_call(unit, **(values | fields))  # type: ignore[arg-type]
    return ticket


def _count(db: Session, model: type) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_an_incoming_call_is_a_phone_ticket_raised_by_the_registered_caller(
    work_in: WorkIn, api_agent: Agent, department: Department, db: Session
) -> None:
    ticket = _log(work_in, api_agent, department, caller_name="Ken Ito", notes="Asked about VAT")
    stored = db.get(Ticket, ticket.id)
    assert (stored.channel, stored.raised_by, stored.description) == (
        "phone",
        "customer",
        "Asked about VAT",
    )
    caller = db.get(Contact, stored.contact_id)
    assert (caller.last_name, caller.phone_e164) == ("Ken Ito", "+81312345678")


def test_an_outgoing_call_is_raised_by_the_agent(
    work_in: WorkIn, api_agent: Agent, department: Department
) -> None:
    assert _log(work_in, api_agent, department, direction="outgoing").raised_by == "agent"


def test_the_same_number_typed_differently_is_the_same_caller(
    work_in: WorkIn, api_agent: Agent, department: Department, db: Session
) -> None:
    first = _log(work_in, api_agent, department, phone="03-1234-5678")
    second = _log(work_in, api_agent, department, phone="+81 3 1234 5678")
    assert first.contact_id == second.contact_id
    assert _count(db, Contact) == 1


def test_the_call_is_recorded_as_a_completed_call_activity_with_its_duration(
    work_in: WorkIn, api_agent: Agent, department: Department, db: Session
) -> None:
    ticket = _log(work_in, api_agent, department, duration_seconds=312)
    activity = db.scalar(select(Activity))
    assert (activity.kind, activity.ticket_id, activity.owner_id) == (
        "call",
        ticket.id,
        api_agent.id,
    )
    assert "duration 5:12" in activity.description and activity.completed_at is not None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"phone": "hello"}, "phone"),
        ({"subject": ""}, "subject"),
        ({"direction": "sideways"}, "direction"),
        ({"duration_seconds": -1}, "duration_seconds"),
    ],
)
def test_bad_calls_are_refused_naming_the_field_and_store_nothing(
    fields: dict,
    field: str,
    work_in: WorkIn,
    api_agent: Agent,
    department: Department,
    db: Session,
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _log(work_in, api_agent, department, **fields)
    assert field in refused.value.errors
    assert (_count(db, Ticket), _count(db, Contact)) == (0, 0)


def test_a_call_for_a_department_the_agent_is_not_in_stores_nothing(
    work_in: WorkIn, api_agent: Agent, make_department, db: Session
) -> None:
    elsewhere = make_department("Elsewhere")
    with pytest.raises(ValidationFailed) as refused:
        _log(work_in, api_agent, elsewhere)
    assert "department_id" in refused.value.errors
    assert (_count(db, Ticket), _count(db, Contact)) == (0, 0)


def test_rest_logs_a_call(browser, department: Department) -> None:
    client, csrf = browser
    answer = client.post(
        "/api/v1/calls",
        json={"phone": "0312345678", "subject": "Refund", "department_id": department.id},
        headers=csrf,
    )
    assert answer.status_code == 201
    assert (answer.json["channel"], answer.json["raised_by"]) == ("phone", "customer")


def test_rest_refuses_a_bad_number_with_422_naming_phone(browser, department) -> None:
    client, csrf = browser
    answer = client.post(
        "/api/v1/calls",
        json={"phone": "abc", "subject": "Refund", "department_id": department.id},
        headers=csrf,
    )
    assert answer.status_code == 422
    assert list(answer.json["errors"]["json"]) == ["phone"]


def _log_call(client: FlaskClient, department: Department, **fields: str) -> TestResponse:
    """Submit the log-call form for ``department`` with ``fields``."""
    return client.post(
        "/tickets/log-call",
        data={
            "csrf_token": csrf_token_of(client, "/tickets/log-call"),
            "department_id": str(department.id),
            **fields,
        },
    )


def test_the_log_call_page_creates_the_ticket_and_opens_it(
    client: FlaskClient, sign_in_as, api_agent: Agent, department: Department, db: Session
) -> None:
    sign_in_as(api_agent)
    answer = _log_call(
        client,
        department,
        phone="090-1111-2222",
        caller_name="Mika",
        direction="incoming",
        subject="Delivery date",
        notes="",
        minutes="2",
        seconds="5",
    )
    ticket = db.scalar(select(Ticket))
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/tickets/{ticket.id}")


def test_the_log_call_page_reshows_errors(
    client: FlaskClient, sign_in_as, api_agent: Agent, department: Department, db: Session
) -> None:
    sign_in_as(api_agent)
    answer = _log_call(client, department, phone="nope", subject="")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'id="error-phone"' in html and 'id="error-subject"' in html
    assert _count(db, Ticket) == 0
