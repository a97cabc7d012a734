"""The chat product's webhook events, checked before anything is stored.

Every event is ``{"event", "event_id", "event_time", "portal", "entity_type", "entity"}``
(times in epoch milliseconds). A conversation's entity carries its department, visitor,
status, the operator who attended it, its times and its messages; a department's its id and
name; ``visitor.updated`` the conversation and the visitor's new details.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma

CONVERSATION_EVENTS = ("conversation.attended", "conversation.missed", "conversation.ended")
DEPARTMENT_EVENTS = ("department.created", "department.updated")
VISITOR_UPDATED = "visitor.updated"
#: What the desk subscribes to and accepts.
EVENTS = (*CONVERSATION_EVENTS, *DEPARTMENT_EVENTS, VISITOR_UPDATED)
_ENTITY_TYPES = {
    **dict.fromkeys(CONVERSATION_EVENTS, "conversation"),
    **dict.fromkeys(DEPARTMENT_EVENTS, "department"),
    VISITOR_UPDATED: "visitor",
}
_STATUSES = ("waiting", "attended", "missed", "ended")
_SENDERS = ("visitor", "operator")


class Milliseconds(ma.fields.Integer):
    """An epoch time in milliseconds, loaded as an aware UTC datetime."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        number = super()._deserialize(value, attr, data, **kwargs)
        try:
            return datetime.fromtimestamp(number / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError) as error:
            raise ma.ValidationError("Not a time the product could have sent.") from error


class _Schema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE


class Department(_Schema):
    id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


class Operator(_Schema):
    id = ma.fields.String(load_default="")
    email = ma.fields.String(required=True, validate=ma.validate.Length(max=320))
    name = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))


class Visitor(_Schema):
    id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    name = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    email = ma.fields.String(load_default="", validate=ma.validate.Length(max=320))
    phone = ma.fields.String(load_default="", validate=ma.validate.Length(max=50))


class Message(_Schema):
    id = ma.fields.String(load_default="")
    sender = ma.fields.String(required=True, validate=ma.validate.OneOf(_SENDERS))
    operator = ma.fields.Nested(Operator, allow_none=True, load_default=None)
    text = ma.fields.String(required=True, validate=ma.validate.Length(max=100_000))
    time = Milliseconds(required=True)


class Conversation(_Schema):
    id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    department = ma.fields.Nested(Department, required=True)
    visitor = ma.fields.Nested(Visitor, required=True)
    question = ma.fields.String(load_default="", validate=ma.validate.Length(max=100_000))
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(_STATUSES))
    attended_by = ma.fields.Nested(Operator, allow_none=True, load_default=None)
    start_time = Milliseconds(required=True)
    attended_time = Milliseconds(allow_none=True, load_default=None)
    end_time = Milliseconds(allow_none=True, load_default=None)
    messages = ma.fields.List(
        ma.fields.Nested(Message), load_default=list, validate=ma.validate.Length(max=5000)
    )


class VisitorUpdate(_Schema):
    conversation_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    visitor = ma.fields.Nested(Visitor, required=True)


class Envelope(_Schema):
    event = ma.fields.String(required=True, validate=ma.validate.OneOf(EVENTS))
    event_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    event_time = Milliseconds(required=True)
    portal = ma.fields.String(load_default="")
    entity_type = ma.fields.String(required=True)
    entity = ma.fields.Dict(required=True)

    @ma.validates_schema
    def _entity_of_its_event(self, data: dict[str, Any], **kwargs: Any) -> None:
        expected = _ENTITY_TYPES.get(data.get("event", ""))
        if expected is not None and data.get("entity_type") != expected:
            raise ma.ValidationError(f"Must be {expected!r} for this event.", "entity_type")
        schema = _ENTITY_SCHEMAS.get(expected or "")
        if schema is not None:
            problems = schema.validate(data.get("entity") or {})
            if problems:
                raise ma.ValidationError(problems, "entity")


_ENTITY_SCHEMAS: dict[str, ma.Schema] = {
    "conversation": Conversation(),
    "department": Department(),
    "visitor": VisitorUpdate(),
}
_ENVELOPE = Envelope()


def envelope(body: Any) -> dict[str, Any]:
    """The event's envelope, checked with its entity.

    :raises marshmallow.ValidationError: naming each bad field.
    """
    return _ENVELOPE.load(body)


def entity(event: dict[str, Any]) -> dict[str, Any]:
    """A stored event's entity, loaded (times as datetimes)."""
    return _ENTITY_SCHEMAS[_ENTITY_TYPES[event["event"]]].load(event["entity"])


def entity_time(event: dict[str, Any]) -> datetime:
    """When a stored event happened, as the product timed it."""
    return datetime.fromtimestamp(event["event_time"] / 1000, tz=UTC)
