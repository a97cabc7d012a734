"""REST API: contacts, accounts, departments and /me."""

from __future__ import annotations

from collections.abc import Callable

from core.models import Agent, Contact, Department

pytest_plugins = ["tests.api_fixtures"]


def test_creating_a_contact_without_last_name_answers_422_naming_it(browser) -> None:
    client, csrf = browser
    answer = client.post("/api/v1/contacts", json={"first_name": "Hanako"}, headers=csrf)
    assert answer.status_code == 422
    assert list(answer.json["errors"]["json"]) == ["last_name"]


def test_created_contact_can_be_read_back(browser) -> None:
    client, csrf = browser
    created = client.post(
        "/api/v1/contacts", json={"last_name": "Yamada", "email": "y@example.com"}, headers=csrf
    )
    assert created.status_code == 201
    read = client.get(f"/api/v1/contacts/{created.json['id']}").json
    assert (read["name"], read["email"]) == ("Yamada", "y@example.com")


def test_invalid_contact_email_answers_422_naming_email(browser) -> None:
    client, csrf = browser
    answer = client.post(
        "/api/v1/contacts", json={"last_name": "Yamada", "email": "nope"}, headers=csrf
    )
    assert answer.status_code == 422
    assert "email" in answer.json["errors"]["json"]


def test_merge_moves_the_duplicates_tickets(
    client, sign_in_as, admin_agent: Agent, make_contact: Callable[..., Contact], make_ticket
) -> None:
    csrf = sign_in_as(admin_agent)
    keep = make_contact("Yamada", email="keep@example.com")
    duplicate = make_contact("Yamada", email="dup@example.com")
    ticket = make_ticket(contact=duplicate)
    answer = client.post(
        f"/api/v1/contacts/{keep.id}/merge", json={"contact_ids": [duplicate.id]}, headers=csrf
    )
    assert answer.status_code == 200
    assert client.get(f"/api/v1/tickets/{ticket.id}").json["contact_id"] == keep.id


def test_agent_without_merge_permission_is_refused_403(
    browser, make_contact: Callable[..., Contact]
) -> None:
    client, csrf = browser
    keep, duplicate = make_contact(email="a@example.com"), make_contact(email="b@example.com")
    answer = client.post(
        f"/api/v1/contacts/{keep.id}/merge", json={"contact_ids": [duplicate.id]}, headers=csrf
    )
    assert (answer.status_code, answer.json["permission"]) == (403, "contact.merge")


def test_agent_profile_cannot_edit_accounts(browser, make_account) -> None:
    client, csrf = browser
    account = make_account("Acme")
    answer = client.patch(f"/api/v1/accounts/{account.id}", json={"name": "Acme Ltd"}, headers=csrf)
    assert answer.status_code == 403  # the Agent profile may view accounts, not edit them


def test_admin_creates_and_lists_accounts(sign_in_as, admin_agent: Agent, client) -> None:
    csrf = sign_in_as(admin_agent)
    created = client.post("/api/v1/accounts", json={"name": "Acme"}, headers=csrf)
    assert created.status_code == 201
    assert [a["name"] for a in client.get("/api/v1/accounts").json["items"]] == ["Acme"]


def test_departments_say_which_the_caller_belongs_to(
    browser, department: Department, make_department: Callable[..., Department]
) -> None:
    client, _csrf = browser
    make_department("Sales")
    listed = client.get("/api/v1/departments").json["items"]
    assert {(d["name"], d["is_member"]) for d in listed} == {("Support", True), ("Sales", False)}


def test_agent_without_setup_permission_cannot_create_departments(browser) -> None:
    client, csrf = browser
    answer = client.post("/api/v1/departments", json={"name": "Billing"}, headers=csrf)
    assert (answer.status_code, answer.json["permission"]) == (403, "setup.manage")


def test_admin_creates_a_department(sign_in_as, admin_agent: Agent, client) -> None:
    csrf = sign_in_as(admin_agent)
    answer = client.post("/api/v1/departments", json={"name": "Billing"}, headers=csrf)
    assert answer.status_code == 201
    assert answer.json["name"] == "Billing"


def test_me_describes_the_signed_in_agent(browser, api_agent: Agent, department) -> None:
    client, _csrf = browser
    me = client.get("/api/v1/me").json
    assert (me["id"], me["auth"], me["scopes"]) == (api_agent.id, "session", None)
    assert me["department_ids"] == [department.id]
    assert "ticket.create" in me["permissions"]
