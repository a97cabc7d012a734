"""IM Dashboard's own tables.

Every row carries its installation; host ids are plain integers (no foreign keys to the host's
tables).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, MetaData, String, UniqueConstraint
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
