"""Ways in: spam rules, the spam list, and the email Message-IDs that thread replies."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from core.db import Base
from core.models.types import BigID, JSONDoc


class SpamRuleKind(StrEnum):
    """What a spam rule looks at."""

    SENDER = "sender"
    DOMAIN = "domain"
    HEADER = "header"
    CONTENT = "content"


class SpamRule(Base):
    """A rule that sends matching inbound messages to the spam list instead of creating tickets."""

    __tablename__ = "spam_rule"
    __table_args__ = (
        Index("ix_spam_rule_requirement", "installation_id", "requirement_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    pattern: Mapped[str] = mapped_column(String(500))
    header_name: Mapped[str | None] = mapped_column(String(200), doc="For header rules only.")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    installation_id: Mapped[int | None] = mapped_column(
        ForeignKey("installation.id", ondelete="RESTRICT"),
        doc="The installation whose manifest declared it (None: an admin's or an agent's); "
        "its purge removes it.",
    )
    requirement_key: Mapped[str | None] = mapped_column(
        String(63),
        doc="The key of its declaration in that manifest's ``requirements``. Unlike a field or "
        "a status, a spam rule holds no data: a newer version that no longer declares it removes "
        "it rather than releasing it to the desk.",
    )
    created_at: Mapped[datetime]


class SpamMessage(Base):
    """An inbound message held as spam: no ticket until an agent releases it."""

    __tablename__ = "spam_message"
    __table_args__ = (Index("ix_spam_message_received", "released_at", "received_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    sender: Mapped[str] = mapped_column(String(320), doc="Email, E.164 phone or channel user id.")
    sender_name: Mapped[str] = mapped_column(String(300), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    raw: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    reason: Mapped[str] = mapped_column(String(300))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    contact_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("contact.id", ondelete="SET NULL")
    )
    account_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("account.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    ticket_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("ticket.id", ondelete="SET NULL"), doc="The ticket made on release."
    )


class MailDirection(StrEnum):
    """Whether a message was received or sent by the desk."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MailMessage(Base):
    """An email's Message-ID and the ticket it belongs to, to thread replies by their headers."""

    __tablename__ = "mail_message"
    __table_args__ = (
        Index("ix_mail_message_ticket", "ticket_id"),
        Index("ix_mail_message_unsent", "direction", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    ticket_id: Mapped[int] = mapped_column(BigID, ForeignKey("ticket.id", ondelete="CASCADE"))
    thread_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("thread.id", ondelete="CASCADE")
    )
    direction: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(doc="Outbound: when the SMTP server took it.")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
