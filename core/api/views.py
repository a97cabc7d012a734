"""``/api/v1/views``: saved and default views of contacts and accounts, and their records."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from core.api import schemas
from core.api.auth import require_scope, scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.api.schemas import StrictSchema, Text
from core.errors import NotFound
from core.models import CustomView
from core.models.types import INT32_MAX
from core.services import views as view_service
from core.services.views import ViewSpec
from hostapi import scopes

blp = api_blueprint(
    "api_views",
    __name__,
    "/views",
    "Views of contacts and accounts: conditions, sort order, columns; keyset pages and counts.",
)

ENTITIES = ("contact", "account")
_READ_SCOPES = {"contact": scopes.CONTACTS_READ, "account": scopes.ACCOUNTS_READ}


class ConditionSchema(ma.Schema):
    """One condition: a built-in field or a custom field key, an operator and a value."""

    field = fields.String(required=True)
    operator = fields.String(
        required=True, metadata={"description": ", ".join(view_service.OPERATOR_LABELS)}
    )
    value = fields.Raw(
        allow_none=True,
        metadata={
            "description": "Text, number or boolean; [from, to] for between; none for empty."
        },
    )


class ViewSchema(ma.Schema):
    """A view: ``key`` is a default view's word (all, mine, today…) or a saved view's id."""

    key = fields.String()
    entity = fields.String()
    name = fields.String()
    is_default = fields.Boolean()
    shared = fields.Boolean()
    owner_id = fields.Integer(allow_none=True)
    match = fields.String(metadata={"description": "all (AND) or any (OR)"})
    conditions = fields.List(fields.Nested(ConditionSchema))
    sort_field = fields.String()
    sort_descending = fields.Boolean()
    columns = fields.List(fields.String())


class ViewListSchema(ma.Schema):
    """The views an agent may use: defaults, their own and shared ones."""

    items = fields.List(fields.Nested(ViewSchema), required=True)


class EntityArgsSchema(StrictSchema):
    """Which records' views."""

    entity = fields.String(load_default="contact", validate=validate.OneOf(ENTITIES))


class _ViewFieldsSchema(StrictSchema):
    name = Text(min_length=1, max_length=200)
    match = fields.String(validate=validate.OneOf(("all", "any")))
    conditions = fields.List(fields.Dict())
    sort_field = Text(min_length=1, max_length=100)
    sort_descending = fields.Boolean()
    columns = fields.List(Text(min_length=1, max_length=100))
    shared = fields.Boolean(metadata={"description": "Visible to every agent when true."})


class ViewCreateSchema(_ViewFieldsSchema):
    """A new view owned by the caller."""

    entity = fields.String(required=True, validate=validate.OneOf(ENTITIES))
    name = Text(required=True, min_length=1, max_length=200)


class ViewUpdateSchema(_ViewFieldsSchema):
    """Changes to one of the caller's views."""


class RecordArgsSchema(schemas.PageArgsSchema):
    """A page of a view's records."""

    search = Text(
        load_default=None,
        max_length=schemas.MAX_SEARCH_LENGTH,
        metadata={"description": "Also match this text."},
    )
    count = fields.Boolean(
        load_default=True, metadata={"description": "Also count the records (up to 10,000)."}
    )


def _page_schema(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    return ma.Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item), required=True),
            "next_cursor": fields.String(allow_none=True),
            "previous_cursor": fields.String(
                allow_none=True, metadata={"description": "The page before; null on the first."}
            ),
            "count": fields.Integer(
                allow_none=True, metadata={"description": "Records in the view, at most 10,000."}
            ),
            "count_capped": fields.Boolean(
                allow_none=True, metadata={"description": "True: more than 10,000."}
            ),
        },
        name=name,
    )


ContactViewPage = _page_schema(schemas.ContactSchema, "ContactViewPage")
AccountViewPage = _page_schema(schemas.AccountSchema, "AccountViewPage")


def _view(spec: ViewSpec) -> dict[str, Any]:
    return {
        "key": spec.key,
        "entity": spec.entity,
        "name": spec.name,
        "is_default": spec.is_default,
        "shared": spec.saved.shared if spec.saved else True,
        "owner_id": spec.saved.owner_id if spec.saved else None,
        "match": spec.match,
        "conditions": list(spec.conditions),
        "sort_field": spec.sort_field,
        "sort_descending": spec.sort_descending,
        "columns": list(spec.columns),
    }


_DEFAULT_KEYS = frozenset(key for key, _name in view_service.DEFAULT_VIEWS)


def _view_key(key: str) -> str:
    """``key`` when it can name a view: a default view's word or a saved view's id in range."""
    if key in _DEFAULT_KEYS or (key.isascii() and key.isdigit() and 1 <= int(key) <= INT32_MAX):
        return key
    raise NotFound("view not found")


def _records(entity: str, key: str, limit: int, cursor: str | None, **args: Any) -> dict[str, Any]:
    work = unit()
    spec = view_service.get_view(work, entity, _view_key(key))
    page = view_service.run_view(work, spec, limit=limit, cursor=cursor, search=args["search"])
    answer: dict[str, Any] = {
        "items": page.rows,
        "next_cursor": page.next_cursor,
        "previous_cursor": page.previous_cursor,
        "count": None,
        "count_capped": None,
    }
    if args["count"]:
        counted = view_service.count_view(work, spec, search=args["search"])
        answer |= {"count": counted.count, "count_capped": counted.capped}
    return answer


@blp.route("", methods=["GET"])
@blp.arguments(EntityArgsSchema, location="query", as_kwargs=True)
@blp.response(200, ViewListSchema)
@blp.doc(description=f"Needs {scopes.CONTACTS_READ} or {scopes.ACCOUNTS_READ} by entity.")
def list_views(entity: str) -> dict[str, Any]:
    """List the views of contacts or accounts the caller may use."""
    require_scope(_READ_SCOPES[entity])
    return {"items": [_view(spec) for spec in view_service.list_views(unit(), entity)]}


@blp.route("", methods=["POST"])
@blp.arguments(ViewCreateSchema)
@blp.response(201, ViewSchema)
def create_view(data: dict[str, Any]) -> dict[str, Any]:
    """Save a view (private unless ``shared``)."""
    require_scope(_READ_SCOPES[data["entity"]])
    work = unit()
    view = view_service.create_view(work, **data)
    commit()
    return _view(view_service.get_view(work, view.entity, view.id))


def _saved_view(view_id: int) -> Any:
    """The unit and the saved view ``view_id``, once the caller's scope for its entity holds."""
    work = unit()
    view = work.session.get(CustomView, view_id)
    entity = view.entity if view is not None else "contact"
    require_scope(_READ_SCOPES.get(entity, scopes.CONTACTS_READ))
    return work, view_service.get_saved_view(work, entity, view_id)


@blp.route("/<id:view_id>", methods=["GET"])
@blp.response(200, ViewSchema)
def get_view(view_id: int) -> dict[str, Any]:
    """Read a saved view."""
    work, view = _saved_view(view_id)
    return _view(view_service.get_view(work, view.entity, view.id))


@blp.route("/<id:view_id>", methods=["PATCH"])
@blp.arguments(ViewUpdateSchema)
@blp.response(200, ViewSchema)
def update_view(changes: dict[str, Any], view_id: int) -> dict[str, Any]:
    """Change one of the caller's views."""
    work, view = _saved_view(view_id)
    view_service.update_view(work, view, **changes)
    commit()
    return _view(view_service.get_view(work, view.entity, view.id))


@blp.route("/<id:view_id>", methods=["DELETE"])
@blp.response(204)
def delete_view(view_id: int) -> None:
    """Delete one of the caller's views."""
    work, view = _saved_view(view_id)
    view_service.delete_view(work, view)
    commit()


@blp.route("/contact/<key>/records", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@blp.arguments(RecordArgsSchema, location="query", as_kwargs=True)
@blp.response(200, ContactViewPage)
def contact_records(key: str, limit: int, cursor: str | None, **args: Any) -> dict[str, Any]:
    """A page of the contacts a view lists (``key``: a default view's word or a saved id)."""
    return _records("contact", key, limit, cursor, **args)


@blp.route("/account/<key>/records", methods=["GET"])
@scoped(scopes.ACCOUNTS_READ)
@blp.arguments(RecordArgsSchema, location="query", as_kwargs=True)
@blp.response(200, AccountViewPage)
def account_records(key: str, limit: int, cursor: str | None, **args: Any) -> dict[str, Any]:
    """A page of the accounts a view lists."""
    return _records("account", key, limit, cursor, **args)
