"""``/api/v1/organisation``, ``/api/v1/profiles``, ``/api/v1/permissions`` and
``/api/v1/statuses``: the desk's setup, as the Setup pages change it.

Reads take the ``desk.settings.read`` scope, changes ``desk.settings.write`` (a scope only the
host grants: extensions cannot request it). The permissions are the services' own:
``setup.manage`` for the organisation and statuses, ``agent.manage`` for profiles.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from core import permissions
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.api.schemas import PageArgsSchema, StrictSchema, Text, page_of
from core.models import Organisation, PermissionProfile, TicketStatus
from core.models.tickets import StatusType
from core.services import org as org_service
from core.services import tickets as ticket_service
from core.tokens import SETTINGS_WRITE_SCOPE
from hostapi import scopes

organisation_blp = api_blueprint(
    "api_organisation", __name__, "/organisation", "The organisation's settings."
)
profiles_blp = api_blueprint(
    "api_profiles", __name__, "/profiles", "Permission profiles: what agents may do."
)
permissions_blp = api_blueprint(
    "api_permissions",
    __name__,
    "/permissions",
    "The permission catalogue a profile grants from, extensions' included.",
)
statuses_blp = api_blueprint(
    "api_statuses", __name__, "/statuses", "Ticket statuses, built in and custom, in order."
)

STATUS_TYPES = [t.value for t in StatusType]


# ------------------------------------------------------------------------------ organisation


class OrganisationSchema(ma.Schema):
    """The organisation's settings."""

    name = fields.String()
    timezone = fields.String(metadata={"description": "An IANA time zone (Asia/Tokyo)."})
    default_locale = fields.String(metadata={"description": "en or ja"})
    week_start = fields.Integer(metadata={"description": "0 = Monday … 6 = Sunday"})
    phone_region = fields.String(
        metadata={"description": "ISO country national phone numbers are read in (JP)."}
    )
    ticket_prefix = fields.String(metadata={"description": "Shown before ticket numbers."})


class OrganisationUpdateSchema(StrictSchema):
    """Changes to the organisation: only the fields given are changed."""

    name = Text(min_length=1, max_length=200)
    timezone = Text(min_length=1, max_length=64)
    default_locale = fields.String(validate=validate.OneOf(org_service.LOCALES))
    week_start = fields.Integer(validate=validate.Range(min=0, max=6))
    phone_region = Text(min_length=2, max_length=2)
    ticket_prefix = Text(max_length=16)


@organisation_blp.route("", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@organisation_blp.response(200, OrganisationSchema)
def get_organisation() -> Organisation:
    """The organisation's settings (any agent: they shape dates, numbers and phones)."""
    return org_service.get_organisation(unit().session)


@organisation_blp.route("", methods=["PATCH"])
@scoped(SETTINGS_WRITE_SCOPE)
@organisation_blp.arguments(OrganisationUpdateSchema)
@organisation_blp.response(200, OrganisationSchema)
def update_organisation(changes: dict[str, Any]) -> Organisation:
    """Change the organisation's settings (needs ``setup.manage``)."""
    organisation = org_service.update_organisation(unit(), **changes)
    commit()
    return organisation


# ---------------------------------------------------------------------------------- profiles


class ProfileSchema(ma.Schema):
    """A permission profile."""

    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    is_admin = fields.Boolean(
        metadata={"description": "Holds every permission, present and future."}
    )
    is_builtin = fields.Boolean(metadata={"description": "Read-only: clone it to change it."})
    requires_two_factor = fields.Boolean()
    permissions = fields.List(fields.String())
    agent_count = fields.Integer(metadata={"description": "Agents (active or not) holding it."})


class ProfileCreateSchema(StrictSchema):
    """A new custom profile."""

    name = Text(required=True, min_length=1, max_length=200)
    description = Text(load_default="", max_length=1000)
    permissions = fields.List(Text(max_length=120), required=True)
    requires_two_factor = fields.Boolean(load_default=False)


class ProfileUpdateSchema(StrictSchema):
    """Changes to a custom profile (``permissions``: the full list granted)."""

    name = Text(min_length=1, max_length=200)
    description = Text(max_length=1000)
    permissions = fields.List(Text(max_length=120))
    requires_two_factor = fields.Boolean()


class ProfileCloneSchema(StrictSchema):
    """The name of the copy."""

    name = Text(required=True, min_length=1, max_length=200)


ProfileList = page_of(ProfileSchema, "ProfileList")


def _profile_view(profile: PermissionProfile, agent_count: int) -> dict[str, Any]:
    work = unit()
    granted = (
        org_service.known_permissions(work.session, work.host)
        if profile.is_admin
        else profile.permission_names
    )
    return {
        "id": profile.id,
        "name": profile.name,
        "description": profile.description,
        "is_admin": profile.is_admin,
        "is_builtin": profile.is_builtin,
        "requires_two_factor": profile.requires_two_factor,
        "permissions": sorted(granted),
        "agent_count": agent_count,
    }


def _one_profile(profile: PermissionProfile) -> dict[str, Any]:
    counts = org_service.profile_agent_counts(unit().session, [profile.id])
    return _profile_view(profile, counts[profile.id])


@profiles_blp.route("", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@profiles_blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
@profiles_blp.response(200, ProfileList)
def list_profiles(limit: int, cursor: str | None) -> dict[str, Any]:
    """Permission profiles by name (needs ``agent.manage``)."""
    work = unit()
    work.actor.require(permissions.AGENT_MANAGE)
    rows = org_service.list_profiles(work, after=cursor, limit=limit + 1, cursor_field="cursor")
    page = rows[:limit]
    counts = org_service.profile_agent_counts(work.session, [p.id for p in page])
    next_cursor = (
        org_service.encode_name_cursor(page[-1].name, page[-1].id) if len(rows) > limit else None
    )
    return {"items": [_profile_view(p, counts[p.id]) for p in page], "next_cursor": next_cursor}


@profiles_blp.route("", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@profiles_blp.arguments(ProfileCreateSchema)
@profiles_blp.response(201, ProfileSchema)
def create_profile(data: dict[str, Any]) -> dict[str, Any]:
    """Create a custom profile (needs ``agent.manage``)."""
    profile = org_service.create_profile(unit(), **data)
    commit()
    return _one_profile(profile)


@profiles_blp.route("/<id:profile_id>", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@profiles_blp.response(200, ProfileSchema)
def get_profile(profile_id: int) -> dict[str, Any]:
    """One profile with what it grants (needs ``agent.manage``)."""
    return _one_profile(org_service.get_profile(unit(), profile_id))


@profiles_blp.route("/<id:profile_id>", methods=["PATCH"])
@scoped(SETTINGS_WRITE_SCOPE)
@profiles_blp.arguments(ProfileUpdateSchema)
@profiles_blp.response(200, ProfileSchema)
def update_profile(changes: dict[str, Any], profile_id: int) -> dict[str, Any]:
    """Change a custom profile; a built-in one answers 409 (``agent.manage``)."""
    work = unit()
    profile = org_service.get_profile(work, profile_id)
    org_service.update_profile(work, profile, **changes)
    commit()
    return _one_profile(profile)


@profiles_blp.route("/<id:profile_id>/clone", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@profiles_blp.arguments(ProfileCloneSchema)
@profiles_blp.response(201, ProfileSchema)
def clone_profile(data: dict[str, Any], profile_id: int) -> dict[str, Any]:
    """A new custom profile granting what this one grants (``agent.manage``)."""
    work = unit()
    clone = org_service.clone_profile(work, org_service.get_profile(work, profile_id), **data)
    commit()
    return _one_profile(clone)


@profiles_blp.route("/<id:profile_id>", methods=["DELETE"])
@scoped(SETTINGS_WRITE_SCOPE)
@profiles_blp.response(204)
def delete_profile(profile_id: int) -> None:
    """Delete a custom profile no agent holds; 409 when built in or held (``agent.manage``)."""
    work = unit()
    org_service.delete_profile(work, org_service.get_profile(work, profile_id))
    commit()


# ------------------------------------------------------------------------------- permissions


class PermissionSchema(ma.Schema):
    """One permission a profile can grant."""

    name = fields.String()
    label = fields.String()
    label_ja = fields.String()
    description = fields.String()
    description_ja = fields.String()


class PermissionGroupSchema(ma.Schema):
    """Permissions shown together: a core area, or one installed extension's own."""

    key = fields.String(metadata={"description": "The area, or the extension's id."})
    area = fields.String(allow_none=True, metadata={"description": "Null for an extension."})
    title = fields.String(
        allow_none=True, metadata={"description": "The extension's name (null for areas)."}
    )
    permissions = fields.List(fields.Nested(PermissionSchema))


class PermissionCatalogueSchema(ma.Schema):
    """The permission catalogue, grouped."""

    items = fields.List(fields.Nested(PermissionGroupSchema), required=True)


@permissions_blp.route("", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@permissions_blp.response(200, PermissionCatalogueSchema)
def list_permissions() -> dict[str, Any]:
    """Every permission a profile may grant now, by area, then by installed extension."""
    work = unit()
    groups = org_service.permission_catalogue(work.session, work.host)
    return {
        "items": [
            {
                "key": group.key,
                "area": group.area,
                "title": None if group.area else group.title,
                "permissions": list(group.permissions),
            }
            for group in groups
        ]
    }


# ---------------------------------------------------------------------------------- statuses


class StatusSchema(ma.Schema):
    """A ticket status."""

    id = fields.Integer()
    name = fields.String(metadata={"description": "What tickets store; built-in names are fixed."})
    status_type = fields.String(metadata={"description": ", ".join(STATUS_TYPES)})
    is_builtin = fields.Boolean()
    is_active = fields.Boolean(metadata={"description": "Offered as a choice."})
    position = fields.Integer(metadata={"description": "Order among the choices."})


class StatusListSchema(ma.Schema):
    """Every status in order."""

    items = fields.List(fields.Nested(StatusSchema), required=True)


class StatusCreateSchema(StrictSchema):
    """A new custom status (added last)."""

    name = Text(required=True, min_length=1, max_length=100)
    status_type = fields.String(required=True, validate=validate.OneOf(STATUS_TYPES))


class StatusUpdateSchema(StrictSchema):
    """Changes to a custom status: only the fields given are changed."""

    name = Text(min_length=1, max_length=100)
    status_type = fields.String(validate=validate.OneOf(STATUS_TYPES))
    is_active = fields.Boolean()


class StatusMoveSchema(StrictSchema):
    """Which way to move a status in the order."""

    direction = fields.String(required=True, validate=validate.OneOf(("up", "down")))


@statuses_blp.route("", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@statuses_blp.response(200, StatusListSchema)
def list_statuses() -> dict[str, Any]:
    """Every status, built in and custom, in the order choices show them (``ticket.view``)."""
    work = unit()
    work.actor.require(permissions.TICKET_VIEW)
    return {"items": ticket_service.list_statuses(work.session)}


@statuses_blp.route("", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@statuses_blp.arguments(StatusCreateSchema)
@statuses_blp.response(201, StatusSchema)
def create_status(data: dict[str, Any]) -> TicketStatus:
    """Add a custom status (needs ``setup.manage``)."""
    status = ticket_service.create_status(unit(), **data)
    commit()
    return status


@statuses_blp.route("/<id:status_id>", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@statuses_blp.response(200, StatusSchema)
def get_status(status_id: int) -> TicketStatus:
    """One status (``ticket.view``)."""
    return ticket_service.get_status(unit(), status_id)


@statuses_blp.route("/<id:status_id>", methods=["PATCH"])
@scoped(SETTINGS_WRITE_SCOPE)
@statuses_blp.arguments(StatusUpdateSchema)
@statuses_blp.response(200, StatusSchema)
def update_status(changes: dict[str, Any], status_id: int) -> TicketStatus:
    """Rename a custom status (its tickets follow), change its type while no ticket has it, or
    hide it from the choices (``setup.manage``)."""
    work = unit()
    status = ticket_service.get_status(work, status_id)
    ticket_service.update_status(work, status, **changes)
    commit()
    return status


@statuses_blp.route("/<id:status_id>/move", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@statuses_blp.arguments(StatusMoveSchema)
@statuses_blp.response(200, StatusListSchema)
def move_status(data: dict[str, Any], status_id: int) -> dict[str, Any]:
    """Move a status one place up or down; answers the new order (``setup.manage``)."""
    work = unit()
    ticket_service.move_status(work, ticket_service.get_status(work, status_id), **data)
    commit()
    return {"items": ticket_service.list_statuses(work.session)}
