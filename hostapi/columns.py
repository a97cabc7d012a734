"""Column types for an extension's own tables (1.2).

SQLite keeps no time zone: a ``DateTime(timezone=True)`` column gives back there the naive
time it was given, while PostgreSQL gives an aware one. :class:`UTCDateTime` stores UTC on
both and always reads back an aware UTC ``datetime``, as the host's records and
:func:`hostapi.clock.now` are::

    from hostapi.columns import UTCDateTime

    class Reminder(Base):
        __tablename__ = "my_extension_reminder"
        due_at: Mapped[datetime] = mapped_column(UTCDateTime())
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime"]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both backends; a naive value is refused when written
    (it is ambiguous), so a mistake shows where it is made."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        """What a value of the column is (a ``TypeDecorator`` alone would say ``object``)."""
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
