"""A contact's or an account's reactions, time entries and happiness ratings: the REST twins of
the Reactions, Time entries and Happiness tabs, read by the same services.

Contact routes need ``desk.contacts.read``, account routes ``desk.accounts.read``; the caller
also needs to see tickets, and only tickets of the caller's departments count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from core.api import schemas
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint
from core.api.paging import parse_cursor
from core.errors import ValidationFailed
from core.services import customer_reactions, customer_time, customers
from core.services.customer_reactions import Reaction, ReactionCursor, ReactionKind
from core.services.customer_time import BILLINGS, TimeFilter
from hostapi import scopes

# ------------------------------------------------------------------------------------ schemas


class ReactionSchema(ma.Schema):
    """One line of a customer's reactions: an agent's reply or comment, or a rating."""

    kind = fields.String(metadata={"description": "reply, comment or rating"})
    id = fields.Integer(metadata={"description": "The thread's id, or the rating's."})
    created_at = fields.AwareDateTime()
    ticket_id = fields.Integer()
    ticket_number = fields.String(metadata={"description": "As agents read it (prefixed)."})
    ticket_subject = fields.String()
    ticket_status = fields.String()
    ticket_status_type = fields.String(metadata={"description": "open, on_hold or closed"})
    agent_id = fields.Integer(
        allow_none=True, metadata={"description": "Who wrote it, or the agent rated."}
    )
    agent_name = fields.String(allow_none=True)
    contact_id = fields.Integer(allow_none=True, metadata={"description": "The ticket's contact."})
    contact_name = fields.String(allow_none=True)
    rated_by_id = fields.Integer(
        allow_none=True, metadata={"description": "The contact who rated (ratings only)."}
    )
    text = fields.String(metadata={"description": "The body, or the rating's feedback."})
    rating = fields.String(allow_none=True, metadata={"description": "good, okay or bad"})


class HappinessSchema(ma.Schema):
    """One happiness rating with who gave it, the agent rated and the ticket."""

    id = fields.Integer()
    rating = fields.String(metadata={"description": "good, okay or bad"})
    feedback = fields.String(attribute="text")
    rated_by_id = fields.Integer(allow_none=True, metadata={"description": "The contact."})
    rated_by_name = fields.String(allow_none=True)
    agent_id = fields.Integer(allow_none=True, metadata={"description": "The agent rated."})
    agent_name = fields.String(allow_none=True)
    ticket_id = fields.Integer()
    ticket_number = fields.String()
    created_at = fields.AwareDateTime()


class CustomerTimeEntrySchema(schemas.TimeEntrySchema):
    """Time logged on one of the customer's tickets, with the ticket and the agent."""

    ticket_number = fields.String()
    ticket_subject = fields.String()
    agent_name = fields.String(allow_none=True)
    billing = fields.String(metadata={"description": "billed, billable or non_billable"})


class TimeTotalsSchema(ma.Schema):
    """Seconds over every entry the filters keep (not only the page's)."""

    entries = fields.Integer(metadata={"description": "How many entries."})
    logged = fields.Integer(metadata={"description": "All time logged."})
    billable = fields.Integer(metadata={"description": "Billable time, billed or not."})
    billed = fields.Integer(metadata={"description": "Billable time already billed."})
    non_billable = fields.Integer(metadata={"description": "Time not billable."})


class TimeEntryArgsSchema(schemas.PageArgsSchema):
    """A page of the customer's time entries and the filters the totals share."""

    billing = fields.String(
        load_default="all",
        validate=validate.OneOf(BILLINGS),
        metadata={"description": "all, billable, billed or non_billable."},
    )
    agent_id = schemas.Id(load_default=None, metadata={"description": "Logged by this agent."})
    since = fields.Date(
        load_default=None,
        data_key="from",
        metadata={"description": "First day (the organisation's time zone), YYYY-MM-DD."},
    )
    until = fields.Date(
        load_default=None,
        data_key="to",
        metadata={"description": "Last day, included, YYYY-MM-DD."},
    )

    @ma.validates_schema
    def _period(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise ma.ValidationError("The end of the period is before its start.", "to")


ReactionPage = schemas.page_of(ReactionSchema, "ReactionPage")
HappinessPage = schemas.page_of(HappinessSchema, "HappinessPage")
TimeEntryPage = ma.Schema.from_dict(
    {
        "items": fields.List(fields.Nested(CustomerTimeEntrySchema), required=True),
        "next_cursor": fields.String(
            allow_none=True,
            metadata={"description": "Pass as `cursor` for the next page; null at the end."},
        ),
        "totals": fields.Nested(TimeTotalsSchema, required=True),
    },
    name="CustomerTimeEntryPage",
)


# ------------------------------------------------------------------------------------ routes


def _reaction_cursor(value: str | None) -> ReactionCursor | None:
    """The cursor of the ``cursor`` query argument; 422 naming it when malformed."""
    try:
        return ReactionCursor.parse(value, "cursor")
    except ValidationFailed as failure:
        abort(422, errors={"query": failure.errors})


def _reaction_page(rows: Sequence[Reaction], limit: int) -> dict[str, Any]:
    """One page of lines (read with ``limit + 1``) and the cursor of the next."""
    items = list(rows[:limit])
    more = len(rows) > limit and items
    return {"items": items, "next_cursor": items[-1].cursor.encode() if more else None}


def _engagement_routes(blp: Blueprint, kind: str, read_scope: str) -> None:
    """Reaction, time-entry and happiness routes under ``/{kind}s/<{kind}_id>``."""
    key = f"{kind}_id"
    getter: Callable[..., Any] = {
        "contact": customers.get_contact,
        "account": customers.get_account,
    }[kind]

    def customer(customer_id: int) -> dict[str, int]:
        """The service's customer arguments, once the caller may see the customer."""
        getter(unit(), customer_id)
        return {key: customer_id}

    @blp.route(f"/<bigid:{key}>/reactions", methods=["GET"])
    @scoped(read_scope)
    @blp.arguments(schemas.PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, ReactionPage)
    def list_reactions(limit: int, cursor: str | None, **path: int) -> dict[str, Any]:
        """Agents' replies and comments and the ratings given on the visible tickets, newest
        first."""
        rows = customer_reactions.list_reactions(
            unit(), **customer(path[key]), limit=limit + 1, before=_reaction_cursor(cursor)
        )
        return _reaction_page(rows, limit)

    @blp.route(f"/<bigid:{key}>/time-entries", methods=["GET"])
    @scoped(read_scope)
    @blp.arguments(TimeEntryArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, TimeEntryPage)
    def list_time_entries(
        limit: int, cursor: str | None, billing: str, agent_id: int | None, **rest: Any
    ) -> dict[str, Any]:
        """Time logged on the visible tickets, latest first, with the totals of all the entries
        the filters keep."""
        work = unit()
        whose = customer(rest.pop(key))
        narrowed = TimeFilter(billing=billing, agent_id=agent_id, **rest)
        rows = customer_time.list_time_entries(
            work, **whose, narrowed=narrowed, limit=limit + 1, before=parse_cursor(cursor)
        )
        items = rows[:limit]
        return {
            "items": items,
            "next_cursor": items[-1].cursor.encode() if len(rows) > limit and items else None,
            "totals": customer_time.time_totals(work, **whose, narrowed=narrowed),
        }

    @blp.route(f"/<bigid:{key}>/happiness", methods=["GET"])
    @scoped(read_scope)
    @blp.arguments(schemas.PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, HappinessPage)
    def list_happiness(limit: int, cursor: str | None, **path: int) -> dict[str, Any]:
        """Every happiness rating on the visible tickets, newest first."""
        rows = customer_reactions.list_reactions(
            unit(),
            **customer(path[key]),
            kinds=(ReactionKind.RATING,),
            limit=limit + 1,
            before=_reaction_cursor(cursor),
        )
        return _reaction_page(rows, limit)


contact_engagement = api_blueprint(
    "api_contact_engagement",
    __name__,
    "/contacts",
    "A contact's reactions, time entries and happiness ratings.",
)
account_engagement = api_blueprint(
    "api_account_engagement",
    __name__,
    "/accounts",
    "An account's reactions, time entries and happiness ratings (over its tickets).",
)

_engagement_routes(contact_engagement, "contact", scopes.CONTACTS_READ)
_engagement_routes(account_engagement, "account", scopes.ACCOUNTS_READ)
