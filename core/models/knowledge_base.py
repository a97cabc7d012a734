"""The knowledge base: categories of articles, each category in one department."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base


class ArticleStatus(StrEnum):
    """Whether an article is still being written or ready for readers."""

    DRAFT = "draft"
    PUBLISHED = "published"


class ArticleVisibility(StrEnum):
    """Who may read a published article: anyone, or registered (signed-in) users only."""

    ALL = "all"
    REGISTERED = "registered"


class KbCategory(Base):
    """A group of articles; it belongs to one department, whose agents see it."""

    __tablename__ = "kb_category"
    __table_args__ = (UniqueConstraint("department_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), doc="Unique within its department.")
    description: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class KbArticle(Base):
    """An article (plain text or Markdown) in one category, seen in the category's department."""

    __tablename__ = "kb_article"
    __table_args__ = (
        # A category's articles by last change, newest first (keyset pages walk it), and every
        # article changed since a time (what a sync asks for).
        Index("ix_kb_article_category_updated", "category_id", "updated_at", "id"),
        Index("ix_kb_article_updated", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("kb_category.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(
        String(20), default=ArticleVisibility.ALL.value, doc="all or registered"
    )
    status: Mapped[str] = mapped_column(
        String(20), default=ArticleStatus.DRAFT.value, doc="draft or published"
    )
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    category: Mapped[KbCategory] = relationship(lazy="joined")

    @property
    def department_id(self) -> int:
        """The department of the article's category (the one whose agents see it)."""
        return self.category.department_id
