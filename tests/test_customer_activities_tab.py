"""The Activities tab of contact and account pages: calls, events and tasks by kind and view
(upcoming, all, spam), a page at a time, with forms to log, complete, reschedule and flag them;
and the same activities through the REST API."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import permissions
from core.customer_tabs.activities import ACTIVITIES_TAB_LIMIT, PLUGIN_ID, tab_key
from core.models import Account, Activity, Agent, Contact, Department, Organisation, Ticket
from core.services import activities
from core.web.i18n import compile_catalogs
from hostapi import scopes
from tests.factories import system_unit
from tests.page_helpers import customer_tab_html, see_committed

pytest_plugins = ["tests.api_fixtures"]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs() -> None:
    compile_catalogs()


@pytest.fixture
def agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An agent ("Agent" profile: may manage activities) of the Support department only."""
    return make_agent("tabs@example.com", name="Aiko Tabs", departments=[department])


@pytest.fixture
def csrf(sign_in_as: Callable[[Agent], dict[str, str]], agent: Agent) -> str:
    """The signed-in agent's CSRF token, for the tab's forms."""
    return sign_in_as(agent)["X-CSRFToken"]


@pytest.fixture
def customer(make_contact: Callable[..., Contact]) -> Contact:
    return make_contact("Yamada")


@pytest.fixture
def log(db: Session) -> Callable[..., Activity]:
    """``log(subject, contact=…, kind=…, due_at=…, completed=…, spam=…, ticket=…)``: an
    activity written through the service as the system, committed."""

    def make(
        subject: str,
        *,
        contact: Contact | None = None,
        account: Account | None = None,
        ticket: Ticket | None = None,
        kind: str = "task",
        due_at: datetime | None = None,
        created_at: datetime = START,
        completed: bool = False,
        spam: bool = False,
    ) -> Activity:
        activity = activities.create_activity(
            system_unit(db, None),
            kind=kind,
            subject=subject,
            contact_id=contact.id if contact else None,
            account_id=account.id if account else None,
            ticket_id=ticket.id if ticket else None,
            due_at=due_at,
            created_at=created_at,
        )
        activity.completed_at = START if completed else None
        activity.is_spam = spam
        db.commit()
        return activity

    return make


def _tab(client: FlaskClient, customer: Contact | Account, query: str = "") -> str:
    """The Activities tab's body on the customer's page (selected, with ``query``)."""
    kind = "contact" if isinstance(customer, Contact) else "account"
    if "tab=" not in query:
        query = "&".join(filter(None, [f"tab={tab_key(kind)}", query]))
    return customer_tab_html(client, f"/{kind}s/{customer.id}", PLUGIN_ID, query)


def _listed(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-activity-id="(\d+)"', html)]


def _next(html: str) -> str | None:
    found = re.search(r'rel="next" href="/[a-z]+/\d+\?([^"#]+)', html)
    return None if found is None else unescape(found.group(1))


def _tab_count(client: FlaskClient, customer: Contact) -> str:
    html = client.get(f"/contacts/{customer.id}").get_data(as_text=True)
    found = re.search(
        r'data-tab="core_customer_activities\.contact_activities"[^>]*>[^<]*'
        r'<span class="tab-count">([^<]+)</span>',
        html,
    )
    assert found is not None, "the tab shows no count"
    return found.group(1)


# ------------------------------------------------------------------------------- the lists


def test_upcoming_lists_open_activities_soonest_due_first_and_undated_last(
    client: FlaskClient, csrf: str, customer: Contact, log: Callable[..., Activity]
) -> None:
    later = log("Later", contact=customer, due_at=START + timedelta(days=2))
    undated = log("Some day", contact=customer)
    overdue = log("Overdue", contact=customer, due_at=START - timedelta(days=1))
    log("Done", contact=customer, due_at=START, completed=True)
    log("Junk", contact=customer, due_at=START, spam=True)

    html = _tab(client, customer)

    assert _listed(html) == [overdue.id, later.id, undated.id]
    assert 'data-activities-view="upcoming" aria-current="page"' in html


def test_all_lists_every_activity_but_spam_newest_first(
    client: FlaskClient, csrf: str, customer: Contact, log: Callable[..., Activity]
) -> None:
    first = log("Open", contact=customer, created_at=START)
    second = log("Done", contact=customer, created_at=START + timedelta(hours=1), completed=True)
    log("Junk", contact=customer, created_at=START + timedelta(hours=2), spam=True)

    assert _listed(_tab(client, customer, "activities_view=all")) == [second.id, first.id]


def test_spam_lists_only_the_activities_marked_as_spam(
    client: FlaskClient, csrf: str, customer: Contact, log: Callable[..., Activity]
) -> None:
    log("Real", contact=customer)
    junk = log("Junk", contact=customer, spam=True)

    assert _listed(_tab(client, customer, "activities_view=spam")) == [junk.id]


def test_a_spam_activity_offers_not_spam_and_another_mark_as_spam(
    client: FlaskClient, csrf: str, customer: Contact, log: Callable[..., Activity]
) -> None:
    log("Junk", contact=customer, spam=True)
    log("Real", contact=customer)

    spam_view = _tab(client, customer, "activities_view=spam")
    all_view = _tab(client, customer, "activities_view=all")

    assert re.search(r'data-action="not-spam">\s*Not spam\s*<', spam_view)
    assert re.search(r'data-action="spam">\s*Mark as spam\s*<', all_view)


@pytest.mark.parametrize("view", ["upcoming", "all", "spam"])
@pytest.mark.parametrize("kind", ["call", "event", "task"])
def test_the_kind_filter_keeps_one_kind_in_each_view(
    client: FlaskClient,
    csrf: str,
    customer: Contact,
    log: Callable[..., Activity],
    kind: str,
    view: str,
) -> None:
    made = {
        each: log(f"A {each}", contact=customer, kind=each, spam=view == "spam")
        for each in ("call", "event", "task")
    }

    html = _tab(client, customer, f"activities_kind={kind}&activities_view={view}")

    assert _listed(html) == [made[kind].id]
    assert f'data-activities-kind="{kind}" aria-current="page"' in html


def test_the_tab_counts_the_upcoming_activities(
    client: FlaskClient, csrf: str, customer: Contact, log: Callable[..., Activity]
) -> None:
    log("Call back", contact=customer, kind="call", due_at=START)
    log("Undated", contact=customer)
    log("Done", contact=customer, completed=True)
    log("Junk", contact=customer, spam=True)

    assert _tab_count(client, customer) == "2"


def test_an_account_lists_its_own_and_its_contacts_activities(
    client: FlaskClient,
    csrf: str,
    make_account: Callable[..., Account],
    make_contact: Callable[..., Contact],
    log: Callable[..., Activity],
) -> None:
    acme = make_account("Acme")
    own = log("Renewal", account=acme, created_at=START)
    of_contact = log(
        "Call Yamada",
        contact=make_contact("Yamada", account=acme),
        created_at=START + timedelta(hours=1),
    )
    log("Elsewhere", contact=make_contact("Suzuki"))

    html = _tab(client, acme, "activities_view=all")

    assert _listed(html) == [of_contact.id, own.id]


def test_an_activity_on_a_ticket_of_another_department_is_not_shown(
    client: FlaskClient,
    csrf: str,
    customer: Contact,
    make_department: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    log: Callable[..., Activity],
) -> None:
    mine = log("Mine", ticket=make_ticket("Ours", contact=customer))
    theirs_ticket = make_ticket("Theirs", contact=customer, department=make_department("Legal"))
    log("Theirs", ticket=theirs_ticket)

    assert _listed(_tab(client, customer, "activities_view=all")) == [mine.id]
    assert _tab_count(client, customer) == "1"


@pytest.mark.parametrize("view", ["upcoming", "all"])
def test_the_tab_pages_through_every_activity(
    client: FlaskClient,
    csrf: str,
    customer: Contact,
    log: Callable[..., Activity],
    view: str,
) -> None:
    count = 2 * ACTIVITIES_TAB_LIMIT + 3
    made = [
        log(
            f"Task {n}",
            contact=customer,
            # Two per due time, and three undated at the end: the keyset must break ties.
            due_at=START + timedelta(hours=n // 2) if n < count - 3 else None,
            created_at=START + timedelta(minutes=n),
        )
        for n in range(count)
    ]

    pages: list[list[int]] = []
    query = f"activities_view={view}"
    while True:
        html = _tab(client, customer, query)
        pages.append(_listed(html))
        following = _next(html)
        if following is None:
            break
        query = following

    expected = [a.id for a in made] if view == "upcoming" else [a.id for a in reversed(made)]
    assert [len(page) for page in pages] == [ACTIVITIES_TAB_LIMIT, ACTIVITIES_TAB_LIMIT, 3]
    assert [activity for page in pages for activity in page] == expected
    assert 'data-activities-page="first"' in html


@pytest.mark.parametrize(
    "query",
    ["activities_view=everything", "activities_kind=fax", "activities_before=%%%"],
)
def test_arguments_the_tab_cannot_read_are_ignored(
    client: FlaskClient,
    csrf: str,
    customer: Contact,
    log: Callable[..., Activity],
    query: str,
) -> None:
    activity = log("Call back", contact=customer, due_at=START)

    assert _listed(_tab(client, customer, query)) == [activity.id]


def test_the_tab_speaks_japanese(
    client: FlaskClient,
    make_agent: Callable[..., Agent],
    department: Department,
    sign_in_as: Callable[[Agent], dict[str, str]],
    customer: Contact,
) -> None:
    sign_in_as(make_agent("ja@example.com", departments=[department], locale="ja"))

    html = client.get(f"/contacts/{customer.id}?tab={tab_key('contact')}").get_data(as_text=True)

    assert ">活動" in html
    assert all(label in html for label in ("今後の活動", "すべての活動", "スパムの活動", "通話"))


# ------------------------------------------------------------------------------- the forms


def _back_to_tab(answer: Any, customer: Contact) -> None:
    assert answer.status_code == 302
    location = unescape(answer.headers["Location"])
    assert location.startswith(f"/contacts/{customer.id}?")
    assert f"tab={tab_key('contact')}" in location and location.endswith("#customer-tabs")


def test_logging_an_activity_from_the_tab_stores_it_in_the_organisations_zone(
    client: FlaskClient, db: Session, csrf: str, agent: Agent, customer: Contact
) -> None:
    db.query(Organisation).update({"timezone": "Asia/Tokyo"})
    db.commit()

    answer = client.post(
        f"/contacts/{customer.id}/activities?tab={tab_key('contact')}",
        data={
            "csrf_token": csrf,
            "kind": "call",
            "subject": "Call back about the invoice",
            "description": "She asked for a copy.",
            "due_at": "2026-03-03T10:30",
            "owner_id": str(agent.id),
        },
    )

    _back_to_tab(answer, customer)
    see_committed(db)
    stored = db.scalars(select(Activity)).one()
    assert (stored.kind, stored.subject, stored.contact_id, stored.owner_id) == (
        "call",
        "Call back about the invoice",
        customer.id,
        agent.id,
    )
    assert stored.due_at == datetime(2026, 3, 3, 1, 30, tzinfo=UTC)
    assert _listed(_tab(client, customer)) == [stored.id]


@pytest.mark.parametrize("due_at", ["tomorrow", "2026-13-01T10:00"])
def test_a_bad_due_date_is_a_422_naming_the_field_and_stores_nothing(
    client: FlaskClient, db: Session, csrf: str, customer: Contact, due_at: str
) -> None:
    answer = client.post(
        f"/contacts/{customer.id}/activities?tab={tab_key('contact')}",
        data={"csrf_token": csrf, "kind": "task", "subject": "Follow up", "due_at": due_at},
    )

    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert 'data-field="due_at"' in html and "Give a date and a time." in html
    assert 'value="Follow up"' in html, "the draft is kept"
    see_committed(db)
    assert db.scalar(select(func.count()).select_from(Activity)) == 0


def test_an_empty_subject_is_a_422_naming_the_field(
    client: FlaskClient, db: Session, csrf: str, customer: Contact
) -> None:
    answer = client.post(
        f"/contacts/{customer.id}/activities?tab={tab_key('contact')}",
        data={"csrf_token": csrf, "kind": "task", "subject": " "},
    )

    assert answer.status_code == 422
    assert 'data-field="subject"' in answer.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Activity)) == 0


def test_completing_and_reopening_from_the_tab(
    client: FlaskClient, db: Session, csrf: str, customer: Contact, log: Callable[..., Activity]
) -> None:
    activity = log("Call back", contact=customer, due_at=START)
    path = f"/contacts/{customer.id}/activities/{activity.id}/complete?tab={tab_key('contact')}"

    _back_to_tab(client.post(path, data={"csrf_token": csrf, "completed": "1"}), customer)
    see_committed(db)
    assert db.get(Activity, activity.id).completed_at is not None  # type: ignore[union-attr]
    assert _listed(_tab(client, customer)) == []

    _back_to_tab(client.post(path, data={"csrf_token": csrf, "completed": "0"}), customer)
    see_committed(db)
    assert db.get(Activity, activity.id).completed_at is None  # type: ignore[union-attr]
    assert _listed(_tab(client, customer)) == [activity.id]


def test_rescheduling_from_the_tab_moves_the_due_time(
    client: FlaskClient, db: Session, csrf: str, customer: Contact, log: Callable[..., Activity]
) -> None:
    early = log("Early", contact=customer, due_at=START)
    moved = log("Moved", contact=customer, due_at=START + timedelta(hours=1))

    answer = client.post(
        f"/contacts/{customer.id}/activities/{moved.id}/reschedule?tab={tab_key('contact')}",
        data={"csrf_token": csrf, "due_at": "2026-03-01T08:00"},
    )

    _back_to_tab(answer, customer)
    see_committed(db)
    assert db.get(Activity, moved.id).due_at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # type: ignore[union-attr]
    assert _listed(_tab(client, customer)) == [moved.id, early.id]


def test_a_bad_new_due_time_is_a_422_and_changes_nothing(
    client: FlaskClient, db: Session, csrf: str, customer: Contact, log: Callable[..., Activity]
) -> None:
    activity = log("Call back", contact=customer, due_at=START)

    answer = client.post(
        f"/contacts/{customer.id}/activities/{activity.id}/reschedule?tab={tab_key('contact')}",
        data={"csrf_token": csrf, "due_at": "soon"},
    )

    assert answer.status_code == 422
    assert 'data-field="due_at"' in answer.get_data(as_text=True)
    see_committed(db)
    assert db.get(Activity, activity.id).due_at == START  # type: ignore[union-attr]


def test_marking_spam_from_the_tab_moves_it_to_the_spam_view(
    client: FlaskClient, csrf: str, customer: Contact, log: Callable[..., Activity]
) -> None:
    activity = log("Junk", contact=customer, due_at=START)

    answer = client.post(
        f"/contacts/{customer.id}/activities/{activity.id}/spam?tab={tab_key('contact')}",
        data={"csrf_token": csrf, "is_spam": "1"},
    )

    _back_to_tab(answer, customer)
    assert _listed(_tab(client, customer)) == []
    assert _listed(_tab(client, customer, "activities_view=spam")) == [activity.id]


def test_the_forms_come_back_to_the_view_they_were_posted_from(
    client: FlaskClient, csrf: str, customer: Contact, log: Callable[..., Activity]
) -> None:
    activity = log("Call back", contact=customer, kind="call", due_at=START)
    html = _tab(client, customer, "activities_view=all&activities_kind=call")
    action = re.search(rf'action="([^"]+/activities/{activity.id}/complete[^"]*)"', html)
    assert action is not None

    answer = client.post(unescape(action.group(1)), data={"csrf_token": csrf, "completed": "1"})

    assert "activities_view=all" in answer.headers["Location"]
    assert "activities_kind=call" in answer.headers["Location"]


def test_an_activity_of_another_customer_is_not_found_through_this_page(
    client: FlaskClient,
    csrf: str,
    customer: Contact,
    make_contact: Callable[..., Contact],
    log: Callable[..., Activity],
) -> None:
    other = log("Not hers", contact=make_contact("Suzuki"))

    answer = client.post(
        f"/contacts/{customer.id}/activities/{other.id}/complete",
        data={"csrf_token": csrf, "completed": "1"},
    )

    assert answer.status_code == 404


def test_an_agent_who_may_not_manage_activities_sees_no_forms_and_posts_nothing(
    client: FlaskClient,
    db: Session,
    make_agent: Callable[..., Agent],
    department: Department,
    sign_in_as: Callable[[Agent], dict[str, str]],
    customer: Contact,
    log: Callable[..., Activity],
) -> None:
    light = make_agent("light@example.com", profile="Light Agent", departments=[department])
    assert not light.has_permission(permissions.ACTIVITY_MANAGE)
    token = sign_in_as(light)["X-CSRFToken"]
    activity = log("Call back", contact=customer, due_at=START)

    html = _tab(client, customer)
    answer = client.post(
        f"/contacts/{customer.id}/activities",
        data={"csrf_token": token, "kind": "task", "subject": "Sneaky"},
    )

    assert _listed(html) == [activity.id]
    assert "<form" not in html
    assert answer.status_code == 403
    assert db.scalar(select(func.count()).select_from(Activity)) == 1


# -------------------------------------------------------------------------------- REST API


def test_api_lists_a_contacts_activities_by_view_and_kind_a_page_at_a_time(
    client: FlaskClient,
    bearer_for: Callable[..., dict[str, str]],
    agent: Agent,
    customer: Contact,
    log: Callable[..., Activity],
) -> None:
    headers = bearer_for(agent, [scopes.CONTACTS_READ])
    calls = [
        log(f"Call {n}", contact=customer, kind="call", due_at=START + timedelta(hours=n))
        for n in range(3)
    ]
    log("A task", contact=customer, due_at=START)

    url = f"/api/v1/contacts/{customer.id}/activities?view=upcoming&kind=call&limit=2"
    first = client.get(url, headers=headers)
    second = client.get(f"{url}&cursor={first.json['next_cursor']}", headers=headers)

    assert [item["id"] for item in first.json["items"]] == [calls[0].id, calls[1].id]
    assert [item["id"] for item in second.json["items"]] == [calls[2].id]
    assert second.json["next_cursor"] is None


def test_api_leaves_out_activities_of_another_departments_tickets(
    client: FlaskClient,
    bearer_for: Callable[..., dict[str, str]],
    agent: Agent,
    customer: Contact,
    make_department: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    log: Callable[..., Activity],
) -> None:
    headers = bearer_for(agent, [scopes.CONTACTS_READ, scopes.CONTACTS_WRITE])
    mine = log("Mine", contact=customer)
    theirs = log(
        "Theirs",
        ticket=make_ticket("Theirs", contact=customer, department=make_department("Legal")),
    )

    listed = client.get(f"/api/v1/contacts/{customer.id}/activities", headers=headers)
    patched = client.patch(
        f"/api/v1/activities/{theirs.id}", json={"completed": True}, headers=headers
    )

    assert [item["id"] for item in listed.json["items"]] == [mine.id]
    assert patched.status_code == 404


def test_api_logs_an_activity_about_an_account(
    client: FlaskClient,
    db: Session,
    bearer_for: Callable[..., dict[str, str]],
    agent: Agent,
    make_account: Callable[..., Account],
) -> None:
    acme = make_account("Acme")
    headers = bearer_for(agent, [scopes.ACCOUNTS_WRITE])

    answer = client.post(
        f"/api/v1/accounts/{acme.id}/activities",
        json={"kind": "event", "subject": "Visit", "due_at": "2026-03-04T05:00:00+00:00"},
        headers=headers,
    )

    assert answer.status_code == 201
    assert answer.json["account_id"] == acme.id and answer.json["owner_id"] == agent.id
    assert answer.json["due_at"] == "2026-03-04T05:00:00+00:00"


def test_api_refuses_a_naive_due_time_naming_the_field(
    client: FlaskClient,
    db: Session,
    bearer_for: Callable[..., dict[str, str]],
    agent: Agent,
    customer: Contact,
) -> None:
    answer = client.post(
        f"/api/v1/contacts/{customer.id}/activities",
        json={"kind": "task", "subject": "Later", "due_at": "2026-03-04T05:00:00"},
        headers=bearer_for(agent, [scopes.CONTACTS_WRITE]),
    )

    assert answer.status_code == 422
    assert "due_at" in answer.json["errors"]["json"]
    assert db.scalar(select(func.count()).select_from(Activity)) == 0


def test_api_patch_reschedules_completes_and_flags_an_activity(
    client: FlaskClient,
    db: Session,
    bearer_for: Callable[..., dict[str, str]],
    agent: Agent,
    customer: Contact,
    log: Callable[..., Activity],
) -> None:
    activity = log("Call back", contact=customer, due_at=START)

    answer = client.patch(
        f"/api/v1/activities/{activity.id}",
        json={"due_at": "2026-03-05T00:00:00+00:00", "completed": True, "is_spam": True},
        headers=bearer_for(agent, [scopes.CONTACTS_WRITE]),
    )

    assert answer.status_code == 200
    assert answer.json["due_at"] == "2026-03-05T00:00:00+00:00"
    assert answer.json["completed_at"] is not None and answer.json["is_spam"] is True


def test_api_patch_needs_the_write_scope_of_what_the_activity_is_about(
    client: FlaskClient,
    bearer_for: Callable[..., dict[str, str]],
    agent: Agent,
    customer: Contact,
    make_account: Callable[..., Account],
    log: Callable[..., Activity],
) -> None:
    accounts_only = bearer_for(agent, [scopes.ACCOUNTS_WRITE])
    of_account = log("Renewal", account=make_account("Acme"))
    of_contact = log("Call back", contact=customer)

    allowed = client.patch(
        f"/api/v1/activities/{of_account.id}", json={"completed": True}, headers=accounts_only
    )
    refused = client.patch(
        f"/api/v1/activities/{of_contact.id}", json={"completed": True}, headers=accounts_only
    )

    assert allowed.status_code == 200
    assert refused.status_code == 403 and refused.json["scope"] == scopes.CONTACTS_WRITE


def test_api_patch_with_a_bad_field_changes_nothing(
    client: FlaskClient,
    db: Session,
    bearer_for: Callable[..., dict[str, str]],
    agent: Agent,
    customer: Contact,
    log: Callable[..., Activity],
) -> None:
    activity = log("Call back", contact=customer, due_at=START)

    answer = client.patch(
        f"/api/v1/activities/{activity.id}",
        json={"subject": "", "completed": True},
        headers=bearer_for(agent, [scopes.CONTACTS_WRITE]),
    )

    assert answer.status_code == 422 and "subject" in answer.json["errors"]["json"]
    see_committed(db)
    assert db.get(Activity, activity.id).completed_at is None  # type: ignore[union-attr]
