"""An admin in a real browser sets a department's weekday hours and a holiday, in en and ja."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Agent, BusinessHours, Department, Holiday

pytestmark = pytest.mark.browser

WORDING = {
    "en": {"tab": "Business hours and holidays", "saved": "Saved."},
    "ja": {"tab": "営業時間と休日", "saved": "保存しました。"},
}


@pytest.mark.parametrize("language", ["en", "ja"])
def test_weekday_hours_and_a_holiday_are_set_for_a_department(
    page,
    live_server: str,
    sign_in: Callable[[str], None],
    admin_agent: Agent,
    department: Department,
    db: Session,
    language: str,
) -> None:  # type: ignore[no-untyped-def]
    admin_agent.locale = language
    db.commit()
    words = WORDING[language]
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(admin_agent.email)
    page.click("#setup-menu-link")
    page.click("#setup-link-business_hours")
    page.get_by_role("link", name=words["tab"]).click()
    page.get_by_role("link", name=department.name).click()
    page.select_option("#hours-timezone", "Asia/Tokyo")
    for weekday in range(5):
        page.fill(f"#d{weekday}-start0", "09:00")
        page.fill(f"#d{weekday}-end0", "12:00")
        page.fill(f"#d{weekday}-start1", "13:00")
        page.fill(f"#d{weekday}-end1", "18:00")
    page.click("#save-hours")
    page.wait_for_selector("#hours-saved")
    assert page.inner_text("#hours-saved") == words["saved"]
    assert page.input_value("#d0-start1") == "13:00"

    page.fill("#holiday-day", "2026-12-31")
    page.fill("#holiday-name", "大晦日" if language == "ja" else "New Year's Eve")
    page.click("#holiday-form button[type=submit]")
    page.wait_for_selector("#holiday-list")
    assert ("大晦日" if language == "ja" else "New Year's Eve") in page.inner_text("#holiday-list")

    db.commit()  # a fresh snapshot: the browser's requests committed in their own sessions
    hours = db.get(BusinessHours, department.id)
    assert hours is not None and hours.timezone == "Asia/Tokyo"
    assert sorted((i.weekday, i.start_minute, i.end_minute) for i in hours.intervals)[:2] == [
        (0, 540, 720),
        (0, 780, 1080),
    ]
    holiday = db.scalars(select(Holiday).where(Holiday.department_id == department.id)).one()
    assert holiday.day.isoformat() == "2026-12-31"


def test_a_time_of_day_out_of_range_is_shown_beside_its_day(
    page,
    live_server: str,
    sign_in: Callable[[str], None],
    admin_agent: Agent,
    department: Department,
) -> None:  # type: ignore[no-untyped-def]
    sign_in(admin_agent.email)
    page.goto(f"{live_server}/admin/sla/business-hours/{department.id}")
    # The field's pattern stops the browser from sending 25:00; a bad order reaches the server.
    page.fill("#d2-start0", "18:00")
    page.fill("#d2-end0", "09:00")
    page.click("#save-hours")
    page.wait_for_selector(".field-error")
    assert "An interval must end after it starts" in page.inner_text("#hours-form")
