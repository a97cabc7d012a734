"""Ticket work in the browser pages (Flask test client): the new-ticket form, the working
controls and timeline of the ticket page, moves, bulk actions, the list's count and filters,
and what a light agent may not see or do."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import (
    Agent,
    Contact,
    Department,
    MailDirection,
    MailMessage,
    Organisation,
    Ticket,
)
from core.services import tickets as ticket_service
from core.services.base import Actor, Unit
from core.services.comments import mention_token
from core.web.i18n import compile_catalogs
from tests.page_helpers import csrf_token_of, sign_in

pytestmark = pytest.mark.usefixtures("host")


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs() -> None:
    compile_catalogs()


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    return make_department("Sales")


@pytest.fixture
def hanako(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("hanako@example.com", name="Hanako", departments=[department])


@pytest.fixture
def taro(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("taro@example.com", name="Taro", departments=[department])


@pytest.fixture
def light(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent(
        "light@example.com", name="Light", profile="Light Agent", departments=[department]
    )


def _as(client: FlaskClient, agent: Agent) -> FlaskClient:
    assert sign_in(client, agent.email).status_code == 302
    return client


def _post(client: FlaskClient, path: str, data: dict[str, object], page: str = "/tickets"):  # type: ignore[no-untyped-def]
    return client.post(path, data={**data, "csrf_token": csrf_token_of(client, page)})


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return unescape(response.get_data(as_text=True))


# ------------------------------------------------------------------------------ new ticket


def test_list_and_contact_page_link_to_the_new_ticket_form(
    client: FlaskClient, hanako: Agent, make_contact: Callable[..., Contact]
) -> None:
    contact = make_contact()
    _as(client, hanako)
    assert 'href="/tickets/new"' in _text(client.get("/tickets"))
    page = _text(client.get(f"/contacts/{contact.id}"))
    assert f'href="/tickets/new?contact={contact.id}"' in page
    prefilled = _text(client.get(f"/tickets/new?contact={contact.id}"))
    assert f'name="contact_id" value="{contact.id}"' in prefilled
    assert "Hanako" in prefilled


def test_contact_search_works_without_javascript_as_a_choice_of_links(
    client: FlaskClient, hanako: Agent, make_contact: Callable[..., Contact]
) -> None:
    contact = make_contact("Suzuki", first_name="Ichiro", email="ichiro@example.com")
    _as(client, hanako)
    page = _text(client.get("/tickets/new?contact_q=ichiro"))
    assert f'href="/tickets/new?contact={contact.id}"' in page
    answer = client.get("/tickets/new/contacts?q=ichiro")
    assert answer.json == {
        "items": [
            {"id": contact.id, "name": contact.name, "email": "ichiro@example.com", "phone": ""}
        ]
    }


def test_creating_a_ticket_with_a_new_contact_opens_it(
    client: FlaskClient, hanako: Agent, taro: Agent, department: Department, db: Session
) -> None:
    _as(client, hanako)
    answer = _post(
        client,
        "/tickets/new",
        {
            "subject": "Cannot log in",
            "description": "Since this morning",
            "department_id": department.id,
            "channel": "phone",
            "priority": "high",
            "status": "Open",
            "assignee_id": taro.id,
            "contact_name": "Ito Jun",
            "contact_email": "jun@example.com",
        },
        "/tickets/new",
    )
    assert answer.status_code == 302
    db.commit()
    ticket = db.scalars(select(Ticket)).one()
    assert answer.headers["Location"] == f"/tickets/{ticket.id}"
    assert (ticket.priority, ticket.assignee_id, ticket.channel) == ("high", taro.id, "phone")
    assert db.get(Contact, ticket.contact_id).email == "jun@example.com"


def test_a_new_ticket_without_a_contact_is_a_form_error(
    client: FlaskClient, hanako: Agent, department: Department, db: Session
) -> None:
    _as(client, hanako)
    answer = _post(
        client,
        "/tickets/new",
        {"subject": "Hi", "department_id": department.id},
        "/tickets/new",
    )
    assert answer.status_code == 422
    assert "Choose a contact or enter a new one." in _text(answer)
    db.commit()
    assert db.scalar(select(func.count()).select_from(Ticket)) == 0


# ------------------------------------------------------------------------------ ticket page


def test_assign_to_me_and_priority_show_in_the_timeline(
    client: FlaskClient, hanako: Agent, make_ticket: Callable[..., Ticket]
) -> None:
    ticket = make_ticket()
    _as(client, hanako)
    page = f"/tickets/{ticket.id}"
    assert _post(client, f"{page}/assignee", {"assignee_id": "me"}, page).status_code == 302
    assert _post(client, f"{page}/priority", {"priority": "urgent"}, page).status_code == 302
    text = _text(client.get(page))
    assert "Hanako assigned this to Hanako" in text
    assert "Hanako changed the priority: Medium → Urgent" in text
    assert 'id="ticket-assignee">Hanako<' in text


def test_due_date_is_read_in_the_organisations_time_zone(
    client: FlaskClient, hanako: Agent, make_ticket: Callable[..., Ticket], db: Session
) -> None:
    db.scalars(select(Organisation)).one().timezone = "Asia/Tokyo"
    db.commit()
    ticket = make_ticket()
    _as(client, hanako)
    page = f"/tickets/{ticket.id}"
    assert _post(client, f"{page}/due", {"due_at": "2026-12-24T18:00"}, page).status_code == 302
    db.expire_all()
    due = db.get(Ticket, ticket.id).due_at
    assert due is not None and due.isoformat().startswith("2026-12-24T09:00")
    assert 'value="2026-12-24T18:00"' in _text(client.get(page))


def test_a_bad_due_date_is_a_form_error(
    client: FlaskClient, hanako: Agent, make_ticket: Callable[..., Ticket]
) -> None:
    ticket = make_ticket()
    _as(client, hanako)
    page = f"/tickets/{ticket.id}"
    answer = _post(client, f"{page}/due", {"due_at": "next week"}, page)
    assert answer.status_code == 422
    assert "Give a date and a time." in _text(answer)


def test_tags_are_added_removed_and_shown_on_the_list(
    client: FlaskClient, hanako: Agent, make_ticket: Callable[..., Ticket]
) -> None:
    ticket = make_ticket()
    _as(client, hanako)
    page = f"/tickets/{ticket.id}"
    _post(client, f"{page}/tags", {"tags": "VIP, refund"}, page)
    assert '<span class="tag">vip' in _text(client.get("/tickets"))
    _post(client, f"{page}/tags/remove", {"tag": "refund"}, page)
    text = _text(client.get(page))
    assert "Hanako added the tags: refund, vip" in text
    assert "Hanako removed the tags: refund" in text


def test_moving_out_of_sight_asks_first_then_returns_to_the_list_with_a_notice(
    client: FlaskClient, hanako: Agent, make_ticket: Callable[..., Ticket], sales: Department
) -> None:
    ticket = make_ticket()
    _as(client, hanako)
    confirm = _text(client.get(f"/tickets/{ticket.id}/move?department_id={sales.id}"))
    assert "after the move you will no longer see this ticket" in confirm
    answer = _post(client, f"/tickets/{ticket.id}/move", {"department_id": sales.id})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/tickets"
    listing = _text(client.get("/tickets"))
    assert f"Ticket #{ticket.number} was moved to Sales" in listing
    assert client.get(f"/tickets/{ticket.id}").status_code == 404


def test_a_reply_shows_its_delivery_state(
    client: FlaskClient, hanako: Agent, make_ticket: Callable[..., Ticket], db: Session
) -> None:
    ticket = make_ticket(channel="email")
    _as(client, hanako)
    page = f"/tickets/{ticket.id}"
    _post(client, f"{page}/threads", {"kind": "outgoing", "body": "We are on it"}, page)
    db.commit()
    mail = db.scalars(
        select(MailMessage).where(MailMessage.direction == MailDirection.OUTBOUND.value)
    ).one()
    assert "Email not sent: mail is not configured" in _text(client.get(page))
    mail.attempts, mail.last_error = 5, "SMTPRecipientsRefused: <x@example.com>"
    db.commit()
    assert "Email failed: SMTPRecipientsRefused: <x@example.com>" in _text(client.get(page))


def test_a_mention_in_a_comment_renders_as_an_escaped_name(
    client: FlaskClient,
    hanako: Agent,
    make_agent: Callable[..., Agent],
    department: Department,
    make_ticket: Callable[..., Ticket],
) -> None:
    tricky = make_agent("tricky@example.com", name="<b>Bob</b>", departments=[department])
    ticket = make_ticket()
    _as(client, hanako)
    page = f"/tickets/{ticket.id}"
    body = f"ask {mention_token(tricky)}"
    _post(client, f"{page}/threads", {"kind": "comment", "body": body}, page)
    raw = client.get(page).get_data(as_text=True)
    assert f'data-agent-id="{tricky.id}">@&lt;b&gt;Bob&lt;/b&gt;</span>' in raw
    assert "<b>Bob</b>" not in raw


# ------------------------------------------------------------------------------------ list


def test_bulk_assign_reports_each_ticket(
    client: FlaskClient,
    make_agent: Callable[..., Agent],
    taro: Agent,
    department: Department,
    sales: Department,
    make_ticket: Callable[..., Ticket],
    db: Session,
) -> None:
    admin = make_agent(
        "boss@example.com", name="Boss", profile="Administrator", departments=[department, sales]
    )
    first, second = make_ticket("First"), make_ticket("Second")
    elsewhere = make_ticket("Elsewhere", department=sales)
    _as(client, admin)
    answer = _post(
        client,
        "/tickets/bulk",
        {
            "action": "assign",
            "assignee_id": taro.id,
            "ticket_ids": [first.id, elsewhere.id, second.id],
        },
    )
    assert answer.status_code == 200
    text = _text(answer)
    assert "2 of 3 tickets changed." in text
    assert f"#{first.number}</a>: assigned" in text
    assert f"#{elsewhere.number}</a>: this change does not fit this ticket" in text
    db.commit()
    db.expire_all()
    assert {
        t.assignee_id
        for t in db.scalars(select(Ticket).where(Ticket.department_id == department.id))
    } == {taro.id}


def test_bulk_result_gives_each_refusal_in_the_page_language(
    client: FlaskClient,
    make_agent: Callable[..., Agent],
    taro: Agent,
    department: Department,
    sales: Department,
    make_ticket: Callable[..., Ticket],
) -> None:
    admin = make_agent(
        "boss@example.com", profile="Administrator", departments=[department, sales], locale="ja"
    )
    elsewhere = make_ticket("Elsewhere", department=sales)
    _as(client, admin)
    answer = _post(
        client,
        "/tickets/bulk",
        {"action": "assign", "assignee_id": taro.id, "ticket_ids": [elsewhere.id]},
    )
    text = _text(answer)
    assert (
        f"#{elsewhere.number}</a>: この問い合わせにはこの変更を適用できません"
        " (この担当者は問い合わせの部門に所属していません。)"
    ) in text
    assert "This agent is not in the ticket's department." not in text


def test_bulk_without_tickets_says_to_choose_some(client: FlaskClient, hanako: Agent) -> None:
    _as(client, hanako)
    answer = _post(client, "/tickets/bulk", {"action": "close"})
    assert answer.status_code == 422
    assert "Choose at least one ticket." in _text(answer)


@pytest.mark.parametrize("role", ["admin", "agent"])
def test_list_counts_and_places_the_page_beyond_one_page(
    client: FlaskClient,
    make_agent: Callable[..., Agent],
    department: Department,
    sales: Department,
    make_ticket: Callable[..., Ticket],
    role: str,
) -> None:
    for n in range(55):
        make_ticket(f"Support {n:02d}")
    for n in range(3):
        make_ticket(f"Sales {n}", department=sales)
    viewer = (
        make_agent("boss@example.com", profile="Administrator", departments=[department, sales])
        if role == "admin"
        else make_agent("one@example.com", departments=[department])
    )
    _as(client, viewer)
    total = 58 if role == "admin" else 55
    first = _text(client.get("/tickets"))
    assert f"{total} tickets" in first
    assert f"1–50 of {total}" in first
    older = re.search(r'rel="next" href="([^"]+)"', first)
    assert older
    second = _text(client.get(older.group(1)))
    assert f"51–{total} of {total}" in second


def test_status_filter_offers_custom_statuses_and_filters_by_name(
    client: FlaskClient, hanako: Agent, make_ticket: Callable[..., Ticket], db: Session
) -> None:
    ticket_service.create_status(
        Unit(db, Actor.system("test"), None), name="Awaiting parts", status_type="on_hold"
    )
    db.commit()
    make_ticket("Needs a part", status="Awaiting parts")
    make_ticket("Plain hold", status="On Hold")
    _as(client, hanako)
    assert 'value="name:Awaiting parts"' in _text(client.get("/tickets"))
    page = _text(client.get("/tickets?status=name:Awaiting parts"))
    assert "Needs a part" in page and "Plain hold" not in page


def test_assignee_filter_finds_a_deactivated_agents_tickets(
    client: FlaskClient,
    hanako: Agent,
    taro: Agent,
    make_ticket: Callable[..., Ticket],
    db: Session,
) -> None:
    make_ticket("Taro's", assignee_id=taro.id)
    make_ticket("Nobody's")
    db.get(Agent, taro.id).is_active = False
    db.commit()
    _as(client, hanako)
    page = _text(client.get(f"/tickets?assignee={taro.id}"))
    assert "Taro (deactivated)" in page
    assert "Taro's" in page and "Nobody's" not in page


# ----------------------------------------------------------------------------- light agents


def test_a_light_agent_sees_no_work_controls(
    client: FlaskClient, light: Agent, make_ticket: Callable[..., Ticket]
) -> None:
    ticket = make_ticket()
    _as(client, light)
    listing = _text(client.get("/tickets"))
    assert 'id="new-ticket"' not in listing and 'name="ticket_ids"' not in listing
    page = _text(client.get(f"/tickets/{ticket.id}"))
    for control in ("assign-form", "priority-form", "due-form", "tags-form", "move-form"):
        assert f'id="{control}"' not in page


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("GET", "/tickets/new", {}),
        ("GET", "/tickets/new/contacts?q=a", {}),
        ("POST", "/tickets/new", {"subject": "x"}),
        ("POST", "/tickets/{id}/assignee", {"assignee_id": "me"}),
        ("POST", "/tickets/{id}/priority", {"priority": "high"}),
        ("POST", "/tickets/{id}/due", {"due_at": "2026-12-24T18:00"}),
        ("POST", "/tickets/{id}/tags", {"tags": "vip"}),
        ("POST", "/tickets/{id}/tags/remove", {"tag": "vip"}),
        ("GET", "/tickets/{id}/move?department_id=1", {}),
        ("POST", "/tickets/bulk", {"action": "assign", "assignee_id": "1", "ticket_ids": "{id}"}),
    ],
)
def test_a_light_agents_work_routes_answer_403(
    client: FlaskClient,
    light: Agent,
    make_ticket: Callable[..., Ticket],
    method: str,
    path: str,
    data: dict[str, str],
) -> None:
    ticket = make_ticket()
    _as(client, light)
    url = path.replace("{id}", str(ticket.id))
    if method == "GET":
        answer = client.get(url)
    else:
        filled = {k: v.replace("{id}", str(ticket.id)) for k, v in data.items()}
        answer = _post(client, url, filled)
    assert answer.status_code == 403


# --------------------------------------------------------------------------- public form


def test_the_thank_you_page_gives_the_ticket_number_with_the_prefix(
    client: FlaskClient, department: Department, db: Session
) -> None:
    db.scalars(select(Organisation)).one().ticket_prefix = "HELP-"
    db.commit()
    token = csrf_token_of(client, "/support")
    answer = client.post(
        "/support",
        data={
            "csrf_token": token,
            "family_name": "Ito",
            "given_name": "Jun",
            "email": "jun@example.com",
            "subject": "Where is my order?",
            "description": "Ordered last week.",
            "department_id": department.id,
        },
    )
    assert answer.status_code == 200
    db.commit()
    number = db.scalars(select(Ticket.number)).one()
    assert f"Your ticket number is HELP-{number}." in _text(answer)


def test_the_comment_box_offers_only_agents_who_see_the_ticket(
    client: FlaskClient,
    hanako: Agent,
    taro: Agent,
    make_agent: Callable[..., Agent],
    sales: Department,
    make_ticket: Callable[..., Ticket],
) -> None:
    make_agent("tanaka@example.com", name="Tanaka Sales", departments=[sales])
    ticket = make_ticket()
    _as(client, hanako)
    page = _text(client.get(f"/tickets/{ticket.id}"))
    assert f'data-mentions="/tickets/{ticket.id}/mentionable"' in page
    offered = client.get(f"/tickets/{ticket.id}/mentionable?q=ta").json["items"]
    assert [item["name"] for item in offered] == ["Taro"]
    assert offered[0]["token"] == mention_token(taro)
