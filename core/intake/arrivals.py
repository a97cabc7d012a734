"""One path for every inbound message: spam check, registration, then a ticket or a thread.

``accept`` is what email, the web form and a released spam message all call, so threading,
registration and the spam check behave the same whatever the way in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Message, ValidationFailed
from core.intake import registration, spam
from core.models import (
    Contact,
    Department,
    MailDirection,
    MailMessage,
    SpamMessage,
    Thread,
    Ticket,
)
from core.models.tickets import RaisedBy, ThreadKind
from core.services import attachments, tickets
from core.services.base import Unit
from hostapi import clock

log = logging.getLogger(__name__)

NO_SUBJECT = "(no subject)"
EMPTY_BODY = "(no text)"
_TICKET_TOKEN = re.compile(r"\[#\s*([A-Za-z0-9_-]*?)(\d+)\]")


class Status(StrEnum):
    """What became of an inbound message."""

    CREATED = "created"
    THREADED = "threaded"
    HELD = "held"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class IncomingFile:
    """A file that came with a message."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass
class Arrival:
    """An inbound message on any channel, as the intake reads it."""

    channel: str
    subject: str
    body: str
    sender_name: str = ""
    #: The sender's name in its two parts when the channel asks for them (the web form);
    #: otherwise the new contact's family name is ``sender_name`` whole.
    given_name: str = ""
    family_name: str = ""
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    department_id: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    message_id: str | None = None
    #: Message-IDs this one answers (In-Reply-To first, then References, newest first).
    replies_to: Sequence[str] = ()
    files: Sequence[IncomingFile] = ()
    #: Why a filter before deskhost found the message spam (held when the spam check runs).
    spam_verdict: str | None = None


@dataclass
class Outcome:
    """The result of accepting a message."""

    status: Status
    ticket: Ticket | None = None
    thread: Thread | None = None
    contact: Contact | None = None
    spam_message: SpamMessage | None = None
    refused_files: list[str] = field(default_factory=list)


def default_department(session: Session) -> Department:
    """Where messages for no known mailbox go: the first active department (by id).

    :raises ValidationFailed: there is no active department.
    """
    department = session.scalar(
        select(Department).where(Department.is_active.is_(True)).order_by(Department.id).limit(1)
    )
    if department is None:
        raise ValidationFailed(
            {"department_id": [Message("No active department receives messages.")]}
        )
    return department


def department_for_addresses(session: Session, addresses: Sequence[str]) -> int | None:
    """The active department whose mailbox is one of ``addresses`` (first match), or None."""
    wanted = [a.strip().lower() for a in addresses if a and a.strip()]
    if not wanted:
        return None
    departments = session.scalars(
        select(Department).where(Department.is_active.is_(True), Department.mailbox.is_not(None))
    )
    by_mailbox = {(d.mailbox or "").lower(): d.id for d in departments}
    return next((by_mailbox[a] for a in wanted if a in by_mailbox), None)


def is_duplicate(session: Session, arrival: Arrival, sender: str) -> bool:
    """True when a message with this Message-ID was already taken in (as mail or as spam)."""
    if not arrival.message_id:
        return False
    if session.scalar(select(MailMessage.id).where(MailMessage.message_id == arrival.message_id)):
        return True
    held = session.scalars(
        select(SpamMessage.headers).where(
            SpamMessage.channel == arrival.channel,
            SpamMessage.sender == sender,
            SpamMessage.released_at.is_(None),
        )
    )
    return any(
        value == arrival.message_id
        for headers in held
        for name, value in (headers or {}).items()
        if name.lower() == "message-id"
    )


def accept(unit: Unit, arrival: Arrival, *, check_spam: bool = True) -> Outcome:
    """Take in one message: held as spam, a new ticket, or a thread on the ticket it answers.

    The unit's session must be a write session (see :mod:`core.intake.registration`).
    """
    session = unit.session
    keys = registration.sender_keys(
        session,
        channel=arrival.channel,
        email=arrival.email,
        phone=arrival.phone,
        external_id=arrival.external_id,
    )
    if not (keys.email or keys.phone_e164 or keys.external_id):
        raise ValidationFailed(
            {"sender": [Message("The message has no usable sender address, number or user id.")]}
        )
    # Locks first: a duplicate delivery and a concurrent first message wait here.
    registration.serialise_arrivals(session, keys)
    sender = keys.email or keys.phone_e164 or keys.external_id or ""
    if is_duplicate(session, arrival, sender):
        return Outcome(Status.DUPLICATE)
    existing = registration.find_contact(session, keys)
    department_id = arrival.department_id
    if check_spam:
        inspected = spam.Inspected(
            channel=arrival.channel,
            email=keys.email,
            phone_e164=keys.phone_e164,
            external_id=keys.external_id,
            subject=arrival.subject,
            body=arrival.body,
            headers=arrival.headers,
        )
        reason = spam.classify(session, inspected, existing) or arrival.spam_verdict
        if reason is not None:
            held = spam.hold(
                unit,
                inspected,
                reason=reason,
                sender_name=arrival.sender_name,
                department_id=department_id,
                contact=existing,
                raw=arrival.raw,
            )
            return Outcome(Status.HELD, contact=existing, spam_message=held)
    contact, _created = registration.match_or_create_contact(
        unit,
        channel=arrival.channel,
        email=arrival.email,
        phone=arrival.phone,
        external_id=arrival.external_id,
        name=arrival.sender_name,
        given_name=arrival.given_name,
        family_name=arrival.family_name,
    )
    ticket = ticket_answered(session, arrival, contact)
    body = arrival.body.strip() or EMPTY_BODY
    if ticket is not None:
        thread = tickets.add_thread(
            unit,
            ticket,
            kind=ThreadKind.INCOMING.value,
            body=body,
            author_contact_id=contact.id,
            channel=arrival.channel,
        )
        outcome = Outcome(Status.THREADED, ticket=ticket, thread=thread, contact=contact)
    else:
        if department_id is None:
            department_id = default_department(session).id
        ticket = tickets.create_ticket(
            unit,
            subject=(arrival.subject.strip() or NO_SUBJECT)[:500],
            description=body,
            department_id=department_id,
            channel=arrival.channel,
            contact_id=contact.id,
            raised_by=RaisedBy.CUSTOMER.value,
        )
        outcome = Outcome(Status.CREATED, ticket=ticket, contact=contact)
    _store_files(unit, arrival, outcome)
    if arrival.message_id:
        session.add(
            MailMessage(
                message_id=arrival.message_id,
                ticket_id=ticket.id,
                thread_id=outcome.thread.id if outcome.thread is not None else None,
                direction=MailDirection.INBOUND.value,
                created_at=clock.now(),
            )
        )
        session.flush()
    return outcome


def ticket_answered(session: Session, arrival: Arrival, contact: Contact) -> Ticket | None:
    """The ticket ``arrival`` replies to: by its headers, else by a ``[#number]`` subject token.

    The subject token counts only when the sender is the ticket's contact, so a stranger
    cannot add to someone else's ticket by guessing its number.
    """
    if arrival.replies_to:
        rows = session.execute(
            select(MailMessage.message_id, MailMessage.ticket_id).where(
                MailMessage.message_id.in_(list(arrival.replies_to))
            )
        ).all()
        known = dict(rows)
        for message_id in arrival.replies_to:
            if message_id in known:
                return session.get(Ticket, known[message_id])
    for _prefix, digits in _TICKET_TOKEN.findall(arrival.subject):
        ticket = session.scalar(select(Ticket).where(Ticket.number == int(digits)))
        if ticket is not None and ticket.contact_id == contact.id:
            return ticket
    return None


def _store_files(unit: Unit, arrival: Arrival, outcome: Outcome) -> None:
    """Store the message's files on its ticket; a refused file is skipped and noted there."""
    assert outcome.ticket is not None
    for incoming in arrival.files:
        try:
            with unit.session.begin_nested():
                attachments.store_attachment(
                    unit,
                    filename=incoming.filename,
                    content=incoming.content,
                    content_type=incoming.content_type,
                    ticket_id=outcome.ticket.id,
                    thread_id=outcome.thread.id if outcome.thread is not None else None,
                )
        except ValidationFailed as refused:
            messages = " ".join(m for ms in refused.errors.values() for m in ms)
            outcome.refused_files.append(f"{incoming.filename}: {messages}")
    if outcome.refused_files:
        log.info("attachments refused on ticket %s: %s", outcome.ticket.id, outcome.refused_files)
        tickets.add_thread(
            unit,
            outcome.ticket,
            kind=ThreadKind.NOTIFICATION.value,
            body="Attachments not kept:\n" + "\n".join(outcome.refused_files),
        )
