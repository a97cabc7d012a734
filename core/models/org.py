"""The organisation, its departments, agents and permission profiles."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, ForeignKey, String, Table, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.models.types import JSONDoc


class Organisation(Base):
    """The one portal this deployment serves: its name, time zone and ticket numbering."""

    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    week_start: Mapped[int] = mapped_column(default=0, doc="0 = Monday … 6 = Sunday")
    default_locale: Mapped[str] = mapped_column(String(8), default="en")
    ticket_prefix: Mapped[str] = mapped_column(String(16), default="")
    next_ticket_number: Mapped[int] = mapped_column(default=1)
    phone_region: Mapped[str] = mapped_column(
        String(2),
        default="JP",
        doc="ISO country whose national numbers (03-1234-5678) phones are read in.",
    )
    duplicate_rules: Mapped[dict[str, Any]] = mapped_column(
        JSONDoc,
        default=lambda: {"contact": ["email", "phone"], "account": ["name"]},
        doc="Which fields make two contacts or two accounts duplicates, per entity.",
    )


agent_departments = Table(
    "agent_department",
    Base.metadata,
    Column("agent_id", ForeignKey("agent.id", ondelete="CASCADE"), primary_key=True),
    Column("department_id", ForeignKey("department.id", ondelete="CASCADE"), primary_key=True),
)


class Department(Base):
    """A team that owns tickets; tickets and what hangs off them are scoped by department."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(String(1000), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    mailbox: Mapped[str | None] = mapped_column(
        String(320), unique=True, doc="The support address whose mail becomes its tickets."
    )
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class PermissionProfile(Base):
    """A named set of permissions (``core.permissions`` holds the catalogue)."""

    __tablename__ = "permission_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(String(1000), default="")
    is_admin: Mapped[bool] = mapped_column(
        default=False, doc="Administrators hold every permission, present and future."
    )
    requires_two_factor: Mapped[bool] = mapped_column(
        default=False,
        server_default=false(),
        doc="Agents with this profile must sign in with a second factor (an authenticator code).",
    )
    is_builtin: Mapped[bool] = mapped_column(
        default=False,
        server_default=false(),
        doc="One of the profiles every desk starts with: read-only, cloned to be changed.",
    )
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    permissions: Mapped[list[ProfilePermission]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def permission_names(self) -> frozenset[str]:
        """The permission names granted by this profile."""
        return frozenset(p.permission for p in self.permissions)


class ProfilePermission(Base):
    """One permission granted by a profile; names come from the core or from extensions."""

    __tablename__ = "profile_permission"

    profile_id: Mapped[int] = mapped_column(
        ForeignKey("permission_profile.id", ondelete="CASCADE"), primary_key=True
    )
    permission: Mapped[str] = mapped_column(String(120), primary_key=True)


class AgentStatus(StrEnum):
    """Whether an agent can take work now (round-robin assignment reads it)."""

    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


class Agent(Base):
    """A person who works tickets; signs in with an email and a hashed password."""

    __tablename__ = "agent"
    __table_args__ = (UniqueConstraint("email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    profile_id: Mapped[int] = mapped_column(ForeignKey("permission_profile.id"))
    locale: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=AgentStatus.OFFLINE.value)
    is_active: Mapped[bool] = mapped_column(default=True)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    #: Bumped to revoke every session the agent holds (logout, password change, deactivation).
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime]

    profile: Mapped[PermissionProfile] = relationship(lazy="joined")
    departments: Mapped[list[Department]] = relationship(
        secondary=agent_departments, lazy="selectin", order_by=Department.name
    )

    @property
    def department_ids(self) -> frozenset[int]:
        """Ids of the departments this agent belongs to."""
        return frozenset(d.id for d in self.departments)

    @property
    def is_admin(self) -> bool:
        """True when the agent's profile is an administrator profile."""
        return self.profile.is_admin

    def has_permission(self, permission: str) -> bool:
        """True when the agent's profile grants ``permission``."""
        return self.profile.is_admin or permission in self.profile.permission_names
