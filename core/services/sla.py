"""Business hours, holidays, SLA policies, and each ticket's SLA clock.

Setup (admins, ``setup.manage``): a department's business hours (24×7 or weekly intervals in
its time zone) and holidays; SLA policies with a first-response and a resolution target per
priority, in business minutes, each covering some departments (one policy per department).

A ticket's clock (:class:`TicketSla`) starts at creation under its department's active policy:
the first-response due time and the resolution due time (the ticket's ``due_at``) are its
creation plus the target in business time. They are computed again when the priority or the
department changes. A ``due_at`` set by hand wins over the policy until the priority changes.
While the ticket is on hold or closed the clock is paused; when it opens again the business
time it spent paused is added to both due times. The first public agent reply meets the
first-response target. :func:`escalate_breaches`, run by the worker's scheduler, emits
``ticket.sla_breached`` once per target and due time.

:mod:`core.services.tickets` calls the ``on_ticket_*`` functions at its few points of change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays as holiday_calendars
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from core import permissions
from core.business_hours import (
    DAY_MINUTES,
    Schedule,
    add_business_seconds,
    business_seconds_between,
)
from core.errors import Message, NotFound, ValidationFailed
from core.models import (
    BusinessHours,
    BusinessHoursInterval,
    Department,
    Holiday,
    Organisation,
    SlaPolicy,
    SlaTarget,
    Thread,
    Ticket,
    TicketSla,
    sla_policy_departments,
)
from core.models.tickets import StatusType, ThreadKind
from core.services.base import (
    Actor,
    Cursor,
    Unit,
    check_limit,
    clean_text,
    iso,
    newest_first,
    refuse_unknown_fields,
)
from hostapi import clock, events

if TYPE_CHECKING:
    from core.host import Host

#: The ticket priorities a policy sets targets for (``core.services.tickets.PRIORITIES``).
PRIORITIES: tuple[str, ...] = ("low", "medium", "high", "urgent")
FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"
#: The longest target a policy takes: a year of business minutes.
MAX_TARGET_MINUTES = 366 * 24 * 60
#: Breaches claimed per pass of the scheduler (the rest wait for the next pass).
BREACH_BATCH = 200
POLICY_FIELDS = frozenset({"name", "description", "department_ids", "targets", "is_active"})
_TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
_UNKNOWN_DEPARTMENT = Message("Unknown department.")
_DEPARTMENT_COVERED = Message("A chosen department is covered by another active policy.")


# ------------------------------------------------------------------------------ business hours


@dataclass(frozen=True)
class WeeklyInterval:
    """One opening interval of a weekday (0 = Monday), in minutes of the local day."""

    weekday: int
    start_minute: int
    end_minute: int


def organisation_timezone(session: Session) -> str:
    """The organisation's IANA time zone (UTC when none is set)."""
    return session.scalar(select(Organisation.timezone).limit(1)) or "UTC"


def schedule_for(session: Session, department_id: int) -> Schedule:
    """The business-time schedule of a department (24×7 when it has no business hours)."""
    hours = session.get(BusinessHours, department_id)
    zone = ZoneInfo((hours.timezone if hours else None) or organisation_timezone(session))
    days = frozenset(
        session.scalars(select(Holiday.day).where(Holiday.department_id == department_id))
    )
    if hours is None or hours.always_open or not hours.intervals:
        return Schedule(timezone=zone, holidays=days, always_open=True)
    weekly: dict[int, tuple[tuple[int, int], ...]] = {}
    for interval in hours.intervals:
        weekly[interval.weekday] = (
            *weekly.get(interval.weekday, ()),
            (interval.start_minute, interval.end_minute),
        )
    return Schedule(timezone=zone, weekly=weekly, holidays=days)


def setup_department(unit: Unit, department_id: int) -> Department:
    """A department whose business hours the actor may set up.

    :raises NotFound: no such department, or outside the actor's departments.
    :raises Forbidden: the actor lacks ``setup.manage``.
    """
    department = unit.session.get(Department, department_id)
    if department is None or not unit.actor.can_see_department(department.id):
        raise NotFound("department not found")
    unit.actor.require(permissions.SETUP_MANAGE)
    return department


def get_business_hours(unit: Unit, department_id: int) -> BusinessHours | None:
    """A department's business hours; ``None`` when it has none (open 24×7).

    :raises NotFound: the department does not exist or is outside the actor's departments.
    """
    setup_department(unit, department_id)
    return unit.session.get(BusinessHours, department_id)


def list_department_hours(
    unit: Unit, *, limit: int = 50, after: int | None = None
) -> list[tuple[Department, BusinessHours | None]]:
    """The actor's departments by name with their business hours, one page at a time.

    ``after`` is the id of the last department of the previous page.
    """
    unit.actor.require(permissions.SETUP_MANAGE)
    check_limit(limit)
    query = select(Department, BusinessHours).outerjoin(
        BusinessHours, BusinessHours.department_id == Department.id
    )
    visible = unit.actor.visible_department_ids()
    if visible is not None:
        query = query.where(Department.id.in_(sorted(visible)))
    last = unit.session.get(Department, after) if after is not None else None
    if last is not None:
        query = query.where(
            or_(
                Department.name > last.name,
                and_(Department.name == last.name, Department.id > last.id),
            )
        )
    rows = unit.session.execute(query.order_by(Department.name, Department.id).limit(limit))
    return [(department, hours) for department, hours in rows]


def parse_clock_time(value: str, field: str) -> int:
    """``"9:00"`` or ``"24:00"`` as minutes of the day; 422 on ``field`` otherwise."""
    match = _TIME.match(value.strip()) if isinstance(value, str) else None
    minutes = int(match.group(1)) * 60 + int(match.group(2)) if match else -1
    if not 0 <= minutes <= DAY_MINUTES:
        raise ValidationFailed({field: [Message("Give a time of day such as 09:00.")]})
    return minutes


def format_minutes(minutes: int) -> str:
    """Minutes of the day as ``HH:MM`` (24:00 for the end of the day)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _valid_timezone(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value not in available_timezones():
        raise ValidationFailed({"timezone": [Message("Unknown time zone.")]})
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationFailed({"timezone": [Message("Unknown time zone.")]}) from error
    return value


def _valid_intervals(
    intervals: Iterable[WeeklyInterval | Mapping[str, int]], always_open: bool
) -> list[WeeklyInterval]:
    errors: list[str] = []
    clean: list[WeeklyInterval] = []
    for item in intervals:
        interval = (
            item
            if isinstance(item, WeeklyInterval)
            else WeeklyInterval(item["weekday"], item["start_minute"], item["end_minute"])
        )
        if not all(
            isinstance(v, int) and not isinstance(v, bool)
            for v in (interval.weekday, interval.start_minute, interval.end_minute)
        ):
            errors.append(Message("Give whole numbers for weekday and minutes."))
        elif not 0 <= interval.weekday <= 6:
            errors.append(Message("A weekday is 0 (Monday) to 6 (Sunday)."))
        elif not 0 <= interval.start_minute < interval.end_minute <= DAY_MINUTES:
            errors.append(Message("An interval must end after it starts, within one day."))
        else:
            clean.append(interval)
    by_day = sorted(clean, key=lambda i: (i.weekday, i.start_minute))
    for before, after in pairwise(by_day):
        if before.weekday == after.weekday and after.start_minute < before.end_minute:
            errors.append(Message("Intervals of the same day must not overlap."))
            break
    if not always_open and not clean and not errors:
        errors.append(Message("Give at least one opening interval, or choose 24×7."))
    if errors:
        raise ValidationFailed({"intervals": errors})
    return by_day


def set_business_hours(
    unit: Unit,
    department_id: int,
    *,
    timezone: str | None,
    always_open: bool,
    intervals: Iterable[WeeklyInterval | Mapping[str, int]] = (),
) -> BusinessHours:
    """Replace a department's business hours: 24×7, or weekly intervals, in ``timezone``.

    ``timezone`` ``None`` (or empty) follows the organisation's. Due times already computed
    stay; tickets created or re-prioritised from now on use the new hours.
    """
    department = setup_department(unit, department_id)
    errors: dict[str, list[str]] = {}
    clean_zone: str | None = None
    clean_intervals: list[WeeklyInterval] = []
    try:
        clean_zone = _valid_timezone(timezone)
    except ValidationFailed as failed:
        errors.update(failed.errors)
    if not isinstance(always_open, bool):
        errors["always_open"] = [Message("Must be true or false.")]
    try:
        clean_intervals = _valid_intervals(intervals, bool(always_open))
    except ValidationFailed as failed:
        errors.update(failed.errors)
    if errors:
        raise ValidationFailed(errors)
    session = unit.session
    hours = session.get(BusinessHours, department.id)
    before = _hours_snapshot(hours)
    if hours is None:
        hours = BusinessHours(department_id=department.id, updated_at=clock.now())
        session.add(hours)
    hours.timezone, hours.always_open = clean_zone, always_open
    hours.intervals = [
        BusinessHoursInterval(
            department_id=department.id,
            weekday=i.weekday,
            start_minute=i.start_minute,
            end_minute=i.end_minute,
        )
        for i in ([] if always_open else clean_intervals)
    ]
    hours.updated_at = clock.now()
    session.flush()
    after = _hours_snapshot(hours)
    if before == after:
        return hours
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    unit.audit("update", "business_hours", department.id, before=before, after=after)
    unit.emit(
        events.BUSINESS_HOURS_UPDATED,
        {"department_id": department.id, "changes": changes},
        [department.id],
    )
    return hours


def _hours_snapshot(hours: BusinessHours | None) -> dict[str, Any]:
    if hours is None:
        return {}
    return {
        "timezone": hours.timezone,
        "always_open": hours.always_open,
        "intervals": [
            [i.weekday, format_minutes(i.start_minute), format_minutes(i.end_minute)]
            for i in sorted(hours.intervals, key=lambda i: (i.weekday, i.start_minute))
        ],
    }


@dataclass(frozen=True)
class HolidayCursor:
    """A keyset position in a department's holidays, earliest first: the last ``(day, id)``."""

    day: date
    id: int

    def encode(self) -> str:
        """The string form handed to the next page's ``after``."""
        return f"{self.day.isoformat()}.{self.id}"

    @classmethod
    def parse(cls, value: str | None) -> HolidayCursor | None:
        """A cursor from its string form; a malformed one is a 422 on ``after``."""
        if not value:
            return None
        try:
            day, holiday_id = value.split(".", 1)
            return cls(date.fromisoformat(day), int(holiday_id))
        except ValueError as error:
            raise ValidationFailed({"after": [Message("Not a valid page cursor.")]}) from error


def list_holidays(
    unit: Unit,
    department_id: int,
    *,
    year: int | None = None,
    limit: int = 50,
    after: HolidayCursor | str | None = None,
) -> list[Holiday]:
    """A department's holidays, earliest first, one page at a time (``after`` the last)."""
    setup_department(unit, department_id)
    check_limit(limit)
    cursor = after if isinstance(after, HolidayCursor) else HolidayCursor.parse(after)
    query = select(Holiday).where(Holiday.department_id == department_id)
    if year is not None:
        query = query.where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))
    if cursor is not None:
        query = query.where(
            or_(Holiday.day > cursor.day, and_(Holiday.day == cursor.day, Holiday.id > cursor.id))
        )
    return list(unit.session.scalars(query.order_by(Holiday.day, Holiday.id).limit(limit)))


def add_holiday(unit: Unit, department_id: int, *, day: date, name: str) -> Holiday:
    """Close a department all day on ``day``."""
    department = setup_department(unit, department_id)
    errors: dict[str, list[str]] = {}
    clean_name = ""
    try:
        clean_name = clean_text(name, "name", max_length=200, required=True)
    except ValidationFailed as failed:
        errors.update(failed.errors)
    if not isinstance(day, date) or isinstance(day, datetime):
        errors["day"] = [Message("Give a date.")]
    elif _holiday_on(unit.session, department.id, day) is not None:
        errors["day"] = [Message("This day is already a holiday.")]
    if errors:
        raise ValidationFailed(errors)
    holiday = Holiday(department_id=department.id, day=day, name=clean_name)
    unit.session.add(holiday)
    unit.session.flush()
    unit.audit(
        "add", "holiday", holiday.id, after={"department_id": department.id, "day": day.isoformat()}
    )
    _emit_hours_changed(unit, department.id, {"holidays_added": [day.isoformat()]})
    return holiday


def _holiday_on(session: Session, department_id: int, day: date) -> Holiday | None:
    return session.scalar(
        select(Holiday).where(Holiday.department_id == department_id, Holiday.day == day)
    )


def _emit_hours_changed(unit: Unit, department_id: int, changes: dict[str, Any]) -> None:
    unit.emit(
        events.BUSINESS_HOURS_UPDATED,
        {"department_id": department_id, "changes": changes},
        [department_id],
    )


def get_holiday(unit: Unit, department_id: int, holiday_id: int) -> Holiday:
    """One holiday of a department. :raises NotFound: not this department's."""
    setup_department(unit, department_id)
    holiday = unit.session.get(Holiday, holiday_id)
    if holiday is None or holiday.department_id != department_id:
        raise NotFound("holiday not found")
    return holiday


def find_holiday(unit: Unit, holiday_id: int) -> Holiday:
    """A holiday of one of the actor's departments (what an API path names).

    :raises NotFound: no such holiday, or its department is outside the actor's.
    :raises Forbidden: the actor lacks ``setup.manage``.
    """
    holiday = unit.session.get(Holiday, holiday_id)
    if holiday is None or not unit.actor.can_see_department(holiday.department_id):
        raise NotFound("holiday not found")
    unit.actor.require(permissions.SETUP_MANAGE)
    return holiday


def delete_holiday(unit: Unit, holiday: Holiday) -> None:
    """Open a department again on a day it had as a holiday."""
    setup_department(unit, holiday.department_id)
    day, department_id = holiday.day.isoformat(), holiday.department_id
    unit.session.delete(holiday)
    unit.session.flush()
    unit.audit("delete", "holiday", holiday.id, before={"department_id": department_id, "day": day})
    _emit_hours_changed(unit, department_id, {"holidays_removed": [day]})


def supported_countries() -> list[str]:
    """ISO codes of the countries whose national holidays :func:`add_national_holidays` knows."""
    return sorted(holiday_calendars.list_supported_countries())


def add_national_holidays(
    unit: Unit, department_id: int, *, country: str, year: int, language: str | None = None
) -> list[Holiday]:
    """Add a country's public holidays of ``year`` (from the ``holidays`` library) as holidays.

    Days the department already has as holidays are kept as they are. ``language`` names the
    holidays in that language where the library has it (``"ja"``), else in the country's own.

    :returns: the holidays added.
    """
    department = setup_department(unit, department_id)
    errors: dict[str, list[str]] = {}
    code = country.strip().upper() if isinstance(country, str) else ""
    if code not in holiday_calendars.list_supported_countries():
        errors["country"] = [Message("Unknown country.")]
    if isinstance(year, bool) or not isinstance(year, int) or not 1970 <= year <= 2100:
        errors["year"] = [Message("Give a year from 1970 to 2100.")]
    if errors:
        raise ValidationFailed(errors)
    calendar = holiday_calendars.country_holidays(code, years=year)
    if language and language in (calendar.supported_languages or ()):
        calendar = holiday_calendars.country_holidays(code, years=year, language=language)
    existing = set(
        unit.session.scalars(
            select(Holiday.day).where(
                Holiday.department_id == department.id,
                Holiday.day >= date(year, 1, 1),
                Holiday.day <= date(year, 12, 31),
            )
        )
    )
    added = [
        Holiday(department_id=department.id, day=day, name=str(name)[:200])
        for day, name in sorted(calendar.items())
        if day not in existing
    ]
    if not added:
        return []
    unit.session.add_all(added)
    unit.session.flush()
    unit.audit(
        "add",
        "holiday",
        f"{department.id}:{code}:{year}",
        sub_action="national",
        after={"department_id": department.id, "days": [h.day.isoformat() for h in added]},
    )
    _emit_hours_changed(unit, department.id, {"holidays_added": [h.day.isoformat() for h in added]})
    return added


# ---------------------------------------------------------------------------------- policies


def list_policies(
    unit: Unit, *, limit: int = 50, before: Cursor | str | None = None
) -> list[SlaPolicy]:
    """SLA policies, newest first, one page at a time."""
    unit.actor.require(permissions.SETUP_MANAGE)
    check_limit(limit)
    query = newest_first(
        select(SlaPolicy), SlaPolicy.created_at, SlaPolicy.id, Cursor.parse(before), limit
    )
    return list(unit.session.scalars(query))


def get_policy(unit: Unit, policy_id: int) -> SlaPolicy:
    """One SLA policy. :raises NotFound: no such policy."""
    unit.actor.require(permissions.SETUP_MANAGE)
    policy = unit.session.get(SlaPolicy, policy_id)
    if policy is None:
        raise NotFound("SLA policy not found")
    return policy


def policy_for_department(session: Session, department_id: int) -> SlaPolicy | None:
    """The active policy covering a department, if any."""
    return session.scalar(
        select(SlaPolicy)
        .join(sla_policy_departments, sla_policy_departments.c.policy_id == SlaPolicy.id)
        .where(sla_policy_departments.c.department_id == department_id, SlaPolicy.is_active)
    )


def policies_by_department(session: Session) -> dict[int, SlaPolicy]:
    """Every department covered by a policy (active or not), with that policy."""
    rows = session.execute(
        select(sla_policy_departments.c.department_id, SlaPolicy).join(
            SlaPolicy, SlaPolicy.id == sla_policy_departments.c.policy_id
        )
    )
    return {department_id: policy for department_id, policy in rows}


def _valid_targets(targets: object) -> dict[str, tuple[int, int]]:
    """``{priority: {"first_response_minutes": n, "resolution_minutes": m}}`` checked."""
    if not isinstance(targets, Mapping):
        raise ValidationFailed({"targets": [Message("Give targets per priority.")]})
    errors: dict[str, list[str]] = {}
    clean: dict[str, tuple[int, int]] = {}
    for priority, target in targets.items():
        if priority not in PRIORITIES:
            errors.setdefault("targets", []).append(Message("Unknown priority."))
            continue
        values = []
        for key in ("first_response_minutes", "resolution_minutes"):
            value = target.get(key) if isinstance(target, Mapping) else None
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 1 <= value <= MAX_TARGET_MINUTES
            ):
                errors.setdefault(f"targets.{priority}.{key}", []).append(
                    Message("Give a whole number of minutes from 1 to 527040 (a year).")
                )
            values.append(value)
        if len(values) == 2 and all(isinstance(v, int) for v in values):
            clean[priority] = (int(values[0]), int(values[1]))
    if not clean and not errors:
        errors["targets"] = [Message("Set the targets of at least one priority.")]
    if errors:
        raise ValidationFailed(errors)
    return clean


def _valid_departments(
    unit: Unit, department_ids: object, policy: SlaPolicy | None
) -> list[Department]:
    if not isinstance(department_ids, (list, tuple, set, frozenset)):
        raise ValidationFailed({"department_ids": [Message("Give a list of departments.")]})
    departments: list[Department] = []
    errors: list[str] = []
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in department_ids):
        raise ValidationFailed({"department_ids": [Message("Give department ids.")]})
    for department_id in sorted(set(department_ids)):
        department = (
            unit.session.get(Department, department_id) if isinstance(department_id, int) else None
        )
        if department is None or not unit.actor.can_see_department(department.id):
            if _UNKNOWN_DEPARTMENT not in errors:
                errors.append(_UNKNOWN_DEPARTMENT)
            continue
        holder = unit.session.scalar(
            select(SlaPolicy)
            .join(sla_policy_departments, sla_policy_departments.c.policy_id == SlaPolicy.id)
            .where(sla_policy_departments.c.department_id == department.id)
        )
        if holder is not None and holder is not policy and holder.is_active:
            if _DEPARTMENT_COVERED not in errors:
                errors.append(_DEPARTMENT_COVERED)
            continue
        departments.append(department)
    if errors:
        raise ValidationFailed({"department_ids": errors})
    return departments


def _unique_name(session: Session, name: str, policy: SlaPolicy | None) -> None:
    holder = session.scalar(select(SlaPolicy).where(SlaPolicy.name == name))
    if holder is not None and holder is not policy:
        raise ValidationFailed({"name": [Message("A policy with this name exists.")]})


def _release_from_inactive(session: Session, departments: Sequence[Department]) -> None:
    # A department can belong to one policy only; one held by an inactive policy moves over.
    if departments:
        session.execute(
            delete(sla_policy_departments).where(
                sla_policy_departments.c.department_id.in_([d.id for d in departments])
            )
        )
        for policy in [o for o in session.identity_map.values() if isinstance(o, SlaPolicy)]:
            session.expire(policy, ["departments"])


def create_policy(
    unit: Unit,
    *,
    name: str,
    targets: Mapping[str, Mapping[str, int]],
    department_ids: Sequence[int] = (),
    description: str = "",
) -> SlaPolicy:
    """Add an active SLA policy with its targets per priority and the departments it covers.

    :raises ValidationFailed: a bad or taken name, bad targets, or a department that is
        unknown or covered by another active policy.
    """
    unit.actor.require(permissions.SETUP_MANAGE)
    session = unit.session
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    checks: dict[str, Any] = {
        "name": lambda: clean_text(name, "name", max_length=200, required=True),
        "description": lambda: clean_text(description, "description", max_length=1000),
        "targets": lambda: _valid_targets(targets),
        "department_ids": lambda: _valid_departments(unit, department_ids, None),
    }
    for key, check in checks.items():
        try:
            values[key] = check()
        except ValidationFailed as failed:
            for field, messages in failed.errors.items():
                errors.setdefault(field, []).extend(messages)
    if "name" in values:
        try:
            _unique_name(session, values["name"], None)
        except ValidationFailed as failed:
            errors.update(failed.errors)
    if errors:
        raise ValidationFailed(errors)
    now = clock.now()
    _release_from_inactive(session, values["department_ids"])
    policy = SlaPolicy(
        name=values["name"],
        description=values["description"],
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    policy.targets = _target_rows(values["targets"])
    policy.departments = values["department_ids"]
    session.add(policy)
    session.flush()
    unit.audit("add", "sla_policy", policy.id, after=_policy_snapshot(policy))
    unit.emit(events.SLA_POLICY_CREATED, {"sla_policy_id": policy.id}, policy.department_ids)
    return policy


def _target_rows(targets: Mapping[str, tuple[int, int]]) -> list[SlaTarget]:
    return [
        SlaTarget(priority=p, first_response_minutes=first, resolution_minutes=resolution)
        for p, (first, resolution) in sorted(targets.items(), key=lambda t: PRIORITIES.index(t[0]))
    ]


def _policy_snapshot(policy: SlaPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "description": policy.description,
        "is_active": policy.is_active,
        "department_ids": sorted(policy.department_ids),
        "targets": {
            t.priority: {
                "first_response_minutes": t.first_response_minutes,
                "resolution_minutes": t.resolution_minutes,
            }
            for t in policy.targets
        },
    }


def update_policy(unit: Unit, policy: SlaPolicy, **changes: Any) -> SlaPolicy:
    """Change a policy's name, description, targets, departments or ``is_active``.

    Reactivating refuses departments another active policy took meanwhile. Due times already
    computed stay; the new targets apply to tickets created or re-prioritised from now on.
    """
    unit.actor.require(permissions.SETUP_MANAGE)
    refuse_unknown_fields(changes, POLICY_FIELDS)
    session = unit.session
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    checks: dict[str, Any] = {
        "name": lambda v: clean_text(v, "name", max_length=200, required=True),
        "description": lambda v: clean_text(v, "description", max_length=1000),
        "targets": _valid_targets,
        "department_ids": lambda v: _valid_departments(unit, v, policy),
        "is_active": _valid_flag,
    }
    for key, value in changes.items():
        try:
            values[key] = checks[key](value)
        except ValidationFailed as failed:
            for field, messages in failed.errors.items():
                errors.setdefault(field, []).extend(messages)
    if "name" in values:
        try:
            _unique_name(session, values["name"], policy)
        except ValidationFailed as failed:
            errors.update(failed.errors)
    if values.get("is_active") and not policy.is_active and "department_ids" not in values:
        try:
            _valid_departments(unit, policy.department_ids, policy)
        except ValidationFailed as failed:
            errors.update(failed.errors)
    if errors:
        raise ValidationFailed(errors)
    before = _policy_snapshot(policy)
    if "department_ids" in values:
        _release_from_inactive(
            session, [d for d in values["department_ids"] if d.id not in policy.department_ids]
        )
        policy.departments = values["department_ids"]
    if "targets" in values:
        policy.targets = _target_rows(values["targets"])
    for key in ("name", "description", "is_active"):
        if key in values:
            setattr(policy, key, values[key])
    session.flush()
    after = _policy_snapshot(policy)
    changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if not changed:
        return policy
    policy.updated_at = clock.now()
    session.flush()
    unit.audit(
        "update",
        "sla_policy",
        policy.id,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    unit.emit(
        events.SLA_POLICY_UPDATED,
        {"sla_policy_id": policy.id, "changes": changed},
        set(before["department_ids"]) | set(after["department_ids"]),
    )
    return policy


def _valid_flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed({"is_active": [Message("Must be true or false.")]})
    return value


# ------------------------------------------------------------------------------ ticket clocks


def _clock_of(session: Session, ticket: Ticket) -> TicketSla:
    sla: TicketSla | None = ticket.sla  # type: ignore[attr-defined]
    if sla is None:
        # Through the relationship, so that ``ticket.sla`` answers it in this session at once.
        sla = TicketSla(ticket=ticket, due_at_manual=False, paused_seconds=0)
        session.add(sla)
    return sla


def _is_running(ticket: Ticket) -> bool:
    return ticket.status_type == StatusType.OPEN


@dataclass
class _Rules:
    """The policy and schedule of each department, read once for many tickets."""

    policies: dict[int, SlaPolicy | None]
    schedules: dict[int, Schedule]

    def policy(self, session: Session, department_id: int) -> SlaPolicy | None:
        if department_id not in self.policies:
            self.policies[department_id] = policy_for_department(session, department_id)
        return self.policies[department_id]

    def schedule(self, session: Session, department_id: int) -> Schedule:
        if department_id not in self.schedules:
            self.schedules[department_id] = schedule_for(session, department_id)
        return self.schedules[department_id]


def _recompute(
    session: Session, ticket: Ticket, sla: TicketSla, rules: _Rules | None = None
) -> None:
    """Due times from the creation, the department's policy and the time spent paused."""
    rules = rules or _Rules({}, {})
    policy = rules.policy(session, ticket.department_id)
    target = policy.target_for(ticket.priority) if policy is not None else None
    sla.policy_id = policy.id if policy is not None else None
    schedule = rules.schedule(session, ticket.department_id)
    paused = sla.paused_seconds or 0
    if target is None:
        sla.first_response_due_at = None
        if not sla.due_at_manual:
            ticket.due_at = None
    else:
        sla.first_response_due_at = add_business_seconds(
            ticket.created_at, target.first_response_minutes * 60 + paused, schedule
        )
        if not sla.due_at_manual:
            ticket.due_at = add_business_seconds(
                ticket.created_at, target.resolution_minutes * 60 + paused, schedule
            )
    _rewatch(ticket, sla)


def _rewatch(ticket: Ticket, sla: TicketSla) -> None:
    """Watch each due time that may still be breached: running, unmet, not yet escalated."""
    running = _is_running(ticket) and sla.paused_at is None
    first_due = sla.first_response_due_at
    sla.first_response_watch_at = (
        first_due
        if running
        and first_due is not None
        and sla.first_responded_at is None
        and first_due != sla.first_response_breached_due
        else None
    )
    due = ticket.due_at
    sla.resolution_watch_at = (
        due if running and due is not None and due != sla.resolution_breached_due else None
    )


def on_ticket_created(unit: Unit, ticket: Ticket) -> None:
    """Start a new ticket's clock (paused at once when it is created on hold or closed).

    A ``due_at`` given at creation was set by hand and wins over the policy. Due times
    already past when the ticket is recorded (``created_at`` in the past) are not escalated.
    """
    session = unit.session
    sla = _clock_of(session, ticket)
    sla.due_at_manual = ticket.due_at is not None
    if not _is_running(ticket):
        sla.paused_at = ticket.created_at
    _recompute(session, ticket, sla)
    # A ticket recorded after the fact (history, an import) is not escalated for the past.
    now = clock.now()
    if sla.first_response_due_at is not None and sla.first_response_due_at <= now:
        sla.first_response_breached_due = sla.first_response_due_at
    if ticket.due_at is not None and ticket.due_at <= now:
        sla.resolution_breached_due = ticket.due_at
    _rewatch(ticket, sla)
    session.flush()


def on_ticket_changed(
    unit: Unit, ticket: Ticket, changed: Mapping[str, Any]
) -> dict[str, list[Any]]:
    """Follow a ticket's changed fields: priority or department recompute, a due date by hand.

    ``changed`` is ``update_ticket``'s ``{field: [before, after]}``.

    :returns: ``{"due_at": [before, after]}`` when the resolution due time moved with them
        (for the update's audit entry and event), else ``{}``.
    """
    session = unit.session
    if not {"priority", "department_id", "due_at"} & set(changed):
        return {}
    due_before = ticket.due_at
    sla = _clock_of(session, ticket)
    if "priority" in changed:
        sla.due_at_manual = False
        _recompute(session, ticket, sla)
    elif "due_at" in changed:
        sla.due_at_manual = ticket.due_at is not None
        if "department_id" in changed or not sla.due_at_manual:
            _recompute(session, ticket, sla)
        else:
            _rewatch(ticket, sla)
    else:
        _recompute(session, ticket, sla)
    session.flush()
    if ticket.due_at == due_before or "due_at" in changed:
        return {}
    return {"due_at": [iso(due_before), iso(ticket.due_at)]}


def on_status_changed(unit: Unit, ticket: Ticket, at: datetime) -> None:
    """Pause the clock when a ticket goes on hold or closes; resume it when it opens again."""
    session = unit.session
    sla = _clock_of(session, ticket)
    if _is_running(ticket):
        if sla.paused_at is not None:
            held = business_seconds_between(
                sla.paused_at, at, schedule_for(session, ticket.department_id)
            )
            sla.paused_seconds = (sla.paused_seconds or 0) + max(0, round(held))
            sla.paused_at = None
            _recompute(session, ticket, sla)
    elif sla.paused_at is None:
        sla.paused_at = at
        _rewatch(ticket, sla)
    session.flush()


def on_thread_added(
    unit: Unit, ticket: Ticket, *, is_public_agent_reply: bool, at: datetime
) -> None:
    """The first public agent reply meets the first-response target."""
    if not is_public_agent_reply:
        return
    sla = _clock_of(unit.session, ticket)
    if sla.first_responded_at is None:
        sla.first_responded_at = at
        _rewatch(ticket, sla)
        unit.session.flush()


def start_clocks(unit: Unit, tickets: Iterable[Ticket]) -> int:
    """Start the clocks of existing tickets under their departments' policies now in force.

    For tickets that predate their department's policy (the demo data, an import): due times
    count from each ticket's creation, a due date the ticket carries is replaced by the
    policy's, the first public agent reply meets the first response, and a ticket not open is
    paused from now. Due times already past are not escalated (the breach happened before the
    clock ran). Writes no events: nobody changed these tickets.

    :returns: how many clocks were started.
    """
    unit.actor.require(permissions.SETUP_MANAGE)
    session = unit.session
    started = 0
    now = clock.now()
    rules = _Rules({}, {})
    for ticket in tickets:
        sla = _clock_of(session, ticket)
        sla.due_at_manual = False
        sla.paused_seconds, sla.paused_at = 0, None if _is_running(ticket) else now
        sla.first_responded_at = session.scalar(
            select(Thread.created_at)
            .where(
                Thread.ticket_id == ticket.id,
                Thread.kind == ThreadKind.OUTGOING,
                Thread.author_agent_id.isnot(None),
            )
            .order_by(Thread.created_at)
            .limit(1)
        )
        _recompute(session, ticket, sla, rules)
        if sla.first_response_due_at is not None and sla.first_response_due_at <= now:
            sla.first_response_breached_due = sla.first_response_due_at
        if ticket.due_at is not None and ticket.due_at <= now:
            sla.resolution_breached_due = ticket.due_at
        _rewatch(ticket, sla)
        started += 1
    session.flush()
    return started


# ---------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class DueState:
    """What a ticket's list row and page show of one target."""

    target: str
    due_at: datetime
    met_at: datetime | None
    paused: bool
    seconds_left: float

    @property
    def overdue(self) -> bool:
        """True when the due time passed unmet, and the clock is not paused."""
        return self.met_at is None and not self.paused and self.seconds_left < 0


def due_states(ticket: Ticket, now: datetime | None = None) -> list[DueState]:
    """The first-response and resolution due states of a ticket (those it has)."""
    now = now or clock.now()
    sla: TicketSla | None = getattr(ticket, "sla", None)
    paused = ticket.status_type != StatusType.OPEN
    states: list[DueState] = []
    if sla is not None and sla.first_response_due_at is not None:
        met = sla.first_responded_at
        states.append(
            DueState(
                FIRST_RESPONSE,
                sla.first_response_due_at,
                met,
                paused,
                (sla.first_response_due_at - (met or now)).total_seconds(),
            )
        )
    if ticket.due_at is not None:
        met = ticket.closed_at if ticket.status_type == StatusType.CLOSED else None
        states.append(
            DueState(RESOLUTION, ticket.due_at, met, paused, (ticket.due_at - now).total_seconds())
        )
    return states


def first_response_due_at(ticket: Ticket) -> datetime | None:
    """A ticket's first-response due time, if its policy sets one."""
    sla: TicketSla | None = getattr(ticket, "sla", None)
    return sla.first_response_due_at if sla is not None else None


def policy_id_of(ticket: Ticket) -> int | None:
    """The SLA policy a ticket's due times come from, if any."""
    sla: TicketSla | None = getattr(ticket, "sla", None)
    return sla.policy_id if sla is not None else None


def is_overdue(ticket: Ticket, now: datetime | None = None) -> bool:
    """True when a due time of the ticket has passed unmet while it is open."""
    return any(state.overdue for state in due_states(ticket, now))


def due_at_is_manual(ticket: Ticket) -> bool:
    """True when the ticket's ``due_at`` was set by hand rather than by its SLA policy."""
    sla: TicketSla | None = getattr(ticket, "sla", None)
    return bool(sla is not None and sla.due_at_manual)


# ------------------------------------------------------------------------------ escalation

_TARGETS = (
    (FIRST_RESPONSE, TicketSla.first_response_watch_at, "first_response_breached_due"),
    (RESOLUTION, TicketSla.resolution_watch_at, "resolution_breached_due"),
)


def escalate_breaches(host: Host, now: datetime | None = None) -> int:
    """Emit ``ticket.sla_breached`` for each watched due time that has passed.

    Each breach is claimed with a conditional UPDATE (the watch still holds the due time
    read), so two schedulers running at once emit it once: the second finds the watch
    cleared. The claim, the audit entry and the event commit together.

    :returns: how many breaches were emitted.
    """
    now = now or clock.now()
    emitted = 0
    for target, watch, breached_column in _TARGETS:
        with host.sessions() as session:
            due_rows = session.execute(
                select(TicketSla.ticket_id, watch)
                .where(watch.isnot(None), watch <= now)
                .order_by(watch)
                .limit(BREACH_BATCH)
            ).all()
        for ticket_id, due in due_rows:
            with host.transaction() as session:
                claimed = session.execute(
                    update(TicketSla)
                    .where(TicketSla.ticket_id == ticket_id, watch == due)
                    .values({watch.key: None, breached_column: due})
                    .returning(TicketSla.ticket_id)
                    .execution_options(synchronize_session=False)
                ).first()
                if claimed is None:
                    continue
                ticket = session.get(Ticket, ticket_id)
                if ticket is None:
                    continue
                _emit_breach(Unit(session, Actor.system("sla"), host), ticket, target, due, now)
                emitted += 1
    return emitted


def _emit_breach(unit: Unit, ticket: Ticket, target: str, due: datetime, now: datetime) -> None:
    unit.audit(
        "update",
        "ticket",
        ticket.id,
        sub_action="sla_breached",
        after={"target": target, "due_at": iso(due)},
    )
    unit.emit(
        events.TICKET_SLA_BREACHED,
        {
            "ticket_id": ticket.id,
            "department_id": ticket.department_id,
            "target": target,
            "due_at": iso(due),
            "breached_at": iso(now),
        },
        [ticket.department_id],
    )
