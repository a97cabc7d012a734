"""Agents' replies to email customers, sent by SMTP.

When an agent adds a public reply (an outgoing thread) to a ticket that came by email or the
web form, :func:`queue_reply` writes an outbound :class:`MailMessage` in the same transaction
(so a reply that rolls back is never sent); a reply dated in the past (history, a
conversion) is not mailed. :func:`send_pending` sends what is queued: the
worker's relay loop calls it on every pass, and ``deskhost mail send-pending`` runs it once.
A failed send is retried on later passes, waiting longer each time, and given up after
``MAX_ATTEMPTS`` (``last_error`` says why).
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import events as core_events
from core.config import SmtpSettings
from core.intake.email_in import one_line
from core.models import (
    Contact,
    Department,
    MailDirection,
    MailMessage,
    Organisation,
    Thread,
    Ticket,
)
from core.models.tickets import ThreadKind
from core.services.tickets import display_number
from hostapi import Event, clock, events

if TYPE_CHECKING:
    from core.host import Host

log = logging.getLogger(__name__)

#: Tickets of these channels are answered by email.
EMAIL_CHANNELS: frozenset[str] = frozenset({"email", "web_form"})
MAX_ATTEMPTS = 5
#: Wait before retry n (n = attempts so far): 1, 2, 4, 8… minutes.
FIRST_RETRY = timedelta(minutes=1)
SMTP_TIMEOUT_SECONDS = 30
_FALLBACK_FROM = "support@localhost"
#: Replies dated further back than this are records of the past, not mail to send now.
HISTORY_AGE = timedelta(minutes=10)


def _domain_of(address: str | None) -> str:
    return address.rsplit("@", 1)[1] if address and "@" in address else "deskhost.local"


@core_events.subscriber(events.THREAD_ADDED)
def queue_reply(session: Session, event: Event) -> None:
    """Queue an email for an agent's public reply on an email or web-form ticket."""
    payload = event.payload
    if payload.get("kind") != ThreadKind.OUTGOING or payload.get("author_agent_id") is None:
        return
    created_at = payload.get("created_at")
    if created_at and datetime.fromisoformat(created_at) < clock.now() - HISTORY_AGE:
        return  # a reply recorded after the fact (history, conversions) was sent back then
    ticket = session.get(Ticket, payload["ticket_id"])
    if ticket is None or ticket.channel not in EMAIL_CHANNELS:
        return
    department = session.get(Department, ticket.department_id)
    session.add(
        MailMessage(
            message_id=make_msgid(domain=_domain_of(department.mailbox if department else None)),
            ticket_id=ticket.id,
            thread_id=payload["thread_id"],
            direction=MailDirection.OUTBOUND.value,
            created_at=clock.now(),
            sent_at=None,
            attempts=0,
            last_error="",
        )
    )
    session.flush()


@dataclass
class SendReport:
    """What one :func:`send_pending` pass did."""

    sent: int = 0
    failed: int = 0
    given_up: list[int] = field(default_factory=list)


def _is_due(mail: MailMessage) -> bool:
    if mail.attempts == 0:
        return True
    wait = FIRST_RETRY * (2 ** (mail.attempts - 1))
    return clock.now() >= mail.created_at + wait


def build_message(session: Session, mail: MailMessage, smtp: SmtpSettings) -> EmailMessage:
    """The email for an outbound reply: From the department's mailbox, threaded on the
    customer's last message.

    :raises ValueError: the contact has no email address (the message cannot be sent).
    """
    ticket = session.get(Ticket, mail.ticket_id)
    thread = session.get(Thread, mail.thread_id) if mail.thread_id is not None else None
    if ticket is None or thread is None:
        raise ValueError("The reply or its ticket was deleted.")
    contact = session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    if contact is None or not contact.email:
        raise ValueError("The ticket's contact has no email address.")
    department = session.get(Department, ticket.department_id)
    organisation = session.scalar(select(Organisation).limit(1))
    number = display_number(organisation, ticket.number) if organisation else str(ticket.number)
    earlier = list(
        session.scalars(
            select(MailMessage)
            .where(
                MailMessage.ticket_id == ticket.id,
                MailMessage.id != mail.id,
                (MailMessage.direction == MailDirection.INBOUND.value)
                | MailMessage.sent_at.is_not(None),
            )
            .order_by(MailMessage.created_at, MailMessage.id)
        )
    )
    inbound = [m for m in earlier if m.direction == MailDirection.INBOUND]
    message = EmailMessage()
    message["From"] = (
        (department.mailbox if department else None) or smtp.from_address or (_FALLBACK_FROM)
    )
    message["To"] = contact.email
    # A subject can hold anything an agent or an older import stored: one line, always.
    subject = one_line(ticket.subject).removeprefix("Re: ")
    message["Subject"] = f"Re: {subject} [#{number}]"
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = mail.message_id
    if inbound:
        message["In-Reply-To"] = inbound[-1].message_id
    if earlier:
        # The last ten are enough for every mail client to thread; the header stays short.
        message["References"] = " ".join(m.message_id for m in earlier[-10:])
    message.set_content(thread.body)
    return message


def _deliver(message: EmailMessage, smtp: SmtpSettings) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT_SECONDS) as connection:
        if smtp.starttls:
            connection.starttls()
        if smtp.username:
            connection.login(smtp.username, smtp.password)
        connection.send_message(message)


def send_pending(host: Host, *, limit: int = 100) -> SendReport:
    """Send the queued replies that are due; nothing when no SMTP host is configured."""
    smtp = host.settings.smtp
    report = SendReport()
    if not smtp.host:
        return report
    with host.sessions() as session:
        candidates = list(
            session.scalars(
                select(MailMessage)
                .where(
                    MailMessage.direction == MailDirection.OUTBOUND.value,
                    MailMessage.sent_at.is_(None),
                    MailMessage.attempts < MAX_ATTEMPTS,
                )
                .order_by(MailMessage.id)
                .limit(limit)
            )
        )
        due = [mail.id for mail in candidates if _is_due(mail)]
    for mail_id in due:
        _send_one(host, mail_id, smtp, report)
    return report


def _send_one(host: Host, mail_id: int, smtp: SmtpSettings, report: SendReport) -> None:
    with host.transaction() as session:
        mail = session.get(MailMessage, mail_id)
        if mail is None or mail.sent_at is not None:
            return
        seen = mail.attempts
        try:
            message = build_message(session, mail, smtp)
        except ValueError as unsendable:
            mail.attempts, mail.last_error = MAX_ATTEMPTS, str(unsendable)
            report.given_up.append(mail_id)
            return
        # Claim the attempt: of two workers that read the same row, one update matches.
        claimed = session.execute(
            update(MailMessage)
            .where(
                MailMessage.id == mail_id,
                MailMessage.sent_at.is_(None),
                MailMessage.attempts == seen,
            )
            .values(attempts=seen + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            return
    # Sent outside the transaction: a slow SMTP server holds no database lock meanwhile.
    try:
        _deliver(message, smtp)
    except (OSError, smtplib.SMTPException) as error:
        log.warning("sending reply %s failed (attempt %s): %s", mail_id, seen + 1, error)
        _record(host, mail_id, last_error=f"{type(error).__name__}: {error}"[:2000])
        report.failed += 1
        if seen + 1 >= MAX_ATTEMPTS:
            report.given_up.append(mail_id)
        return
    _record(host, mail_id, sent_at=clock.now(), last_error="")
    report.sent += 1


def _record(host: Host, mail_id: int, **values: object) -> None:
    with host.transaction() as session:
        session.execute(update(MailMessage).where(MailMessage.id == mail_id).values(**values))
