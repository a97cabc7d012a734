"""When the knowledge-base sync runs: at 04:00 in the organisation's time zone, daily, weekly
on the weekday of the first sync, or monthly on the day of the month of the first sync (the
month's last day in months too short for it). The first sync is the first 04:00 after the sync
was enabled or its interval changed."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"
INTERVALS = (DAILY, WEEKLY, MONTHLY)
#: The organisation's hour the syncs run at (early morning, as the product documents it).
SYNC_HOUR = 4


def first_sync(after: datetime, zone: str) -> datetime:
    """The first 04:00 in ``zone`` strictly after ``after`` (aware UTC)."""
    local_day = after.astimezone(ZoneInfo(zone)).date()
    candidate = _at_sync_hour(local_day, zone)
    return candidate if candidate > after else _at_sync_hour(local_day + timedelta(days=1), zone)


def next_sync(first: datetime, interval: str, after: datetime, zone: str) -> datetime:
    """The first sync of the series that starts at ``first`` strictly after ``after``."""
    if after < first:
        return first
    first_day = first.astimezone(ZoneInfo(zone)).date()
    day = after.astimezone(ZoneInfo(zone)).date()
    if interval == DAILY:
        candidates = (day + timedelta(days=n) for n in range(3))
    elif interval == WEEKLY:
        behind = (day - first_day).days % 7
        start = day - timedelta(days=behind)
        candidates = (start + timedelta(days=7 * n) for n in range(3))
    elif interval == MONTHLY:
        candidates = (_monthly(first_day.day, day.year, day.month + n) for n in range(3))
    else:
        raise ValueError(f"unknown interval {interval!r}")
    return next(moment for d in candidates if (moment := _at_sync_hour(d, zone)) > after)


def _monthly(day_of_month: int, year: int, month: int) -> date:
    """The month's sync day: ``day_of_month``, or the month's last day when it is shorter."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, min(day_of_month, calendar.monthrange(year, month)[1]))


def _at_sync_hour(day: date, zone: str) -> datetime:
    local = datetime(day.year, day.month, day.day, SYNC_HOUR, tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC)
