"""Business hours and holidays per department, SLA policies and each ticket's SLA clock."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from core.db import Base
from core.models.tickets import Ticket
from core.models.types import BigID


class BusinessHours(Base):
    """A department's opening hours: its time zone and either 24×7 or weekly intervals.

    A department without a row is open around the clock in the organisation's time zone.
    """

    __tablename__ = "business_hours"

    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str | None] = mapped_column(
        String(64), doc="IANA time zone; None means the organisation's."
    )
    always_open: Mapped[bool] = mapped_column(default=False, doc="24×7: every day, all day.")
    updated_at: Mapped[datetime]

    intervals: Mapped[list[BusinessHoursInterval]] = relationship(
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="(BusinessHoursInterval.weekday, BusinessHoursInterval.start_minute)",
    )


class BusinessHoursInterval(Base):
    """One opening interval of a weekday, in minutes of the local day (end up to 24:00)."""

    __tablename__ = "business_hours_interval"
    __table_args__ = (Index("ix_business_hours_interval_department", "department_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("business_hours.department_id", ondelete="CASCADE")
    )
    weekday: Mapped[int] = mapped_column(doc="0 = Monday … 6 = Sunday")
    start_minute: Mapped[int]
    end_minute: Mapped[int]


class Holiday(Base):
    """A day a department is closed all day."""

    __tablename__ = "holiday"
    __table_args__ = (UniqueConstraint("department_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200))


#: Which departments a policy covers; the department is the key, so one policy per department.
sla_policy_departments = Table(
    "sla_policy_department",
    Base.metadata,
    Column("department_id", ForeignKey("department.id", ondelete="CASCADE"), primary_key=True),
    Column("policy_id", ForeignKey("sla_policy.id", ondelete="CASCADE"), nullable=False),
    Index("ix_sla_policy_department_policy", "policy_id"),
)


class SlaPolicy(Base):
    """Response and resolution targets per priority, for the departments it covers."""

    __tablename__ = "sla_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(String(1000), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    targets: Mapped[list[SlaTarget]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    departments = relationship(
        "Department", secondary=sla_policy_departments, lazy="selectin", order_by="Department.name"
    )

    @property
    def department_ids(self) -> list[int]:
        """Ids of the departments this policy covers."""
        return [department.id for department in self.departments]

    def target_for(self, priority: str) -> SlaTarget | None:
        """The targets of ``priority``, if the policy sets them."""
        return next((t for t in self.targets if t.priority == priority), None)


class SlaTarget(Base):
    """The business minutes a ticket of one priority has for its first response and resolution."""

    __tablename__ = "sla_target"

    policy_id: Mapped[int] = mapped_column(
        ForeignKey("sla_policy.id", ondelete="CASCADE"), primary_key=True
    )
    priority: Mapped[str] = mapped_column(String(20), primary_key=True)
    first_response_minutes: Mapped[int]
    resolution_minutes: Mapped[int]


class TicketSla(Base):
    """A ticket's SLA clock: its policy, first-response due time, pauses and breaches.

    The resolution due time is the ticket's own ``due_at``. The ``*_watch_at`` columns hold a
    due time while it still may be breached (running, not met, not yet escalated) and are
    cleared otherwise, so the periodic breach check reads one indexed range of each.
    """

    __tablename__ = "ticket_sla"
    __table_args__ = (
        Index("ix_ticket_sla_first_response_watch", "first_response_watch_at"),
        Index("ix_ticket_sla_resolution_watch", "resolution_watch_at"),
    )

    ticket_id: Mapped[int] = mapped_column(
        BigID, ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policy.id", ondelete="SET NULL"))
    first_response_due_at: Mapped[datetime | None]
    first_responded_at: Mapped[datetime | None]
    due_at_manual: Mapped[bool] = mapped_column(
        default=False,
        doc="The ticket's due_at was set by hand; it wins until the priority changes.",
    )
    paused_at: Mapped[datetime | None] = mapped_column(doc="Since when on hold or closed.")
    paused_seconds: Mapped[int] = mapped_column(
        default=0, doc="Business seconds spent on hold so far; due times move by them."
    )
    first_response_watch_at: Mapped[datetime | None]
    resolution_watch_at: Mapped[datetime | None]
    first_response_breached_due: Mapped[datetime | None] = mapped_column(
        doc="The first-response due time last escalated (a breach is emitted once per due time)."
    )
    resolution_breached_due: Mapped[datetime | None]

    ticket: Mapped[Ticket] = relationship(
        backref=backref(
            "sla",
            uselist=False,
            lazy="selectin",
            cascade="all, delete-orphan",
            passive_deletes=True,
        )
    )
    policy: Mapped[SlaPolicy | None] = relationship(lazy="joined")
