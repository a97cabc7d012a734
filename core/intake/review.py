"""Releasing a held message: it becomes a ticket exactly as if it had not been held."""

from __future__ import annotations

from core import permissions
from core.errors import Message, ValidationFailed
from core.intake import arrivals, email_in, spam
from core.intake.arrivals import Arrival, Outcome, Status
from core.models import SpamMessage
from core.services.base import Unit
from hostapi import clock

#: Headers a held web-form message keeps its phone number and client address in.
PHONE_HEADER = "X-Deskhost-Phone"


def release(unit: Unit, message: SpamMessage) -> Outcome:
    """Not spam: take the message in the normal way (registration, threading, files), skipping
    the spam check, and record who released it and when.

    :raises ValidationFailed: it was released before.
    """
    unit.actor.require(permissions.SPAM_MANAGE)
    if message.released_at is not None:
        raise ValidationFailed({"_schema": [Message("This message was released already.")]})
    if message.channel == "email" and message.raw:
        arrival, delivered = email_in.parse(message.raw)
        arrival.department_id = message.department_id or arrivals.department_for_addresses(
            unit.session, delivered
        )
    else:
        arrival = _arrival_of(message)
    # No longer held: the duplicate check must not take the message for its own copy.
    message.released_at = clock.now()
    unit.session.flush()
    outcome = arrivals.accept(unit, arrival, check_spam=False)
    if outcome.status is Status.DUPLICATE:
        # The same mail arrived again and was taken in meanwhile: nothing new to create.
        spam.mark_released(unit, message, None)
        return outcome
    assert outcome.ticket is not None
    spam.mark_released(unit, message, outcome.ticket.id)
    return outcome


def _arrival_of(message: SpamMessage) -> Arrival:
    headers = dict(message.headers or {})
    sender = message.sender
    is_email = "@" in sender
    return Arrival(
        channel=message.channel,
        subject=message.subject,
        body=message.body,
        sender_name=message.sender_name,
        email=sender if is_email else None,
        phone=headers.get(PHONE_HEADER) or (sender if sender.startswith("+") else None),
        external_id=None if is_email or sender.startswith("+") else sender,
        department_id=message.department_id,
        headers=headers,
    )
