"""marshmallow schemas of the REST API: what each endpoint reads and answers.

Field names are the models' (``department_id``, ``created_at``…); times are ISO 8601 with a
time zone; lists answer ``{"items": [...], "next_cursor": "…" | null}``, newest first.
Input schemas check shapes and types only; the services check meaning (unknown department,
permissions…) and their errors come back in the same 422 format.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.services.tickets import PRIORITIES, RAISED_BY, RATINGS, THREAD_KINDS

MAX_PAGE_SIZE = 200


class StrictSchema(ma.Schema):
    """Refuses unknown fields (marshmallow's default, said explicitly for input schemas)."""

    class Meta:
        unknown = ma.RAISE


# ------------------------------------------------------------------------------------ paging


class PageArgsSchema(StrictSchema):
    """Query arguments of every list: a page size and the cursor the previous page returned."""

    limit = fields.Integer(
        load_default=50,
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"Page size, 1 to {MAX_PAGE_SIZE}."},
    )
    cursor = fields.String(
        load_default=None,
        metadata={"description": "The `next_cursor` of the previous page; omit for the first."},
    )


class TicketListArgsSchema(PageArgsSchema):
    """Filters of the ticket list."""

    department_id = fields.Integer(load_default=None)
    status_type = fields.String(
        load_default=None, validate=validate.OneOf(("open", "on_hold", "closed"))
    )
    contact_id = fields.Integer(load_default=None)
    account_id = fields.Integer(load_default=None)
    assignee_id = fields.Integer(load_default=None)
    search = fields.String(
        load_default=None, metadata={"description": "Subject words or the ticket number."}
    )


class SearchPageArgsSchema(PageArgsSchema):
    """A page of a searchable list."""

    search = fields.String(load_default=None, metadata={"description": "Name or e-mail."})


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


class TicketCreateSchema(StrictSchema):
    """A new ticket; ``channel`` defaults to ``api``, ``status`` to ``Open``."""

    subject = fields.String(required=True)
    department_id = fields.Integer(required=True)
    description = fields.String(load_default="")
    channel = fields.String(load_default="api")
    contact_id = fields.Integer(load_default=None, allow_none=True)
    account_id = fields.Integer(load_default=None, allow_none=True)
    status = fields.String(load_default="Open")
    priority = fields.String(load_default="medium", validate=validate.OneOf(PRIORITIES))
    classification = fields.String(load_default="")
    raised_by = fields.String(load_default="customer", validate=validate.OneOf(sorted(RAISED_BY)))
    assignee_id = fields.Integer(load_default=None, allow_none=True)
    due_at = fields.AwareDateTime(load_default=None, allow_none=True)
    external_id = fields.String(load_default=None, allow_none=True)


class TicketUpdateSchema(StrictSchema):
    """Changes to a ticket: only the fields given are changed."""

    subject = fields.String()
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    classification = fields.String()
    due_at = fields.AwareDateTime(allow_none=True)
    assignee_id = fields.Integer(allow_none=True)
    contact_id = fields.Integer(allow_none=True)
    account_id = fields.Integer(allow_none=True)
    department_id = fields.Integer()


class StatusChangeRequestSchema(StrictSchema):
    """The status to move a ticket to (e.g. ``Closed``, or a custom status)."""

    status = fields.String(required=True)


class StatusChangeSchema(ma.Schema):
    """One status change of a ticket."""

    id = fields.Integer()
    from_status = fields.String(allow_none=True)
    from_type = fields.String(allow_none=True)
    to_status = fields.String()
    to_type = fields.String()
    agent_id = fields.Integer(allow_none=True)
    changed_at = fields.AwareDateTime()


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


class ThreadCreateSchema(StrictSchema):
    """A new message; ``channel`` defaults to the ticket's."""

    kind = fields.String(required=True, validate=validate.OneOf(sorted(THREAD_KINDS)))
    body = fields.String(required=True)
    channel = fields.String(load_default=None, allow_none=True)
    author_contact_id = fields.Integer(load_default=None, allow_none=True)


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
    feedback = fields.String(load_default="")


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

    seconds = fields.Integer(required=True, validate=validate.Range(min=1))
    billable = fields.Boolean(load_default=False)
    billed = fields.Boolean(load_default=False)
    description = fields.String(load_default="")
    logged_at = fields.AwareDateTime(load_default=None, allow_none=True)


# --------------------------------------------------------------------------------- customers


class ContactSchema(ma.Schema):
    """A contact (organisation-wide)."""

    id = fields.Integer()
    first_name = fields.String()
    last_name = fields.String()
    name = fields.String()
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

    first_name = fields.String()
    last_name = fields.String()
    email = fields.String(allow_none=True)
    secondary_email = fields.String(allow_none=True)
    phone = fields.String()
    mobile = fields.String()
    title = fields.String()
    description = fields.String()
    account_id = fields.Integer(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
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

    last_name = fields.String(required=True)
    tags = fields.List(fields.String())
    external_id = fields.String(allow_none=True)
    custom_fields = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        metadata={"description": "Custom field values by key; required fields must be given."},
    )


class ContactMergeSchema(StrictSchema):
    """The duplicates to merge into this contact (they are kept, marked merged)."""

    contact_ids = fields.List(fields.Integer(), required=True, validate=validate.Length(min=1))
    choices = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
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

    name = fields.String()
    website = fields.String()
    phone = fields.String()
    industry = fields.String()
    description = fields.String()
    owner_id = fields.Integer(allow_none=True)
    custom_fields = fields.Dict(
        keys=fields.String(),
        metadata={
            "description": "Custom field values by key; the keys given are set (null clears)."
        },
    )


class AccountCreateSchema(AccountUpdateSchema):
    """A new account; ``name`` is required."""

    name = fields.String(required=True)
    external_id = fields.String(allow_none=True)
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

    name = fields.String(required=True)
    description = fields.String(load_default="")
    mailbox = fields.String(load_default=None, allow_none=True)


class DepartmentUpdateSchema(StrictSchema):
    """Changes to a department: only the fields given are changed."""

    name = fields.String()
    description = fields.String()
    is_active = fields.Boolean()
    mailbox = fields.String(allow_none=True)


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

    name = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    expires_at = fields.AwareDateTime(load_default=None, allow_none=True)
