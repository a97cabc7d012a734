"""Business-time arithmetic: adding business seconds to an instant and counting them between two.

A :class:`Schedule` is a department's week in local wall time (per weekday one or more
``[start, end)`` intervals in minutes of the day, ``end`` up to 24:00), its time zone and its
holidays. Each day's intervals are placed on the wall clock of that day and only then turned
into instants, so an interval on a day the clocks change lasts what the wall clock says: a
00:00–24:00 day is 23 real hours in spring and 25 in autumn, and 9:00–18:00 stays 9:00–18:00
in local time on either side of the change.

Written here rather than taken from a library: the maintained-looking candidates
(``businesstimedelta``, last release 2019; ``businesstime``, 2018) are built on pytz or naive
datetimes, take one working-day rule rather than several intervals per weekday, and neither
places intervals on the wall clock of a DST-change day.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Minutes in a day: an interval may end at 24:00 (midnight of the next day).
DAY_MINUTES = 24 * 60
#: How far ahead (in days) the arithmetic looks for an open interval before giving up.
_HORIZON_DAYS = 3 * 366

Interval = tuple[int, int]


@dataclass(frozen=True)
class Schedule:
    """A week of opening intervals in a time zone, with closed holidays.

    ``weekly`` maps a weekday (0 = Monday … 6 = Sunday) to its ``(start_minute, end_minute)``
    intervals; a weekday missing from it is closed. ``always_open`` is 24×7: every day
    00:00–24:00, holidays still closed.
    """

    timezone: ZoneInfo
    weekly: Mapping[int, tuple[Interval, ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    always_open: bool = False

    def __post_init__(self) -> None:
        for weekday, intervals in self.weekly.items():
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday {weekday} is not 0 (Monday) to 6 (Sunday)")
            for start, end in intervals:
                if not 0 <= start < end <= DAY_MINUTES:
                    raise ValueError(f"interval {start}-{end} is not within one day")
        if not self.always_open and not any(self.weekly.values()):
            raise ValueError("a schedule needs at least one opening interval or always_open")

    def day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of the local ``day`` as UTC instants, sorted and merged."""
        if day in self.holidays:
            return []
        minutes = [(0, DAY_MINUTES)] if self.always_open else self.weekly.get(day.weekday(), ())
        instants: list[tuple[datetime, datetime]] = []
        for start, end in sorted(minutes):
            opens, closes = self._instant(day, start), self._instant(day, end)
            if closes <= opens:  # an interval swallowed by a spring-forward gap
                continue
            if instants and opens <= instants[-1][1]:
                instants[-1] = (instants[-1][0], max(instants[-1][1], closes))
            else:
                instants.append((opens, closes))
        return instants

    def _instant(self, day: date, minute: int) -> datetime:
        # The wall-clock time of that day; a time in a spring-forward gap maps (fold 0) to the
        # instant the clock jumped past it, and an ambiguous autumn time to its first occurrence.
        if minute == DAY_MINUTES:
            wall = datetime.combine(day + timedelta(days=1), time(), tzinfo=self.timezone)
        else:
            wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.timezone)
        return wall.astimezone(UTC)

    def intervals_from(
        self, start: datetime, until: datetime | None = None
    ) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (UTC) that end after ``start``, in order, clipped to begin at it.

        Without ``until`` they run three years ahead; with it, up to the day of ``until``.
        """
        day = start.astimezone(self.timezone).date() - timedelta(days=1)
        last = (
            until.astimezone(self.timezone).date() + timedelta(days=1)
            if until is not None
            else day + timedelta(days=_HORIZON_DAYS)
        )
        while day <= last:
            for opens, closes in self.day_intervals(day):
                if closes > start:
                    yield max(opens, start), closes
            day += timedelta(days=1)

    def is_open(self, at: datetime) -> bool:
        """True when ``at`` falls inside an open interval."""
        for opens, _closes in self.intervals_from(at):
            return opens <= at
        return False


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("business-time arithmetic needs timezone-aware datetimes")
    return value.astimezone(UTC)


def add_business_seconds(start: datetime, seconds: float, schedule: Schedule) -> datetime:
    """The instant (UTC) at which ``seconds`` of business time have passed since ``start``.

    Zero seconds is ``start`` itself, open or not. Time that runs out exactly at a closing
    time ends there (Friday 17:30 plus 30 minutes of 9:00–18:00 is Friday 18:00).

    :raises ValueError: a naive ``start``, negative ``seconds``, or no open time within
        three years (a schedule closed by holidays for that long).
    """
    moment = _utc(start)
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    if seconds == 0:
        return moment
    remaining = timedelta(seconds=seconds)
    for opens, closes in schedule.intervals_from(moment):
        if remaining <= closes - opens:
            return opens + remaining
        remaining -= closes - opens
    raise ValueError("the schedule has no open time within three years")


def business_seconds_between(start: datetime, end: datetime, schedule: Schedule) -> float:
    """Seconds of business time from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    a, b = _utc(start), _utc(end)
    if b < a:
        return -business_seconds_between(b, a, schedule)
    total = timedelta()
    for opens, closes in schedule.intervals_from(a, until=b):
        if opens >= b:
            break
        total += min(closes, b) - opens
    return total.total_seconds()
