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

#: JSON documents: JSONB on PostgreSQL.
JSONDoc: Any = JSON().with_variant(JSONB(), "postgresql")
