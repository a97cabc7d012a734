"""Setup pages of business hours, holidays and SLA policies (``setup.manage``).

``/admin/sla`` lists the SLA policies (add, edit, deactivate); ``/admin/sla/business-hours``
lists the departments with their hours, each with a page for its weekly hours, time zone,
24×7 and holidays (one by one, or a country's public holidays of a year).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import available_timezones

from babel import Locale
from babel.dates import get_day_names
from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_timedelta, get_locale, gettext, ngettext

from core.errors import Forbidden, Message, ValidationFailed
from core.models import BusinessHours, Department, SlaPolicy, Ticket
from core.models.types import id_maximum
from core.permissions import SETUP_MANAGE
from core.services import org as org_service
from core.services import sla as sla_service
from core.services.base import parse_whole_number
from core.web.database import db_session
from core.web.i18n import current_organisation
from core.web.security import current_agent, login_required
from core.web.ui.paging import PAGE_SIZE, newest_first_page
from core.web.ui.units import committed_or_errors, request_unit
from hostapi import clock

blueprint = Blueprint("sla_admin", __name__, url_prefix="/admin/sla")

#: Intervals per weekday the hours form offers (a lunch break needs two).
INTERVALS_PER_DAY = 2
UNITS = ("minutes", "hours")


def _require_setup() -> None:
    agent = current_agent()
    if agent is None or not agent.has_permission(SETUP_MANAGE):
        raise Forbidden(SETUP_MANAGE)


# ------------------------------------------------------------------------ ticket list and page


@blueprint.app_template_global("sla_due_states")
def sla_due_states(ticket: Ticket) -> list[dict[str, Any]]:
    """What the ticket list and page show of a ticket's due times (see tickets/_sla.html)."""
    now = clock.now()
    states = []
    for state in sla_service.due_states(ticket, now):
        duration = format_timedelta(
            abs(state.seconds_left), granularity="minute", threshold=1.5, add_direction=False
        )
        states.append(
            {
                "target": state.target,
                "due_at": state.due_at,
                "met_at": state.met_at,
                "paused": state.paused,
                "overdue": state.overdue,
                "duration": duration,
                "manual": state.target == sla_service.RESOLUTION
                and sla_service.due_at_is_manual(ticket),
            }
        )
    return states


@blueprint.app_template_global("sla_minutes")
def sla_minutes(minutes: int) -> str:
    """A target's business minutes as people say them: whole hours in hours, else minutes."""
    if minutes % 60 == 0:
        return ngettext("%(num)d hour", "%(num)d hours", minutes // 60)
    return ngettext("%(num)d minute", "%(num)d minutes", minutes)


# ---------------------------------------------------------------------------------- policies


@blueprint.get("")
@login_required
def index() -> ResponseReturnValue:
    """The SLA policies, newest first, and the way to business hours."""
    _require_setup()
    policies, older = newest_first_page(sla_service.list_policies)
    return render_template("setup/sla_policies.html", policies=policies, older=older)


def _targets_from_form() -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    targets: dict[str, dict[str, int]] = {}
    errors: dict[str, list[str]] = {}
    for priority in sla_service.PRIORITIES:
        values: dict[str, int] = {}
        for target in ("first_response", "resolution"):
            text = request.form.get(f"{priority}_{target}", "").strip()
            unit = request.form.get(f"{priority}_{target}_unit", "hours")
            if not text:
                continue
            if not text.isascii() or not text.isdigit() or len(text) > 9:
                errors.setdefault(f"targets.{priority}.{target}_minutes", []).append(
                    Message("Give a whole number.")
                )
                continue
            values[f"{target}_minutes"] = int(text) * (60 if unit == "hours" else 1)
        if len(values) == 1:
            missing = "resolution" if "first_response_minutes" in values else "first_response"
            errors.setdefault(f"targets.{priority}.{missing}_minutes", []).append(
                Message("Give both targets, or neither.")
            )
        elif values:
            targets[priority] = values
    return targets, errors


def _department_ids_from_form() -> list[int]:
    numbers = (
        parse_whole_number(value, id_maximum(Department))
        for value in request.form.getlist("department_ids")
    )
    return [number for number in numbers if number is not None]


def _policy_form(
    policy: SlaPolicy | None, errors: dict[str, list[str]], status: int
) -> ResponseReturnValue:
    departments = [
        d
        for d in org_service.list_departments(request_unit())
        if request_unit().actor.can_see_department(d.id)
    ]
    draft: dict[str, Any]
    if request.method == "POST":
        draft = {key: request.form.get(key, "") for key in request.form}
        draft["department_ids"] = set(_department_ids_from_form())
    elif policy is not None:
        draft = {"name": policy.name, "description": policy.description}
        draft["department_ids"] = set(policy.department_ids)
        for target in policy.targets:
            for kind in ("first_response", "resolution"):
                minutes = getattr(target, f"{kind}_minutes")
                in_hours = minutes % 60 == 0
                draft[f"{target.priority}_{kind}"] = str(minutes // 60 if in_hours else minutes)
                draft[f"{target.priority}_{kind}_unit"] = "hours" if in_hours else "minutes"
    else:
        draft = {"department_ids": set()}
    return (
        render_template(
            "setup/sla_policy_form.html",
            policy=policy,
            departments=departments,
            covered_by=sla_service.policies_by_department(db_session()),
            priorities=sla_service.PRIORITIES,
            draft=draft,
            form_errors=errors,
        ),
        status,
    )


@blueprint.route("/policies/new", methods=["GET", "POST"])
@login_required
def new_policy() -> ResponseReturnValue:
    """Add an SLA policy."""
    _require_setup()
    if request.method == "GET":
        return _policy_form(None, {}, 200)
    targets, errors = _targets_from_form()
    try:
        if errors:
            raise ValidationFailed(errors)
        policy = sla_service.create_policy(
            request_unit(),
            name=request.form.get("name", ""),
            description=request.form.get("description", ""),
            department_ids=_department_ids_from_form(),
            targets=targets,
        )
    except ValidationFailed as failure:
        db_session().rollback()
        return _policy_form(None, failure.errors, 422)
    db_session().commit()
    return redirect(url_for("sla_admin.index") + f"#policy-{policy.id}")


@blueprint.route("/policies/<id:policy_id>", methods=["GET", "POST"])
@login_required
def edit_policy(policy_id: int) -> ResponseReturnValue:
    """Edit an SLA policy's name, departments and targets."""
    _require_setup()
    policy = sla_service.get_policy(request_unit(), policy_id)
    if request.method == "GET":
        return _policy_form(policy, {}, 200)
    targets, errors = _targets_from_form()
    errors = errors or committed_or_errors(
        lambda: sla_service.update_policy(
            request_unit(),
            policy,
            name=request.form.get("name", ""),
            description=request.form.get("description", ""),
            department_ids=_department_ids_from_form(),
            targets=targets,
        )
    )
    if errors:
        return _policy_form(sla_service.get_policy(request_unit(), policy_id), errors, 422)
    return redirect(url_for("sla_admin.index") + f"#policy-{policy.id}")


@blueprint.post("/policies/<id:policy_id>/active")
@login_required
def set_policy_active(policy_id: int) -> ResponseReturnValue:
    """Deactivate a policy, or activate it again."""
    _require_setup()
    policy = sla_service.get_policy(request_unit(), policy_id)
    errors = committed_or_errors(
        lambda: sla_service.update_policy(
            request_unit(), policy, is_active=request.form.get("active") == "1"
        )
    )
    if errors:
        policies, older = newest_first_page(sla_service.list_policies)
        return (
            render_template(
                "setup/sla_policies.html", policies=policies, older=older, form_errors=errors
            ),
            422,
        )
    return redirect(url_for("sla_admin.index") + f"#policy-{policy.id}")


# ---------------------------------------------------------------------------- business hours


def _weekday_order() -> list[tuple[int, str]]:
    organisation = current_organisation()
    start = organisation.week_start if organisation is not None else 0
    names = get_day_names("wide", locale=get_locale())
    return [((start + offset) % 7, names[(start + offset) % 7]) for offset in range(7)]


def _hours_summary(hours: BusinessHours | None) -> str:
    if hours is None or hours.always_open or not hours.intervals:
        return gettext("24×7")
    names = get_day_names("abbreviated", locale=get_locale())
    by_day: dict[int, list[str]] = {}
    for interval in hours.intervals:
        by_day.setdefault(interval.weekday, []).append(
            f"{sla_service.format_minutes(interval.start_minute)}–"
            f"{sla_service.format_minutes(interval.end_minute)}"
        )
    return ", ".join(f"{names[day]} {' '.join(spans)}" for day, spans in sorted(by_day.items()))


@blueprint.get("/business-hours")
@login_required
def business_hours_index() -> ResponseReturnValue:
    """The agent's departments with their business hours, by name."""
    _require_setup()
    after = parse_whole_number(request.args.get("after"), id_maximum(Department))
    rows = sla_service.list_department_hours(request_unit(), limit=PAGE_SIZE + 1, after=after)
    later = rows[PAGE_SIZE - 1][0].id if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    return render_template(
        "setup/business_hours_list.html",
        rows=[(department, hours, _hours_summary(hours)) for department, hours in rows],
        later=later,
        organisation_timezone=sla_service.organisation_timezone(db_session()),
    )


def _hours_draft(hours: BusinessHours | None) -> dict[str, str]:
    draft: dict[str, str] = {"timezone": (hours.timezone or "") if hours else ""}
    if hours is not None and hours.always_open:
        draft["always_open"] = "on"
    slots: dict[int, int] = {}
    for interval in hours.intervals if hours is not None else []:
        slot = slots.get(interval.weekday, 0)
        if slot >= INTERVALS_PER_DAY:
            continue
        slots[interval.weekday] = slot + 1
        draft[f"d{interval.weekday}_start{slot}"] = sla_service.format_minutes(
            interval.start_minute
        )
        draft[f"d{interval.weekday}_end{slot}"] = sla_service.format_minutes(interval.end_minute)
    return draft


def _department_page(
    department_id: int,
    *,
    draft: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    holiday_draft: dict[str, str] | None = None,
    status: int = 200,
    saved: bool = False,
) -> ResponseReturnValue:
    work = request_unit()
    hours = sla_service.get_business_hours(work, department_id)
    department = org_service.get_department(work, department_id)
    after = request.args.get("after") or None
    holidays = sla_service.list_holidays(work, department_id, limit=PAGE_SIZE + 1, after=after)
    later = (
        sla_service.HolidayCursor(holidays[PAGE_SIZE - 1].day, holidays[PAGE_SIZE - 1].id).encode()
        if len(holidays) > PAGE_SIZE
        else None
    )
    locale = Locale.parse(str(get_locale()))
    countries = sorted(
        ((code, locale.territories.get(code, code)) for code in sla_service.supported_countries()),
        key=lambda pair: pair[1],
    )
    organisation = current_organisation()
    return (
        render_template(
            "setup/business_hours.html",
            department=department,
            weekdays=_weekday_order(),
            slots=range(INTERVALS_PER_DAY),
            draft=draft if draft is not None else _hours_draft(hours),
            form_errors=errors or {},
            holidays=holidays[:PAGE_SIZE],
            later=later,
            holiday_draft=holiday_draft or {},
            timezones=sorted(available_timezones()),
            organisation_timezone=sla_service.organisation_timezone(db_session()),
            countries=countries,
            default_country=organisation.phone_region if organisation is not None else "",
            this_year=clock.now().year,
            saved=saved,
        ),
        status,
    )


@blueprint.get("/business-hours/<id:department_id>")
@login_required
def department_hours(department_id: int) -> ResponseReturnValue:
    """A department's weekly hours, time zone and holidays."""
    _require_setup()
    return _department_page(department_id, saved=request.args.get("saved") == "1")


def _intervals_from_form() -> tuple[list[dict[str, int]], dict[str, list[str]]]:
    intervals: list[dict[str, int]] = []
    errors: dict[str, list[str]] = {}
    for weekday in range(7):
        for slot in range(INTERVALS_PER_DAY):
            start = request.form.get(f"d{weekday}_start{slot}", "").strip()
            end = request.form.get(f"d{weekday}_end{slot}", "").strip()
            if not start and not end:
                continue
            try:
                intervals.append(
                    {
                        "weekday": weekday,
                        "start_minute": sla_service.parse_clock_time(start, f"d{weekday}"),
                        "end_minute": sla_service.parse_clock_time(end, f"d{weekday}"),
                    }
                )
            except ValidationFailed:
                errors.setdefault(f"d{weekday}", []).append(
                    Message("Give an opening and a closing time such as 09:00 and 18:00.")
                )
    return intervals, errors


@blueprint.post("/business-hours/<id:department_id>")
@login_required
def save_department_hours(department_id: int) -> ResponseReturnValue:
    """Save a department's weekly hours, time zone and 24×7 choice."""
    _require_setup()
    draft = {key: request.form.get(key, "") for key in request.form}
    intervals, errors = _intervals_from_form()
    errors = errors or committed_or_errors(
        lambda: sla_service.set_business_hours(
            request_unit(),
            department_id,
            timezone=request.form.get("timezone", "").strip() or None,
            always_open=request.form.get("always_open") == "on",
            intervals=intervals,
        )
    )
    if errors:
        return _department_page(department_id, draft=draft, errors=errors, status=422)
    return redirect(url_for("sla_admin.department_hours", department_id=department_id, saved=1))


@blueprint.post("/business-hours/<id:department_id>/holidays")
@login_required
def add_holiday(department_id: int) -> ResponseReturnValue:
    """Add one holiday to a department."""
    _require_setup()
    holiday_draft = {key: request.form.get(key, "") for key in request.form}
    try:
        day = date.fromisoformat(request.form.get("day", "").strip())
    except ValueError:
        errors = {"day": [Message("Give a date.")]}
    else:
        errors = committed_or_errors(
            lambda: sla_service.add_holiday(
                request_unit(), department_id, day=day, name=request.form.get("name", "")
            )
        )
    if errors:
        return _department_page(
            department_id, errors=errors, holiday_draft=holiday_draft, status=422
        )
    return redirect(
        url_for("sla_admin.department_hours", department_id=department_id) + "#holidays"
    )


@blueprint.post("/business-hours/<id:department_id>/holidays/national")
@login_required
def add_national_holidays(department_id: int) -> ResponseReturnValue:
    """Add a country's public holidays of a year to a department."""
    _require_setup()
    holiday_draft = {key: request.form.get(key, "") for key in request.form}
    year = parse_whole_number(request.form.get("year"), 9999)
    errors = committed_or_errors(
        lambda: sla_service.add_national_holidays(
            request_unit(),
            department_id,
            country=request.form.get("country", ""),
            year=-1 if year is None else year,
            language=str(get_locale()),
        )
    )
    if errors:
        return _department_page(
            department_id, errors=errors, holiday_draft=holiday_draft, status=422
        )
    return redirect(
        url_for("sla_admin.department_hours", department_id=department_id) + "#holidays"
    )


@blueprint.post("/business-hours/<id:department_id>/holidays/<id:holiday_id>/delete")
@login_required
def delete_holiday(department_id: int, holiday_id: int) -> ResponseReturnValue:
    """Remove a holiday: the department is open that day again."""
    _require_setup()
    work = request_unit()
    sla_service.delete_holiday(work, sla_service.get_holiday(work, department_id, holiday_id))
    db_session().commit()
    return redirect(
        url_for("sla_admin.department_hours", department_id=department_id) + "#holidays"
    )
