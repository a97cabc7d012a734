"""Customer Insights' own tables: per-ticket facts, per-customer totals, pending backfills.

Every row carries its installation; host ids are plain integers (no foreign keys to the
host's tables). Durations are whole microseconds so that sums kept up event by event and sums
rebuilt from scratch are equal exactly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hostapi.columns import UTCDateTime


class Base(DeclarativeBase):
    """The extension's own declarative base, apart from the host's."""

    metadata = MetaData()


class TicketFacts(Base):
    """What one ticket contributes to its customer's figures, as of its latest change."""

    __tablename__ = "customer_insights_ticket"
    __table_args__ = (
        Index("ix_customer_insights_ticket_contact", "installation_id", "contact_id"),
        Index("ix_customer_insights_ticket_account", "installation_id", "account_id"),
        Index("ix_customer_insights_ticket_department", "installation_id", "department_id"),
        # The date-range export: created_at ranges, newest first, keyset by ticket id.
        Index("ix_customer_insights_ticket_created", "installation_id", "created_at", "ticket_id"),
    )

    installation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    number: Mapped[int] = mapped_column(BigInteger)
    department_id: Mapped[int] = mapped_column(BigInteger)
    contact_id: Mapped[int | None] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(40))
    status_type: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The first reply that answered a customer message − the first customer message.
    first_response_us: Mapped[int | None] = mapped_column(BigInteger)
    #: Public agent replies that answered a pending customer message, and their total wait.
    responses: Mapped[int] = mapped_column(Integer)
    response_us: Mapped[int] = mapped_column(BigInteger)
    #: Every public agent reply, answering or not.
    public_replies: Mapped[int] = mapped_column(Integer)
    #: Last close − creation − time closed before reopens; only while the ticket is closed.
    resolution_us: Mapped[int | None] = mapped_column(BigInteger)
    #: Time spent closed before being reopened.
    closed_us: Mapped[int] = mapped_column(BigInteger)
    latest_rating: Mapped[str | None] = mapped_column(String(10))


class CustomerTotals(Base):
    """Sums of the facts of one customer's tickets in one department and channel.

    ``customer_kind`` is ``contact`` or ``account``; a customer's figures over any set of
    departments are the sum of a handful of these rows.
    """

    __tablename__ = "customer_insights_totals"

    installation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    department_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    channel: Mapped[str] = mapped_column(String(40), primary_key=True)
    tickets: Mapped[int] = mapped_column(Integer)
    open_tickets: Mapped[int] = mapped_column(Integer)
    on_hold_tickets: Mapped[int] = mapped_column(Integer)
    closed_tickets: Mapped[int] = mapped_column(Integer)
    first_responses: Mapped[int] = mapped_column(Integer)
    first_response_us: Mapped[int] = mapped_column(BigInteger)
    responses: Mapped[int] = mapped_column(Integer)
    response_us: Mapped[int] = mapped_column(BigInteger)
    public_replies: Mapped[int] = mapped_column(Integer)
    resolutions: Mapped[int] = mapped_column(Integer)
    resolution_us: Mapped[int] = mapped_column(BigInteger)
    rated_good: Mapped[int] = mapped_column(Integer)
    rated_okay: Mapped[int] = mapped_column(Integer)
    rated_bad: Mapped[int] = mapped_column(Integer)


class Backfill(Base):
    """Tickets whose facts are still to be computed: a department's, or a range of ids.

    While a row exists for a department the context reaches, the figures are not shown.
    """

    __tablename__ = "customer_insights_backfill"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer, index=True)
    #: A department's tickets (``first_ticket_id`` ``None``) or the ids from first to last.
    department_id: Mapped[int | None] = mapped_column(BigInteger)
    first_ticket_id: Mapped[int | None] = mapped_column(BigInteger)
    last_ticket_id: Mapped[int | None] = mapped_column(BigInteger)
    #: Where the next run resumes: a keyset cursor for a department, the next id for a range.
    after_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    after_ticket_id: Mapped[int | None] = mapped_column(BigInteger)
    tickets_done: Mapped[int] = mapped_column(Integer, default=0)
