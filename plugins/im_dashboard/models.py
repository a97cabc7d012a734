"""IM Dashboard's own tables.

Every row carries its installation; host ids are plain integers (no foreign keys to the host's
tables).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hostapi.columns import UTCDateTime


class Base(DeclarativeBase):
    """The extension's own declarative base, apart from the host's."""

    metadata = MetaData()


class ChannelAccount(Base):
    """A messaging account connected by an admin: a WhatsApp number, a Telegram bot, a LINE
    channel or a WeChat Official Account, whose conversations go to one department.

    Its credentials are installation secrets (``channels.secret_key``), encrypted at rest;
    ``identifiers`` keeps the public ones (a WhatsApp phone number id, a WeChat app id).
    """

    __tablename__ = "im_dashboard_channel_account"
    __table_args__ = (
        UniqueConstraint("installation_id", "name", name="uq_im_dashboard_channel_account_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer, index=True)
    #: ``whatsapp``, ``telegram``, ``line`` or ``wechat``.
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    department_id: Mapped[int] = mapped_column(BigInteger)
    identifiers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InboundEvent(Base):
    """One event a platform's webhook delivered (a message, a delivery status…), stored once
    per account whatever the redeliveries: ``event_key`` is the platform's own id of it.

    ``payload`` is the event as the platform sent it (one event of a batch); ``processed_at``
    stays empty until the event has been turned into chat records.
    """

    __tablename__ = "im_dashboard_inbound_event"
    __table_args__ = (
        UniqueConstraint(
            "channel_account_id", "event_key", name="uq_im_dashboard_inbound_event_key"
        ),
        # The events waiting to be filed, oldest first, without reading those filed before.
        Index(
            "ix_im_dashboard_inbound_event_waiting",
            "installation_id",
            "id",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer, index=True)
    channel_account_id: Mapped[int] = mapped_column(Integer)
    #: ``message``, ``status`` (WhatsApp's delivery statuses) or ``event`` (follows, joins…).
    kind: Mapped[str] = mapped_column(String(20))
    event_key: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Chat(Base):
    """One conversation of one channel user on one channel account.

    It starts with the user's message when they have no open chat and none ended within the
    reopen window; ``started_at`` is the earliest customer message in it (a late delivery of
    an earlier message moves it). It is assigned to an agent (``assignee_id``), accepted by
    them (``accepted_at``, for the current assignment), ended (``ended_at``: the last end,
    empty while open; the assignee stays) and may be reopened.

    The durations the dashboard averages are kept with the events that end them:
    ``first_accept_seconds`` (first accept − start), ``first_response_seconds`` (first agent
    message − start) and ``time_to_end_seconds`` (last end − start − ``ended_seconds``, the
    time spent ended before reopens).
    """

    __tablename__ = "im_dashboard_chat"
    __table_args__ = (
        Index("ix_im_dashboard_chat_user", "channel_account_id", "external_user_id", "id"),
        Index("ix_im_dashboard_chat_inbox", "installation_id", "status", "last_message_at"),
        Index("ix_im_dashboard_chat_started", "installation_id", "started_at"),
        Index("ix_im_dashboard_chat_ended", "installation_id", "ended_at"),
        Index("ix_im_dashboard_chat_accepted", "installation_id", "first_accepted_at"),
        Index("ix_im_dashboard_chat_responded", "installation_id", "first_response_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer)
    channel_account_id: Mapped[int] = mapped_column(Integer)
    #: The account's channel (``line``…), kept here for the channel filter.
    channel: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int] = mapped_column(BigInteger)
    #: The user's id on the channel: where replies go.
    external_user_id: Mapped[str] = mapped_column(String(200))
    user_name: Mapped[str] = mapped_column(String(200), default="")
    contact_id: Mapped[int] = mapped_column(BigInteger)
    #: The contact had no earlier chat or ticket when the chat started.
    contact_was_new: Mapped[bool] = mapped_column(Boolean)
    #: ``open`` or ``ended``.
    status: Mapped[str] = mapped_column(String(10))
    assignee_id: Mapped[int | None] = mapped_column(BigInteger)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_customer_message_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_agent_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The earliest customer message no agent message has answered yet.
    awaiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    first_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_accepted_by: Mapped[int | None] = mapped_column(BigInteger)
    first_accept_seconds: Mapped[float | None] = mapped_column(Float)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_response_by: Mapped[int | None] = mapped_column(BigInteger)
    first_response_seconds: Mapped[float | None] = mapped_column(Float)
    time_to_end_seconds: Mapped[float | None] = mapped_column(Float)
    #: The ticket the chat was converted to.
    ticket_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChatMessage(Base):
    """A message of a chat: the user's (``in``) or an agent's (``out``).

    ``sent_at`` is the message's time: the platform's timestamp for the user's, the time the
    agent sent it for ours. An agent message answering customer messages carries
    ``response_seconds`` (its time − the earliest of them). Ours go through the channel's API
    from a job: ``delivery`` is ``sending``, ``sent``, ``delivered``, ``read`` or ``failed``
    (with ``error``).
    """

    __tablename__ = "im_dashboard_chat_message"
    __table_args__ = (
        UniqueConstraint(
            "channel_account_id",
            "direction",
            "platform_message_id",
            name="uq_im_dashboard_chat_message_platform_id",
        ),
        Index("ix_im_dashboard_chat_message_chat", "chat_id", "sent_at"),
        Index("ix_im_dashboard_chat_message_sent", "installation_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    channel_account_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(20))
    #: The chat's department (kept here, as ``channel``, for the dashboard's filters).
    department_id: Mapped[int] = mapped_column(BigInteger)
    #: ``in`` (the user's) or ``out`` (an agent's).
    direction: Mapped[str] = mapped_column(String(3))
    #: The platform's id (empty for ours until the platform has accepted it).
    platform_message_id: Mapped[str | None] = mapped_column(String(200))
    agent_id: Mapped[int | None] = mapped_column(BigInteger)
    #: ``text``, ``image``, ``video``, ``audio``, ``file``, ``sticker``, ``location``, ``other``.
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    location: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The platform's own name of the type (kept for ``other``).
    platform_type: Mapped[str] = mapped_column(String(40), default="")
    #: The stored webhook event the message came in (its raw payload).
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    response_seconds: Mapped[float | None] = mapped_column(Float)
    delivery: Mapped[str | None] = mapped_column(String(12))
    delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChatActivity(Base):
    """Something that happened to a chat other than a message: ``assigned`` (``agent_id`` is
    the assignee), ``accepted``, ``ended``, ``reopened`` (``agent_id`` is the assignee at the
    time) or ``converted`` (to ticket ``ticket_id``).

    ``by_agent_id`` is who did it; empty when the desk did (round-robin) or the user did
    (a message reopening the chat). ``cause`` says which: ``agent``, ``round_robin`` or
    ``customer``.
    """

    __tablename__ = "im_dashboard_chat_activity"
    __table_args__ = (
        Index("ix_im_dashboard_chat_activity_chat", "chat_id", "at"),
        Index("ix_im_dashboard_chat_activity_at", "installation_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    agent_id: Mapped[int | None] = mapped_column(BigInteger)
    by_agent_id: Mapped[int | None] = mapped_column(BigInteger)
    cause: Mapped[str] = mapped_column(String(12))
    ticket_id: Mapped[int | None] = mapped_column(BigInteger)


class Rotation(Base):
    """Round-robin's place in a department: the agent who took its last chat."""

    __tablename__ = "im_dashboard_rotation"

    installation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    last_agent_id: Mapped[int] = mapped_column(BigInteger)


class DrainLock(Base):
    """One row per installation, locked by the job turning webhook events into chats, so that
    one such job runs at a time (two would both start a chat for one new user)."""

    __tablename__ = "im_dashboard_drain_lock"

    installation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drained_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class _QuarterHourKey:
    """The key of a tally row: the installation, the quarter hour (``slot``: its start, in
    seconds since the epoch), the department and the channel."""

    installation_id: Mapped[int] = mapped_column(Integer)
    slot: Mapped[int] = mapped_column(BigInteger)
    department_id: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(20))


#: The columns of a tally row's key, in the order its primary key (and index) has them.
_TALLY_KEY = ("installation_id", "slot", "department_id", "channel")


class _Timings:
    """First accepts, first agent messages and replies (agent messages answering customer
    messages), each as a count and the sum of its seconds."""

    first_accepts: Mapped[int] = mapped_column(Integer, default=0)
    first_accept_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    first_responses: Mapped[int] = mapped_column(Integer, default=0)
    first_response_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    reply_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class Tally(_QuarterHourKey, _Timings, Base):
    """The dashboard's figures of one quarter hour, department and channel, summed from the
    chat records and recomputed from them whenever a record of that quarter hour changes
    (``tally``)."""

    __tablename__ = "im_dashboard_tally"
    # On SQLite the rows are kept in key order: a period's are read in one sweep.
    __table_args__ = (PrimaryKeyConstraint(*_TALLY_KEY), {"sqlite_with_rowid": False})

    #: Chats started: the contact was new or not; assigned now.
    chats_new: Mapped[int] = mapped_column(Integer, default=0)
    chats_existing: Mapped[int] = mapped_column(Integer, default=0)
    chats_assigned: Mapped[int] = mapped_column(Integer, default=0)
    messages_in: Mapped[int] = mapped_column(Integer, default=0)
    messages_out: Mapped[int] = mapped_column(Integer, default=0)
    #: Chats whose last end this is, and their times to end.
    ended: Mapped[int] = mapped_column(Integer, default=0)
    end_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class AgentTally(_QuarterHourKey, _Timings, Base):
    """One agent's share of a quarter hour's figures: assignments to them, reopens of chats
    assigned to them then, and the timings they made. Kept apart from :class:`Tally`, whose
    rows the trend reads, as most rows are an agent's."""

    __tablename__ = "im_dashboard_agent_tally"
    __table_args__ = (
        PrimaryKeyConstraint(*_TALLY_KEY, "agent_id"),
        {"sqlite_with_rowid": False},
    )

    agent_id: Mapped[int] = mapped_column(BigInteger)
    assignments: Mapped[int] = mapped_column(Integer, default=0)
    reopens: Mapped[int] = mapped_column(Integer, default=0)


class TallyLock(Base):
    """One row per installation, locked by a transaction while it recomputes the
    installation's tallies, so that one at a time does (each then reads what the one before
    committed)."""

    __tablename__ = "im_dashboard_tally_lock"

    installation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
