"""Calls, events and tasks: ``/api/v1/contacts/<id>/activities``, the same for accounts, and
``/api/v1/activities/<id>``.

Contact routes need the contacts scopes, account routes the accounts scopes (reading the read
scope, logging the write scope), as the other routes under a customer do. A change to one
activity needs the write scope of what it is about: its contact's, else its account's, else
(an activity about a ticket alone) the tickets'. Activities about a ticket are seen only in
the ticket's department; the others organisation-wide.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import marshmallow as ma
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from core import permissions
from core.api import schemas
from core.api.auth import (
    BEARER_SCHEME,
    CSRF_SCHEME,
    SESSION_SCHEME,
    principal,
    require_scope,
    scoped,
    unit,
)
from core.api.blueprint import api_blueprint, commit
from core.errors import ValidationFailed
from core.models import Activity
from core.services import activities as activity_service
from core.services import comments as comment_service
from core.services.base import Unit
from hostapi import scopes

F = TypeVar("F", bound=Callable[..., Any])

#: The write scopes a change to an activity may need (:func:`_write_scope_of`).
ACTIVITY_WRITE_SCOPES = (scopes.CONTACTS_WRITE, scopes.ACCOUNTS_WRITE, scopes.TICKETS_WRITE)

# ------------------------------------------------------------------------------------ schemas


class ActivitySchema(ma.Schema):
    """A call, event or task."""

    id = fields.Integer()
    kind = fields.String(metadata={"description": "call, event or task"})
    subject = fields.String()
    description = fields.String()
    contact_id = fields.Integer(allow_none=True)
    account_id = fields.Integer(allow_none=True)
    ticket_id = fields.Integer(allow_none=True)
    department_id = fields.Integer(
        allow_none=True, metadata={"description": "The ticket's department, for a ticket's."}
    )
    owner_id = fields.Integer(allow_none=True)
    due_at = fields.AwareDateTime(allow_none=True)
    completed_at = fields.AwareDateTime(allow_none=True)
    is_spam = fields.Boolean()
    created_at = fields.AwareDateTime()


class ActivityListArgsSchema(schemas.PageArgsSchema):
    """A page of a customer's activities, by view and kind."""

    view = fields.String(
        load_default=activity_service.ALL,
        validate=validate.OneOf(activity_service.ACTIVITY_VIEWS),
        metadata={
            "description": "`all` (default): every one but spam, newest first; `upcoming`: "
            "neither completed nor spam, soonest due first (undated last); `spam`: the ones "
            "marked as spam, newest first."
        },
    )
    kind = fields.String(
        load_default=None,
        validate=validate.OneOf(sorted(activity_service.ACTIVITY_KINDS)),
        metadata={"description": "Only calls, events or tasks."},
    )


class ActivityCreateSchema(schemas.StrictSchema):
    """A new activity about the contact or account of the path; the owner defaults to the
    caller."""

    kind = fields.String(
        required=True, validate=validate.OneOf(sorted(activity_service.ACTIVITY_KINDS))
    )
    subject = schemas.Text(required=True, min_length=1, max_length=500)
    description = schemas.Text(load_default="", max_length=100_000)
    due_at = fields.AwareDateTime(load_default=None, allow_none=True)
    owner_id = schemas.Id(load_default=None, allow_none=True)


class ActivityUpdateSchema(schemas.StrictSchema):
    """Changes to an activity: only the fields given are changed."""

    subject = schemas.Text(min_length=1, max_length=500)
    description = schemas.Text(max_length=100_000)
    due_at = fields.AwareDateTime(allow_none=True, metadata={"description": "Reschedule."})
    owner_id = schemas.Id(allow_none=True)
    completed = fields.Boolean(metadata={"description": "Done now (true), or open again."})
    is_spam = fields.Boolean(metadata={"description": "Marked as spam (left out of lists)."})


ActivityPage = schemas.page_of(ActivitySchema, "ActivityPage")


# --------------------------------------------------------------------- contacts and accounts


def _customer_routes(blp: Blueprint, kind: str, read_scope: str, write_scope: str) -> None:
    """The activity routes under ``/{kind}s/<{kind}_id>``."""
    key = f"{kind}_id"

    @blp.route(f"/<bigid:{key}>/activities", methods=["GET"])
    @scoped(read_scope)
    @blp.arguments(ActivityListArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, ActivityPage)
    def list_activities(
        limit: int, cursor: str | None, view: str, kind: str | None, **path: int
    ) -> dict[str, Any]:
        """List the activities the caller may see (an account's include its contacts')."""
        work = unit()
        record = comment_service.customer_of(work, _kind_of(key), path[key])
        try:
            rows = activity_service.list_customer_activities(
                work,
                **{key: record.id},
                view=view,
                kind=kind,
                limit=limit + 1,
                after=cursor,
            )
        except ValidationFailed as failure:
            abort(422, errors={"query": failure.errors})
        items = rows[:limit]
        last = activity_service.ActivityCursor.of(items[-1], view) if items else None
        return {
            "items": items,
            "next_cursor": last.encode() if last is not None and len(rows) > limit else None,
        }

    @blp.route(f"/<bigid:{key}>/activities", methods=["POST"])
    @scoped(write_scope)
    @blp.arguments(ActivityCreateSchema)
    @blp.response(201, ActivitySchema)
    def create_activity(data: dict[str, Any], **path: int) -> Activity:
        """Log a call, event or task (needs ``activity.manage``)."""
        work = unit()
        record = comment_service.customer_of(work, _kind_of(key), path[key])
        activity = activity_service.create_activity(work, **data, **{key: record.id})
        commit()
        return activity


def _kind_of(key: str) -> str:
    return key.removesuffix("_id")


contact_activities = api_blueprint(
    "api_contact_activities", __name__, "/contacts", "Calls, events and tasks of contacts."
)
account_activities = api_blueprint(
    "api_account_activities", __name__, "/accounts", "Calls, events and tasks of accounts."
)
_customer_routes(contact_activities, "contact", scopes.CONTACTS_READ, scopes.CONTACTS_WRITE)
_customer_routes(account_activities, "account", scopes.ACCOUNTS_READ, scopes.ACCOUNTS_WRITE)


# ---------------------------------------------------------------------------- one activity

activity_blp = api_blueprint(
    "api_activities", __name__, "/activities", "Calls, events and tasks, one at a time."
)


def _any_activity_scope(view: F) -> F:
    """Refuse a token holding none of :data:`ACTIVITY_WRITE_SCOPES` before anything is read,
    and document the three as alternatives."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not any(principal().has_scope(scope) for scope in ACTIVITY_WRITE_SCOPES):
            require_scope(ACTIVITY_WRITE_SCOPES[0])
        return view(*args, **kwargs)

    security = [{BEARER_SCHEME: [scope]} for scope in ACTIVITY_WRITE_SCOPES]
    security.append({SESSION_SCHEME: [], CSRF_SCHEME: []})
    return cast(F, Blueprint.doc(security=security)(wrapper))


def _write_scope_of(activity: Activity) -> str:
    if activity.contact_id is not None:
        return scopes.CONTACTS_WRITE
    if activity.account_id is not None:
        return scopes.ACCOUNTS_WRITE
    return scopes.TICKETS_WRITE


@activity_blp.route("/<bigid:activity_id>", methods=["PATCH"])
@_any_activity_scope
@activity_blp.arguments(ActivityUpdateSchema)
@activity_blp.response(200, ActivitySchema)
def update_activity(changes: dict[str, Any], activity_id: int) -> Activity:
    """Change, reschedule, complete or reopen, or flag an activity (needs ``activity.manage``;
    a token needs the write scope of what the activity is about)."""
    work = unit()
    activity = activity_service.get_activity(work, activity_id)
    require_scope(_write_scope_of(activity))
    work.actor.require(permissions.ACTIVITY_MANAGE)
    _apply(work, activity, changes)
    commit()
    return activity


def _apply(work: Unit, activity: Activity, changes: dict[str, Any]) -> None:
    """The fields first (each checked before any is written), then the state."""
    completed = changes.pop("completed", None)
    is_spam = changes.pop("is_spam", None)
    if changes:
        activity_service.update_activity(work, activity, **changes)
    if completed is not None:
        activity_service.complete_activity(work, activity, completed=completed)
    if is_spam is not None:
        activity_service.mark_spam(work, activity, is_spam)
