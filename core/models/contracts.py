"""Account contracts: what an account has bought, for which department, under which SLA."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.models.sla import SlaPolicy
from core.models.types import BigID


class AccountContract(Base):
    """A contract of an account, in force from ``starts_on`` to ``ends_on`` (both included).

    It covers one department, or every department when ``department_id`` is null; its SLA
    policy, when set, is the one the account's requests are served under.
    """

    __tablename__ = "account_contract"
    __table_args__ = (
        # An account's contracts by start day: the active-contract lookup reads them so.
        Index("ix_account_contract_account", "account_id", "starts_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(BigID, ForeignKey("account.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"),
        doc="The department it covers; null covers every department.",
    )
    sla_policy_id: Mapped[int | None] = mapped_column(
        ForeignKey("sla_policy.id", ondelete="SET NULL")
    )
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date, doc="The last day; null: open-ended.")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    sla_policy: Mapped[SlaPolicy | None] = relationship(lazy="joined")

    def is_active_on(self, day: date) -> bool:
        """True when the contract is in force on ``day``."""
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)
