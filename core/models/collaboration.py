"""Working together on customers: comments with @mentions, follows and the notification centre."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.models.types import BigID, JSONDoc


class CustomerComment(Base):
    """A note on a contact or an account, visible to the team, editable by its author."""

    __tablename__ = "customer_comment"
    __table_args__ = (
        CheckConstraint("(contact_id IS NULL) <> (account_id IS NULL)", name="one_customer"),
        Index("ix_customer_comment_contact", "contact_id", "created_at"),
        Index("ix_customer_comment_account", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("contact.id", ondelete="CASCADE")
    )
    account_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("account.id", ondelete="CASCADE")
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    mentioned_agent_ids: Mapped[list[int]] = mapped_column(JSONDoc, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    author = relationship("Agent", lazy="joined")


class Follow(Base):
    """An agent following a contact or an account, to be notified of what happens to it."""

    __tablename__ = "customer_follow"
    __table_args__ = (
        CheckConstraint("(contact_id IS NULL) <> (account_id IS NULL)", name="one_customer"),
        UniqueConstraint("agent_id", "contact_id", name="uq_customer_follow_agent_contact"),
        UniqueConstraint("agent_id", "account_id", name="uq_customer_follow_agent_account"),
        Index("ix_customer_follow_contact", "contact_id"),
        Index("ix_customer_follow_account", "account_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("contact.id", ondelete="CASCADE")
    )
    account_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("account.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime]


class NotificationKind(StrEnum):
    """Why an agent is notified."""

    MENTION = "mention"
    COMMENT = "comment"
    NEW_TICKET = "new_ticket"
    REPLY = "reply"


class Notification(Base):
    """One entry in an agent's notification centre; unread until ``read_at`` is set."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_recipient", "agent_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("contact.id", ondelete="CASCADE")
    )
    account_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("account.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("ticket.id", ondelete="CASCADE")
    )
    comment_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("customer_comment.id", ondelete="CASCADE")
    )
    summary: Mapped[str] = mapped_column(String(500), doc="One line, in the actor's words.")
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
