"""``/api/v1/sla-policies`` and ``/api/v1/business-hours``: SLA setup through the API.

Reads take the ``desk.settings.read`` scope, changes ``desk.settings.write``; both need the
``setup.manage`` permission. Business hours are per department (404 outside the caller's).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import abort
from marshmallow import fields, validate

from core.api import schemas
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.api.paging import list_page
from core.business_hours import DAY_MINUTES
from core.errors import ValidationFailed
from core.models import BusinessHours, Holiday, SlaPolicy
from core.services import sla as sla_service
from core.tokens import SETTINGS_WRITE_SCOPE
from hostapi import scopes

policies = api_blueprint(
    "api_sla_policies",
    __name__,
    "/sla-policies",
    "SLA policies: first-response and resolution targets per priority, in business minutes.",
)
business_hours = api_blueprint(
    "api_business_hours",
    __name__,
    "/business-hours",
    "Business hours and holidays of a department (24×7 when none are set).",
)

# ------------------------------------------------------------------------------------ schemas


class TargetSchema(ma.Schema):
    """The targets of one priority, in business minutes."""

    first_response_minutes = fields.Integer(
        required=True, validate=validate.Range(min=1, max=sla_service.MAX_TARGET_MINUTES)
    )
    resolution_minutes = fields.Integer(
        required=True, validate=validate.Range(min=1, max=sla_service.MAX_TARGET_MINUTES)
    )


class StrictTargetSchema(schemas.StrictSchema, TargetSchema):
    """Targets of one priority as a client sends them."""


def _targets_field(**kwargs: Any) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(validate=validate.OneOf(sla_service.PRIORITIES)),
        values=fields.Nested(StrictTargetSchema),
        metadata={"description": "Per priority (low, medium, high, urgent), its targets."},
        **kwargs,
    )


class SlaPolicySchema(ma.Schema):
    """An SLA policy."""

    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    is_active = fields.Boolean()
    department_ids = fields.List(
        fields.Integer(), metadata={"description": "The departments it covers."}
    )
    targets = fields.Method("_targets", metadata={"description": "Targets per priority."})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()

    def _targets(self, policy: SlaPolicy) -> dict[str, dict[str, int]]:
        return {
            target.priority: {
                "first_response_minutes": target.first_response_minutes,
                "resolution_minutes": target.resolution_minutes,
            }
            for target in policy.targets
        }


class SlaPolicyCreateSchema(schemas.StrictSchema):
    """A new SLA policy (active)."""

    name = schemas.Text(required=True, min_length=1, max_length=200)
    description = schemas.Text(load_default="", max_length=1000)
    department_ids = fields.List(
        schemas.Id(), load_default=list, validate=validate.Length(max=1000)
    )
    targets = _targets_field(required=True)


class SlaPolicyUpdateSchema(schemas.StrictSchema):
    """Changes to an SLA policy: only the fields given change (``targets`` replaces all)."""

    name = schemas.Text(min_length=1, max_length=200)
    description = schemas.Text(max_length=1000)
    department_ids = fields.List(schemas.Id(), validate=validate.Length(max=1000))
    targets = _targets_field()
    is_active = fields.Boolean()


class IntervalSchema(schemas.StrictSchema):
    """One opening interval of a weekday, in minutes of the local day."""

    weekday = fields.Integer(
        required=True,
        validate=validate.Range(min=0, max=6),
        metadata={"description": "0 = Monday … 6 = Sunday"},
    )
    start_minute = fields.Integer(required=True, validate=validate.Range(min=0, max=DAY_MINUTES))
    end_minute = fields.Integer(
        required=True,
        validate=validate.Range(min=0, max=DAY_MINUTES),
        metadata={"description": "Up to 1440 (24:00)."},
    )


class BusinessHoursSchema(ma.Schema):
    """A department's business hours."""

    department_id = fields.Integer()
    timezone = fields.String(
        allow_none=True, metadata={"description": "IANA zone; null follows the organisation's."}
    )
    effective_timezone = fields.String(metadata={"description": "The zone in use."})
    always_open = fields.Boolean(metadata={"description": "24×7: the intervals are not used."})
    intervals = fields.List(fields.Nested(IntervalSchema))
    updated_at = fields.AwareDateTime(allow_none=True)


class BusinessHoursUpdateSchema(schemas.StrictSchema):
    """A department's new business hours (replacing the old ones)."""

    timezone = schemas.Text(load_default=None, allow_none=True, max_length=64)
    always_open = fields.Boolean(required=True)
    intervals = fields.List(
        fields.Nested(IntervalSchema), load_default=list, validate=validate.Length(max=7 * 48)
    )


class HolidaySchema(ma.Schema):
    """A day a department is closed."""

    id = fields.Integer()
    department_id = fields.Integer()
    day = fields.Date()
    name = fields.String()


class HolidayCreateSchema(schemas.StrictSchema):
    """A new holiday."""

    day = fields.Date(required=True)
    name = schemas.Text(required=True, min_length=1, max_length=200)


class NationalHolidaysSchema(schemas.StrictSchema):
    """A country's public holidays of one year, to add."""

    country = schemas.Text(
        required=True,
        min_length=2,
        max_length=3,
        metadata={"description": "ISO 3166 code, e.g. JP."},
    )
    year = fields.Integer(required=True, validate=validate.Range(min=1970, max=2100))
    language = schemas.Text(
        load_default=None,
        allow_none=True,
        max_length=8,
        metadata={"description": "Name the holidays in this language where known (ja…)."},
    )


class HolidayArgsSchema(schemas.StrictSchema):
    """Query arguments of the holiday list (earliest first)."""

    limit = fields.Integer(
        load_default=50, validate=validate.Range(min=1, max=schemas.MAX_PAGE_SIZE)
    )
    cursor = schemas.CursorArg(load_default=None, max_length=100)
    year = fields.Integer(load_default=None, validate=validate.Range(min=1970, max=2100))


SlaPolicyPage = schemas.page_of(SlaPolicySchema, "SlaPolicyPage")
HolidayPage = schemas.page_of(HolidaySchema, "HolidayPage")
HolidayList = ma.Schema.from_dict(
    {"items": fields.List(fields.Nested(HolidaySchema), required=True)}, name="HolidayList"
)

# ---------------------------------------------------------------------------------- policies


@policies.route("", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@policies.arguments(schemas.PageArgsSchema, location="query", as_kwargs=True)
@policies.response(200, SlaPolicyPage)
def list_policies(limit: int, cursor: str | None) -> dict[str, Any]:
    """List the SLA policies, newest first."""
    return list_page(sla_service.list_policies, unit(), limit, cursor)


@policies.route("", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@policies.arguments(SlaPolicyCreateSchema)
@policies.response(201, SlaPolicySchema)
def create_policy(data: dict[str, Any]) -> SlaPolicy:
    """Add an SLA policy; a department covered by another active policy is refused."""
    policy = sla_service.create_policy(unit(), **data)
    commit()
    return policy


@policies.route("/<id:policy_id>", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@policies.response(200, SlaPolicySchema)
def get_policy(policy_id: int) -> SlaPolicy:
    """Read one SLA policy."""
    return sla_service.get_policy(unit(), policy_id)


@policies.route("/<id:policy_id>", methods=["PATCH"])
@scoped(SETTINGS_WRITE_SCOPE)
@policies.arguments(SlaPolicyUpdateSchema)
@policies.response(200, SlaPolicySchema)
def update_policy(changes: dict[str, Any], policy_id: int) -> SlaPolicy:
    """Change a policy; ``is_active: false`` deactivates it (its departments lose their SLA)."""
    work = unit()
    policy = sla_service.update_policy(work, sla_service.get_policy(work, policy_id), **changes)
    commit()
    return policy


# ----------------------------------------------------------------------------- business hours


def _hours_view(department_id: int, hours: BusinessHours | None) -> dict[str, Any]:
    zone = sla_service.organisation_timezone(unit().session)
    if hours is None:
        return {
            "department_id": department_id,
            "timezone": None,
            "effective_timezone": zone,
            "always_open": True,
            "intervals": [],
            "updated_at": None,
        }
    return {
        "department_id": department_id,
        "timezone": hours.timezone,
        "effective_timezone": hours.timezone or zone,
        "always_open": hours.always_open,
        "intervals": hours.intervals,
        "updated_at": hours.updated_at,
    }


@business_hours.route("/<id:department_id>", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@business_hours.response(200, BusinessHoursSchema)
def get_business_hours(department_id: int) -> dict[str, Any]:
    """Read a department's business hours."""
    return _hours_view(department_id, sla_service.get_business_hours(unit(), department_id))


@business_hours.route("/<id:department_id>", methods=["PUT"])
@scoped(SETTINGS_WRITE_SCOPE)
@business_hours.arguments(BusinessHoursUpdateSchema)
@business_hours.response(200, BusinessHoursSchema)
def set_business_hours(data: dict[str, Any], department_id: int) -> dict[str, Any]:
    """Replace a department's business hours (24×7, or weekly intervals in a time zone)."""
    hours = sla_service.set_business_hours(unit(), department_id, **data)
    commit()
    return _hours_view(department_id, hours)


@business_hours.route("/<id:department_id>/holidays", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@business_hours.arguments(HolidayArgsSchema, location="query", as_kwargs=True)
@business_hours.response(200, HolidayPage)
def list_holidays(
    department_id: int, limit: int, cursor: str | None, year: int | None
) -> dict[str, Any]:
    """List a department's holidays, earliest first."""
    try:
        rows = sla_service.list_holidays(
            unit(), department_id, year=year, limit=limit + 1, after=cursor
        )
    except ValidationFailed as failure:
        if "after" in failure.errors:
            abort(422, errors={"query": {"cursor": failure.errors["after"]}})
        raise
    items = rows[:limit]
    next_cursor = (
        sla_service.HolidayCursor(items[-1].day, items[-1].id).encode()
        if len(rows) > limit and items
        else None
    )
    return {"items": items, "next_cursor": next_cursor}


@business_hours.route("/<id:department_id>/holidays", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@business_hours.arguments(HolidayCreateSchema)
@business_hours.response(201, HolidaySchema)
def add_holiday(data: dict[str, Any], department_id: int) -> Holiday:
    """Close a department all day on a date."""
    holiday = sla_service.add_holiday(unit(), department_id, **data)
    commit()
    return holiday


@business_hours.route("/<id:department_id>/holidays/national", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@business_hours.arguments(NationalHolidaysSchema)
@business_hours.response(201, HolidayList)
def add_national_holidays(data: dict[str, Any], department_id: int) -> dict[str, Any]:
    """Add a country's public holidays of a year; days already holidays are kept as they are."""
    added = sla_service.add_national_holidays(unit(), department_id, **data)
    commit()
    return {"items": added}


@business_hours.route("/<id:department_id>/holidays/<id:holiday_id>", methods=["DELETE"])
@scoped(SETTINGS_WRITE_SCOPE)
@business_hours.response(204)
def delete_holiday(department_id: int, holiday_id: int) -> None:
    """Remove a holiday."""
    work = unit()
    sla_service.delete_holiday(work, sla_service.get_holiday(work, department_id, holiday_id))
    commit()
