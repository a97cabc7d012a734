"""Contact and account imports from files: the upload, its mapping, progress and rejected rows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from core.db import Base
from core.models.types import BigID, JSONDoc


class ImportState(StrEnum):
    """Where a customer import is: uploaded → queued → running → done (or failed)."""

    UPLOADED = "uploaded"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class CustomerImport(Base):
    """An uploaded file of contacts or accounts, kept in the database so any worker can run it."""

    __tablename__ = "customer_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(16), doc="contact or account")
    filename: Mapped[str] = mapped_column(String(300))
    file_format: Mapped[str] = mapped_column(String(8), doc="csv, vcard or xlsx")
    encoding: Mapped[str | None] = mapped_column(String(32), doc="Declared or detected.")
    content: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    mapping: Mapped[dict[str, str]] = mapped_column(
        JSONDoc, default=dict, doc="{file column: field key}; unmapped columns are ignored."
    )
    match_on: Mapped[list[str]] = mapped_column(
        JSONDoc, default=list, doc="Fields an existing record is matched on (upsert)."
    )
    state: Mapped[str] = mapped_column(String(16), default=ImportState.UPLOADED.value)
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    rejected_count: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class CustomerImportRejection(Base):
    """A row an import refused: its values as read and why, for the rejected-rows download."""

    __tablename__ = "customer_import_rejection"
    __table_args__ = (Index("ix_import_rejection_row", "import_id", "row_number"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("customer_import.id", ondelete="CASCADE"))
    row_number: Mapped[int] = mapped_column(doc="1-based, counting the header line as row 1.")
    values: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    errors: Mapped[dict[str, list[str]]] = mapped_column(JSONDoc)
