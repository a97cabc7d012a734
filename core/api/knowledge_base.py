"""``/api/v1/kb/categories`` and ``/api/v1/kb/articles``: the knowledge base.

Department-scoped like tickets: a category or an article outside the caller's departments
answers 404. Reading takes the ``desk.kb.read`` scope and the ``kb.view`` permission, changes
``desk.kb.write`` and ``kb.manage``. Deleting a category that holds articles answers 409
unless asked with ``?cascade=true``, which deletes its articles with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
from flask_smorest import abort
from marshmallow import fields, validate

from core.api import schemas
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.api.paging import list_page, page, parse_cursor
from core.errors import ValidationFailed
from core.models import KbArticle, KbCategory
from core.services import knowledge_base as kb
from hostapi import scopes

categories = api_blueprint(
    "api_kb_categories",
    __name__,
    "/kb/categories",
    "Knowledge-base categories, one department each (404 outside the caller's).",
)
articles = api_blueprint(
    "api_kb_articles",
    __name__,
    "/kb/articles",
    "Knowledge-base articles, seen in their category's department (404 outside the caller's).",
)

# ------------------------------------------------------------------------------------ schemas


class KbCategorySchema(ma.Schema):
    """A knowledge-base category."""

    id = fields.Integer()
    department_id = fields.Integer()
    name = fields.String(metadata={"description": "Unique within its department."})
    description = fields.String()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class KbCategoryCreateSchema(schemas.StrictSchema):
    """A new category in one of the caller's departments."""

    department_id = schemas.Id(required=True)
    name = schemas.Text(required=True, min_length=1, max_length=kb.MAX_NAME)
    description = schemas.Text(load_default="", max_length=kb.MAX_DESCRIPTION)


class KbCategoryUpdateSchema(schemas.StrictSchema):
    """Changes to a category; a new ``department_id`` moves it with its articles."""

    department_id = schemas.Id()
    name = schemas.Text(min_length=1, max_length=kb.MAX_NAME)
    description = schemas.Text(max_length=kb.MAX_DESCRIPTION)


class KbCategoryListArgsSchema(schemas.PageArgsSchema):
    """A page of the categories of the caller's departments."""

    department_id = schemas.Id(
        load_default=None, metadata={"description": "Only this department's."}
    )


class KbCategoryDeleteArgsSchema(schemas.StrictSchema):
    """How a category holding articles is deleted."""

    cascade = fields.Boolean(
        load_default=False,
        metadata={
            "description": "true: delete the category's articles with it; false (default): "
            "a category holding articles answers 409."
        },
    )


class KbArticleSchema(ma.Schema):
    """A knowledge-base article."""

    id = fields.Integer()
    category_id = fields.Integer()
    department_id = fields.Integer(metadata={"description": "Its category's department."})
    title = fields.String()
    body = fields.String(metadata={"description": "Plain text or Markdown."})
    visibility = fields.String(
        metadata={"description": "all: anyone may read it; registered: registered users only."}
    )
    status = fields.String(metadata={"description": "draft or published"})
    author_agent_id = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class KbArticleCreateSchema(schemas.StrictSchema):
    """A new article in a category of the caller's departments; the caller is its author."""

    category_id = schemas.Id(required=True)
    title = schemas.Text(required=True, min_length=1, max_length=kb.MAX_TITLE)
    body = schemas.Text(load_default="", max_length=kb.MAX_BODY)
    visibility = fields.String(load_default="all", validate=validate.OneOf(kb.VISIBILITIES))
    status = fields.String(load_default="draft", validate=validate.OneOf(kb.STATUSES))


class KbArticleUpdateSchema(schemas.StrictSchema):
    """Changes to an article: only the fields given change (``status`` publishes it)."""

    category_id = schemas.Id(metadata={"description": "Move it to this category."})
    title = schemas.Text(min_length=1, max_length=kb.MAX_TITLE)
    body = schemas.Text(max_length=kb.MAX_BODY)
    visibility = fields.String(validate=validate.OneOf(kb.VISIBILITIES))
    status = fields.String(validate=validate.OneOf(kb.STATUSES))


class KbArticleListArgsSchema(schemas.PageArgsSchema):
    """A page of the articles of the caller's departments, last changed first."""

    category_ids = fields.List(
        schemas.Id(),
        load_default=None,
        validate=validate.Length(max=kb.MAX_LISTED_CATEGORIES),
        metadata={"description": "Only these categories' (repeat the argument for each)."},
    )
    department_id = schemas.Id(
        load_default=None, metadata={"description": "Only this department's."}
    )
    status = fields.String(load_default=None, validate=validate.OneOf(kb.STATUSES))
    visibility = fields.String(load_default=None, validate=validate.OneOf(kb.VISIBILITIES))
    updated_since = fields.AwareDateTime(
        load_default=None,
        metadata={"description": "Only those changed at this time or later (for a sync)."},
    )


KbCategoryPage = schemas.page_of(KbCategorySchema, "KbCategoryPage")
KbArticlePage = schemas.page_of(KbArticleSchema, "KbArticlePage")

# --------------------------------------------------------------------------------- categories


@categories.route("", methods=["GET"])
@scoped(scopes.KB_READ)
@categories.arguments(KbCategoryListArgsSchema, location="query", as_kwargs=True)
@categories.response(200, KbCategoryPage)
def list_categories(limit: int, cursor: str | None, department_id: int | None) -> dict[str, Any]:
    """List the categories of the caller's departments, newest first."""
    return list_page(kb.list_categories, unit(), limit, cursor, department_id=department_id)


@categories.route("", methods=["POST"])
@scoped(scopes.KB_WRITE)
@categories.arguments(KbCategoryCreateSchema)
@categories.response(201, KbCategorySchema)
def create_category(data: dict[str, Any]) -> KbCategory:
    """Create a category in one of the caller's departments (needs ``kb.manage``)."""
    category = kb.create_category(unit(), **data)
    commit()
    return category


@categories.route("/<id:category_id>", methods=["GET"])
@scoped(scopes.KB_READ)
@categories.response(200, KbCategorySchema)
def get_category(category_id: int) -> KbCategory:
    """Read one category."""
    return kb.get_category(unit(), category_id)


@categories.route("/<id:category_id>", methods=["PATCH"])
@scoped(scopes.KB_WRITE)
@categories.arguments(KbCategoryUpdateSchema)
@categories.response(200, KbCategorySchema)
def update_category(changes: dict[str, Any], category_id: int) -> KbCategory:
    """Rename a category, or move it with its articles to another of the caller's departments
    (needs ``kb.manage``)."""
    work = unit()
    category = kb.update_category(work, kb.get_category(work, category_id), **changes)
    commit()
    return category


@categories.route("/<id:category_id>", methods=["DELETE"])
@scoped(scopes.KB_WRITE)
@categories.arguments(KbCategoryDeleteArgsSchema, location="query", as_kwargs=True)
@categories.response(204)
def delete_category(cascade: bool, category_id: int) -> None:
    """Delete a category; one holding articles answers 409 unless ``cascade=true`` deletes
    them with it (needs ``kb.manage``)."""
    work = unit()
    kb.delete_category(work, kb.get_category(work, category_id), cascade=cascade)
    commit()


# ----------------------------------------------------------------------------------- articles


@articles.route("", methods=["GET"])
@scoped(scopes.KB_READ)
@articles.arguments(KbArticleListArgsSchema, location="query", as_kwargs=True)
@articles.response(200, KbArticlePage)
def list_articles(
    limit: int,
    cursor: str | None,
    category_ids: list[int] | None,
    department_id: int | None,
    status: str | None,
    visibility: str | None,
    updated_since: datetime | None,
) -> dict[str, Any]:
    """List the articles of the caller's departments, last changed first (drafts included)."""
    try:
        rows = kb.list_articles(
            unit(),
            category_ids=category_ids,
            department_id=department_id,
            status=status,
            visibility=visibility,
            updated_since=updated_since,
            limit=limit + 1,
            before=parse_cursor(cursor),
        )
    except ValidationFailed as failure:
        abort(422, errors={"query": failure.errors})
    return page(rows, limit, kb.article_cursor)


@articles.route("", methods=["POST"])
@scoped(scopes.KB_WRITE)
@articles.arguments(KbArticleCreateSchema)
@articles.response(201, KbArticleSchema)
def create_article(data: dict[str, Any]) -> KbArticle:
    """Write an article in a category of the caller's departments (needs ``kb.manage``)."""
    article = kb.create_article(unit(), **data)
    commit()
    return article


@articles.route("/<id:article_id>", methods=["GET"])
@scoped(scopes.KB_READ)
@articles.response(200, KbArticleSchema)
def get_article(article_id: int) -> KbArticle:
    """Read one article."""
    return kb.get_article(unit(), article_id)


@articles.route("/<id:article_id>", methods=["PATCH"])
@scoped(scopes.KB_WRITE)
@articles.arguments(KbArticleUpdateSchema)
@articles.response(200, KbArticleSchema)
def update_article(changes: dict[str, Any], article_id: int) -> KbArticle:
    """Change, publish or unpublish an article, or move it to another category (needs
    ``kb.manage``)."""
    work = unit()
    article = kb.update_article(work, kb.get_article(work, article_id), **changes)
    commit()
    return article


@articles.route("/<id:article_id>", methods=["DELETE"])
@scoped(scopes.KB_WRITE)
@articles.response(204)
def delete_article(article_id: int) -> None:
    """Delete an article (needs ``kb.manage``)."""
    work = unit()
    kb.delete_article(work, kb.get_article(work, article_id))
    commit()
