"""Column types shared by the core's models."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.dialects.postgresql import JSONB

#: Primary keys of the large tables: 64-bit on PostgreSQL, SQLite's rowid alias there.
BigID = BigInteger().with_variant(Integer(), "sqlite")

#: JSON documents: JSONB on PostgreSQL.
JSONDoc: Any = JSON().with_variant(JSONB(), "postgresql")
