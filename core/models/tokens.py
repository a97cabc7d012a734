"""Bearer tokens: OAuth access tokens and agents' personal access tokens, stored hashed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.models.org import Agent


class AccessToken(Base):
    """A bearer token bound to an agent, with scopes; only its SHA-256 is stored."""

    __tablename__ = "access_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_hint: Mapped[str] = mapped_column(String(12), doc="The first characters, for lists.")
    name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16), doc="'personal' or 'oauth'")
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    installation_id: Mapped[int | None] = mapped_column(
        ForeignKey("installation.id", ondelete="CASCADE")
    )
    scopes: Mapped[str] = mapped_column(String(2000), doc="Space-separated scopes.")
    client_id: Mapped[str | None] = mapped_column(
        String(64), index=True, doc="The OAuth client it was issued to (OAuth tokens)."
    )
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    refresh_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    agent: Mapped[Agent] = relationship(lazy="joined")

    @property
    def scope_set(self) -> frozenset[str]:
        """The token's scopes as a set."""
        return frozenset(self.scopes.split())
