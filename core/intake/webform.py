"""The public web form's service side: checks, abuse protection, then the normal intake path.

Abuse protection is twofold. A honeypot field, hidden from people by CSS, is filled by bots:
such a submission is dropped without a trace (no ticket, no spam-list entry) and the bot sees
the usual thank-you page. And each client IP may submit at most ``limit`` forms per
``window`` seconds (a Redis fixed window under the configured key prefix); the limit and the
window come from ``DESKHOST_WEBFORM_RATE_LIMIT`` (5) and
``DESKHOST_WEBFORM_RATE_WINDOW_SECONDS`` (600). Then the message goes through the spam check
like mail does, and becomes a ``web_form`` ticket raised by the customer.

The visitor gives their family and given names separately (the page asks for them in its
language's order: 姓 then 名 in Japanese, first then last name in English), so the contact's name
is stored in its two parts, never the whole name in the family name.
"""

from __future__ import annotations

import redis
from sqlalchemy import select

from core import ratelimit
from core.errors import Message, ValidationFailed
from core.intake import arrivals, registration
from core.intake.arrivals import Arrival, Outcome
from core.intake.review import PHONE_HEADER
from core.models import Department, Organisation
from core.names import display_name
from core.ratelimit import RateLimit
from core.services.base import Unit, clean_text, gather
from core.services.phones import organisation_region, to_e164
from core.services.tickets import display_number

CLIENT_IP_HEADER = "X-Deskhost-Client-IP"


def allow_submission(client: redis.Redis, prefix: str, ip: str, rate: RateLimit) -> bool:
    """Count one submission from ``ip``; False when the current window is already full."""
    return ratelimit.hit(client, f"{prefix}:intake:webform:{ip}", rate).allowed


def active_department(unit: Unit, department_id: int | None) -> Department:
    """The form's department: the one asked for if active, else the default one.

    :raises ValidationFailed: the department asked for does not exist or is inactive.
    """
    if department_id is None:
        return arrivals.default_department(unit.session)
    department = unit.session.get(Department, department_id)
    if department is None or not department.is_active:
        raise ValidationFailed({"department_id": [Message("Unknown department.")]})
    return department


def public_departments(unit: Unit) -> list[Department]:
    """The departments a visitor may choose on the form (active ones, by name)."""
    return list(
        unit.session.scalars(
            select(Department).where(Department.is_active.is_(True)).order_by(Department.name)
        )
    )


def _email(value: object) -> str:
    text = clean_text(value, "email", max_length=320, required=True)
    email = registration.normalise_email(text)
    if email is None:
        raise ValidationFailed({"email": [Message("Not a valid email address.")]})
    return email


def _phone(unit: Unit, value: object) -> str:
    text = clean_text(value, "phone", max_length=50)
    if text and to_e164(text, organisation_region(unit.session)) is None:
        raise ValidationFailed({"phone": [Message("Not a valid phone number.")]})
    return text


def submit(
    unit: Unit,
    *,
    department_id: int | None,
    family_name: str,
    given_name: str = "",
    email: str,
    subject: str,
    description: str,
    phone: str = "",
    client_ip: str = "",
) -> Outcome:
    """Take in one form submission (a new ticket, or held as spam); the caller commits.

    :raises ValidationFailed: naming every bad field; nothing is stored then.
    """
    values = gather(
        {
            "department_id": lambda: active_department(unit, department_id).id,
            "family_name": lambda: clean_text(
                family_name, "family_name", max_length=200, required=True
            ),
            "given_name": lambda: clean_text(given_name, "given_name", max_length=200),
            "email": lambda: _email(email),
            "phone": lambda: _phone(unit, phone),
            "subject": lambda: clean_text(subject, "subject", max_length=500, required=True),
            "description": lambda: clean_text(
                description, "description", max_length=100_000, required=True
            ),
        }
    )
    headers = {CLIENT_IP_HEADER: client_ip} if client_ip else {}
    if values["phone"]:
        headers[PHONE_HEADER] = values["phone"]
    arrival = Arrival(
        channel="web_form",
        subject=values["subject"],
        body=values["description"],
        sender_name=display_name(values["given_name"], values["family_name"]),
        given_name=values["given_name"],
        family_name=values["family_name"],
        email=values["email"],
        phone=values["phone"] or None,
        department_id=values["department_id"],
        headers=headers,
    )
    return arrivals.accept(unit, arrival)


def ticket_number(unit: Unit, outcome: Outcome) -> str | None:
    """The number the customer quotes for the ticket their submission made ("DESK-123"), or
    ``None`` when it made none (held for review)."""
    if outcome.ticket is None:
        return None
    organisation = unit.session.scalar(select(Organisation).limit(1))
    if organisation is None:
        return str(outcome.ticket.number)
    return display_number(organisation, outcome.ticket.number)
