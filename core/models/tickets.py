"""Tickets and what hangs off them: statuses, threads, ratings, time entries, activities, files."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.models.types import BigID


class StatusType(StrEnum):
    """The three kinds of status every status, built in or custom, belongs to."""

    OPEN = "open"
    ON_HOLD = "on_hold"
    CLOSED = "closed"


class RaisedBy(StrEnum):
    """Who opened a ticket: the customer, or an agent on the customer's behalf."""

    CUSTOMER = "customer"
    AGENT = "agent"


class ThreadKind(StrEnum):
    """What a thread is; only ``outgoing`` threads by agents are public agent replies."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"
    COMMENT = "comment"
    NOTIFICATION = "notification"


#: Threads that are reactions on a customer's Reactions timeline when an agent wrote them.
REACTION_THREAD_KINDS = (ThreadKind.OUTGOING.value, ThreadKind.COMMENT.value)


class Rating(StrEnum):
    """Happiness ratings."""

    GOOD = "good"
    OKAY = "okay"
    BAD = "bad"


class ActivityKind(StrEnum):
    """Activities logged against customers or tickets."""

    CALL = "call"
    EVENT = "event"
    TASK = "task"


class TicketStatus(Base):
    """A status a ticket can have; the built-in ones and custom ones, each of one type."""

    __tablename__ = "ticket_status"
    __table_args__ = (
        Index("ix_ticket_status_requirement", "installation_id", "requirement_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    status_type: Mapped[str] = mapped_column(String(16))
    is_builtin: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(
        default=True,
        server_default=true(),
        doc="Offered as a choice; a retired custom status stays on the tickets that have it.",
    )
    installation_id: Mapped[int | None] = mapped_column(
        ForeignKey("installation.id", ondelete="RESTRICT"),
        doc="The installation whose manifest declared it (None: built in or an admin's); "
        "its purge removes it.",
    )
    requirement_key: Mapped[str | None] = mapped_column(
        String(63),
        doc="The key of its declaration in that manifest's ``requirements``. When a newer "
        "version no longer declares it, the status is released to the desk (``installation_id`` "
        "cleared) but keeps this key, so that a later version declaring it again takes the "
        "status back with its tickets (while it still has the declared name).",
    )


class Ticket(Base):
    """A customer's request, owned by one department."""

    __tablename__ = "ticket"
    __table_args__ = (
        UniqueConstraint("number"),
        Index("ix_ticket_department_created", "department_id", "created_at"),
        Index("ix_ticket_contact_created", "contact_id", "created_at"),
        Index("ix_ticket_account_created", "account_id", "created_at"),
        Index("ix_ticket_status_type", "status_type"),
        # A customer's Reactions timeline walks their tickets by their latest reaction.
        Index("ix_ticket_contact_reaction", "contact_id", "last_reaction_at"),
        Index("ix_ticket_account_reaction", "account_id", "last_reaction_at"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    number: Mapped[int]
    subject: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(100))
    status_type: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(20), default="medium")
    channel: Mapped[str] = mapped_column(String(40))
    classification: Mapped[str] = mapped_column(String(60), default="")
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    contact_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("contact.id", ondelete="SET NULL")
    )
    account_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("account.id", ondelete="SET NULL")
    )
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("agent.id", ondelete="SET NULL"), index=True
    )
    raised_by: Mapped[str] = mapped_column(String(16), default=RaisedBy.CUSTOMER.value)
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(doc="Time of the last close, if closed.")
    last_reaction_at: Mapped[datetime | None] = mapped_column(
        doc="No reaction on the ticket (agent reply, comment, rating) is later: the bound the "
        "Reactions timeline reads customers' tickets by (None: none yet)."
    )
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    merged_into_id: Mapped[int | None] = mapped_column(
        BigID,
        ForeignKey("ticket.id", ondelete="SET NULL"),
        doc="The ticket this one was merged into (its conversation moved there).",
    )

    department = relationship("Department", lazy="joined")
    contact = relationship("Contact", lazy="joined")
    account = relationship("Account", lazy="joined")
    assignee = relationship("Agent", lazy="joined")


class StatusChange(Base):
    """One status change of a ticket; close/reopen intervals are read from these."""

    __tablename__ = "ticket_status_change"
    __table_args__ = (Index("ix_status_change_ticket", "ticket_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigID, ForeignKey("ticket.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(100))
    from_type: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(100))
    to_type: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime]


class Thread(Base):
    """A message on a ticket: incoming, outgoing, internal comment or automatic notification."""

    __tablename__ = "thread"
    __table_args__ = (Index("ix_thread_ticket_created", "ticket_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigID, ForeignKey("ticket.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(40))
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    author_contact_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("contact.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    @property
    def is_public_agent_reply(self) -> bool:
        """An outgoing thread written by an agent (not a comment nor a notification)."""
        return self.kind == ThreadKind.OUTGOING and self.author_agent_id is not None

    @property
    def is_reaction(self) -> bool:
        """A reply or a comment written by an agent (a line of the Reactions timeline)."""
        return self.kind in REACTION_THREAD_KINDS and self.author_agent_id is not None


class HappinessRating(Base):
    """A customer's rating of a ticket; the latest one per ticket counts."""

    __tablename__ = "happiness_rating"
    __table_args__ = (Index("ix_rating_ticket_created", "ticket_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigID, ForeignKey("ticket.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("contact.id", ondelete="SET NULL")
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    rating: Mapped[str] = mapped_column(String(8))
    feedback: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class TimeEntry(Base):
    """Time an agent logged on a ticket."""

    __tablename__ = "time_entry"
    __table_args__ = (Index("ix_time_entry_ticket", "ticket_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigID, ForeignKey("ticket.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    seconds: Mapped[int]
    billable: Mapped[bool] = mapped_column(default=False)
    billed: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    logged_at: Mapped[datetime]


class Activity(Base):
    """A call, event or task about a contact, an account or a ticket."""

    __tablename__ = "activity"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    contact_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("contact.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("account.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("ticket.id", ondelete="CASCADE")
    )
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    is_spam: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]


class Attachment(Base):
    """File metadata; the bytes live on disk under the configured attachments directory."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("ticket.id", ondelete="CASCADE"), index=True
    )
    thread_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("thread.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("contact.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("account.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    note: Mapped[str] = mapped_column(Text, default="")
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
