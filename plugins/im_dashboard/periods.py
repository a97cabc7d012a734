"""The dashboard's periods, in the organisation's time zone, and the buckets of their trends.

A period is ``[start, end)``: last 24 hours, last 7 days and last 30 days roll and end now;
today, this week and this month run from their start to now; yesterday, last week and last
month are whole; custom covers two dates, both included. Weeks start on the organisation's
first day of the week. A trend has a point per hour for periods of two days or less, else
per day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hostapi import Context
from hostapi.i18n import N_

#: The periods, in the order the filter offers them.
PERIODS = (
    "last_24_hours",
    "today",
    "yesterday",
    "last_7_days",
    "last_30_days",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "custom",
)

#: The longest custom period, in days.
MAX_CUSTOM_DAYS = 366
#: Periods up to this long have a trend point per hour; longer ones per day.
HOURLY_UP_TO = timedelta(days=2)


class PeriodError(ValueError):
    """A period that cannot be: ``message`` (marked for translation, with ``variables``) is
    about the field ``field``."""

    def __init__(self, field: str, message: str, **variables: object) -> None:
        super().__init__(message % variables if variables else message)
        self.field = field
        self.message = message
        self.variables = variables


@dataclass(frozen=True)
class Period:
    """A resolved period: its name, its bounds (aware UTC, ``end`` excluded), its zone, and
    whether its trend is by ``hour`` or by ``day``."""

    name: str
    start: datetime
    end: datetime
    zone: ZoneInfo
    bucket: str

    def buckets(self) -> list[datetime]:
        """The start of each trend bucket (aware, in the period's zone), the first holding
        ``start``."""
        local_start = self.start.astimezone(self.zone)
        starts: list[datetime] = []
        if self.bucket == "hour":
            moment = local_start.replace(minute=0, second=0, microsecond=0)
            # Step in UTC: a local hour can repeat or vanish when clocks change.
            utc = moment.astimezone(UTC)
            while utc < self.end:
                starts.append(utc.astimezone(self.zone))
                utc += timedelta(hours=1)
            return starts
        day = local_start.date()
        while (moment := midnight(day, self.zone)) < self.end:
            starts.append(moment)
            day += timedelta(days=1)
        return starts

    def bucket_of(self, moment: datetime) -> datetime:
        """The start of the bucket holding ``moment`` (aware, in the period's zone)."""
        local = moment.astimezone(self.zone)
        if self.bucket == "hour":
            return local.replace(minute=0, second=0, microsecond=0)
        return midnight(local.date(), self.zone)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first moment of ``day`` in ``zone``."""
    return datetime.combine(day, time(0), tzinfo=zone)


def resolve(
    name: str,
    now: datetime,
    zone: ZoneInfo,
    *,
    week_start: int = 0,
    first: date | None = None,
    last: date | None = None,
) -> Period:
    """The period called ``name`` as it stands at ``now`` (``first`` and ``last`` for
    ``custom``).

    :raises PeriodError: an unknown name, or custom dates missing, reversed or too far apart.
    """
    today = now.astimezone(zone).date()
    this_week = today - timedelta(days=(today.weekday() - week_start) % 7)
    this_month = today.replace(day=1)
    previous_month = (this_month - timedelta(days=1)).replace(day=1)
    rolling = {"last_24_hours": 1, "last_7_days": 7, "last_30_days": 30}
    if name in rolling:
        start, end = now - timedelta(days=rolling[name]), now
    elif name == "today":
        start, end = midnight(today, zone), now
    elif name == "yesterday":
        start, end = midnight(today - timedelta(days=1), zone), midnight(today, zone)
    elif name == "this_week":
        start, end = midnight(this_week, zone), now
    elif name == "last_week":
        start, end = midnight(this_week - timedelta(days=7), zone), midnight(this_week, zone)
    elif name == "this_month":
        start, end = midnight(this_month, zone), now
    elif name == "last_month":
        start, end = midnight(previous_month, zone), midnight(this_month, zone)
    elif name == "custom":
        start, end = _custom(zone, first, last)
    else:
        raise PeriodError("period", N_("Choose one of the periods offered."))
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    bucket = "hour" if end - start <= HOURLY_UP_TO else "day"
    return Period(name, start, end, zone, bucket)


def resolve_for(
    context: Context, name: str, first: date | None = None, last: date | None = None
) -> Period:
    """The period called ``name`` as it stands now for the context's organisation: its time
    zone and first day of the week.

    :raises PeriodError: as :func:`resolve`.
    """
    return resolve(
        name,
        context.now(),
        ZoneInfo(context.timezone),
        week_start=context.week_start,
        first=first,
        last=last,
    )


def _custom(zone: ZoneInfo, first: date | None, last: date | None) -> tuple[datetime, datetime]:
    if first is None:
        raise PeriodError("from", N_("Give the first day of the period."))
    if last is None:
        raise PeriodError("to", N_("Give the last day of the period."))
    if last < first:
        raise PeriodError("to", N_("The last day comes before the first."))
    if (last - first).days >= MAX_CUSTOM_DAYS:
        raise PeriodError(
            "to", N_("A period covers at most %(count)s days."), count=MAX_CUSTOM_DAYS
        )
    return midnight(first, zone), midnight(last + timedelta(days=1), zone)
