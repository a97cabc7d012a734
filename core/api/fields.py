"""``/api/v1/custom-fields``: the custom fields of contacts and accounts and their layout."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.api.schemas import Int32, StrictSchema, Text
from core.models import CustomerEntity, CustomField
from core.permissions import ACCOUNT_VIEW, CONTACT_VIEW
from core.services import fields as field_service
from core.tokens import SETTINGS_WRITE_SCOPE
from hostapi import scopes

blp = api_blueprint(
    "api_custom_fields",
    __name__,
    "/custom-fields",
    "Custom fields of contacts and accounts (values live in each record's `custom_fields`).",
)


class CustomFieldSchema(ma.Schema):
    """A custom field: its key names its value in a record's ``custom_fields``."""

    id = fields.Integer()
    entity = fields.String(metadata={"description": "contact or account"})
    key = fields.String(metadata={"description": "cf_ + a slug of the label; never changes."})
    label = fields.String()
    field_type = fields.String(metadata={"description": ", ".join(field_service.FIELD_TYPES)})
    required = fields.Boolean()
    options = fields.List(fields.String(), metadata={"description": "A picklist's choices."})
    lookup_entity = fields.String(
        allow_none=True, metadata={"description": "What a lookup points at."}
    )
    help_text = fields.String()
    position = fields.Integer(metadata={"description": "Order on forms, from 0."})


class CustomFieldListSchema(ma.Schema):
    """The fields of one entity in layout order."""

    items = fields.List(fields.Nested(CustomFieldSchema), required=True)


class EntityArgsSchema(StrictSchema):
    """Which records' fields."""

    entity = fields.String(load_default="contact", validate=validate.OneOf(field_service.ENTITIES))


class CustomFieldCreateSchema(StrictSchema):
    """A new custom field (added at the end of the layout unless ``position`` is given)."""

    entity = fields.String(required=True, validate=validate.OneOf(field_service.ENTITIES))
    label = Text(required=True, min_length=1, max_length=200)
    field_type = fields.String(required=True, validate=validate.OneOf(field_service.FIELD_TYPES))
    required = fields.Boolean(load_default=False)
    options = fields.List(Text(max_length=200), load_default=list)
    lookup_entity = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(sorted(field_service.LOOKUP_TARGETS)),
    )
    help_text = Text(load_default="", max_length=500)
    position = Int32(load_default=None, allow_none=True)


class CustomFieldUpdateSchema(StrictSchema):
    """Changes to a field: the key and type never change."""

    label = Text(min_length=1, max_length=200)
    required = fields.Boolean()
    help_text = Text(max_length=500)
    options = fields.List(Text(max_length=200))


class LayoutOrderSchema(StrictSchema):
    """A new layout order: every key of the entity's fields, once."""

    entity = fields.String(required=True, validate=validate.OneOf(field_service.ENTITIES))
    keys = fields.List(Text(max_length=100), required=True)


class DeletedFieldSchema(ma.Schema):
    """What removing a field did."""

    records_cleared = fields.Integer(
        metadata={"description": "How many records held a value, now dropped."}
    )


@blp.route("", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@blp.arguments(EntityArgsSchema, location="query", as_kwargs=True)
@blp.response(200, CustomFieldListSchema)
def list_fields(entity: str) -> dict[str, Any]:
    """List an entity's custom fields in layout order (needs the entity's view permission)."""
    work = unit()
    work.actor.require(CONTACT_VIEW if entity == CustomerEntity.CONTACT else ACCOUNT_VIEW)
    return {"items": field_service.fields_for(work.session, entity)}


@blp.route("", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@blp.arguments(CustomFieldCreateSchema)
@blp.response(201, CustomFieldSchema)
def create_field(data: dict[str, Any]) -> CustomField:
    """Add a custom field (needs the ``setup.manage`` permission)."""
    field = field_service.create_field(unit(), **data)
    commit()
    return field


@blp.route("/order", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@blp.arguments(LayoutOrderSchema)
@blp.response(200, CustomFieldListSchema)
def reorder_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Save the layout order of an entity's fields."""
    ordered = field_service.reorder_fields(unit(), data["entity"], data["keys"])
    commit()
    return {"items": ordered}


@blp.route("/<id:field_id>", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@blp.response(200, CustomFieldSchema)
def get_field(field_id: int) -> CustomField:
    """Read one custom field."""
    return field_service.get_field(unit(), field_id)


@blp.route("/<id:field_id>", methods=["PATCH"])
@scoped(SETTINGS_WRITE_SCOPE)
@blp.arguments(CustomFieldUpdateSchema)
@blp.response(200, CustomFieldSchema)
def update_field(changes: dict[str, Any], field_id: int) -> CustomField:
    """Change a field's label, required flag, help text or picklist options."""
    work = unit()
    field = field_service.update_field(work, field_service.get_field(work, field_id), **changes)
    commit()
    return field


@blp.route("/<id:field_id>", methods=["DELETE"])
@scoped(SETTINGS_WRITE_SCOPE)
@blp.response(200, DeletedFieldSchema)
def delete_field(field_id: int) -> dict[str, int]:
    """Remove a field; its values are dropped from every record."""
    work = unit()
    cleared = field_service.delete_field(work, field_service.get_field(work, field_id))
    commit()
    return {"records_cleared": cleared}
