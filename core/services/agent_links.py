"""One-time set-password links: an invitation for a new agent, a reset for one who forgot.

A link carries a random token; the database keeps only its SHA-256, so the plaintext exists
in the answer to the admin who issued it (shown once), in the mail sent to the agent, or in the
CLI's output, and nowhere else. A link works once, until it expires (:data:`LIFETIMES`), and
only while it is the agent's newest: issuing another closes the older ones, and deactivating
the agent closes them all. Setting the password from a link ends every session the agent held
(:func:`core.services.org.end_sessions`).

Mail is sent synchronously, with a short timeout: queueing it for the worker would store the
token in clear in the queue. When sending fails the caller learns why and may show the link.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from enum import StrEnum

from flask_babel import force_locale, gettext
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from core.config import SmtpSettings
from core.errors import Message, ValidationFailed
from core.models import Agent, AgentLink, LinkPurpose
from core.services import org
from core.services.base import Unit
from hostapi import clock, events

log = logging.getLogger(__name__)

#: How long a link works: an invitation waits for a new colleague's first day, a reset for
#: someone at their desk now.
LIFETIMES: dict[str, timedelta] = {
    LinkPurpose.INVITATION: timedelta(hours=72),
    LinkPurpose.RESET: timedelta(hours=1),
}
#: A link's token starts with this, so a leaked one is recognisable (secret scanners, logs).
TOKEN_PREFIX = "dhl_"
SMTP_TIMEOUT_SECONDS = 10
_FALLBACK_FROM = "deskhost@localhost"


class LinkState(StrEnum):
    """What a token names: a link that works, or why it does not."""

    VALID = "valid"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    REPLACED = "replaced"


#: Why a link that does not work was refused, by its state.
_REFUSED_LINK: dict[LinkState, Message] = {
    LinkState.UNKNOWN: Message("The link is unknown."),
    LinkState.EXPIRED: Message("The link is expired."),
    LinkState.USED: Message("The link is used."),
    LinkState.REPLACED: Message("The link is replaced."),
}


@dataclass(frozen=True)
class IssuedLink:
    """A link just issued: its record and its token (plaintext: mail or show it once)."""

    link: AgentLink
    token: str


@dataclass(frozen=True)
class FoundLink:
    """The link a token names (``None`` when unknown) and its state."""

    link: AgentLink | None
    state: LinkState


def hash_token(token: str) -> str:
    """The SHA-256 (hex) a link's token is stored and looked up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(unit: Unit, agent: Agent, purpose: str) -> IssuedLink:
    """Issue a new link for ``agent`` and close their older ones.

    An invitation (or a reset for someone else) needs ``agent.manage``; a reset the agent asked
    for by email is issued by the system actor of the reset page.

    :raises ValidationFailed: an unknown ``purpose``, or an inactive agent.
    """
    if purpose not in LIFETIMES:
        choices = ", ".join(LIFETIMES)
        raise ValidationFailed(
            {"purpose": [Message("Choose one of: %(choices)s.", choices=choices)]}
        )
    if unit.actor.agent_id != agent.id:
        org.require_may_manage(unit, agent)
    if not agent.is_active:
        raise ValidationFailed(
            {"agent": [Message("The agent is inactive: reactivate them first.")]}
        )
    now = clock.now()
    revoke_links(unit.session, agent)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    link = AgentLink(
        agent_id=agent.id,
        purpose=purpose,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + LIFETIMES[purpose],
    )
    unit.session.add(link)
    unit.session.flush()
    unit.audit(
        "add",
        "agent_link",
        link.id,
        sub_action=purpose,
        after={"agent_id": agent.id, "expires_at": link.expires_at.isoformat()},
    )
    return IssuedLink(link, token)


def revoke_links(session: Session, agent: Agent) -> int:
    """Close every open link of ``agent`` (a newer link, a deactivation); how many were open."""
    result = session.execute(
        update(AgentLink)
        .where(
            AgentLink.agent_id == agent.id,
            AgentLink.used_at.is_(None),
            AgentLink.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def find_link(session: Session, token: str) -> FoundLink:
    """The link ``token`` names and whether it still works (its agent active included)."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return FoundLink(None, LinkState.UNKNOWN)
    link = session.scalar(select(AgentLink).where(AgentLink.token_hash == hash_token(token)))
    if link is None:
        return FoundLink(None, LinkState.UNKNOWN)
    if link.used_at is not None:
        return FoundLink(link, LinkState.USED)
    if link.revoked_at is not None:
        return FoundLink(link, LinkState.REPLACED)
    agent = session.get(Agent, link.agent_id)
    if agent is None or not agent.is_active:
        return FoundLink(link, LinkState.REPLACED)
    if link.expires_at <= clock.now():
        return FoundLink(link, LinkState.EXPIRED)
    return FoundLink(link, LinkState.VALID)


def use_link(unit: Unit, token: str, password: str) -> Agent:
    """Set the password of the agent whose valid link ``token`` is, and spend the link.

    Every session the agent held ends; their other links close. The unit's actor is the
    system actor of the set-password page: the token is the proof.

    :raises ValidationFailed: on ``token`` (unknown, used, replaced, expired) or ``password``.
    """
    found = find_link(unit.session, token)
    if found.state is not LinkState.VALID or found.link is None:
        raise ValidationFailed({"token": [_REFUSED_LINK[found.state]]})
    link = found.link
    new_password = org.check_new_password(password, "password")
    agent = unit.session.get(Agent, link.agent_id)
    assert agent is not None  # find_link checked it
    now = clock.now()
    # Spend it with a guarded update: of two submissions of one link, one wins.
    spent = unit.session.execute(
        update(AgentLink)
        .where(AgentLink.id == link.id, AgentLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session="fetch")
    )
    if not getattr(spent, "rowcount", 0):
        raise ValidationFailed({"token": [_REFUSED_LINK[LinkState.USED]]})
    revoke_links(unit.session, agent)
    agent.password_hash = generate_password_hash(new_password)
    org.end_sessions(agent)
    unit.session.flush()
    unit.audit("update", "agent", agent.id, sub_action="password", after={"link": link.purpose})
    unit.emit(events.AGENT_UPDATED, {"agent_id": agent.id, "changes": {"password": None}})
    return agent


# ----------------------------------------------------------------------------------- mail


class MailNotSent(Exception):
    """The link could not be mailed; the message says why (shown to the admin)."""


def compose_mail(
    agent: Agent, url: str, purpose: str, *, sender: str, locale: str, desk_name: str
) -> EmailMessage:
    """The email carrying a link, in ``locale``."""
    hours = int(LIFETIMES[purpose].total_seconds() // 3600)
    with force_locale(locale):
        if purpose == LinkPurpose.INVITATION:
            subject = gettext("Your %(desk)s account: set your password", desk=desk_name)
            opening = gettext(
                "An administrator added you as an agent of %(desk)s. Set your password with "
                "this link to sign in:",
                desk=desk_name,
            )
        else:
            subject = gettext("Reset your %(desk)s password", desk=desk_name)
            opening = gettext(
                "Someone asked to reset the password of your %(desk)s account. If it was you, "
                "set a new password with this link:",
                desk=desk_name,
            )
        closing = gettext(
            "The link works once, for %(hours)d hours. If you did not expect this email, "
            "ignore it.",
            hours=hours,
        )
    message = EmailMessage()
    message["From"] = sender
    message["To"] = agent.email
    message["Subject"] = subject
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message.set_content(f"{opening}\n\n{url}\n\n{closing}\n")
    return message


def send_mail(smtp: SmtpSettings, message: EmailMessage) -> None:
    """Send ``message`` now, waiting at most :data:`SMTP_TIMEOUT_SECONDS` per step.

    :raises MailNotSent: SMTP is not configured, or the server refused or did not answer.
    """
    if not smtp.host:
        raise MailNotSent("Mail is not configured (DESKHOST_SMTP_HOST).")
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT_SECONDS) as connection:
            if smtp.starttls:
                connection.starttls()
            if smtp.username:
                connection.login(smtp.username, smtp.password)
            connection.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        log.warning("sending a set-password link failed: %s", error)
        raise MailNotSent(f"{type(error).__name__}: {error}") from error


def sender_of(smtp: SmtpSettings) -> str:
    """The From address of link mail: the configured sender, else a local placeholder."""
    return smtp.from_address or _FALLBACK_FROM


@dataclass(frozen=True)
class Delivery:
    """How an issued link reached its agent: mailed, or ``url`` to hand over (shown once)."""

    url: str | None
    expires_at: datetime
    mailed: bool
    error: str | None


def deliver(
    session: Session, smtp: SmtpSettings, agent: Agent, issued: IssuedLink, url: str
) -> Delivery:
    """Mail ``url`` (the link of ``issued``) to ``agent`` when SMTP is configured.

    Mailed: the answer holds no URL, so the link exists only in the agent's mailbox. Not
    mailed (no SMTP, or sending failed: ``error`` says why): the URL, for the caller to show
    once. Call it after the link's transaction committed: a link mailed and then rolled back
    would not work.
    """
    expires_at = issued.link.expires_at
    if not smtp.host:
        return Delivery(url, expires_at, mailed=False, error=None)
    organisation = org.get_organisation(session)
    message = compose_mail(
        agent,
        url,
        issued.link.purpose,
        sender=sender_of(smtp),
        locale=agent.locale or organisation.default_locale or "en",
        desk_name=organisation.name,
    )
    try:
        send_mail(smtp, message)
    except MailNotSent as error:
        return Delivery(url, expires_at, mailed=False, error=str(error))
    return Delivery(None, expires_at, mailed=True, error=None)
