"""Phone calls agents log: each becomes a ticket on the phone channel, with a call activity.

The caller is registered by their number (E.164, matched however it is typed). An incoming
call is raised by the customer, an outgoing one by the agent. The call itself is recorded as
a completed call activity on the ticket (its duration in the description), so it shows in
the contact's activities too. Calls skip the spam check: an agent spoke to the caller.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from core import permissions
from core.errors import Message, ValidationFailed
from core.intake import registration
from core.models import Activity, Ticket
from core.models.tickets import ActivityKind, RaisedBy
from core.services import activities, tickets
from core.services.base import Unit, clean_text, gather
from core.services.phones import organisation_region, to_e164
from hostapi import clock

MAX_DURATION_SECONDS = 24 * 3600


class CallDirection(StrEnum):
    """Who called whom."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"


def _direction(value: object) -> str:
    if value not in {d.value for d in CallDirection}:
        raise ValidationFailed({"direction": [Message("Choose incoming or outgoing.")]})
    return str(value)


def _duration(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationFailed(
            {"duration_seconds": [Message("Give a whole number of seconds, 0 or more.")]}
        )
    if value > MAX_DURATION_SECONDS:
        raise ValidationFailed({"duration_seconds": [Message("A call lasts at most 24 hours.")]})
    return value


def _phone(unit: Unit, value: object) -> str:
    raw = clean_text(value, "phone", max_length=50, required=True)
    if to_e164(raw, organisation_region(unit.session)) is None:
        raise ValidationFailed({"phone": [Message("Not a valid phone number.")]})
    return raw


def duration_text(seconds: int) -> str:
    """``seconds`` as ``m:ss`` (``h:mm:ss`` from an hour)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def log_call(
    unit: Unit,
    *,
    phone: str,
    department_id: int,
    subject: str,
    direction: str = CallDirection.INCOMING.value,
    caller_name: str = "",
    notes: str = "",
    duration_seconds: int = 0,
) -> tuple[Ticket, Activity]:
    """Log a call as a ticket (channel ``phone``) and its call activity; returns both.

    :raises ValidationFailed: naming every bad field; nothing is stored then.
    """
    unit.actor.require(permissions.TICKET_CREATE)
    values: dict[str, Any] = gather(
        {
            "phone": lambda: _phone(unit, phone),
            "direction": lambda: _direction(direction),
            "caller_name": lambda: clean_text(caller_name, "caller_name", max_length=200),
            "subject": lambda: clean_text(subject, "subject", max_length=500, required=True),
            "notes": lambda: clean_text(notes, "notes", max_length=100_000),
            "duration_seconds": lambda: _duration(duration_seconds),
        }
    )
    contact, _created = registration.match_or_create_contact(
        unit, channel="phone", phone=values["phone"], name=values["caller_name"]
    )
    incoming = values["direction"] == CallDirection.INCOMING
    ticket = tickets.create_ticket(
        unit,
        subject=values["subject"],
        description=values["notes"],
        department_id=department_id,
        channel="phone",
        contact_id=contact.id,
        raised_by=RaisedBy.CUSTOMER.value if incoming else RaisedBy.AGENT.value,
    )
    heading = "Incoming call" if incoming else "Outgoing call"
    activity = activities.create_activity(
        unit,
        kind=ActivityKind.CALL.value,
        subject=f"{heading}: {values['subject']}"[:500],
        ticket_id=ticket.id,
        contact_id=contact.id,
        description=f"{heading}, {values['phone']}, "
        f"duration {duration_text(values['duration_seconds'])}",
    )
    activity.completed_at = clock.now()
    unit.session.flush()
    return ticket, activity
