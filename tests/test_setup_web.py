"""The Setup pages: the one Setup menu (landing page and side navigation), organisation,
departments, permission profiles and statuses — rendered with more rows than one page."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import (
    Agent,
    Department,
    PermissionProfile,
    ProfilePermission,
    Ticket,
    TicketStatus,
)
from core.services import org
from core.web.ui.setup import PAGE_SIZE
from hostapi import clock
from tests.page_helpers import csrf_token_of, see_committed, sign_in

pytestmark = pytest.mark.usefixtures("host")


@pytest.fixture
def admin(client: FlaskClient, admin_agent: Agent) -> FlaskClient:
    """The client signed in as an administrator of "Support"."""
    sign_in(client, admin_agent.email)
    return client


def _post(client: FlaskClient, path: str, data: dict[str, object]):  # type: ignore[no-untyped-def]
    return client.post(path, data={**data, "csrf_token": csrf_token_of(client, "/setup")})


def _profile(db: Session, name: str) -> PermissionProfile:
    return db.scalars(select(PermissionProfile).where(PermissionProfile.name == name)).one()


def _status(db: Session, name: str) -> TicketStatus:
    return db.scalars(select(TicketStatus).where(TicketStatus.name == name)).one()


# ------------------------------------------------------------------------------- Setup menu


def test_admin_sees_one_setup_entry_and_every_setup_page_on_the_landing_page(
    admin: FlaskClient,
) -> None:
    tickets_page = admin.get("/tickets").get_data(as_text=True)
    assert tickets_page.count('id="setup-menu-link"') == 1
    assert "/admin/duplicate-rules" not in tickets_page  # behind the one entry now
    landing = admin.get("/setup").get_data(as_text=True)
    for key in (
        "organisation",
        "departments",
        "statuses",
        "profiles",
        "custom_fields",
        "duplicate_rules",
        "spam_rules",
        "extensions",
    ):
        assert f'id="setup-link-{key}"' in landing
    assert "The teams that own tickets, and their mailboxes." in landing


def test_agent_without_setup_permissions_has_no_setup_menu(
    client: FlaskClient, make_agent: Callable[..., Agent], department: Department
) -> None:
    agent = make_agent("agent@example.com", departments=[department])
    sign_in(client, agent.email)
    assert 'id="setup-menu-link"' not in client.get("/tickets").get_data(as_text=True)
    assert client.get("/setup").status_code == 403
    for path in ("/setup/organisation", "/setup/departments", "/setup/statuses"):
        assert client.get(path).status_code == 403, path
    assert client.get("/setup/profiles").status_code == 403


def test_setup_pages_carry_the_side_navigation_with_the_current_page_marked(
    admin: FlaskClient,
) -> None:
    page = admin.get("/setup/statuses").get_data(as_text=True)
    nav = page[page.index('id="setup-nav"') : page.index("</nav>", page.index('id="setup-nav"'))]
    assert re.search(r'href="/setup/statuses" class="active"', nav)
    assert 'href="/setup/profiles" class=""' in nav
    duplicate_rules = admin.get("/admin/duplicate-rules").get_data(as_text=True)
    assert 'id="setup-nav"' in duplicate_rules


# ------------------------------------------------------------------------------ organisation


def test_organisation_form_saves_every_field(admin: FlaskClient, db: Session) -> None:
    answer = _post(
        admin,
        "/setup/organisation",
        {
            "name": "Acme 株式会社",
            "timezone": "Asia/Tokyo",
            "default_locale": "ja",
            "week_start": "6",
            "phone_region": "JP",
            "ticket_prefix": "SUP-",
        },
    )
    assert answer.status_code == 302
    organisation = org.get_organisation(db)
    db.refresh(organisation)
    assert (organisation.name, organisation.timezone, organisation.week_start) == (
        "Acme 株式会社",
        "Asia/Tokyo",
        6,
    )
    assert (organisation.default_locale, organisation.ticket_prefix) == ("ja", "SUP-")


def test_organisation_form_shows_field_errors(admin: FlaskClient) -> None:
    answer = _post(
        admin,
        "/setup/organisation",
        {
            "name": "",
            "timezone": "Mars/Base",
            "default_locale": "en",
            "week_start": "0",
            "phone_region": "XX",
            "ticket_prefix": "A1",
        },
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    for field in ("name", "timezone", "phone_region", "ticket_prefix"):
        assert f'id="error-{field}"' in page, field


# ------------------------------------------------------------------------------- departments


def test_department_list_pages_through_more_than_one_page(admin: FlaskClient, db: Session) -> None:
    for number in range(PAGE_SIZE + 5):
        db.add(
            Department(name=f"Team {number:03}", created_at=clock.now(), is_active=number % 3 > 0)
        )
    db.commit()
    first = admin.get("/setup/departments").get_data(as_text=True)
    assert first.count('<tr id="department-') == PAGE_SIZE
    older = re.search(r'rel="next" href="([^"]+)"', first)
    assert older
    second = admin.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('<tr id="department-') == 6  # 55 teams and Support
    assert "Team 054" in second and "Inactive" in first


def test_department_is_added_renamed_and_given_a_mailbox(admin: FlaskClient, db: Session) -> None:
    added = _post(
        admin, "/setup/departments", {"name": "Billing", "description": "", "mailbox": ""}
    )
    assert added.status_code == 302
    see_committed(db)
    billing = db.scalars(select(Department).where(Department.name == "Billing")).one()
    edited = _post(
        admin,
        f"/setup/departments/{billing.id}",
        {"name": "Billing JP", "description": "請求", "mailbox": "billing@example.com"},
    )
    assert edited.status_code == 302
    see_committed(db)
    assert (billing.name, billing.mailbox) == ("Billing JP", "billing@example.com")


def test_duplicate_department_name_is_a_field_error(admin: FlaskClient) -> None:
    answer = _post(admin, "/setup/departments", {"name": "support", "mailbox": ""})
    assert answer.status_code == 422
    assert 'id="error-name"' in answer.get_data(as_text=True)


def test_deactivating_a_department_moves_its_open_tickets_to_the_chosen_one(
    admin: FlaskClient,
    admin_agent: Agent,
    department: Department,
    make_department: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    db: Session,
) -> None:
    sales = make_department("Sales")
    admin_agent.departments = [department, sales]
    db.commit()
    ticket = make_ticket()
    url = f"/setup/departments/{department.id}/deactivate"
    confirm = admin.get(url).get_data(as_text=True)
    assert f'<option value="{sales.id}"' in confirm
    refused = _post(admin, url, {"move_to_department_id": ""})
    assert refused.status_code == 422
    assert _post(admin, url, {"move_to_department_id": str(sales.id)}).status_code == 302
    see_committed(db)
    assert ticket.department_id == sales.id and not department.is_active
    assert _post(admin, f"/setup/departments/{department.id}/reactivate", {}).status_code == 302
    see_committed(db)
    assert department.is_active


# ---------------------------------------------------------------------------------- profiles


def test_profile_list_pages_through_more_than_one_page(admin: FlaskClient, db: Session) -> None:
    for number in range(PAGE_SIZE):
        db.add(PermissionProfile(name=f"Custom {number:03}"))
    db.commit()
    first = admin.get("/setup/profiles").get_data(as_text=True)
    assert first.count('<tr id="profile-') == PAGE_SIZE
    older = re.search(r'rel="next" href="([^"]+)"', first)
    assert older
    second = admin.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('<tr id="profile-') == 4  # the four built-in profiles come after "C"


def test_built_in_profile_is_shown_read_only(admin: FlaskClient, db: Session) -> None:
    profile = _profile(db, "Agent")
    page = admin.get(f"/setup/profiles/{profile.id}").get_data(as_text=True)
    assert 'id="read-only-note"' in page and 'id="save-profile"' not in page
    assert 'id="perm-ticket-view"' in page and "disabled" in page
    answer = _post(admin, f"/setup/profiles/{profile.id}", {"name": "Changed"})
    assert answer.status_code == 400


def test_profile_is_cloned_then_edited_as_a_matrix(admin: FlaskClient, db: Session) -> None:
    source = _profile(db, "Agent")
    cloned = _post(admin, f"/setup/profiles/{source.id}/clone", {"name": "Tier 2"})
    assert cloned.status_code == 302
    see_committed(db)
    clone = _profile(db, "Tier 2")
    assert clone.permission_names == source.permission_names
    editor = admin.get(cloned.headers["Location"]).get_data(as_text=True)
    for area in ("tickets", "contacts", "accounts", "administration"):
        assert f'id="permissions-{area}"' in editor
    assert "Give a ticket to an agent of its department, or take it." in editor
    saved = admin.post(
        f"/setup/profiles/{clone.id}",
        data={
            "name": "Tier 2",
            "description": "Second line",
            "requires_two_factor": "on",
            "permissions": ["ticket.view", "ticket.reply", "contact.export"],
            "csrf_token": csrf_token_of(admin, "/setup"),
        },
    )
    assert saved.status_code == 302
    see_committed(db)
    clone = _profile(db, "Tier 2")
    assert clone.permission_names == {"ticket.view", "ticket.reply", "contact.export"}
    assert clone.requires_two_factor


def test_profile_in_use_is_not_deleted_and_the_page_says_how_many_hold_it(
    admin: FlaskClient, db: Session, make_agent: Callable[..., Agent]
) -> None:
    db.add(PermissionProfile(name="Held", permissions=[ProfilePermission(permission="kb.view")]))
    db.commit()
    make_agent("held@example.com", profile="Held")
    held = _profile(db, "Held")
    page = admin.get(f"/setup/profiles/{held.id}/delete").get_data(as_text=True)
    assert "1 agent has this profile" in page and 'id="delete-submit"' not in page
    assert _post(admin, f"/setup/profiles/{held.id}/delete", {}).status_code == 409


def test_unused_custom_profile_is_deleted(admin: FlaskClient, db: Session) -> None:
    db.add(PermissionProfile(name="Unused"))
    db.commit()
    unused = _profile(db, "Unused")
    unused_id = unused.id
    assert _post(admin, f"/setup/profiles/{unused_id}/delete", {}).status_code == 302
    see_committed(db)
    assert db.get(PermissionProfile, unused_id) is None


def test_profile_editor_speaks_japanese(
    client: FlaskClient, make_agent: Callable[..., Agent], department: Department, db: Session
) -> None:
    admin = make_agent(
        "ja@example.com", profile="Administrator", departments=[department], locale="ja"
    )
    sign_in(client, admin.email)
    page = client.get(f"/setup/profiles/{_profile(db, 'Agent').id}").get_data(as_text=True)
    assert "問い合わせを部署の担当者に割り当てます。" in page
    assert "標準のプロファイルは変更できません。" in page
    assert "<h1>担当者" in page  # the built-in profile's name, translated


# ---------------------------------------------------------------------------------- statuses


def test_status_list_pages_and_reorders_with_plain_buttons(admin: FlaskClient, db: Session) -> None:
    for number in range(PAGE_SIZE):
        db.add(TicketStatus(name=f"Stage {number:03}", status_type="open", position=10 + number))
    db.commit()
    first = admin.get("/setup/statuses").get_data(as_text=True)
    assert first.count('<tr id="status-') == PAGE_SIZE
    older = re.search(r'rel="next" href="([^"]+)"', first)
    assert older
    second = admin.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('<tr id="status-') == 5
    escalated = _status(db, "Escalated")
    moved = _post(admin, f"/setup/statuses/{escalated.id}/move", {"direction": "up"})
    assert moved.status_code == 302
    see_committed(db)
    names = [s.name for s in db.scalars(select(TicketStatus).order_by(TicketStatus.position))]
    assert names[:2] == ["Escalated", "Open"]


def test_custom_status_is_added_renamed_and_hidden(
    admin: FlaskClient, db: Session, make_ticket: Callable[..., Ticket]
) -> None:
    assert (
        _post(admin, "/setup/statuses", {"name": "Parked", "status_type": "on_hold"}).status_code
        == 302
    )
    parked = _status(db, "Parked")
    ticket = make_ticket(status="Parked")
    page = admin.get(f"/setup/statuses/{parked.id}").get_data(as_text=True)
    assert "1 ticket has this status." in page
    answer = _post(
        admin,
        f"/setup/statuses/{parked.id}",
        {"name": "Parked for parts", "status_type": "on_hold"},
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert answer.headers["Location"] == "/setup/statuses"
    see_committed(db)
    assert (db.get(Ticket, ticket.id).status, db.get(TicketStatus, parked.id).is_active) == (
        "Parked for parts",
        False,
    )


def test_bad_status_shows_field_errors(admin: FlaskClient) -> None:
    answer = _post(admin, "/setup/statuses", {"name": "Open", "status_type": "closed"})
    assert answer.status_code == 422
    assert 'id="error-name"' in answer.get_data(as_text=True)


def test_built_in_status_cannot_be_renamed_from_the_form(admin: FlaskClient, db: Session) -> None:
    status = _status(db, "Open")
    assert "Built-in statuses keep" in admin.get(f"/setup/statuses/{status.id}").get_data(
        as_text=True
    )
    assert _post(admin, f"/setup/statuses/{status.id}", {"name": "Neu"}).status_code == 400
