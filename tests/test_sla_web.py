"""The SLA setup pages and the due times on the ticket list and page."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Agent, BusinessHours, Department, Holiday, SlaPolicy, Ticket
from core.services import sla
from core.services.base import Actor, Unit
from core.web.ui.paging import PAGE_SIZE
from hostapi import clock
from tests.page_helpers import csrf_token_of, see_committed

TOKYO = ZoneInfo("Asia/Tokyo")
TARGETS = {"medium": {"first_response_minutes": 240, "resolution_minutes": 480}}


@pytest.fixture
def admin(client: FlaskClient, admin_agent: Agent) -> FlaskClient:
    """The test client signed in as an administrator of the Support department."""
    with client.session_transaction() as session:
        session["agent_id"] = admin_agent.id
    return client


@pytest.fixture
def system(db: Session) -> Unit:
    return Unit(session=db, actor=Actor.system("test"), host=None)


@pytest.fixture
def frozen() -> Iterator[Callable[[datetime], None]]:
    yield clock.freeze
    clock.unfreeze()


def test_the_policy_list_pages_through_more_policies_than_fit(
    admin: FlaskClient, db: Session, system: Unit
) -> None:
    for number in range(PAGE_SIZE + 3):
        sla.create_policy(system, name=f"Policy {number:02d}", targets=TARGETS)
    db.commit()
    first = admin.get("/admin/sla").get_data(as_text=True)
    assert first.count('<tr id="policy-') == PAGE_SIZE
    older = re.search(r'href="([^"]*before=[^"]+)"', first)
    assert older
    second = admin.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('<tr id="policy-') == 3
    assert "Policy 00" in second


def test_a_policy_is_added_from_the_form(
    admin: FlaskClient, db: Session, department: Department
) -> None:
    response = admin.post(
        "/admin/sla/policies/new",
        data={
            "csrf_token": csrf_token_of(admin, "/tickets"),
            "name": "Standard",
            "department_ids": [str(department.id)],
            "medium_first_response": "4",
            "medium_first_response_unit": "hours",
            "medium_resolution": "90",
            "medium_resolution_unit": "minutes",
        },
    )
    assert response.status_code == 302
    see_committed(db)
    policy = db.scalars(select(SlaPolicy)).one()
    assert policy.department_ids == [department.id]
    target = policy.target_for("medium")
    assert target is not None
    assert (target.first_response_minutes, target.resolution_minutes) == (240, 90)


def test_a_policy_form_with_one_target_of_a_pair_is_refused(
    admin: FlaskClient, db: Session
) -> None:
    response = admin.post(
        "/admin/sla/policies/new",
        data={
            "csrf_token": csrf_token_of(admin, "/tickets"),
            "name": "Half",
            "high_first_response": "2",
        },
    )
    assert response.status_code == 422
    assert "Give both targets, or neither." in response.get_data(as_text=True)
    see_committed(db)
    assert db.scalars(select(SlaPolicy)).all() == []


def test_a_policy_is_edited_and_deactivated(
    admin: FlaskClient, db: Session, system: Unit, department: Department
) -> None:
    policy = sla.create_policy(
        system, name="Standard", targets=TARGETS, department_ids=[department.id]
    )
    db.commit()
    page = admin.get(f"/admin/sla/policies/{policy.id}").get_data(as_text=True)
    assert (
        'value="Standard"' in page
        and 'name="medium_first_response" id="medium_first_response" value="4"' in page
    )
    csrf = csrf_token_of(admin, "/tickets")
    response = admin.post(
        f"/admin/sla/policies/{policy.id}",
        data={
            "csrf_token": csrf,
            "name": "Gold",
            "medium_first_response": "1",
            "medium_resolution": "2",
        },
    )
    assert response.status_code == 302
    admin.post(f"/admin/sla/policies/{policy.id}/active", data={"csrf_token": csrf, "active": "0"})
    see_committed(db)
    policy = db.get(SlaPolicy, policy.id)
    assert policy is not None and policy.name == "Gold" and not policy.is_active
    assert policy.department_ids == []


def test_the_department_list_pages_through_more_departments_than_fit(
    admin: FlaskClient, db: Session, admin_agent: Agent, make_department
) -> None:
    extra = [make_department(f"Team {number:02d}") for number in range(PAGE_SIZE + 2)]
    admin_agent.departments = [*admin_agent.departments, *extra]
    db.commit()
    first = admin.get("/admin/sla/business-hours").get_data(as_text=True)
    assert first.count('<tr id="department-') == PAGE_SIZE
    later = re.search(r'href="([^"]*after=\d+)"', first)
    assert later
    second = admin.get(later.group(1)).get_data(as_text=True)
    assert second.count('<tr id="department-') == 3  # Team 50, Team 51 and Support
    assert "24×7" in second


def test_weekly_hours_are_saved_from_the_form(
    admin: FlaskClient, db: Session, department: Department
) -> None:
    data = {"csrf_token": csrf_token_of(admin, "/tickets"), "timezone": "Asia/Tokyo"}
    for weekday in range(5):
        data[f"d{weekday}_start0"], data[f"d{weekday}_end0"] = "09:00", "12:00"
        data[f"d{weekday}_start1"], data[f"d{weekday}_end1"] = "13:00", "18:00"
    response = admin.post(f"/admin/sla/business-hours/{department.id}", data=data)
    assert response.status_code == 302
    see_committed(db)
    hours = db.get(BusinessHours, department.id)
    assert hours is not None and hours.timezone == "Asia/Tokyo" and not hours.always_open
    assert len(hours.intervals) == 10
    page = admin.get(f"/admin/sla/business-hours/{department.id}?saved=1").get_data(as_text=True)
    assert 'id="hours-saved"' in page and 'value="13:00"' in page


def test_a_bad_time_of_day_is_a_field_error(admin: FlaskClient, department: Department) -> None:
    response = admin.post(
        f"/admin/sla/business-hours/{department.id}",
        data={
            "csrf_token": csrf_token_of(admin, "/tickets"),
            "d0_start0": "25:00",
            "d0_end0": "18:00",
        },
    )
    assert response.status_code == 422
    assert "Give an opening and a closing time" in response.get_data(as_text=True)


def test_holidays_are_added_removed_and_paged(
    admin: FlaskClient, db: Session, department: Department
) -> None:
    csrf = csrf_token_of(admin, "/tickets")
    response = admin.post(
        f"/admin/sla/business-hours/{department.id}/holidays",
        data={"csrf_token": csrf, "day": "2026-12-29", "name": "Year-end"},
    )
    assert response.status_code == 302
    for year in (2025, 2026, 2027, 2028):
        admin.post(
            f"/admin/sla/business-hours/{department.id}/holidays/national",
            data={"csrf_token": csrf, "country": "JP", "year": str(year)},
        )
    see_committed(db)
    holidays = db.scalars(select(Holiday).where(Holiday.department_id == department.id)).all()
    assert len(holidays) > PAGE_SIZE
    first = admin.get(f"/admin/sla/business-hours/{department.id}").get_data(as_text=True)
    assert first.count('<tr id="holiday-') == PAGE_SIZE
    later = re.search(r'href="([^"]*after=[^"#]+)#holidays"', first)
    assert later
    second = admin.get(later.group(1)).get_data(as_text=True)
    assert second.count('<tr id="holiday-') == len(holidays) - PAGE_SIZE
    year_end = next(h.id for h in holidays if h.name == "Year-end")
    admin.post(
        f"/admin/sla/business-hours/{department.id}/holidays/{year_end}/delete",
        data={"csrf_token": csrf},
    )
    see_committed(db)
    assert db.get(Holiday, year_end) is None


def test_a_holiday_of_another_department_is_not_found(
    admin: FlaskClient, db: Session, department: Department, make_department, system: Unit
) -> None:
    other = make_department("Sales")
    holiday = sla.add_holiday(system, other.id, day=date(2026, 12, 31), name="Eve")
    db.commit()
    response = admin.post(
        f"/admin/sla/business-hours/{department.id}/holidays/{holiday.id}/delete",
        data={"csrf_token": csrf_token_of(admin, "/tickets")},
    )
    assert response.status_code == 404


def test_an_agent_without_setup_permission_is_refused(
    client: FlaskClient, make_agent, department: Department
) -> None:
    agent = make_agent("agent@example.com", departments=[department])
    with client.session_transaction() as session:
        session["agent_id"] = agent.id
    assert client.get("/admin/sla").status_code == 403
    assert client.get(f"/admin/sla/business-hours/{department.id}").status_code == 403


def test_the_ticket_list_and_page_show_overdue_and_due_in(
    admin: FlaskClient,
    db: Session,
    system: Unit,
    department: Department,
    make_ticket: Callable[..., Ticket],
    frozen,
) -> None:
    sla.set_business_hours(system, department.id, timezone="Asia/Tokyo", always_open=True)
    sla.create_policy(system, name="Standard", targets=TARGETS, department_ids=[department.id])
    db.commit()
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    late = make_ticket("Late")
    frozen(datetime(2026, 12, 7, 15, 25, tzinfo=TOKYO))
    fresh = make_ticket("Fresh")
    frozen(datetime(2026, 12, 7, 15, 30, tzinfo=TOKYO))
    listing = admin.get("/tickets").get_data(as_text=True)
    assert re.search(
        r'sla-badge overdue" data-sla-target="first_response"[^>]*>'
        r"First response · overdue by 2 hours",
        listing,
    )
    assert "First response · due in 4 hours" in listing  # 3 h 55 min, rounded
    page = admin.get(f"/tickets/{late.id}").get_data(as_text=True)
    assert 'id="sla-first_response"' in page and "overdue by 2 hours" in page
    assert 'id="sla-resolution"' in page and "due in 2 hours" in page
    assert "due in" in admin.get(f"/tickets/{fresh.id}").get_data(as_text=True)


def test_japanese_pages_show_due_times_in_japanese(
    admin: FlaskClient,
    db: Session,
    system: Unit,
    department: Department,
    admin_agent: Agent,
    make_ticket: Callable[..., Ticket],
    frozen,
) -> None:
    admin_agent.locale = "ja"
    sla.create_policy(system, name="Standard", targets=TARGETS, department_ids=[department.id])
    db.commit()
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO))
    ticket = make_ticket()
    frozen(datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO) + timedelta(hours=6))
    page = admin.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "初回応答期限" in page and "2 時間超過" in page and "残り 2 時間" in page


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_crawler_reads_every_sla_page_without_findings(
    admin: FlaskClient,
    db: Session,
    system: Unit,
    admin_agent: Agent,
    department: Department,
    make_ticket: Callable[..., Ticket],
    monkeypatch: pytest.MonkeyPatch,
    language: str,
) -> None:
    from core.web.i18n import TRANSLATIONS_DIR, compile_catalogs
    from tests.crawler import Crawler, MissingTranslations, ui_strings_of_catalog

    admin_agent.locale = language
    sla.set_business_hours(
        system,
        department.id,
        timezone="Asia/Tokyo",
        always_open=False,
        intervals=[{"weekday": 0, "start_minute": 540, "end_minute": 1080}],
    )
    sla.add_national_holidays(system, department.id, country="JP", year=2026, language="ja")
    policy = sla.create_policy(
        system, name="Standard", targets=TARGETS, department_ids=[department.id]
    )
    db.commit()
    make_ticket()
    compile_catalogs()
    japanese = language == "ja"
    crawler = Crawler(
        admin,
        japanese_strings=ui_strings_of_catalog(
            TRANSLATIONS_DIR / "ja" / "LC_MESSAGES" / "messages.mo"
        )
        if japanese
        else None,
        missing_translations=MissingTranslations(monkeypatch) if japanese else None,
    )
    report = crawler.crawl(["/admin/sla"])
    assert report.findings == []
    seen = {url.split("?")[0] for url in crawler._seen}
    assert {
        "/admin/sla",
        "/admin/sla/policies/new",
        f"/admin/sla/policies/{policy.id}",
        "/admin/sla/business-hours",
        f"/admin/sla/business-hours/{department.id}",
    } <= seen
