"""Column types shared by the core's models."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.dialects.postgresql import JSONB

#: Primary keys of the large tables: 64-bit on PostgreSQL, SQLite's rowid alias there.
BigID = BigInteger().with_variant(Integer(), "sqlite")

#: The largest value an ``Integer`` column holds on PostgreSQL (32-bit).
INT32_MAX = 2**31 - 1

#: The largest value a ``BigInteger`` (:data:`BigID`) column holds (64-bit, SQLite's too).
INT64_MAX = 2**63 - 1


def id_maximum(model: type[Any]) -> int:
    """The largest id ``model``'s table can hold: 64-bit for :data:`BigID` keys, else 32-bit."""
    return INT64_MAX if isinstance(model.__table__.c.id.type, BigInteger) else INT32_MAX


#: JSON documents: JSONB on PostgreSQL.
JSONDoc: Any = JSON().with_variant(JSONB(), "postgresql")
