"""Business-time arithmetic across days, weekends, holidays and DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.business_hours import Schedule, add_business_seconds, business_seconds_between

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NINE_TO_SIX = (9 * 60, 18 * 60)
HOUR = 3600


def weekdays(
    zone: ZoneInfo, *intervals: tuple[int, int], holidays: frozenset[date] = frozenset()
) -> Schedule:
    return Schedule(
        timezone=zone,
        weekly={day: intervals or (NINE_TO_SIX,) for day in range(5)},
        holidays=holidays,
    )


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)


def test_friday_evening_plus_four_hours_is_monday_half_past_noon() -> None:
    schedule = weekdays(TOKYO)
    due = add_business_seconds(local(TOKYO, 2026, 12, 4, 17, 30), 4 * HOUR, schedule)
    assert due == local(TOKYO, 2026, 12, 7, 12, 30)


def test_a_monday_holiday_moves_the_due_time_to_tuesday() -> None:
    schedule = weekdays(TOKYO, holidays=frozenset({date(2026, 12, 7)}))
    due = add_business_seconds(local(TOKYO, 2026, 12, 4, 17, 30), 4 * HOUR, schedule)
    assert due == local(TOKYO, 2026, 12, 8, 12, 30)


def test_time_running_out_at_closing_ends_at_closing() -> None:
    due = add_business_seconds(local(TOKYO, 2026, 12, 4, 17, 30), 30 * 60, weekdays(TOKYO))
    assert due == local(TOKYO, 2026, 12, 4, 18, 0)


def test_zero_seconds_is_the_start_itself_even_when_closed() -> None:
    start = local(TOKYO, 2026, 12, 5, 3, 0)
    assert add_business_seconds(start, 0, weekdays(TOKYO)) == start


def test_several_intervals_a_day_skip_the_lunch_break() -> None:
    schedule = weekdays(TOKYO, (9 * 60, 12 * 60), (13 * 60, 18 * 60))
    due = add_business_seconds(local(TOKYO, 2026, 12, 7, 11, 0), 2 * HOUR, schedule)
    assert due == local(TOKYO, 2026, 12, 7, 14, 0)


@pytest.mark.parametrize(
    ("zone", "friday"),
    [
        (BERLIN, (2026, 3, 27)),
        (NEW_YORK, (2026, 3, 6)),
        (BERLIN, (2026, 10, 23)),
        (NEW_YORK, (2026, 10, 30)),
    ],
    ids=["berlin-spring", "new-york-spring", "berlin-autumn", "new-york-autumn"],
)
def test_the_weekend_of_a_dst_change_keeps_wall_clock_hours(
    zone: ZoneInfo, friday: tuple[int, int, int]
) -> None:
    start = local(zone, *friday, 17, 30)
    due = add_business_seconds(start, 4 * HOUR, weekdays(zone))
    monday = date(*friday) + timedelta(days=3)
    assert due == local(zone, monday.year, monday.month, monday.day, 12, 30)
    # The clocks changed in between: the same wall-clock hours are a different UTC offset.
    assert due.astimezone(zone).utcoffset() != start.utcoffset()


def test_a_24x7_day_of_spring_forward_is_23_real_hours() -> None:
    schedule = Schedule(timezone=BERLIN, always_open=True)
    sunday = local(BERLIN, 2026, 3, 29, 0, 0)
    monday = local(BERLIN, 2026, 3, 30, 0, 0)
    assert business_seconds_between(sunday, monday, schedule) == 23 * HOUR


def test_an_interval_across_the_autumn_change_lasts_what_the_clock_says() -> None:
    schedule = Schedule(timezone=BERLIN, weekly={6: ((0, 6 * 60),)})
    day = date(2026, 10, 25)
    start = local(BERLIN, day.year, day.month, day.day, 0, 0)
    # 00:00–06:00 on the night the clocks go back is seven real hours.
    assert business_seconds_between(start, start + timedelta(hours=10), schedule) == 7 * HOUR


def test_between_counts_only_open_time() -> None:
    schedule = weekdays(TOKYO)
    friday = local(TOKYO, 2026, 12, 4, 17, 0)
    monday = local(TOKYO, 2026, 12, 7, 10, 0)
    assert business_seconds_between(friday, monday, schedule) == 2 * HOUR
    assert business_seconds_between(monday, friday, schedule) == -2 * HOUR


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_seconds(datetime(2026, 12, 4, 9), HOUR, weekdays(TOKYO))


def test_a_schedule_without_opening_time_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Schedule(timezone=TOKYO, weekly={})


SCHEDULES = st.sampled_from(
    [
        weekdays(TOKYO),
        weekdays(BERLIN, (8 * 60, 12 * 60), (13 * 60, 17 * 60)),
        weekdays(NEW_YORK, (0, 2 * 60 + 30), (22 * 60, 24 * 60)),
        Schedule(timezone=BERLIN, always_open=True, holidays=frozenset({date(2026, 3, 29)})),
        Schedule(timezone=NEW_YORK, weekly={6: ((60, 4 * 60),), 2: ((9 * 60, 10 * 60),)}),
    ]
)
INSTANTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(schedule=SCHEDULES, start=INSTANTS, seconds=st.integers(min_value=1, max_value=200 * HOUR))
def test_counting_back_what_was_added_gives_the_added_seconds(
    schedule: Schedule, start: datetime, seconds: int
) -> None:
    end = add_business_seconds(start, seconds, schedule)
    assert business_seconds_between(start, end, schedule) == seconds


@settings(max_examples=150, deadline=None)
@given(schedule=SCHEDULES, start=INSTANTS, span=st.integers(min_value=0, max_value=40 * 24 * HOUR))
def test_adding_the_business_time_between_lands_on_an_open_end(
    schedule: Schedule, start: datetime, span: int
) -> None:
    end = start + timedelta(seconds=span)
    seconds = business_seconds_between(start, end, schedule)
    if seconds > 0 and schedule.is_open(end):
        assert add_business_seconds(start, seconds, schedule) == end


@settings(max_examples=100, deadline=None)
@given(
    schedule=SCHEDULES,
    start=INSTANTS,
    first=st.integers(min_value=1, max_value=50 * HOUR),
    second=st.integers(min_value=1, max_value=50 * HOUR),
)
def test_adding_in_two_steps_equals_adding_at_once(
    schedule: Schedule, start: datetime, first: int, second: int
) -> None:
    stepwise = add_business_seconds(add_business_seconds(start, first, schedule), second, schedule)
    assert stepwise == add_business_seconds(start, first + second, schedule)
