"""Ways in over REST: raw inbound email (for an MTA pipe), logged phone calls, the spam list.

``POST /api/v1/inbound/email`` takes a raw RFC 822 message as the request body. It is the
mail server's door: the message is processed as the desk's own mail (the system), for any
department's mailbox, so only the mail server's credential may call it — a personal token of
an administrator carrying nothing but ``desk.mail.ingest``. An agent's ordinary token, an
extension's token and a browser session get 403: otherwise an agent could forge customer
messages on tickets of departments they cannot see. See docs/intake.md.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask_smorest import abort
from marshmallow import fields, validate

from core.api import schemas
from core.api.auth import principal, scoped, token_only, unit
from core.api.blueprint import api_blueprint, commit
from core.api.paging import page, parse_cursor
from core.intake import calls, email_in, review, spam
from core.intake.arrivals import Outcome, Status
from core.models import SpamMessage, SpamRule, Ticket
from core.services.base import Actor, Unit
from core.tokens import MAIL_INGEST_SCOPE
from hostapi import scopes

inbound = api_blueprint(
    "api_inbound", __name__, "/inbound", "Inbound messages handed over by a mail server."
)
calls_blp = api_blueprint("api_calls", __name__, "/calls", "Phone calls logged by agents.")
spam_blp = api_blueprint(
    "api_spam", __name__, "/spam", "The spam list (held messages) and the spam rules."
)


# ------------------------------------------------------------------------------------ schemas


class InboundResultSchema(ma.Schema):
    """What became of an inbound message."""

    status = fields.String(
        metadata={"description": "created, threaded, held (spam list) or duplicate."}
    )
    ticket_id = fields.Integer(allow_none=True)
    thread_id = fields.Integer(allow_none=True)
    contact_id = fields.Integer(allow_none=True)
    spam_message_id = fields.Integer(allow_none=True)
    refused_files = fields.List(
        fields.String(), metadata={"description": "Attachments not kept, with the reason."}
    )


class CallCreateSchema(schemas.StrictSchema):
    """A phone call to log as a ticket."""

    phone = schemas.Text(
        required=True,
        min_length=1,
        max_length=50,
        metadata={"description": "The caller's number."},
    )
    caller_name = schemas.Text(load_default="", max_length=200)
    direction = fields.String(
        load_default="incoming", validate=validate.OneOf(("incoming", "outgoing"))
    )
    department_id = schemas.Id(required=True)
    subject = schemas.Text(required=True, min_length=1, max_length=500)
    notes = schemas.Text(load_default="", max_length=100_000)
    duration_seconds = schemas.Int32(load_default=0)


class SpamMessageSchema(ma.Schema):
    """A message held on the spam list."""

    id = fields.Integer()
    channel = fields.String()
    sender = fields.String()
    sender_name = fields.String()
    subject = fields.String()
    body = fields.String()
    reason = fields.String()
    department_id = fields.Integer(allow_none=True)
    contact_id = fields.Integer(allow_none=True)
    received_at = fields.AwareDateTime()
    released_at = fields.AwareDateTime(allow_none=True)
    ticket_id = fields.Integer(allow_none=True)


class SpamRuleSchema(ma.Schema):
    """A spam rule."""

    id = fields.Integer()
    kind = fields.String()
    pattern = fields.String()
    header_name = fields.String(allow_none=True)
    is_active = fields.Boolean()
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()


class SpamRuleCreateSchema(schemas.StrictSchema):
    """A new spam rule (see docs/intake.md for the patterns)."""

    kind = fields.String(
        required=True, validate=validate.OneOf(spam.RULE_KINDS), metadata={"example": "domain"}
    )
    pattern = schemas.Text(
        required=True,
        min_length=1,
        max_length=500,
        metadata={
            "description": "Address, phone, domain, or a case-insensitive substring; "
            "`/…/` for a regular expression (header and content rules)."
        },
    )
    header_name = schemas.Text(load_default=None, allow_none=True, max_length=200)
    is_active = fields.Boolean(load_default=True)


class SpamRuleUpdateSchema(schemas.StrictSchema):
    """Switching a rule on or off."""

    is_active = fields.Boolean(required=True)


SpamMessagePage = schemas.page_of(SpamMessageSchema, "SpamMessagePage")
SpamRuleList = schemas.page_of(SpamRuleSchema, "SpamRuleList")


def _result(outcome: Outcome) -> dict[str, Any]:
    return {
        "status": outcome.status.value,
        "ticket_id": outcome.ticket.id if outcome.ticket else None,
        "thread_id": outcome.thread.id if outcome.thread else None,
        "contact_id": outcome.contact.id if outcome.contact else None,
        "spam_message_id": outcome.spam_message.id if outcome.spam_message else None,
        "refused_files": outcome.refused_files,
    }


_STATUS_CODES = {Status.CREATED: 201, Status.THREADED: 201, Status.HELD: 202, Status.DUPLICATE: 200}


# ------------------------------------------------------------------------------ inbound email


@inbound.route("/email", methods=["POST"])
@token_only(MAIL_INGEST_SCOPE)
@inbound.doc(
    requestBody={
        "required": True,
        "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
        "description": "The raw message, exactly as received (headers and body).",
    }
)
@inbound.response(201, InboundResultSchema, description="A new ticket, or a thread on one.")
@inbound.alt_response(202, schema=InboundResultSchema, description="Held on the spam list.")
@inbound.alt_response(200, schema=InboundResultSchema, description="Seen before: nothing added.")
@inbound.alt_response(400, description="Not a readable email (no headers, no From address).")
def receive_email() -> tuple[dict[str, Any], int]:
    """Take in one raw email: a ticket, a thread on the ticket it answers, or the spam list.

    Needs the mail server's credential (a token with only ``desk.mail.ingest``).
    """
    caller = unit()
    label = f"inbound-email:{principal().agent.email}"
    mail_unit = Unit(caller.session, Actor(None, caller.actor.ip_address, label), caller.host)
    try:
        outcome = email_in.receive_email(mail_unit, request.get_data(cache=False))
    except email_in.UnreadableMessage as unreadable:
        abort(400, message=str(unreadable))
    commit()
    return _result(outcome), _STATUS_CODES[outcome.status]


# -------------------------------------------------------------------------------------- calls


@calls_blp.route("", methods=["POST"])
@scoped(scopes.TICKETS_WRITE)
@calls_blp.arguments(CallCreateSchema)
@calls_blp.response(201, schemas.TicketSchema)
def log_call(data: dict[str, Any]) -> Ticket:
    """Log a phone call as a ticket on the phone channel; the caller is matched or registered."""
    ticket, _activity = calls.log_call(unit(), **data)
    commit()
    return ticket


# --------------------------------------------------------------------------------- spam list


@spam_blp.route("/messages", methods=["GET"])
@scoped(scopes.TICKETS_READ)
@spam_blp.arguments(schemas.PageArgsSchema, location="query", as_kwargs=True)
@spam_blp.response(200, SpamMessagePage)
def list_spam(limit: int, cursor: str | None) -> dict[str, Any]:
    """Held messages newest first (needs the ``spam.manage`` permission)."""
    rows = spam.list_held(unit(), limit=limit + 1, before=parse_cursor(cursor))
    return page(rows, limit, spam.cursor_of)


@spam_blp.route("/messages/<bigid:message_id>", methods=["GET"])
@scoped(scopes.TICKETS_READ)
@spam_blp.response(200, SpamMessageSchema)
def get_spam(message_id: int) -> SpamMessage:
    """One held message."""
    return spam.get_held(unit(), message_id)


@spam_blp.route("/messages/<bigid:message_id>/release", methods=["POST"])
@scoped(scopes.TICKETS_WRITE)
@spam_blp.response(200, InboundResultSchema)
def release_spam(message_id: int) -> dict[str, Any]:
    """Not spam: the message becomes a ticket (or a thread) as if it had not been held."""
    work = unit()
    outcome = review.release(work, spam.get_held(work, message_id))
    commit()
    return _result(outcome)


@spam_blp.route("/messages/<bigid:message_id>/block", methods=["POST"])
@scoped(scopes.TICKETS_WRITE)
@spam_blp.response(201, SpamRuleSchema)
def block_spam_sender(message_id: int) -> SpamRule:
    """Confirm as spam: hold the sender's later messages with a sender rule."""
    work = unit()
    rule = spam.block_sender(work, spam.get_held(work, message_id))
    commit()
    return rule


@spam_blp.route("/messages/<bigid:message_id>", methods=["DELETE"])
@scoped(scopes.TICKETS_WRITE)
@spam_blp.response(204)
def delete_spam(message_id: int) -> None:
    """Delete a held message for good."""
    work = unit()
    spam.delete_held(work, spam.get_held(work, message_id))
    commit()


@spam_blp.route("/rules", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@spam_blp.response(200, SpamRuleList)
def list_rules() -> dict[str, Any]:
    """Every spam rule, newest first (one page; needs ``setup.manage``)."""
    return {"items": spam.list_rules(unit()), "next_cursor": None}


@spam_blp.route("/rules", methods=["POST"])
@scoped(scopes.TICKETS_WRITE)
@spam_blp.arguments(SpamRuleCreateSchema)
@spam_blp.response(201, SpamRuleSchema)
def create_rule(data: dict[str, Any]) -> SpamRule:
    """Add a rule; a bad regular expression answers 422 naming ``pattern``."""
    rule = spam.create_rule(unit(), **data)
    commit()
    return rule


@spam_blp.route("/rules/<id:rule_id>", methods=["PATCH"])
@scoped(scopes.TICKETS_WRITE)
@spam_blp.arguments(SpamRuleUpdateSchema)
@spam_blp.response(200, SpamRuleSchema)
def update_rule(data: dict[str, Any], rule_id: int) -> SpamRule:
    """Switch a rule on or off."""
    work = unit()
    rule = spam.set_rule_active(work, spam.get_rule(work, rule_id), data["is_active"])
    commit()
    return rule


@spam_blp.route("/rules/<id:rule_id>", methods=["DELETE"])
@scoped(scopes.TICKETS_WRITE)
@spam_blp.response(204)
def delete_rule(rule_id: int) -> None:
    """Delete a rule."""
    work = unit()
    spam.delete_rule(work, spam.get_rule(work, rule_id))
    commit()
