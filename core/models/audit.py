"""The audit log: who did what, when, from where, with the values before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.models.types import BigID, JSONDoc


class AuditEntry(Base):
    """One audited action on one record (``entity_type`` + ``entity_id``)."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entity", "entity_type", "entity_id", "at"),
        # The audit log page lists entries newest first by (at, id), by agent or not.
        Index("ix_audit_at", "at", "id"),
        Index("ix_audit_actor", "actor_agent_id", "at", "id"),
        # A contact's or an account's History tab lists its entries newest first.
        Index("ix_audit_contact", "contact_id", "at", "id"),
        Index("ix_audit_account", "account_id", "at", "id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    at: Mapped[datetime]
    actor_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(
        String(200),
        default="",
        doc="Who acted when not an agent: 'system', 'import', 'extension:<id>'.",
    )
    ip_address: Mapped[str | None] = mapped_column(String(64))
    installation_id: Mapped[int | None] = mapped_column(
        doc="The extension installation that acted (its plugin context or its OAuth token). "
        "No foreign key: the entry outlives an installation removed with its data."
    )
    action: Mapped[str] = mapped_column(String(16), doc="add, update, delete or export")
    entity_type: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str] = mapped_column(String(60))
    sub_action: Mapped[str] = mapped_column(String(200), default="")
    contact_id: Mapped[int | None] = mapped_column(
        BigID,
        doc="The contact whose history the entry belongs to: the contact itself, or the "
        "contact of its comment, attachment or activity. No foreign key: the history outlives "
        "the contact.",
    )
    account_id: Mapped[int | None] = mapped_column(
        BigID, doc="The account whose history the entry belongs to, as ``contact_id``."
    )
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
