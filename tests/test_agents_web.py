"""Setup → Agents in the browser: the list's pages, adding with a one-time link, the profile
change confirmation, deactivation; setting a password from a link; the password reset form;
availability in the header."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import SecurityLimits, SmtpSettings
from core.host import Host
from core.models import Agent, AgentLink, AuditEntry, Department, PermissionProfile, Ticket
from core.services import org
from core.web.ui.agents_admin import PAGE_SIZE
from tests.factories import TEST_PASSWORD
from tests.intake_helpers import SmtpSink
from tests.page_helpers import csrf_token_of, see_committed, sign_in

pytest_plugins = ["tests.intake_fixtures"]
pytestmark = pytest.mark.usefixtures("host")

NEW_PASSWORD = "a long new password"
_CSRF_TOKEN = re.compile(r'(name="csrf-token" content|name="csrf_token" value)="[^"]*"')
_LINK = re.compile(r"(https?://[^\s<\"]+/password/set/(dhl_[A-Za-z0-9_-]+))")


@pytest.fixture
def admin(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent(
        "boss@example.com", name="Boss", profile="Administrator", departments=[department]
    )


@pytest.fixture
def admin_client(app: Flask, admin: Agent) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, admin.email).status_code == 302
    return client


@pytest.fixture
def smtp_host(host: Host, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> Host:
    """The test host, sending mail through the local SMTP sink."""
    smtp = SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, from_address="desk@example.com")
    monkeypatch.setattr(host, "settings", dataclasses.replace(host.settings, smtp=smtp))
    return host


def _post(client: FlaskClient, path: str, data: dict[str, object], **kwargs: object):  # type: ignore[no-untyped-def]
    return client.post(
        path, data={**data, "csrf_token": csrf_token_of(client, "/tickets")}, **kwargs
    )


def _profile_id(db: Session, name: str) -> int:
    return db.scalars(select(PermissionProfile.id).where(PermissionProfile.name == name)).one()


def _add(client: FlaskClient, db: Session, department: Department, **fields: object):  # type: ignore[no-untyped-def]
    data = {
        "name": "Hanako Yamada",
        "email": "hanako@example.com",
        "locale": "ja",
        "profile_id": _profile_id(db, "Agent"),
        "department_ids": [department.id],
    } | fields
    return _post(client, "/admin/agents/new", data)


# ------------------------------------------------------------------------------------ list


def test_the_list_pages_through_more_agents_than_fit_one_page(
    admin_client: FlaskClient, make_agent: Callable[..., Agent]
) -> None:
    for index in range(PAGE_SIZE + 5):
        make_agent(f"staff{index:02}@example.com", name=f"Staff {index:02}")
    first = admin_client.get("/admin/agents?q=staff").get_data(as_text=True)
    assert len(re.findall(r'<tr id="agent-\d+"', first)) == PAGE_SIZE
    after = re.search(r'rel="next" href="([^"]+)"', first)
    assert after, "no next page link"
    second = admin_client.get(after.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert len(re.findall(r'<tr id="agent-\d+"', second)) == 5
    assert "Staff 29" in second and "Staff 00" not in second
    assert 'rel="next"' not in second


def test_the_list_filters_inactive_agents(
    admin_client: FlaskClient, make_agent: Callable[..., Agent], db: Session
) -> None:
    make_agent("here@example.com", name="Still Here")
    gone = make_agent("gone@example.com", name="Long Gone")
    gone.is_active = False
    db.commit()
    active = admin_client.get("/admin/agents").get_data(as_text=True)
    inactive = admin_client.get("/admin/agents?activity=inactive").get_data(as_text=True)
    assert "Still Here" in active and "Long Gone" not in active
    assert "Long Gone" in inactive and "Still Here" not in inactive


def test_agents_without_agent_manage_neither_see_nor_open_the_setup(
    client: FlaskClient, make_agent: Callable[..., Agent], department: Department
) -> None:
    agent = make_agent("plain@example.com", departments=[department])
    sign_in(client, agent.email)
    assert "/admin/agents" not in client.get("/tickets").get_data(as_text=True)
    assert client.get("/admin/agents").status_code == 403
    assert client.get(f"/admin/agents/{agent.id}").status_code == 403
    assert client.get("/admin/agents/new").status_code == 403


def test_the_setup_menu_links_the_agents_page_for_admins(admin_client: FlaskClient) -> None:
    assert 'href="/admin/agents"' in admin_client.get("/setup").get_data(as_text=True)


# ------------------------------------------------------------------------------------- add


def test_adding_an_agent_shows_their_link_once(
    admin_client: FlaskClient, db: Session, department: Department
) -> None:
    page = _add(admin_client, db, department).get_data(as_text=True)
    match = _LINK.search(page)
    assert match, "the link is not shown"
    see_committed(db)
    agent = db.scalars(select(Agent).where(Agent.email == "hanako@example.com")).one()
    assert agent.department_ids == {department.id} and agent.password_hash == ""
    assert db.scalars(select(AgentLink.token_hash)).one() != match.group(2)
    again = admin_client.get(f"/admin/agents/{agent.id}").get_data(as_text=True)
    assert match.group(2) not in again
    assert "has not set a password yet" in again


def test_adding_an_agent_with_bad_fields_names_them(
    admin_client: FlaskClient, db: Session, department: Department
) -> None:
    answer = _add(admin_client, db, department, name="", email="nope", department_ids=[999])
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    for field in ("name", "email", "department_ids"):
        assert f'id="error-{field}"' in page
    see_committed(db)
    assert db.scalar(select(Agent).where(Agent.email == "nope")) is None


def test_with_smtp_the_link_is_mailed_and_not_shown(
    admin_client: FlaskClient,
    db: Session,
    department: Department,
    smtp_host: Host,
    smtp_sink: SmtpSink,
) -> None:
    page = _add(admin_client, db, department).get_data(as_text=True)
    assert not _LINK.search(page)
    assert "was emailed to hanako@example.com" in page
    [mail] = smtp_sink.wait_for(1)
    assert mail["To"] == "hanako@example.com"
    assert "パスワード" in mail["Subject"]  # the agent's language
    assert _LINK.search(mail.get_content())


def test_a_failed_mail_says_why_and_shows_the_link(
    admin_client: FlaskClient,
    db: Session,
    department: Department,
    host: Host,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.intake_helpers import free_port

    smtp = SmtpSettings(host="127.0.0.1", port=free_port())
    monkeypatch.setattr(host, "settings", dataclasses.replace(host.settings, smtp=smtp))
    page = _add(admin_client, db, department).get_data(as_text=True)
    assert 'id="mail-error"' in page
    assert _LINK.search(page)


# ------------------------------------------------------------------------------ set password


def test_the_link_sets_a_password_the_agent_then_signs_in_with(
    app: Flask, admin_client: FlaskClient, db: Session, department: Department
) -> None:
    match = _LINK.search(_add(admin_client, db, department).get_data(as_text=True))
    assert match
    path = "/password/set/" + match.group(2)
    visitor = app.test_client()
    assert visitor.get(path).status_code == 200
    token = csrf_token_of(visitor, path)
    mismatch = visitor.post(
        path, data={"password": NEW_PASSWORD, "password_confirm": "other", "csrf_token": token}
    )
    assert mismatch.status_code == 422
    short = visitor.post(
        path, data={"password": "short", "password_confirm": "short", "csrf_token": token}
    )
    assert short.status_code == 422
    done = visitor.post(
        path, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "csrf_token": token}
    )
    assert done.status_code == 200
    assert sign_in(visitor, "hanako@example.com", NEW_PASSWORD).status_code == 302
    used = visitor.get(path)
    assert used.status_code == 410
    assert "すでにパスワードの設定に使われています" in used.get_data(as_text=True)  # her language


def test_an_unknown_link_gets_a_clear_page(client: FlaskClient) -> None:
    answer = client.get("/password/set/dhl_made-up")
    assert answer.status_code == 404
    assert "not valid" in answer.get_data(as_text=True)


# ------------------------------------------------------------------------- profile change


def test_a_profile_change_is_confirmed_with_what_changes(
    admin_client: FlaskClient, make_agent: Callable[..., Agent], department: Department, db: Session
) -> None:
    agent = make_agent(
        "light@example.com", name="Light", profile="Light Agent", departments=[department]
    )
    fields = {
        "name": "Light",
        "email": "light@example.com",
        "locale": "",
        "profile_id": _profile_id(db, "Agent"),
        "department_ids": [department.id],
    }
    page = _post(admin_client, f"/admin/agents/{agent.id}", fields).get_data(as_text=True)
    gained = page.split('id="permissions-gained"')[1].split("</ul>")[0]
    assert "ticket.reply" in gained
    see_committed(db)
    assert db.get(Agent, agent.id).profile.name == "Light Agent"  # type: ignore[union-attr]
    saved = _post(admin_client, f"/admin/agents/{agent.id}", fields | {"confirm": "1"})
    assert saved.status_code == 302
    see_committed(db)
    assert db.get(Agent, agent.id).profile.name == "Agent"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- deactivation


def test_deactivation_stops_the_agents_open_session_and_lists_their_tickets(
    app: Flask,
    admin_client: FlaskClient,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
    department: Department,
    db: Session,
) -> None:
    agent = make_agent("leaving@example.com", departments=[department])
    ticket = make_ticket("Waiting for someone", assignee_id=agent.id)
    theirs = app.test_client()
    sign_in(theirs, agent.email)
    assert theirs.get("/tickets").status_code == 200
    assert _post(admin_client, f"/admin/agents/{agent.id}/deactivate", {}).status_code == 302
    assert theirs.get("/tickets").status_code == 302  # back to the sign-in page
    page = admin_client.get(f"/admin/agents/{agent.id}").get_data(as_text=True)
    assert f"/tickets/{ticket.id}" in page and "Waiting for someone" in page
    assert _post(admin_client, f"/admin/agents/{agent.id}/reactivate", {}).status_code == 302
    assert sign_in(theirs, agent.email).status_code == 302


def test_a_new_link_replaces_the_old_one(
    admin_client: FlaskClient, db: Session, department: Department
) -> None:
    first = _LINK.search(_add(admin_client, db, department).get_data(as_text=True))
    see_committed(db)
    agent = db.scalars(select(Agent).where(Agent.email == "hanako@example.com")).one()
    second = _LINK.search(
        _post(admin_client, f"/admin/agents/{agent.id}/link", {}).get_data(as_text=True)
    )
    assert first and second and first.group(2) != second.group(2)
    assert admin_client.get("/password/set/" + first.group(2)).status_code == 410
    assert admin_client.get("/password/set/" + second.group(2)).status_code == 200


# ---------------------------------------------------------------------------- availability


def test_an_agent_sets_their_availability_from_the_header(
    client: FlaskClient, make_agent: Callable[..., Agent], department: Department, db: Session
) -> None:
    agent = make_agent("me@example.com", departments=[department])
    sign_in(client, agent.email)
    assert 'id="availability-select"' in client.get("/tickets").get_data(as_text=True)
    answer = _post(client, "/settings/status", {"status": "busy", "next": "/contacts"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/contacts")
    see_committed(db)
    assert db.get(Agent, agent.id).status == "busy"  # type: ignore[union-attr]


def test_an_admin_sets_an_agents_availability(
    admin_client: FlaskClient, make_agent: Callable[..., Agent], db: Session
) -> None:
    agent = make_agent("other@example.com")
    _post(admin_client, f"/admin/agents/{agent.id}/status", {"status": "away"})
    see_committed(db)
    assert db.get(Agent, agent.id).status == "away"  # type: ignore[union-attr]


# -------------------------------------------------------------------------- password reset


def test_the_sign_in_page_links_the_reset(client: FlaskClient) -> None:
    assert 'href="/password/forgot"' in client.get("/login").get_data(as_text=True)


def test_a_reset_answers_the_same_for_known_and_unknown_addresses_and_mails_the_known(
    client: FlaskClient,
    make_agent: Callable[..., Agent],
    smtp_host: Host,
    smtp_sink: SmtpSink,
    db: Session,
) -> None:
    agent = make_agent("known@example.com")
    token = csrf_token_of(client, "/password/forgot")
    known = client.post(
        "/password/forgot", data={"email": "known@example.com", "csrf_token": token}, buffered=True
    )
    unknown = client.post(
        "/password/forgot", data={"email": "nobody@example.com", "csrf_token": token}, buffered=True
    )
    assert known.status_code == unknown.status_code == 200
    # The CSRF token is signed with the second it was made in: it may differ between the two.
    shown = [
        _CSRF_TOKEN.sub(
            "",
            answer.get_data(as_text=True)
            .replace("known@example.com", "X")
            .replace("nobody@example.com", "X"),
        )
        for answer in (known, unknown)
    ]
    assert shown[0] == shown[1]
    [mail] = smtp_sink.wait_for(1)
    assert mail["To"] == "known@example.com"
    match = _LINK.search(mail.get_content())
    assert match
    # Using it signs the agent out everywhere else.
    generation = agent.session_generation
    path = "/password/set/" + match.group(2)
    form = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    assert (
        client.post(path, data=form | {"csrf_token": csrf_token_of(client, path)}).status_code
        == 200
    )
    see_committed(db)
    assert db.get(Agent, agent.id).session_generation == generation + 1  # type: ignore[union-attr]
    assert org.authenticate(db, "known@example.com", NEW_PASSWORD) is not None
    assert org.authenticate(db, "known@example.com", TEST_PASSWORD) is None
    audited = db.scalars(select(AuditEntry).where(AuditEntry.entity_type == "agent_link")).one()
    assert audited.sub_action == "reset" and audited.actor_label == "password reset"


def test_reset_requests_are_limited_per_address_asked_for(
    app: Flask, client: FlaskClient, smtp_host: Host, db: Session
) -> None:
    app.config["DESKHOST_LIMITS"] = SecurityLimits(
        password_reset_email_limit=2, password_reset_address_limit=100
    )
    token = csrf_token_of(client, "/password/forgot")
    data = {"email": "someone@example.com", "csrf_token": token}
    codes = [
        client.post("/password/forgot", data=data, buffered=True).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    other = client.post(
        "/password/forgot", data={"email": "else@example.com", "csrf_token": token}, buffered=True
    )
    assert other.status_code == 200
    see_committed(db)
    refused = db.scalars(select(AuditEntry).where(AuditEntry.entity_type == "password_reset")).one()
    assert refused.action == "refuse"


def test_without_smtp_the_reset_page_sends_people_to_an_administrator(client: FlaskClient) -> None:
    page = client.get("/password/forgot").get_data(as_text=True)
    assert "cannot send email" in page and 'name="email"' not in page
