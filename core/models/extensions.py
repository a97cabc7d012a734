"""Extension installations, their storage and hook errors, and the domain-event outbox."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.models.org import Department, PermissionProfile
from core.models.types import BigID, JSONDoc


class InstallationState(StrEnum):
    """The persisted lifecycle of an installation (``marketplace_registry.lifecycle`` moves it).

    ``awaiting_authorization`` → (consent) → ``active`` → (uninstall, keep data) → ``archived``
    → (restore) → ``awaiting_authorization``. Uninstalling with purge deletes the record.
    """

    AWAITING_AUTHORIZATION = "awaiting_authorization"
    ACTIVE = "active"
    ARCHIVED = "archived"
    FAILED = "failed"

    @classmethod
    def live(cls) -> tuple[str, ...]:
        """States of an installation that is installed (not archived)."""
        return (cls.AWAITING_AUTHORIZATION.value, cls.ACTIVE.value, cls.FAILED.value)


installation_departments = Table(
    "installation_department",
    Base.metadata,
    Column("installation_id", ForeignKey("installation.id", ondelete="CASCADE"), primary_key=True),
    Column("department_id", ForeignKey("department.id", ondelete="CASCADE"), primary_key=True),
)

installation_profiles = Table(
    "installation_profile",
    Base.metadata,
    Column("installation_id", ForeignKey("installation.id", ondelete="CASCADE"), primary_key=True),
    Column("profile_id", ForeignKey("permission_profile.id", ondelete="CASCADE"), primary_key=True),
)


class Installation(Base):
    """One installation of one extension: its scope, grant, settings and state."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(primary_key=True)
    plugin_id: Mapped[str] = mapped_column(String(100), index=True)
    plugin_version: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(
        String(200), default="", doc="The admin's name for it, to tell several apart."
    )
    state: Mapped[str] = mapped_column(String(32), default=InstallationState.AWAITING_AUTHORIZATION)
    granted_scopes: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    installed_by_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    terms_accepted_at: Mapped[datetime | None]
    authorized_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("agent.id", ondelete="SET NULL"),
        doc="The agent whose consent the grant carries; the installation's tokens act as them.",
    )
    authorized_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    departments: Mapped[list[Department]] = relationship(
        secondary=installation_departments, lazy="selectin"
    )
    profiles: Mapped[list[PermissionProfile]] = relationship(
        secondary=installation_profiles, lazy="selectin"
    )

    @property
    def department_ids(self) -> frozenset[int]:
        """Departments this installation covers."""
        return frozenset(d.id for d in self.departments)

    @property
    def profile_ids(self) -> frozenset[int]:
        """Permission profiles whose agents see this installation's contributions."""
        return frozenset(p.id for p in self.profiles)

    @property
    def is_active(self) -> bool:
        """True when authorized and installed: its hooks, panels, pages and jobs work."""
        return self.state == InstallationState.ACTIVE.value


class OAuthClient(Base):
    """An OAuth 2.0 client of one installation.

    Every installation has one client whose redirect URI is the host's own callback (the
    in-process extension, a public client using PKCE); an out-of-process extension, or a
    product an installation links, gets a confidential client with its own redirect URIs.
    Only the SHA-256 of a client secret is stored. An uninstall revokes the installation's
    clients; a purge keeps them, revoked and without an installation, so that they can still
    learn at the introspection endpoint that their tokens are dead.
    """

    __tablename__ = "oauth_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    installation_id: Mapped[int | None] = mapped_column(
        ForeignKey("installation.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    redirect_uris: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    is_host_callback: Mapped[bool] = mapped_column(
        default=False, doc="The installation's own client, redirecting to the host's callback."
    )
    is_linked_product: Mapped[bool] = mapped_column(
        default=False,
        server_default=false(),
        doc="A product the installation links: its tokens reach that installation's own "
        "endpoints only, never the rest of the API.",
    )
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    installation: Mapped[Installation | None] = relationship(lazy="joined")


class OAuthAuthorizationCode(Base):
    """An authorization code issued on consent (stored hashed, single use, short-lived)."""

    __tablename__ = "oauth_authorization_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    installation_id: Mapped[int] = mapped_column(
        ForeignKey("installation.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(2000))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class InstallationStorage(Base):
    """Per-installation key/value storage handed to extensions through ``hostapi``."""

    __tablename__ = "installation_storage"

    installation_id: Mapped[int] = mapped_column(
        ForeignKey("installation.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONDoc)
    is_secret: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime]


class HookError(Base):
    """A hook implementation that raised, recorded against its installation."""

    __tablename__ = "hook_error"
    __table_args__ = (Index("ix_hook_error_installation", "installation_id", "at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    installation_id: Mapped[int | None] = mapped_column(
        ForeignKey("installation.id", ondelete="CASCADE")
    )
    plugin_id: Mapped[str] = mapped_column(String(100))
    hook: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str | None] = mapped_column(String(36))
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class OutboxKind(StrEnum):
    """What an outbox row carries."""

    EVENT = "event"
    JOB = "job"


class OutboxEvent(Base):
    """A domain event or an extension job, written in the transaction of the change.

    The relay leases rows (``lease_until``) while it hands them to RQ; a row whose lease ran
    out before ``delivered_at`` was set is handed over again, so delivery is at least once.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "lease_until"),)

    seq: Mapped[int] = mapped_column(BigID, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(8), default=OutboxKind.EVENT)
    name: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    department_ids: Mapped[list[int]] = mapped_column(JSONDoc, default=list)
    installation_id: Mapped[int | None] = mapped_column(
        ForeignKey("installation.id", ondelete="CASCADE"),
        doc="For jobs and installation-addressed events: the one installation concerned.",
    )
    occurred_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    available_at: Mapped[datetime | None] = mapped_column(
        doc="Not handed to RQ before this time (a job enqueued with a delay).",
    )
    sync_failed_installation_ids: Mapped[list[int]] = mapped_column(
        JSONDoc,
        default=list,
        doc="Installations whose synchronous hook raised for this event: their asynchronous "
        "hook gets ``redelivered_after_error=True``.",
    )


class EventDelivery(Base):
    """Marks that one installation's asynchronous hook handled one outbox row (idempotence)."""

    __tablename__ = "event_delivery"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    installation_id: Mapped[int] = mapped_column(
        ForeignKey("installation.id", ondelete="CASCADE"), primary_key=True
    )
    delivered_at: Mapped[datetime]
