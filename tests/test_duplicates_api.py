"""REST API: duplicate groups, merge, bulk delete, spam marks and the duplicate rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.models import Account, Agent, Contact, Ticket
from hostapi import scopes

pytest_plugins = ["tests.api_fixtures"]

MakeContact = Callable[..., Contact]


@pytest.fixture
def admin(client: FlaskClient, sign_in_as, admin_agent: Agent) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The CSRF header of a signed-in administrator."""
    return sign_in_as(admin_agent)


def test_duplicate_groups_list_the_records_sharing_an_email(
    client: FlaskClient, admin: dict[str, str], make_contact: MakeContact
) -> None:
    first = make_contact("Yamada", email="hanako@example.com")
    second = make_contact("Yamada", email="hanako@example.com")
    make_contact("Sato", email="sato@example.com")
    answer = client.get("/api/v1/contacts/duplicates?rule=email")
    assert answer.status_code == 200
    [group] = answer.json["items"]
    assert (group["rule"], group["key"]) == ("email", "hanako@example.com")
    assert [r["id"] for r in group["records"]] == [first.id, second.id]
    assert answer.json["next_cursor"] is None


def test_duplicate_groups_page_with_the_cursor(
    client: FlaskClient, admin: dict[str, str], make_contact: MakeContact
) -> None:
    for letter in "ab":
        make_contact(email=f"{letter}@example.com")
        make_contact(email=f"{letter}@example.com")
    first = client.get("/api/v1/contacts/duplicates?rule=email&limit=1").json
    second = client.get(
        f"/api/v1/contacts/duplicates?rule=email&limit=1&cursor={first['next_cursor']}"
    ).json
    assert [g["key"] for g in first["items"] + second["items"]] == [
        "a@example.com",
        "b@example.com",
    ]
    assert second["next_cursor"] is None


def test_an_unknown_rule_answers_422_naming_it(client: FlaskClient, admin: dict[str, str]) -> None:
    answer = client.get("/api/v1/accounts/duplicates?rule=email")
    assert answer.status_code == 422
    assert list(answer.json["errors"]["query"]) == ["rule"]


def test_duplicates_of_one_contact(
    client: FlaskClient, admin: dict[str, str], make_contact: MakeContact
) -> None:
    record = make_contact(email="hanako@example.com")
    twin = make_contact(email="hanako@example.com")
    answer = client.get(f"/api/v1/contacts/{record.id}/duplicates")
    assert [[r["id"] for r in g["records"]] for g in answer.json["items"]] == [[record.id, twin.id]]


def test_merge_moves_tickets_and_takes_the_chosen_value(
    client: FlaskClient,
    admin: dict[str, str],
    make_contact: MakeContact,
    make_ticket: Callable[..., Ticket],
) -> None:
    survivor = make_contact("Yamada", first_name="Hanako")
    other = make_contact("Yamada", first_name="Hana")
    ticket = make_ticket(contact=other)
    answer = client.post(
        "/api/v1/contacts/merge",
        json={
            "survivor_id": survivor.id,
            "merged_ids": [other.id],
            "choices": {"first_name": other.id},
        },
        headers=admin,
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["first_name"] == "Hana"
    assert client.get(f"/api/v1/tickets/{ticket.id}").json["contact_id"] == survivor.id
    assert client.get(f"/api/v1/contacts/{other.id}").json["merged_into_id"] == survivor.id


def test_merge_with_an_unknown_record_answers_422_and_changes_nothing(
    client: FlaskClient, admin: dict[str, str], make_contact: MakeContact
) -> None:
    survivor = make_contact()
    answer = client.post(
        "/api/v1/contacts/merge",
        json={"survivor_id": survivor.id, "merged_ids": [987654]},
        headers=admin,
    )
    assert answer.status_code == 422
    assert list(answer.json["errors"]["json"]) == ["merged_ids"]


def test_merge_with_an_unknown_field_answers_422_naming_it(
    client: FlaskClient, admin: dict[str, str], make_contact: MakeContact
) -> None:
    survivor, other = make_contact(), make_contact()
    answer = client.post(
        "/api/v1/contacts/merge",
        json={
            "survivor_id": survivor.id,
            "merged_ids": [other.id],
            "choices": {"colour": other.id},
        },
        headers=admin,
    )
    assert answer.status_code == 422
    assert list(answer.json["errors"]["json"]) == ["choices.colour"]
    assert client.get(f"/api/v1/contacts/{other.id}").json["merged_into_id"] is None


def test_the_old_merge_endpoint_delegates_to_the_new_merge(
    client: FlaskClient, admin: dict[str, str], make_contact: MakeContact
) -> None:
    keep = make_contact("Yamada", first_name="Hanako")
    duplicate = make_contact("Yamada", first_name="Hana")
    answer = client.post(
        f"/api/v1/contacts/{keep.id}/merge",
        json={"contact_ids": [duplicate.id], "choices": {"first_name": duplicate.id}},
        headers=admin,
    )
    assert (answer.status_code, answer.json["first_name"]) == (200, "Hana")


def test_accounts_merge(
    client: FlaskClient, admin: dict[str, str], make_account: Callable[..., Account]
) -> None:
    survivor, other = make_account("Acme"), make_account("Acme Inc.")
    answer = client.post(
        "/api/v1/accounts/merge",
        json={"survivor_id": survivor.id, "merged_ids": [other.id]},
        headers=admin,
    )
    assert answer.status_code == 200
    assert client.get("/api/v1/accounts/duplicates?rule=name").json["items"] == []


def test_bulk_delete_keeps_records_with_tickets_and_says_why(
    client: FlaskClient,
    admin: dict[str, str],
    make_contact: MakeContact,
    make_ticket: Callable[..., Ticket],
) -> None:
    busy, idle = make_contact(), make_contact()
    make_ticket(contact=busy)
    answer = client.post(
        "/api/v1/contacts/bulk-delete", json={"ids": [busy.id, idle.id]}, headers=admin
    )
    assert answer.status_code == 200
    assert answer.json["deleted_ids"] == [idle.id]
    assert [r["id"] for r in answer.json["refused"]] == [busy.id]
    assert "merge" in answer.json["refused"][0]["reason"]
    assert client.get(f"/api/v1/contacts/{idle.id}").status_code == 404


def test_bulk_delete_of_accounts_needs_the_delete_permission(
    client: FlaskClient, sign_in_as, api_agent: Agent, make_account: Callable[..., Account]
) -> None:  # type: ignore[no-untyped-def]
    csrf = sign_in_as(api_agent)
    answer = client.post(
        "/api/v1/accounts/bulk-delete", json={"ids": [make_account().id]}, headers=csrf
    )
    assert (answer.status_code, answer.json["permission"]) == (403, "account.delete")


def test_bulk_delete_of_nothing_answers_422(client: FlaskClient, admin: dict[str, str]) -> None:
    answer = client.post("/api/v1/contacts/bulk-delete", json={"ids": []}, headers=admin)
    assert answer.status_code == 422
    assert list(answer.json["errors"]["json"]) == ["ids"]


def test_spam_mark_and_unmark_a_contact(
    client: FlaskClient, admin: dict[str, str], make_contact: MakeContact
) -> None:
    contact = make_contact()
    marked = client.post(f"/api/v1/contacts/{contact.id}/spam", headers=admin)
    unmarked = client.delete(f"/api/v1/contacts/{contact.id}/spam", headers=admin)
    assert (marked.json["is_spam"], unmarked.json["is_spam"]) == (True, False)


def test_spam_mark_an_account_with_a_token(
    client: FlaskClient,
    db: Session,
    admin_agent: Agent,
    bearer_for,  # type: ignore[no-untyped-def]
    make_account: Callable[..., Account],
) -> None:
    account = make_account()
    reader = bearer_for(admin_agent, [scopes.ACCOUNTS_READ])
    writer = bearer_for(admin_agent, [scopes.ACCOUNTS_WRITE])
    refused = client.post(f"/api/v1/accounts/{account.id}/spam", headers=reader)
    marked = client.post(f"/api/v1/accounts/{account.id}/spam", headers=writer)
    assert (refused.status_code, refused.json["scope"]) == (403, scopes.ACCOUNTS_WRITE)
    assert (marked.status_code, marked.json["is_spam"]) == (200, True)


def test_duplicate_rules_are_read_and_replaced(client: FlaskClient, admin: dict[str, str]) -> None:
    assert client.get("/api/v1/duplicate-rules").json == {
        "contact": ["email", "phone"],
        "account": ["name"],
    }
    answer = client.put(
        "/api/v1/duplicate-rules", json={"contact": ["name", "email"]}, headers=admin
    )
    assert answer.json == {"contact": ["email", "name"], "account": ["name"]}


def test_an_unknown_duplicate_rule_answers_422(client: FlaskClient, admin: dict[str, str]) -> None:
    answer = client.put("/api/v1/duplicate-rules", json={"contact": ["shoe"]}, headers=admin)
    assert answer.status_code == 422
    assert "contact" in answer.json["errors"]["json"]
