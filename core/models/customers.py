"""Customers: contacts, the accounts they belong to, tags, channel identities and products."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.models.types import BigID, JSONDoc

contact_tags = Table(
    "contact_tag",
    Base.metadata,
    Column("contact_id", ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True),
)

contact_products = Table(
    "contact_product",
    Base.metadata,
    Column("contact_id", ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", ForeignKey("product.id", ondelete="CASCADE"), primary_key=True),
)

account_products = Table(
    "account_product",
    Base.metadata,
    Column("account_id", ForeignKey("account.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", ForeignKey("product.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(Base):
    """A label for contacts."""

    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Account(Base):
    """An organisation (a company) that contacts belong to."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    website: Mapped[str] = mapped_column(String(500), default="")
    phone: Mapped[str] = mapped_column(String(50), default="")
    industry: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("agent.id", ondelete="SET NULL"), index=True
    )
    phone_e164: Mapped[str | None] = mapped_column(
        String(20), index=True, doc="``phone`` normalised to E.164 when it parses, for matching."
    )
    is_spam: Mapped[bool] = mapped_column(default=False)
    merged_into_id: Mapped[int | None] = mapped_column(
        BigID,
        ForeignKey("account.id", ondelete="SET NULL"),
        doc="Set when this account was merged into another; merged accounts are kept for audit.",
    )
    custom_fields: Mapped[dict[str, Any]] = mapped_column(
        JSONDoc, default=dict, doc="Values of the account custom fields, by field key."
    )
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Contact(Base):
    """A customer who raises tickets, organisation-wide (not department-scoped)."""

    __tablename__ = "contact"
    __table_args__ = (
        Index("ix_contact_account", "account_id"),
        # Views page newest first by (created_at, id): keyset pagination walks this index.
        Index("ix_contact_created", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200))
    name_order: Mapped[str] = mapped_column(
        String(20),
        default="auto",
        server_default="auto",
        doc="auto, family_first or given_first: how the name is ordered (see core.names).",
    )
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    secondary_email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str] = mapped_column(String(50), default="")
    mobile: Mapped[str] = mapped_column(String(50), default="")
    phone_e164: Mapped[str | None] = mapped_column(
        String(20), index=True, doc="``phone`` normalised to E.164 when it parses, for matching."
    )
    mobile_e164: Mapped[str | None] = mapped_column(
        String(20), index=True, doc="``mobile`` normalised to E.164 when it parses."
    )
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    account_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("account.id", ondelete="SET NULL")
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("agent.id", ondelete="SET NULL"), index=True
    )
    is_spam: Mapped[bool] = mapped_column(default=False)
    merged_into_id: Mapped[int | None] = mapped_column(
        BigID,
        ForeignKey("contact.id", ondelete="SET NULL"),
        doc="Set when this contact was merged into another; merged contacts are kept for audit.",
    )
    custom_fields: Mapped[dict[str, Any]] = mapped_column(
        JSONDoc, default=dict, doc="Values of the contact custom fields, by field key."
    )
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    account: Mapped[Account | None] = relationship(lazy="joined")
    tags: Mapped[list[Tag]] = relationship(secondary=contact_tags, lazy="selectin")
    identities: Mapped[list[ContactIdentity]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def name(self) -> str:
        """The name as the current page's language orders it (see :mod:`core.names`)."""
        from core.names import display_name

        return display_name(self.first_name, self.last_name, order=self.name_order)


class ContactIdentity(Base):
    """How a contact is known on a channel: a LINE user id, a WhatsApp number, a Telegram id…"""

    __tablename__ = "contact_identity"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        BigID, ForeignKey("contact.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(300))
    display_name: Mapped[str] = mapped_column(String(300), default="")

    contact: Mapped[Contact] = relationship(back_populates="identities")


class Product(Base):
    """A product customers own or ask about; linked to contacts and accounts."""

    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    code: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    unit_price_cents: Mapped[int | None]
    is_active: Mapped[bool] = mapped_column(
        default=True,
        doc="Inactive products cannot be newly linked; the records that have them keep them.",
    )
    created_at: Mapped[datetime]
