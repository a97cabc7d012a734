"""The IM dashboard's figures, computed by hand from a timeline of signed webhooks and agent
actions, as REST gives them, in Asia/Tokyo and UTC; and the periods' edges (days and weeks
start at the organisation's midnight and first weekday)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.models import Agent, Organisation
from hostapi import clock
from plugins.im_dashboard.periods import PeriodError, resolve

if TYPE_CHECKING:
    from tests.im_desk import Desk

pytest_plugins = ["tests.api_fixtures", "tests.im_desk", "tests.im_channel_api"]

LINE_USER = "U4af4980629c0ffee0123456789abcdef"
TELEGRAM_USER = "5550001"
WHATSAPP_USER = "819011112222"


def _set_zone(desk: Desk, zone: str, week_start: int = 0) -> None:
    organisation = desk.db.scalars(select(Organisation)).one()
    organisation.timezone, organisation.week_start = zone, week_start
    desk.db.commit()


#: The morning's 10:00 in Tokyo (a Monday).
_START = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def _at(minutes: int) -> None:
    """Set the clock to ``minutes`` after ``_START``."""
    clock.freeze(_START + timedelta(minutes=minutes))


def _chat_id(desk: Desk, user: str) -> int:
    return next(chat.id for chat in desk.chats() if chat.external_user_id == user)


def _the_morning(desk: Desk, make_contact: Any, make_ticket: Any) -> None:
    """The timeline the figures below are worked out from (minutes after 10:00 Tokyo)."""
    known = make_contact("Sato", first_name="Ken", email=None)
    known.phone, known.phone_e164 = "+81 90-1111-2222", "+819011112222"
    desk.db.commit()
    make_ticket(subject="An earlier question", contact=known)

    _at(0)
    desk.message("line", key=1, user=LINE_USER, text="a1")
    _at(1)
    desk.message("telegram", key=2, user=TELEGRAM_USER, text="b1")
    desk.work()
    line, telegram = _chat_id(desk, LINE_USER), _chat_id(desk, TELEGRAM_USER)
    _at(3)
    desk.api("POST", f"/chats/{line}/accept", json={})  # alice: start time 180 s
    _at(4)
    desk.message("line", key=3, user=LINE_USER, text="a2")
    desk.work()
    _at(5)
    desk.api("POST", f"/chats/{line}/messages", json={"text": "r1"})  # response 300 s
    _at(6)
    desk.api("POST", f"/chats/{line}/messages", json={"text": "r2"})  # no response time
    _at(7)
    desk.api("POST", f"/chats/{telegram}/assign", json={"agent_id": desk.agents["bob"].id})
    _at(9)
    desk.api("POST", f"/chats/{telegram}/accept", agent="bob", json={})  # start time 480 s
    _at(10)
    desk.api("POST", f"/chats/{line}/end", json={})
    _at(12)
    desk.message("line", key=4, user=LINE_USER, text="a3")  # reopens, alice's
    desk.work()
    _at(15)
    desk.api("POST", f"/chats/{line}/end", json={})  # time to end 15 − 2 = 13 minutes
    _at(20)
    desk.message("whatsapp", key=5, user=WHATSAPP_USER, text="c1")  # a known contact
    desk.work()
    _at(30)


def _dashboard(desk: Desk, **query: str) -> dict[str, Any]:
    answer = desk.api("GET", "/dashboard", query_string=query)
    assert answer.status_code == 200, answer.json
    return answer.json


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "UTC"])
def test_todays_figures_are_those_worked_out_by_hand(
    desk: Desk, make_contact: Any, make_ticket: Any, channel_api: Any, zone: str
) -> None:
    _set_zone(desk, zone)
    _the_morning(desk, make_contact, make_ticket)
    figures = _dashboard(desk, period="today")

    assert figures["contacts"] == {"new": 2, "existing": 1}
    assert figures["messages"] == {"incoming": 5, "outgoing": 2}
    assert figures["chats"] == {"assigned": 2, "unassigned": 1, "total": 3}
    channels = {row["channel"]: row for row in figures["channels"]}
    assert channels["line"] == {
        "channel": "line",
        "chats": 1,
        "ended": 1,
        "average_time_to_end_seconds": 780.0,
    }
    assert channels["telegram"]["chats"] == channels["whatsapp"]["chats"] == 1
    assert channels["wechat"]["chats"] == 0
    assert channels["telegram"]["average_time_to_end_seconds"] is None
    assert figures["response_times"] == {
        "average_start_seconds": 330.0,
        "first_accepts": 2,
        "average_first_response_seconds": 300.0,
        "first_responses": 1,
        "average_response_seconds": 300.0,
        "replies": 1,
    }
    agents = {row["name"]: row for row in figures["agents"]}
    assert agents["Alice"] == {
        "agent_id": desk.agents["alice"].id,
        "name": "Alice",
        "assigned": 2,  # her own take, and the customer's reopen of her chat
        "reopened": 1,
        "average_start_seconds": 180.0,
        "average_first_response_seconds": 300.0,
        "average_response_seconds": 300.0,
    }
    assert (agents["Bob"]["assigned"], agents["Bob"]["reopened"]) == (1, 0)
    assert agents["Bob"]["average_start_seconds"] == 480.0
    assert agents["Carol"]["assigned"] == 0

    # Every event happened between 10:00 and 10:20 Tokyo (01:00–01:20 UTC): one hour's point.
    trend = figures["trend"]
    hour = datetime(2026, 12, 7, 10 if zone == "Asia/Tokyo" else 1, tzinfo=ZoneInfo(zone))
    point = [datetime.fromisoformat(b) for b in trend["buckets"]].index(hour)
    series = trend["series"]
    assert series["messages_incoming"][point] == 5 and sum(series["messages_incoming"]) == 5
    assert series["average_start_seconds"][point] == 330.0
    assert series["chats_total"][point] == 3


def test_one_channel_counts_only_its_own(
    desk: Desk, make_contact: Any, make_ticket: Any, channel_api: Any
) -> None:
    _set_zone(desk, "Asia/Tokyo")
    _the_morning(desk, make_contact, make_ticket)
    line = _dashboard(desk, period="today", channel="line")
    assert line["messages"] == {"incoming": 3, "outgoing": 2}
    assert line["chats"] == {"assigned": 1, "unassigned": 0, "total": 1}
    assert [row["channel"] for row in line["channels"]] == ["line"]
    assert line["response_times"]["average_start_seconds"] == 180.0


def test_the_csv_has_every_figure_a_row_each(
    desk: Desk, make_contact: Any, make_ticket: Any, channel_api: Any
) -> None:
    _set_zone(desk, "Asia/Tokyo")
    _the_morning(desk, make_contact, make_ticket)
    answer = desk.api("GET", "/dashboard.csv", query_string={"period": "today"})
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    lines = answer.get_data(as_text=True).splitlines()
    assert lines[0] == "group,item,figure,value"
    assert "messages,,incoming,5" in lines
    assert "channels,line,average_time_to_end_seconds,780.0" in lines
    assert "agents,Alice,reopened,1" in lines
    assert "trend,2026-12-07T10:00:00+09:00,messages_incoming,5" in lines


def test_a_message_sent_before_tokyos_midnight_is_yesterday_there_and_today_in_utc(
    desk: Desk,
) -> None:
    # 14:30 UTC on Monday is 23:30 in Tokyo; read at 16:00 UTC (01:00 Tuesday in Tokyo).
    clock.freeze(datetime(2026, 12, 7, 14, 30, tzinfo=UTC))
    desk.message("line", key=1, user=LINE_USER, text="late at night")
    desk.work()
    clock.freeze(datetime(2026, 12, 7, 16, 0, tzinfo=UTC))
    _set_zone(desk, "Asia/Tokyo")
    assert _dashboard(desk, period="yesterday")["messages"]["incoming"] == 1
    assert _dashboard(desk, period="today")["messages"]["incoming"] == 0
    _set_zone(desk, "UTC")
    assert _dashboard(desk, period="today")["messages"]["incoming"] == 1
    assert _dashboard(desk, period="yesterday")["messages"]["incoming"] == 0


def test_a_week_starts_on_the_organisations_first_weekday_in_its_zone(desk: Desk) -> None:
    # 16:00 UTC on Sunday 6 December is 01:00 on Monday 7 December in Tokyo.
    clock.freeze(datetime(2026, 12, 6, 16, 0, tzinfo=UTC))
    desk.message("telegram", key=1, user=TELEGRAM_USER, text="hello")
    desk.work()
    clock.freeze(datetime(2026, 12, 8, 3, 0, tzinfo=UTC))
    _set_zone(desk, "Asia/Tokyo")
    assert _dashboard(desk, period="this_week")["chats"]["total"] == 1
    assert _dashboard(desk, period="last_week")["chats"]["total"] == 0
    _set_zone(desk, "UTC")
    assert _dashboard(desk, period="this_week")["chats"]["total"] == 0
    assert _dashboard(desk, period="last_week")["chats"]["total"] == 1
    _set_zone(desk, "UTC", week_start=6)  # weeks start on Sunday
    assert _dashboard(desk, period="this_week")["chats"]["total"] == 1


def test_a_custom_period_needs_both_dates_in_order(desk: Desk) -> None:
    missing = desk.api("GET", "/dashboard", query_string={"period": "custom", "from": "2026-12-01"})
    assert missing.status_code == 422 and "to" in missing.json["errors"]["query"]
    reversed_ = desk.api(
        "GET",
        "/dashboard",
        query_string={"period": "custom", "from": "2026-12-05", "to": "2026-12-01"},
    )
    assert reversed_.status_code == 422 and "to" in reversed_.json["errors"]["query"]
    unknown = desk.api("GET", "/dashboard", query_string={"period": "fortnight"})
    assert unknown.status_code == 422 and "period" in unknown.json["errors"]["query"]


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("last_24_hours", datetime(2026, 12, 9, 3, 30), datetime(2026, 12, 10, 3, 30)),
        ("today", datetime(2026, 12, 9, 15, 0), datetime(2026, 12, 10, 3, 30)),
        ("yesterday", datetime(2026, 12, 8, 15, 0), datetime(2026, 12, 9, 15, 0)),
        ("last_7_days", datetime(2026, 12, 3, 3, 30), datetime(2026, 12, 10, 3, 30)),
        ("this_week", datetime(2026, 12, 6, 15, 0), datetime(2026, 12, 10, 3, 30)),
        ("last_week", datetime(2026, 11, 29, 15, 0), datetime(2026, 12, 6, 15, 0)),
        ("this_month", datetime(2026, 11, 30, 15, 0), datetime(2026, 12, 10, 3, 30)),
        ("last_month", datetime(2026, 10, 31, 15, 0), datetime(2026, 11, 30, 15, 0)),
    ],
)
def test_each_period_in_tokyo(name: str, start: datetime, end: datetime) -> None:
    now = datetime(2026, 12, 10, 3, 30, tzinfo=UTC)  # Thursday 12:30 in Tokyo
    period = resolve(name, now, ZoneInfo("Asia/Tokyo"))
    assert (period.start, period.end) == (start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))


def test_a_custom_period_includes_both_days_and_is_by_day() -> None:
    period = resolve(
        "custom",
        datetime(2026, 12, 10, tzinfo=UTC),
        ZoneInfo("Asia/Tokyo"),
        first=date(2026, 12, 1),
        last=date(2026, 12, 3),
    )
    assert period.start == datetime(2026, 11, 30, 15, tzinfo=UTC)
    assert period.end == datetime(2026, 12, 3, 15, tzinfo=UTC)
    assert period.bucket == "day" and len(period.buckets()) == 3
    with pytest.raises(PeriodError):
        resolve(
            "custom",
            datetime(2026, 12, 10, tzinfo=UTC),
            ZoneInfo("UTC"),
            first=date(2025, 1, 1),
            last=date(2026, 12, 1),
        )


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_page_shows_the_figures_and_its_fragment_refreshes_them(
    desk: Desk,
    make_contact: Any,
    make_ticket: Any,
    channel_api: Any,
    sign_in_as: Any,
    language: str,
) -> None:
    _set_zone(desk, "Asia/Tokyo")
    _the_morning(desk, make_contact, make_ticket)
    alice = desk.db.get(Agent, desk.agents["alice"].id)
    alice.locale = language
    desk.db.commit()
    sign_in_as(alice)
    url = f"/ext/im_dashboard/{desk.installation.id}/dashboard/"

    page = desk.client.get(url, query_string={"period": "today"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert ("IMダッシュボード" if language == "ja" else "IM dashboard") in html
    for figure, value in (("messages_incoming", 5), ("chats_total", 3), ("contacts_new", 2)):
        assert f'data-figure="{figure}">{value}<' in html
    assert 'data-figure="average_start">0:05:30<' in html
    assert html.count('<svg class="trend"') == 5

    fragment = desk.client.get(url, query_string={"period": "today", "fragment": "1"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.get_data(as_text=True)
    assert 'id="widget-agents"' in fragment.get_data(as_text=True)
    script = desk.client.get(f"{url}live.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    csv_file = desk.client.get(f"{url}export.csv", query_string={"period": "today"})
    assert csv_file.status_code == 200 and "messages,,incoming,5" in csv_file.get_data(as_text=True)

    wrong = desk.client.get(url, query_string={"period": "custom", "from": "2026-12-05"})
    assert wrong.status_code == 422 and 'data-error-for="to"' in wrong.get_data(as_text=True)
