"""The History tab of contact and account pages: the audit entries of the record and its parts
(who, when, from where, what), by agent and action, a page at a time, each opening with its
fields before and after; and its REST twin, ``/api/v1/{contacts,accounts}/<id>/history``."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.customer_tabs.history import HISTORY_TAB_LIMIT
from core.models import Account, Agent, AuditEntry, Contact
from core.services import activities, comments
from core.services import customers as customer_service
from core.services import fields as field_service
from core.services.base import Actor, Unit
from hostapi import scopes
from tests.page_helpers import customer_tab_html, older_query, sign_in

pytest_plugins = ["tests.api_fixtures"]

IP = "203.0.113.7"
CONTACT_TAB = "core_customer_history.contact_history"
ACCOUNT_TAB = "core_customer_history.account_history"


def _acting(db: Session, agent: Agent, ip: str = IP) -> Unit:
    """A service unit acting as ``agent`` from ``ip`` (what a request's unit records)."""
    return Unit(session=db, actor=Actor(agent, ip_address=ip), host=None)


@pytest.fixture
def admin_client(app: Flask, admin_agent: Agent) -> FlaskClient:
    """A client signed in as an administrator (who holds ``history.view``)."""
    client = app.test_client()
    sign_in(client, admin_agent.email)
    return client


@pytest.fixture
def customer(db: Session, admin_agent: Agent) -> Contact:
    """A contact the administrator added, then changed (email and phone)."""
    unit = _acting(db, admin_agent)
    contact = customer_service.create_contact(
        unit, last_name="Yamada", first_name="Hanako", email="hanako@example.com"
    )
    customer_service.update_contact(unit, contact, email="hanako@example.jp", phone="0312345678")
    db.commit()
    return contact


def _entries(db: Session, entity_type: str, entity_id: int) -> list[AuditEntry]:
    """The record's own entries, newest first."""
    return list(
        db.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == str(entity_id))
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        )
    )


def _page(client: FlaskClient, path: str, query: str = "") -> str:
    answer = client.get(f"{path}?{query}")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def _tab(client: FlaskClient, path: str, query: str = "", tab: str = CONTACT_TAB) -> str:
    """The History tab's body on the customer's page (``tab``, a contact's unless told), with
    ``query``."""
    return customer_tab_html(
        client, path, "core_customer_history", "&".join(filter(None, [f"tab={tab}", query]))
    )


def _listed(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-history-entry="(\d+)"', html)]


def test_the_tab_lists_who_changed_the_contact_when_from_where_and_what(
    admin_client: FlaskClient, db: Session, customer: Contact
) -> None:
    changed, added = _entries(db, "contact", customer.id)

    html = _tab(admin_client, f"/contacts/{customer.id}")

    assert _listed(html) == [changed.id, added.id]
    row = html.partition(f'data-history-entry="{changed.id}"')[2].partition("</tr>")[0]
    assert "Admin" in row and IP in row and "Changed" in row
    assert "Email address, Phone" in row
    assert "Added" in html


def test_the_tab_counts_the_entries(admin_client: FlaskClient, customer: Contact) -> None:
    html = _page(admin_client, f"/contacts/{customer.id}")

    tab = re.search(rf'data-tab="{CONTACT_TAB}"[^>]*>History <span class="tab-count">(\d+)', html)
    assert tab is not None and tab.group(1) == "2"


def test_opening_an_entry_shows_each_field_before_and_after(
    admin_client: FlaskClient, db: Session, customer: Contact
) -> None:
    changed, _ = _entries(db, "contact", customer.id)

    html = _tab(admin_client, f"/contacts/{customer.id}", f"history_entry={changed.id}")

    detail = html.partition('id="history-detail"')[2]
    email = detail.partition('<tr data-field="email">')[2].partition("</tr>")[0]
    assert "<td>Email address</td>" in email
    assert "hanako@example.com" in email and "hanako@example.jp" in email
    assert email.index("hanako@example.com") < email.index("hanako@example.jp")
    close = re.search(r'href="\?([^"#]+)#customer-tabs" data-history-close', html)
    assert close is not None and "history_entry" not in close.group(1)


def test_fields_are_named_as_the_form_names_them_in_the_agents_language(
    admin_client: FlaskClient, db: Session, customer: Contact, admin_agent: Agent
) -> None:
    changed, _ = _entries(db, "contact", customer.id)
    field_service.update_builtin_field(
        _acting(db, admin_agent), "contact", "phone", label="Office line"
    )
    admin_agent.locale = "ja"
    db.commit()

    html = _tab(admin_client, f"/contacts/{customer.id}", f"history_entry={changed.id}")

    row = html.partition(f'data-history-entry="{changed.id}"')[2].partition("</tr>")[0]
    assert "メールアドレス, Office line" in row
    assert '<tr data-field="phone"><td>Office line</td>' in html


def test_an_entry_of_another_record_does_not_open(
    admin_client: FlaskClient,
    db: Session,
    customer: Contact,
    make_contact: Callable[..., Contact],
) -> None:
    other = make_contact("Suzuki", email="suzuki@example.com")
    _, added = _entries(db, "contact", customer.id)

    html = _tab(admin_client, f"/contacts/{other.id}", f"history_entry={added.id}")

    assert 'id="history-detail"' not in html


def test_the_agent_filter_lists_one_agents_changes(
    admin_client: FlaskClient, db: Session, customer: Contact, support_manager: Agent
) -> None:
    customer_service.update_contact(_acting(db, support_manager), customer, title="Director")
    db.commit()
    (by_manager, *_) = _entries(db, "contact", customer.id)

    html = _tab(admin_client, f"/contacts/{customer.id}", f"history_agent={support_manager.id}")

    assert _listed(html) == [by_manager.id]
    assert f'<option value="{support_manager.id}" selected>Mana Manager</option>' in html
    assert ">Admin</option>" in html


def test_the_action_filter_lists_one_action_and_its_form_keeps_the_tab(
    admin_client: FlaskClient, db: Session, customer: Contact
) -> None:
    _, added = _entries(db, "contact", customer.id)

    html = _tab(admin_client, f"/contacts/{customer.id}", "history_action=add")

    assert _listed(html) == [added.id]
    form = html.partition('id="history-filters"')[2].partition("</form>")[0]
    assert f'<input type="hidden" name="tab" value="{CONTACT_TAB}">' in form
    assert '<option value="add" selected>' in form


def test_the_tab_pages_through_the_history_newest_first(
    admin_client: FlaskClient, db: Session, customer: Contact, admin_agent: Agent
) -> None:
    unit = _acting(db, admin_agent)
    for n in range(2 * HISTORY_TAB_LIMIT + 1):
        customer_service.update_contact(unit, customer, title=f"Title {n}")
    db.commit()
    every = [entry.id for entry in _entries(db, "contact", customer.id)]

    pages: list[list[int]] = []
    query = ""
    while True:
        html = _tab(admin_client, f"/contacts/{customer.id}", query)
        pages.append(_listed(html))
        older = older_query(html)
        if older is None:
            break
        assert f"tab={CONTACT_TAB}" in older
        query = older.replace(f"tab={CONTACT_TAB}", "")

    assert [len(page) for page in pages] == [HISTORY_TAB_LIMIT, HISTORY_TAB_LIMIT, 3]
    assert [entry for page in pages for entry in page] == every
    assert 'data-history-page="newest"' in html


def test_the_history_holds_the_contacts_comments_and_activities(
    admin_client: FlaskClient,
    db: Session,
    customer: Contact,
    admin_agent: Agent,
    make_contact: Callable[..., Contact],
) -> None:
    unit = _acting(db, admin_agent)
    comment = comments.add_comment(unit, customer, body="Prefers mail")
    comments.delete_comment(unit, comment)
    call = activities.create_activity(unit, kind="call", subject="Called", contact_id=customer.id)
    activities.update_activity(unit, call, subject="Called back")
    comments.add_comment(unit, make_contact("Suzuki", email="suzuki@example.com"), body="Other")
    db.commit()
    parts = db.scalars(
        select(AuditEntry.id)
        .where(AuditEntry.entity_type.in_(["customer_comment", "activity"]))
        .order_by(AuditEntry.id)
    ).all()

    html = _tab(admin_client, f"/contacts/{customer.id}")

    assert _listed(html)[:4] == list(reversed(parts[:4]))
    assert parts[4] not in _listed(html)
    assert f"Comment #{comment.id}" in html and f"Activity #{call.id} · subject" in html


def test_the_account_tab_lists_the_accounts_changes(
    admin_client: FlaskClient, db: Session, admin_agent: Agent
) -> None:
    unit = _acting(db, admin_agent)
    account = customer_service.create_account(unit, name="Acme")
    customer_service.update_account(unit, account, industry="Retail")
    db.commit()

    html = _tab(admin_client, f"/accounts/{account.id}", tab=ACCOUNT_TAB)

    assert _listed(html) == [entry.id for entry in _entries(db, "account", account.id)]
    assert "Industry" in html


@pytest.mark.parametrize(
    "query",
    [
        "history_action=export",
        "history_agent=nobody",
        "history_before=%%%",
        "history_entry=99999999999999999999",
    ],
)
def test_arguments_the_tab_cannot_read_are_ignored(
    admin_client: FlaskClient, db: Session, customer: Contact, query: str
) -> None:
    every = [entry.id for entry in _entries(db, "contact", customer.id)]

    assert _listed(_tab(admin_client, f"/contacts/{customer.id}", query)) == every


def test_an_agent_without_history_view_sees_no_tab(
    app: Flask, customer: Contact, api_agent: Agent
) -> None:
    client = app.test_client()
    sign_in(client, api_agent.email)

    html = _page(client, f"/contacts/{customer.id}", f"tab={CONTACT_TAB}")

    assert f'data-tab="{CONTACT_TAB}"' not in html and "data-history-entry" not in html


# ---------------------------------------------------------------------------------- REST


def test_the_api_refuses_an_agent_without_history_view(
    client: FlaskClient,
    customer: Contact,
    api_agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
) -> None:
    headers = bearer_for(api_agent, [scopes.CONTACTS_READ])

    answer = client.get(f"/api/v1/contacts/{customer.id}/history", headers=headers)

    assert answer.status_code == 403
    assert answer.json["permission"] == "history.view"


def test_the_api_lists_the_history_newest_first_by_action_and_page(
    client: FlaskClient,
    db: Session,
    customer: Contact,
    admin_agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
) -> None:
    headers = bearer_for(admin_agent, [scopes.CONTACTS_READ])
    changed, added = _entries(db, "contact", customer.id)
    url = f"/api/v1/contacts/{customer.id}/history"

    first = client.get(f"{url}?limit=1", headers=headers).json
    second = client.get(f"{url}?limit=1&cursor={first['next_cursor']}", headers=headers).json
    adds = client.get(f"{url}?action=add", headers=headers).json

    assert [item["id"] for item in first["items"] + second["items"]] == [changed.id, added.id]
    assert second["next_cursor"] is None
    assert first["items"][0]["ip_address"] == IP
    assert first["items"][0]["actor_agent_id"] == admin_agent.id
    assert [item["id"] for item in adds["items"]] == [added.id]


def test_the_api_filters_by_agent(
    client: FlaskClient,
    db: Session,
    customer: Contact,
    admin_agent: Agent,
    support_manager: Agent,
    bearer_for: Callable[..., dict[str, str]],
) -> None:
    customer_service.update_contact(_acting(db, support_manager), customer, title="Director")
    db.commit()
    headers = bearer_for(admin_agent, [scopes.CONTACTS_READ])

    answer = client.get(
        f"/api/v1/contacts/{customer.id}/history?agent_id={support_manager.id}", headers=headers
    )

    assert [item["actor_agent_id"] for item in answer.json["items"]] == [support_manager.id]


def test_the_api_opens_an_entry_with_each_field_before_and_after(
    client: FlaskClient,
    db: Session,
    customer: Contact,
    admin_agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
) -> None:
    headers = bearer_for(admin_agent, [scopes.CONTACTS_READ])
    changed, _ = _entries(db, "contact", customer.id)

    answer = client.get(f"/api/v1/contacts/{customer.id}/history/{changed.id}", headers=headers)

    assert answer.status_code == 200
    changes = {change["field"]: change for change in answer.json["changes"]}
    assert changes["email"] == {
        "field": "email",
        "before": "hanako@example.com",
        "after": "hanako@example.jp",
    }


def test_the_api_answers_404_for_an_unknown_record_or_another_records_entry(
    client: FlaskClient,
    db: Session,
    customer: Contact,
    admin_agent: Agent,
    make_account: Callable[..., Account],
    bearer_for: Callable[..., dict[str, str]],
) -> None:
    headers = bearer_for(admin_agent, [scopes.CONTACTS_READ, scopes.ACCOUNTS_READ])
    _, added = _entries(db, "contact", customer.id)
    account = make_account("Acme")

    unknown = client.get("/api/v1/contacts/999999/history", headers=headers)
    elsewhere = client.get(f"/api/v1/accounts/{account.id}/history/{added.id}", headers=headers)

    assert (unknown.status_code, elsewhere.status_code) == (404, 404)
