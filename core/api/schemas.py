"""marshmallow schemas of the REST API: what each endpoint reads and answers.

Field names are the models' (``department_id``, ``created_at``…); times are ISO 8601 with a
time zone; lists answer ``{"items": [...], "next_cursor": "…" | null}``, newest first.
Input schemas check shapes, types and the limits of what can be stored, and the OpenAPI
document declares them: ids within their column's range (:class:`Id`, :class:`BigId`), text
without NUL characters and no longer than its column (:class:`Text`). The services check
meaning (unknown department, permissions…) and their errors come back in the same 422 format.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from core.models.types import INT32_MAX, INT64_MAX
from core.names import NAME_ORDERS
from core.services import sla
from core.services.base import NUL_MESSAGE, iso
from core.services.ticket_bulk import MAX_BULK_TICKETS, BulkAction
from core.services.tickets import PRIORITIES, RAISED_BY, RATINGS, THREAD_KINDS

MAX_PAGE_SIZE = 200
BULK_ACTIONS = tuple(action.value for action in BulkAction)

#: Search terms are matched, never stored: generous, but bounded.
MAX_SEARCH_LENGTH = 500

NUMBER_MESSAGE = "Not a valid number."

# ------------------------------------------------------------------------------ field types


def _plus(kwargs: dict[str, Any], *validators: Any) -> dict[str, Any]:
    """``kwargs`` with ``validators`` added to any ``validate`` already given."""
    given = kwargs.pop("validate", None)
    extra = [] if given is None else list(given) if isinstance(given, list | tuple) else [given]
    return {**kwargs, "validate": [*validators, *extra]}


class Id(fields.Integer):
    """The id of a record whose key is a 32-bit column: 1 to 2,147,483,647."""

    maximum = INT32_MAX

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**_plus(kwargs, validate.Range(min=1, max=self.maximum)))


class BigId(Id):
    """The id of a record whose key is a 64-bit column (tickets, contacts, accounts…)."""

    maximum = INT64_MAX


class Int32(fields.Integer):
    """A whole number a 32-bit column holds, ``minimum`` or more."""

    def __init__(self, *, minimum: int = 0, **kwargs: Any) -> None:
        super().__init__(**_plus(kwargs, validate.Range(min=minimum, max=INT32_MAX)))


class Text(fields.String):
    """Text without NUL characters (no database stores them), ``min_length`` to ``max_length``.

    ``max_length`` is the column's length or the length the service allows; give
    ``min_length=1`` where the service refuses an empty value.
    """

    def __init__(
        self, *, max_length: int | None = None, min_length: int | None = None, **kwargs: Any
    ) -> None:
        validators: list[Any] = [validate.Regexp(r"^[^\x00]*$", error=NUL_MESSAGE)]
        if max_length is not None or min_length is not None:
            validators.append(validate.Length(min=min_length, max=max_length))
        super().__init__(**_plus(kwargs, *validators))


class CursorArg(Text):
    """A page cursor; empty is the same as absent (the first page)."""

    def deserialize(self, value: Any, *args: Any, **kwargs: Any) -> Any:
        """``None`` for an empty cursor, else the checked text."""
        return None if value == "" else super().deserialize(value, *args, **kwargs)


def unstorable_reason(value: Any) -> str | None:
    """Why ``value`` (any JSON value) cannot be stored: a NUL character or a non-finite number."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL_MESSAGE
        elif isinstance(item, float):
            if not math.isfinite(item):
                return NUMBER_MESSAGE
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return None


class StrictSchema(ma.Schema):
    """An input schema: refuses unknown fields, and anything no column can store.

    Free-form values (custom fields, view conditions) are searched too: a NUL character or a
    ``NaN``/``Infinity`` anywhere in a field's value is a 422 on that field.
    """

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def _refuse_unstorable(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, Mapping):
            errors = {
                str(name): [reason]
                for name in data
                if (reason := unstorable_reason(name) or unstorable_reason(data[name])) is not None
            }
            if errors:
                raise ma.ValidationError(errors)
        return data


# ------------------------------------------------------------------------------------ paging


class PageArgsSchema(StrictSchema):
    """Query arguments of every list: a page size and the cursor the previous page returned."""

    limit = fields.Integer(
        load_default=50,
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"Page size, 1 to {MAX_PAGE_SIZE}."},
    )
    cursor = CursorArg(
        load_default=None,
        max_length=1000,
        metadata={
            "description": "The `next_cursor` of the previous page; omit it (or leave it empty) "
            "for the first."
        },
    )


class TicketListArgsSchema(PageArgsSchema):
    """Filters of the ticket list."""

    department_id = Id(load_default=None)
    status_type = fields.String(
        load_default=None, validate=validate.OneOf(("open", "on_hold", "closed"))
    )
    contact_id = BigId(load_default=None)
    account_id = BigId(load_default=None)
    assignee_id = Id(load_default=None)
    status = Text(
        load_default=None,
        min_length=1,
        max_length=100,
        metadata={"description": "One status by name (a custom one too)."},
    )
    search = Text(
        load_default=None,
        max_length=MAX_SEARCH_LENGTH,
        metadata={"description": "Subject words or the ticket number."},
    )


class SearchPageArgsSchema(PageArgsSchema):
    """A page of a searchable list."""

    search = Text(
        load_default=None,
        max_length=MAX_SEARCH_LENGTH,
        metadata={"description": "Name or e-mail."},
    )


def page_of(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The schema of one page of ``item_schema`` items."""
    return ma.Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "next_cursor": fields.String(
                allow_none=True,
                metadata={"description": "Pass as `cursor` for the next page; null at the end."},
            ),
        },
        name=name,
    )


# ----------------------------------------------------------------------------------- tickets


class TicketSchema(ma.Schema):
    """A ticket."""

    id = fields.Integer()
    number = fields.Integer()
    subject = fields.String()
    description = fields.String()
    status = fields.String()
    status_type = fields.String(metadata={"description": "open, on_hold or closed"})
    priority = fields.String()
    channel = fields.String()
    classification = fields.String()
    department_id = fields.Integer()
    contact_id = fields.Integer(allow_none=True)
    account_id = fields.Integer(allow_none=True)
    assignee_id = fields.Integer(allow_none=True)
    raised_by = fields.String(metadata={"description": "customer or agent"})
    due_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)
    external_id = fields.String(allow_none=True)
    # SLA (core.services.sla): due_at above is the resolution due time.
    first_response_due_at = fields.Function(
        lambda ticket: iso(sla.first_response_due_at(ticket)),
        allow_none=True,
        metadata={"type": "string", "format": "date-time"},
    )
    sla_policy_id = fields.Function(sla.policy_id_of, allow_none=True, metadata={"type": "integer"})
    overdue = fields.Function(
        sla.is_overdue,
        metadata={"type": "boolean", "description": "A due time passed unmet while open."},
    )


class TicketCreateSchema(StrictSchema):
    """A new ticket; ``channel`` defaults to ``api``, ``status`` to ``Open``."""

    subject = Text(required=True, min_length=1, max_length=500)
    department_id = Id(required=True)
    description = Text(load_default="", max_length=1_000_000)
    channel = Text(load_default="api", min_length=1, max_length=40)
    contact_id = BigId(load_default=None, allow_none=True)
    account_id = BigId(load_default=None, allow_none=True)
    status = Text(load_default="Open", min_length=1, max_length=100)
    priority = fields.String(load_default="medium", validate=validate.OneOf(PRIORITIES))
    classification = Text(load_default="", max_length=60)
    raised_by = fields.String(load_default="customer", validate=validate.OneOf(sorted(RAISED_BY)))
    assignee_id = Id(load_default=None, allow_none=True)
    due_at = fields.AwareDateTime(load_default=None, allow_none=True)
    external_id = Text(
        load_default=None,
        allow_none=True,
        max_length=200,
        metadata={"description": "The ticket's id in another system; unique."},
    )


class TicketUpdateSchema(StrictSchema):
    """Changes to a ticket: only the fields given are changed."""

    subject = Text(min_length=1, max_length=500)
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    classification = Text(max_length=60)
    due_at = fields.AwareDateTime(allow_none=True)
    assignee_id = Id(allow_none=True)
    contact_id = BigId(allow_none=True)
    account_id = BigId(allow_none=True)
    department_id = Id()


class TicketBulkSchema(StrictSchema):
    """One change to many tickets; each ticket is checked, changed and audited on its own.

    ``assign`` takes ``assignee_id`` (null: unassign), ``status`` takes ``status``,
    ``priority`` takes ``priority``; ``close`` moves to the first closed status.
    """

    ticket_ids = fields.List(
        BigId(), required=True, validate=validate.Length(min=1, max=MAX_BULK_TICKETS)
    )
    action = fields.String(required=True, validate=validate.OneOf(BULK_ACTIONS))
    assignee_id = Id(allow_none=True)
    status = Text(min_length=1, max_length=100)
    priority = fields.String(validate=validate.OneOf(PRIORITIES))

    @ma.validates_schema
    def _value_for_action(self, data: dict[str, Any], **_kwargs: Any) -> None:
        needed = {"assign": "assignee_id", "status": "status", "priority": "priority"}
        field = needed.get(data.get("action", ""))
        if field is not None and field not in data:
            raise ma.ValidationError(f"Required for the action {data['action']}.", field)


class TicketBulkOutcomeSchema(ma.Schema):
    """What became of one ticket of a bulk change."""

    ticket_id = fields.Integer()
    number = fields.Integer(allow_none=True, metadata={"description": "Null when not found."})
    ok = fields.Boolean(metadata={"description": "True when the change was made."})
    failure = fields.String(
        allow_none=True,
        metadata={"description": "not_found, forbidden or invalid; null when ok."},
    )
    permission = fields.String(
        allow_none=True, metadata={"description": "The missing permission (forbidden)."}
    )
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Field errors (invalid)."},
    )


class TicketBulkResultSchema(ma.Schema):
    """The outcome of each ticket of a bulk change, in the order asked."""

    items = fields.List(fields.Nested(TicketBulkOutcomeSchema), required=True)


class StatusChangeRequestSchema(StrictSchema):
    """The status to move a ticket to (e.g. ``Closed``, or a custom status)."""

    status = Text(required=True, min_length=1, max_length=100)


class StatusChangeSchema(ma.Schema):
    """One status change of a ticket."""

    id = fields.Integer()
    from_status = fields.String(allow_none=True)
    from_type = fields.String(allow_none=True)
    to_status = fields.String()
    to_type = fields.String()
    agent_id = fields.Integer(allow_none=True)
    changed_at = fields.AwareDateTime()


class DeliverySchema(ma.Schema):
    """Where the email of a public reply is."""

    state = fields.String(
        metadata={"description": "queued, retrying, sent, failed or not_configured"}
    )
    reason = fields.String(metadata={"description": "Why the last attempt failed; else empty."})
    sent_at = fields.AwareDateTime(allow_none=True)
    attempts = fields.Integer()


class ThreadSchema(ma.Schema):
    """A message on a ticket."""

    id = fields.Integer()
    ticket_id = fields.Integer()
    kind = fields.String(metadata={"description": "incoming, outgoing, comment or notification"})
    channel = fields.String()
    author_agent_id = fields.Integer(allow_none=True)
    author_contact_id = fields.Integer(allow_none=True)
    body = fields.String()
    created_at = fields.AwareDateTime()
    delivery = fields.Nested(
        DeliverySchema,
        allow_none=True,
        metadata={"description": "A reply mailed to the customer: its email; null otherwise."},
    )


class ThreadCreateSchema(StrictSchema):
    """A new message; ``channel`` defaults to the ticket's."""

    kind = fields.String(required=True, validate=validate.OneOf(sorted(THREAD_KINDS)))
    body = Text(required=True, min_length=1, max_length=1_000_000)
    channel = Text(load_default=None, allow_none=True, min_length=1, max_length=40)
    author_contact_id = BigId(load_default=None, allow_none=True)


class RatingSchema(ma.Schema):
    """A happiness rating."""

    id = fields.Integer()
    ticket_id = fields.Integer()
    contact_id = fields.Integer(allow_none=True)
    agent_id = fields.Integer(allow_none=True)
    rating = fields.String(metadata={"description": "good, okay or bad"})
    feedback = fields.String()
    created_at = fields.AwareDateTime()


class RatingCreateSchema(StrictSchema):
    """A rating recorded for the customer."""

    rating = fields.String(required=True, validate=validate.OneOf(sorted(RATINGS)))
    feedback = Text(load_default="", max_length=10_000)


class TimeEntrySchema(ma.Schema):
    """Time logged on a ticket."""

    id = fields.Integer()
    ticket_id = fields.Integer()
    agent_id = fields.Integer(allow_none=True)
    seconds = fields.Integer()
    billable = fields.Boolean()
    billed = fields.Boolean()
    description = fields.String()
    logged_at = fields.AwareDateTime()


class TimeEntryCreateSchema(StrictSchema):
    """Time to log (by the calling agent)."""

    seconds = Int32(required=True, minimum=1)
    billable = fields.Boolean(load_default=False)
    billed = fields.Boolean(load_default=False)
    description = Text(load_default="", max_length=10_000)
    logged_at = fields.AwareDateTime(load_default=None, allow_none=True)


# --------------------------------------------------------------------------------- customers


class ContactSchema(ma.Schema):
    """A contact (organisation-wide)."""

    id = fields.Integer()
    first_name = fields.String()
    last_name = fields.String()
    name_order = fields.String(
        metadata={"description": "auto, family_first or given_first (see ``name``)."}
    )
    name = fields.String(
        metadata={
            "description": "The name as the request's language orders it: family name first in"
            " Japanese and for names in Japanese script, given name first in English, unless"
            " ``name_order`` fixes the order."
        }
    )
    email = fields.String(allow_none=True)
    secondary_email = fields.String(allow_none=True)
    phone = fields.String()
    mobile = fields.String()
    title = fields.String()
    description = fields.String()
    account_id = fields.Integer(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    is_spam = fields.Boolean()
    merged_into_id = fields.Integer(allow_none=True)
    external_id = fields.String(allow_none=True)
    custom_fields = fields.Dict(
        keys=fields.String(),
        metadata={"description": "Custom field values by field key (see /custom-fields)."},
    )
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class _ContactFieldsSchema(StrictSchema):
    """The contact fields a client both sets on creation and changes later."""

    first_name = Text(max_length=200)
    last_name = Text(min_length=1, max_length=200)
    name_order = fields.String(validate=validate.OneOf(NAME_ORDERS))
    email = Text(allow_none=True, max_length=320)
    secondary_email = Text(allow_none=True, max_length=320)
    phone = Text(max_length=50)
    mobile = Text(max_length=50)
    title = Text(max_length=200)
    description = Text(max_length=100_000)
    account_id = BigId(allow_none=True)
    owner_id = Id(allow_none=True)
    custom_fields = fields.Dict(
        keys=fields.String(),
        metadata={
            "description": "Custom field values by key; the keys given are set (null clears)."
        },
    )


class ContactUpdateSchema(_ContactFieldsSchema):
    """Changes to a contact: only the fields given are changed."""

    is_spam = fields.Boolean()


class ContactCreateSchema(_ContactFieldsSchema):
    """A new contact; ``last_name`` is required."""

    last_name = Text(required=True, min_length=1, max_length=200)
    tags = fields.List(Text(min_length=1, max_length=100))
    external_id = Text(
        allow_none=True,
        max_length=200,
        metadata={"description": "The contact's id in another system; unique."},
    )
    custom_fields = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        metadata={"description": "Custom field values by key; required fields must be given."},
    )


class ContactMergeSchema(StrictSchema):
    """The duplicates to merge into this contact (they are kept, marked merged)."""

    contact_ids = fields.List(BigId(), required=True, validate=validate.Length(min=1))
    choices = fields.Dict(
        keys=Text(max_length=200),
        values=BigId(),
        load_default=dict,
        metadata={"description": "Field name → id of the record whose value survives."},
    )


class AccountSchema(ma.Schema):
    """An account (a customer organisation)."""

    id = fields.Integer()
    name = fields.String()
    website = fields.String()
    phone = fields.String()
    industry = fields.String()
    description = fields.String()
    owner_id = fields.Integer(allow_none=True)
    is_spam = fields.Boolean()
    merged_into_id = fields.Integer(
        allow_none=True, metadata={"description": "Set once merged: the account it went to."}
    )
    external_id = fields.String(allow_none=True)
    custom_fields = fields.Dict(
        keys=fields.String(),
        metadata={"description": "Custom field values by field key (see /custom-fields)."},
    )
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class AccountUpdateSchema(StrictSchema):
    """Changes to an account: only the fields given are changed."""

    name = Text(min_length=1, max_length=300)
    website = Text(max_length=500)
    phone = Text(max_length=50)
    industry = Text(max_length=100)
    description = Text(max_length=100_000)
    owner_id = Id(allow_none=True)
    custom_fields = fields.Dict(
        keys=fields.String(),
        metadata={
            "description": "Custom field values by key; the keys given are set (null clears)."
        },
    )


class AccountCreateSchema(AccountUpdateSchema):
    """A new account; ``name`` is required."""

    name = Text(required=True, min_length=1, max_length=300)
    external_id = Text(
        allow_none=True,
        max_length=200,
        metadata={"description": "The account's id in another system; unique."},
    )
    custom_fields = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        metadata={"description": "Custom field values by key; required fields must be given."},
    )


# ------------------------------------------------------------------------- organisation, me


class DepartmentSchema(ma.Schema):
    """A department."""

    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    is_active = fields.Boolean()
    mailbox = fields.String(
        allow_none=True,
        metadata={"description": "The support address whose mail becomes its tickets."},
    )
    is_member = fields.Boolean(metadata={"description": "The caller belongs to it."})
    created_at = fields.AwareDateTime()


class DepartmentCreateSchema(StrictSchema):
    """A new department."""

    name = Text(required=True, min_length=1, max_length=200)
    description = Text(load_default="", max_length=1000)
    mailbox = Text(load_default=None, allow_none=True, max_length=320)


class DepartmentListArgsSchema(PageArgsSchema):
    """A page of departments by name."""

    include_inactive = fields.Boolean(
        load_default=False, metadata={"description": "List deactivated departments too."}
    )


class DepartmentDeactivateSchema(StrictSchema):
    """Where a deactivated department's open tickets go."""

    move_to_department_id = Id(
        load_default=None,
        allow_none=True,
        metadata={"description": "An active department; needed while open tickets remain."},
    )


class DepartmentUpdateSchema(StrictSchema):
    """Changes to a department: only the fields given are changed."""

    name = Text(min_length=1, max_length=200)
    description = Text(max_length=1000)
    is_active = fields.Boolean()
    mailbox = Text(allow_none=True, max_length=320)


class ProfileSummarySchema(ma.Schema):
    """A permission profile, briefly."""

    id = fields.Integer()
    name = fields.String()
    is_admin = fields.Boolean()


class MeSchema(ma.Schema):
    """The calling agent, what they may do, and how they authenticated."""

    id = fields.Integer()
    name = fields.String()
    email = fields.String()
    locale = fields.String(allow_none=True)
    status = fields.String()
    profile = fields.Nested(ProfileSummarySchema)
    permissions = fields.List(fields.String())
    department_ids = fields.List(fields.Integer())
    auth = fields.String(metadata={"description": "session or bearer"})
    scopes = fields.List(
        fields.String(),
        allow_none=True,
        metadata={"description": "The token's; null in a session."},
    )
    csrf_token = fields.String(
        allow_none=True,
        metadata={"description": "For the X-CSRFToken header of unsafe session requests."},
    )
    two_factor_enabled = fields.Boolean(
        metadata={"description": "Whether the agent signs in with a second factor (TOTP)."}
    )


class TokenSchema(ma.Schema):
    """A personal access token (never its secret, except once at creation)."""

    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    token_hint = fields.String(metadata={"description": "The token's first characters."})
    scopes = fields.List(fields.String())
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime(allow_none=True)
    last_used_at = fields.AwareDateTime(allow_none=True)


class CreatedTokenSchema(TokenSchema):
    """A token just created: ``token`` is its secret, shown this once and never again."""

    token = fields.String(metadata={"description": "The bearer token. Store it now."})


class TokenCreateSchema(StrictSchema):
    """A new personal access token."""

    name = Text(required=True, min_length=1, max_length=200)
    scopes = fields.List(Text(max_length=100), required=True)
    expires_at = fields.AwareDateTime(load_default=None, allow_none=True)


class TwoFactorStateSchema(ma.Schema):
    """An agent's two-factor sign-in, as an agent manager sees it (never the secret)."""

    agent_id = fields.Integer()
    enabled = fields.Boolean()
    enrolling = fields.Boolean(
        metadata={"description": "Set-up started and not confirmed with a code yet."}
    )
    enabled_at = fields.AwareDateTime(allow_none=True)
    recovery_codes_left = fields.Integer()
