"""The duplicates pages: group lists, side-by-side review and merge, bulk delete, spam marks."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core.models import Account, Agent, Contact, Ticket
from core.services import duplicates
from tests.page_helpers import csrf_token_of, see_committed

MakeContact = Callable[..., Contact]


@pytest.fixture
def admin(client: FlaskClient, admin_agent: Agent) -> FlaskClient:
    """The test client signed in as an administrator."""
    with client.session_transaction() as session:
        session["agent_id"] = admin_agent.id
    return client


@pytest.fixture
def twins(make_contact: MakeContact) -> tuple[Contact, Contact]:
    """Two contacts with the same email address."""
    return (
        make_contact("Yamada", first_name="Hanako", email="hanako@example.com"),
        make_contact("Yamada", first_name="Hana", email="hanako@example.com"),
    )


def test_the_group_list_shows_records_sharing_an_email(
    admin: FlaskClient, twins: tuple[Contact, Contact]
) -> None:
    page = admin.get("/contacts/duplicates").get_data(as_text=True)
    assert 'data-group-key="hanako@example.com"' in page
    assert all(f'data-record-id="{c.id}"' in page for c in twins)


def test_an_unknown_rule_is_a_form_error(admin: FlaskClient) -> None:
    assert admin.get("/accounts/duplicates?rule=email").status_code == 422


def test_the_record_page_offers_its_actions(
    admin: FlaskClient, twins: tuple[Contact, Contact]
) -> None:
    page = admin.get(f"/contacts/{twins[0].id}").get_data(as_text=True)
    for action in ("find-duplicates", "merge-record", "spam-button", "delete-record"):
        assert f'id="{action}"' in page


def test_duplicates_of_a_record_are_listed_from_its_page(
    admin: FlaskClient, twins: tuple[Contact, Contact]
) -> None:
    page = admin.get(f"/contacts/{twins[0].id}/duplicates").get_data(as_text=True)
    assert f'data-record-id="{twins[1].id}"' in page


def test_the_review_preselects_the_survivors_values(
    admin: FlaskClient, twins: tuple[Contact, Contact], make_ticket: Callable[..., Ticket]
) -> None:
    survivor, other = twins
    make_ticket(contact=other)
    page = admin.get(f"/contacts/merge?ids={survivor.id}&ids={other.id}").get_data(as_text=True)
    checked = re.search(rf'id="choice-first_name-{survivor.id}" checked', page)
    assert checked is not None
    assert 'data-move="tickets"' in page


def _merge_choosing_first_name(
    admin: FlaskClient, twins: tuple[Contact, Contact], first_name_from: int
) -> TestResponse:
    """Submit the merge form keeping the first twin, taking first_name from ``first_name_from``."""
    survivor, other = twins
    return admin.post(
        "/contacts/merge",
        data={
            "csrf_token": csrf_token_of(admin, "/tickets"),
            "ids": [survivor.id, other.id],
            "survivor": survivor.id,
            "choice.first_name": first_name_from,
        },
    )


def test_merging_from_the_form_takes_the_chosen_value_and_opens_the_survivor(
    admin: FlaskClient, db: Session, twins: tuple[Contact, Contact]
) -> None:
    survivor, other = twins
    answer = _merge_choosing_first_name(admin, twins, other.id)
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/contacts/{survivor.id}")
    see_committed(db)
    assert db.get(Contact, survivor.id).first_name == "Hana"
    merged_page = admin.get(f"/contacts/{other.id}").get_data(as_text=True)
    assert f'href="/contacts/{survivor.id}" id="merged-into-link"' in merged_page


def test_a_bad_choice_shows_the_review_again_with_the_error(
    admin: FlaskClient, db: Session, twins: tuple[Contact, Contact]
) -> None:
    other = twins[1]
    answer = _merge_choosing_first_name(admin, twins, 999999)
    assert answer.status_code == 422
    assert 'id="merge-errors"' in answer.get_data(as_text=True)
    see_committed(db)
    assert db.get(Contact, other.id).merged_into_id is None


def test_bulk_delete_asks_first_and_keeps_records_with_tickets(
    admin: FlaskClient,
    db: Session,
    twins: tuple[Contact, Contact],
    make_ticket: Callable[..., Ticket],
) -> None:
    busy, idle = twins
    busy_id, idle_id = busy.id, idle.id
    make_ticket(contact=busy)
    confirm = admin.get(f"/contacts/delete?ids={busy_id},{idle_id}").get_data(as_text=True)
    assert 'id="kept-records"' in confirm
    answer = admin.post(
        "/contacts/delete",
        data={"csrf_token": csrf_token_of(admin, "/tickets"), "ids": [busy_id, idle_id]},
    )
    assert answer.status_code == 200
    assert "1 record deleted." in answer.get_data(as_text=True)
    see_committed(db)
    assert db.get(Contact, idle_id) is None
    assert db.get(Contact, busy_id) is not None


def test_an_agent_without_the_delete_permission_is_refused(
    client: FlaskClient, make_agent: Callable[..., Agent], twins: tuple[Contact, Contact]
) -> None:
    agent = make_agent()
    with client.session_transaction() as session:
        session["agent_id"] = agent.id
    answer = client.post(
        "/contacts/delete",
        data={"csrf_token": csrf_token_of(client, "/tickets"), "ids": [twins[0].id]},
    )
    assert answer.status_code == 403


def test_the_spam_button_marks_and_unmarks(
    admin: FlaskClient, db: Session, make_account: Callable[..., Account]
) -> None:
    account = make_account("Spam Corp")
    admin.post(
        f"/accounts/{account.id}/spam",
        data={"csrf_token": csrf_token_of(admin, "/tickets"), "spam": "1"},
    )
    see_committed(db)
    assert db.get(Account, account.id).is_spam
    page = admin.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert 'id="spam-badge"' in page
    admin.post(
        f"/accounts/{account.id}/spam",
        data={"csrf_token": csrf_token_of(admin, "/tickets"), "spam": "0"},
    )
    see_committed(db)
    assert not db.get(Account, account.id).is_spam


def test_the_admin_page_saves_the_rules(admin: FlaskClient, db: Session) -> None:
    answer = admin.post(
        "/admin/duplicate-rules",
        data={
            "csrf_token": csrf_token_of(admin, "/tickets"),
            "contact": ["name"],
            "account": ["website"],
        },
    )
    assert 'id="rules-saved"' in answer.get_data(as_text=True)
    see_committed(db)
    assert duplicates.rules_of(db) == {"contact": ["name"], "account": ["website"]}


def test_the_admin_page_needs_the_setup_permission(
    client: FlaskClient, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    with client.session_transaction() as session:
        session["agent_id"] = agent.id
    assert client.get("/admin/duplicate-rules").status_code == 403
