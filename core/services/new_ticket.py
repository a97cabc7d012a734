"""An agent opens a ticket for a customer: an existing contact, or a new one entered inline.

A contact entered inline goes through automatic registration
(:func:`core.intake.registration.match_or_create_contact`), the door every channel uses, so an
email address or phone number the desk already knows names that contact instead of making a
duplicate. The contact and the ticket are made under one savepoint: a ticket that is refused
takes the new contact back with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core import permissions
from core.errors import Message, ValidationFailed
from core.intake import registration
from core.models import Ticket
from core.models.tickets import RaisedBy
from core.services import tickets as ticket_service
from core.services.base import Unit, clean_text
from core.services.phones import organisation_region, to_e164

#: The channel a ticket an agent opens comes through unless they say otherwise: most such
#: tickets are calls the agent took.
DEFAULT_CHANNEL = "phone"


@dataclass(frozen=True)
class NewContact:
    """A customer typed in with the ticket: a name, and an email address or a phone number."""

    name: str = ""
    email: str = ""
    phone: str = ""


def _new_contact_errors(unit: Unit, contact: NewContact) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, value, length in (
        ("contact_name", contact.name, 200),
        ("contact_email", contact.email, 320),
        ("contact_phone", contact.phone, 50),
    ):
        try:
            clean_text(value, field, max_length=length)
        except ValidationFailed as failed:
            errors.update(failed.errors)
    email, phone = contact.email.strip(), contact.phone.strip()
    if email and registration.normalise_email(email) is None:
        errors.setdefault("contact_email", []).append(Message("Not a valid email address."))
    if phone and to_e164(phone, organisation_region(unit.session)) is None:
        errors.setdefault("contact_phone", []).append(Message("Not a valid phone number."))
    if not email and not phone:
        errors.setdefault("contact_email", []).append(
            Message("Give an email address or a phone number.")
        )
    return errors


def open_ticket(
    unit: Unit,
    *,
    subject: str,
    department_id: int,
    contact_id: int | None = None,
    new_contact: NewContact | None = None,
    description: str = "",
    channel: str = DEFAULT_CHANNEL,
    priority: str = "medium",
    status: str = "Open",
    assignee_id: int | None = None,
    due_at: datetime | None = None,
) -> Ticket:
    """Open a ticket for ``contact_id``, or for ``new_contact`` (found or registered).

    :raises ValidationFailed: naming each bad field (the new contact's as ``contact_name``,
        ``contact_email``, ``contact_phone``); nothing is written then.
    """
    unit.actor.require(permissions.TICKET_CREATE)
    if contact_id is not None and new_contact is not None:
        raise ValidationFailed(
            {"contact_id": [Message("Choose a contact or enter a new one, not both.")]}
        )
    if new_contact is not None:
        errors = _new_contact_errors(unit, new_contact)
        if not isinstance(subject, str) or not subject.strip():
            errors.setdefault("subject", []).append(Message("This field is required."))
        if errors:
            raise ValidationFailed(errors)
    ticket_fields: dict[str, Any] = {
        "subject": subject,
        "department_id": department_id,
        "description": description,
        "channel": channel,
        "priority": priority,
        "status": status,
        "assignee_id": assignee_id,
        "due_at": due_at,
        "raised_by": RaisedBy.CUSTOMER.value,
    }
    savepoint = unit.session.begin_nested()
    try:
        if new_contact is not None:
            contact, _created = registration.match_or_create_contact(
                unit,
                channel=channel if channel in registration.ADDRESS_CHANNELS else "phone",
                email=new_contact.email.strip() or None,
                phone=new_contact.phone.strip() or None,
                name=new_contact.name,
            )
            contact_id = contact.id
        ticket = ticket_service.create_ticket(unit, contact_id=contact_id, **ticket_fields)
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return ticket
