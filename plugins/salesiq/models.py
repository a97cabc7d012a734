"""SalesIQ's own tables.

Every row carries its installation; host ids (agents, departments, tickets, contacts) are plain
integers, with no foreign keys to the host's tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hostapi.columns import UTCDateTime

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    """The extension's own declarative base, apart from the host's."""

    metadata = MetaData()


class Link(Base):
    """The chat-product account linked to the installation, and who linked it.

    ``state`` is ``active``, ``disabled`` (by an admin) or ``relink`` (the linking admin was
    deactivated: an administrator must link again). The product's API token is an
    installation secret; ``client_id`` is the desk's OAuth client the product calls the desk
    with, once an admin authorized it.
    """

    __tablename__ = "salesiq_link"

    installation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    base_url: Mapped[str] = mapped_column(String(500))
    portal: Mapped[str] = mapped_column(String(100))
    operator_email: Mapped[str] = mapped_column(String(320))
    operator_name: Mapped[str] = mapped_column(String(200), default="")
    linked_by_agent_id: Mapped[int] = mapped_column(BigInteger)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(20))
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    public_key: Mapped[str] = mapped_column(Text)
    webhook_id: Mapped[str] = mapped_column(String(100), default="")
    client_id: Mapped[str] = mapped_column(String(64), default="")
    #: Where the product starts the admin's authorization of it (it said so on linking).
    connect_url: Mapped[str] = mapped_column(String(500), default="")


class ChatDepartment(Base):
    """A department of the chat product and what it is to the desk.

    ``mode`` is ``mapped`` (to ``desk_department_id``), ``none`` (no integration: nothing
    shown, nothing converted), ``view_only`` (existing tickets shown; nothing created or
    changed) or ``choose`` (the agent picks the desk department and the rest on converting).
    ``auto_mapped`` marks a mapping made by name, which the admin is told about until they
    dismiss the notice (``notice``) or unlink it (back to ``choose``).
    """

    __tablename__ = "salesiq_department"
    __table_args__ = (
        UniqueConstraint(
            "installation_id", "chat_department_id", name="uq_salesiq_department_chat_id"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer, index=True)
    chat_department_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20))
    desk_department_id: Mapped[int | None] = mapped_column(BigInteger)
    auto_mapped: Mapped[bool] = mapped_column(Boolean, default=False)
    notice: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InboundEvent(Base):
    """One webhook event of the chat product, stored once whatever the redeliveries
    (``event_id`` is the product's id of it) and applied by a job (``processed_at``), which
    says what it did in ``outcome``."""

    __tablename__ = "salesiq_event"
    __table_args__ = (
        UniqueConstraint("installation_id", "event_id", name="uq_salesiq_event_id"),
        Index(
            "ix_salesiq_event_waiting",
            "installation_id",
            "id",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(300), default="")


class Chat(Base):
    """A chat of the product as its latest event described it, and its ticket.

    ``messages`` are the transcript as the product sent it (``sender``, ``operator_email``,
    ``text``, ``time`` ISO-8601); ``messages_in_ticket`` counts those already written to the
    ticket, so a chat converted when answered gets the rest when it ends. ``converted_by`` is
    ``rule``, ``agent`` (by hand in the chat window) or ``merge`` (added to an existing
    ticket); ``skipped`` says why the rule did not convert it (no email, department mode…).
    """

    __tablename__ = "salesiq_chat"
    __table_args__ = (
        UniqueConstraint("installation_id", "chat_id", name="uq_salesiq_chat_id"),
        Index("ix_salesiq_chat_ticket", "installation_id", "ticket_id"),
        Index("ix_salesiq_chat_started", "installation_id", "started_at", "id"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer)
    chat_id: Mapped[str] = mapped_column(String(100))
    chat_department_id: Mapped[str] = mapped_column(String(40))
    visitor_id: Mapped[str] = mapped_column(String(100))
    visitor_name: Mapped[str] = mapped_column(String(200), default="")
    visitor_email: Mapped[str] = mapped_column(String(320), default="")
    visitor_phone: Mapped[str] = mapped_column(String(50), default="")
    question: Mapped[str] = mapped_column(Text, default="")
    #: ``waiting``, ``attended``, ``missed`` or ``ended``.
    status: Mapped[str] = mapped_column(String(20))
    attended_by_email: Mapped[str] = mapped_column(String(320), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    contact_id: Mapped[int | None] = mapped_column(BigInteger)
    ticket_id: Mapped[int | None] = mapped_column(BigInteger)
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    converted_by: Mapped[str] = mapped_column(String(20), default="")
    messages_in_ticket: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[str] = mapped_column(String(200), default="")
    #: The time of the event whose description the row holds: an older event arriving late
    #: does not undo a newer one.
    described_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KbSync(Base):
    """The knowledge-base sync's settings, schedule and last run.

    ``visibility`` says which desk articles go (``all``: those for all users, ``registered``:
    those for registered users, ``both``); ``article_status`` the status they get in the
    product (``published`` or ``draft``); ``interval`` is ``daily``, ``weekly`` or
    ``monthly``. ``first_sync_at`` is the first scheduled sync after the sync was enabled or
    its interval changed (the series' weekday or day of month); ``next_sync_at`` the next one.
    ``state`` is ``idle``, ``running`` or ``failed``; a run's counts are in ``last_result``.
    """

    __tablename__ = "salesiq_kb_sync"

    installation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    visibility: Mapped[str] = mapped_column(String(20), default="all")
    article_status: Mapped[str] = mapped_column(String(20), default="published")
    interval: Mapped[str] = mapped_column(String(20), default="daily")
    first_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(20), default="idle")
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KbCategoryLink(Base):
    """A desk knowledge-base category whose articles sync to one chat department (a category
    goes to one department only)."""

    __tablename__ = "salesiq_kb_category"
    __table_args__ = (
        UniqueConstraint("installation_id", "kb_category_id", name="uq_salesiq_kb_category"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer)
    chat_department_id: Mapped[str] = mapped_column(String(40))
    kb_category_id: Mapped[int] = mapped_column(BigInteger)


class SyncedArticle(Base):
    """A desk article as last synced: the product's id of it and a digest of what was sent,
    so that an unchanged article is not sent again."""

    __tablename__ = "salesiq_kb_article"
    __table_args__ = (
        UniqueConstraint("installation_id", "article_id", name="uq_salesiq_kb_article"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer)
    article_id: Mapped[int] = mapped_column(BigInteger)
    product_article_id: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime())
