"""One-time links an agent sets a password with: an invitation, or a password reset."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class LinkPurpose(StrEnum):
    """Why a link was issued: it decides the link's lifetime and the page's wording."""

    INVITATION = "invitation"
    RESET = "reset"


class AgentLink(Base):
    """A one-time set-password link of an agent; only the SHA-256 of its token is stored.

    A link works once, until ``expires_at``, and only while it is the agent's newest: issuing
    another closes the older ones (``revoked_at``), as does deactivating the agent.
    """

    __tablename__ = "agent_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16), doc="'invitation' or 'reset'")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None] = mapped_column(
        doc="When a newer link or the agent's deactivation closed it."
    )
