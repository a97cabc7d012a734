"""How the contact and account forms and detail pages place their built-in fields."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class BuiltinFieldLayout(Base):
    """The place, label and visibility an administrator gave one built-in field.

    A field without a row keeps its default place, its default (translated) label and is
    shown: rows are written when the layout editor changes something.
    """

    __tablename__ = "builtin_field_layout"
    __table_args__ = (UniqueConstraint("entity", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(16), doc="contact or account")
    key: Mapped[str] = mapped_column(String(64), doc="The field's name on the record's form.")
    position: Mapped[int] = mapped_column(default=0, doc="Order among the built-in fields.")
    label: Mapped[str] = mapped_column(
        String(200), default="", doc="The administrator's label; empty: the default, translated."
    )
    hidden: Mapped[bool] = mapped_column(
        default=False, doc="Left off forms and detail pages (never for a required field)."
    )
    updated_at: Mapped[datetime]
