"""Custom fields on contacts and accounts, and the saved views that list them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.models.types import JSONDoc


class CustomerEntity(StrEnum):
    """The customer records custom fields and views apply to."""

    CONTACT = "contact"
    ACCOUNT = "account"


class FieldType(StrEnum):
    """What a custom field holds; values are validated against it on every write."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    PICKLIST = "picklist"
    CHECKBOX = "checkbox"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    LOOKUP = "lookup"


class CustomField(Base):
    """An admin-defined field; its values live in the record's ``custom_fields`` by ``key``."""

    __tablename__ = "custom_field"
    __table_args__ = (
        UniqueConstraint("entity", "key"),
        Index("ix_custom_field_layout", "entity", "position"),
        Index("ix_custom_field_requirement", "installation_id", "requirement_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(
        String(64), doc="Stable API name (``cf_`` + slug); survives label changes."
    )
    label: Mapped[str] = mapped_column(String(200))
    field_type: Mapped[str] = mapped_column(String(16))
    required: Mapped[bool] = mapped_column(default=False)
    options: Mapped[list[str]] = mapped_column(
        JSONDoc, default=list, doc="A picklist's choices, in display order."
    )
    lookup_entity: Mapped[str | None] = mapped_column(
        String(16), doc="What a lookup points at: contact, account, product or agent."
    )
    help_text: Mapped[str] = mapped_column(String(500), default="")
    position: Mapped[int] = mapped_column(default=0, doc="Order on forms and detail pages.")
    installation_id: Mapped[int | None] = mapped_column(
        ForeignKey("installation.id", ondelete="RESTRICT"),
        doc="The installation whose manifest declared it (None: an admin's); its purge removes it.",
    )
    requirement_key: Mapped[str | None] = mapped_column(
        String(63),
        doc="The key of its declaration in that manifest's ``requirements``. When a newer "
        "version no longer declares it, the field is released to the desk (``installation_id`` "
        "cleared) but keeps this key, so that a later version declaring it again takes the "
        "field back with its values.",
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CustomView(Base):
    """A saved list of contacts or accounts: conditions, sort order and columns."""

    __tablename__ = "custom_view"
    __table_args__ = (
        Index("ix_custom_view_owner", "entity", "owner_id"),
        Index("ix_custom_view_requirement", "installation_id", "requirement_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("agent.id", ondelete="CASCADE"),
        doc="The agent who saved it; None for a view an extension declared (no agent owns it).",
    )
    shared: Mapped[bool] = mapped_column(default=False, doc="Visible to every agent when set.")
    match: Mapped[str] = mapped_column(
        String(8), default="all", doc="'all' joins the conditions with AND, 'any' with OR."
    )
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONDoc, default=list, doc="[{field, operator, value}], field a built-in or custom key."
    )
    sort_field: Mapped[str] = mapped_column(String(64), default="created_at")
    sort_descending: Mapped[bool] = mapped_column(default=True)
    columns: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    installation_id: Mapped[int | None] = mapped_column(
        ForeignKey("installation.id", ondelete="RESTRICT"),
        doc="The installation whose manifest declared it (None: an agent's); its purge removes it.",
    )
    requirement_key: Mapped[str | None] = mapped_column(
        String(63),
        doc="The key of its declaration in that manifest's ``requirements``. Unlike a field or "
        "a status, a view holds no data: a newer version that no longer declares it removes "
        "it rather than releasing it to the desk.",
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
