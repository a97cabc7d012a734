"""Agents' second sign-in factor: an authenticator (TOTP) secret and single-use recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class AgentTwoFactor(Base):
    """An agent's authenticator secret (encrypted with the host's key), one row per agent.

    The row exists from the moment enrolment starts; two-factor sign-in is on only once the
    agent confirmed it with a first code (``confirmed_at`` set).
    """

    __tablename__ = "agent_two_factor"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agent.id", ondelete="CASCADE"), primary_key=True
    )
    secret_encrypted: Mapped[str] = mapped_column(
        String(500), doc="The base32 TOTP secret, Fernet-encrypted (core.crypto)."
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(
        doc="When the agent confirmed enrolment with a code; None while it waits for one."
    )
    last_used_step: Mapped[int | None] = mapped_column(
        doc="The 30-second time step of the last accepted code: it and older ones are refused, "
        "so a code seen over a shoulder cannot be used again."
    )
    created_at: Mapped[datetime]


class RecoveryCode(Base):
    """One single-use recovery code of an agent; only its SHA-256 is stored."""

    __tablename__ = "agent_recovery_code"
    __table_args__ = (Index("ix_agent_recovery_code_agent", "agent_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
