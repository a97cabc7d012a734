"""The knowledge base: categories, each in one department, and the articles they hold.

Categories and articles are department-scoped like tickets: an agent reaches those of the
departments they belong to (administrators too, as for tickets), and one outside them is
reported as absent (:class:`NotFound`), never as forbidden. Reading needs ``kb.view`` (or
``kb.manage``), every change ``kb.manage``, and every change is audited (``kb_category``,
``kb_article``). Readers see drafts too: ``status`` and ``visibility`` say what a help centre
may show customers (published articles; to anyone, or to registered users only).

Articles are listed by their last change, newest first (:func:`article_cursor` is the keyset
position), so a client that keeps a copy asks for those ``updated_since`` its last run. No
domain event is emitted: the event vocabulary (``hostapi.events``) has none for the knowledge
base yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, contains_eager

from core import permissions
from core.errors import Conflict, Forbidden, Message, NotFound, ValidationFailed
from core.models import ArticleStatus, ArticleVisibility, Department, KbArticle, KbCategory
from core.models.types import id_maximum
from core.services.base import (
    Cursor,
    Unit,
    apply_changes,
    check_limit,
    clean_text,
    gather,
    gather_changes,
    newest_first,
    refuse_unknown_fields,
    require_aware,
    split_changes,
)
from hostapi import clock

#: The lengths of the text columns (a body is large text; this bounds one article).
MAX_NAME = 200
MAX_DESCRIPTION = 1000
MAX_TITLE = 500
MAX_BODY = 1_000_000
#: How many categories one article list may be narrowed to.
MAX_LISTED_CATEGORIES = 100
STATUSES: tuple[str, ...] = tuple(status.value for status in ArticleStatus)
VISIBILITIES: tuple[str, ...] = tuple(visibility.value for visibility in ArticleVisibility)
#: What :func:`update_category` and :func:`update_article` change.
CATEGORY_FIELDS: frozenset[str] = frozenset({"department_id", "name", "description"})
ARTICLE_FIELDS: frozenset[str] = frozenset({"category_id", "title", "body", "visibility", "status"})
#: Reading needs one of these: whoever manages the knowledge base reads it too.
READ_PERMISSIONS: tuple[str, ...] = (permissions.KB_VIEW, permissions.KB_MANAGE)

UNKNOWN_DEPARTMENT = Message("Unknown department.")
UNKNOWN_CATEGORY = Message("Unknown category.")
NAME_TAKEN = Message("This department has a category with this name.")
NOT_EMPTY = Message("The category holds articles: move or delete them first.")


def require_reader(unit: Unit) -> None:
    """Raise :class:`Forbidden` unless the actor may read the knowledge base."""
    agent = unit.actor.agent
    if agent is not None and not any(agent.has_permission(p) for p in READ_PERMISSIONS):
        raise Forbidden(permissions.KB_VIEW)


# ------------------------------------------------------------------------------- field checks


def _is_id(value: object, model: type[Any]) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= id_maximum(model)


def _department(unit: Unit, value: object) -> int:
    department = unit.session.get(Department, value) if _is_id(value, Department) else None
    # A department the actor does not belong to looks exactly like one that does not exist.
    if department is None or not unit.actor.can_see_department(department.id):
        raise ValidationFailed({"department_id": [UNKNOWN_DEPARTMENT]})
    return department.id


def _category(unit: Unit, value: object) -> int:
    category = unit.session.get(KbCategory, value) if _is_id(value, KbCategory) else None
    if category is None or not unit.actor.can_see_department(category.department_id):
        raise ValidationFailed({"category_id": [UNKNOWN_CATEGORY]})
    return category.id


def _name(value: object) -> str:
    return clean_text(value, "name", max_length=MAX_NAME, required=True)


def _description(value: object) -> str:
    return clean_text(value, "description", max_length=MAX_DESCRIPTION)


def _title(value: object) -> str:
    return clean_text(value, "title", max_length=MAX_TITLE, required=True)


def _body(value: object) -> str:
    return clean_text(value, "body", max_length=MAX_BODY)


def _choice(value: object, choices: tuple[str, ...], field: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValidationFailed(
            {field: [Message("Choose one of: %(choices)s.", choices=", ".join(choices))]}
        )
    return value


def _status(value: object) -> str:
    return _choice(value, STATUSES, "status")


def _visibility(value: object) -> str:
    return _choice(value, VISIBILITIES, "visibility")


def _listed_categories(values: Iterable[object] | None) -> list[int] | None:
    if values is None:
        return None
    given = list(values)
    if len(given) > MAX_LISTED_CATEGORIES:
        raise ValidationFailed(
            {
                "category_ids": [
                    Message("Give at most %(count)d categories.", count=MAX_LISTED_CATEGORIES)
                ]
            }
        )
    if not all(_is_id(value, KbCategory) for value in given):
        raise ValidationFailed({"category_ids": [UNKNOWN_CATEGORY]})
    return sorted({value for value in given if isinstance(value, int)})


def _refuse_taken_name(
    session: Session, department_id: int, name: str, category_id: int | None
) -> None:
    query = select(KbCategory.id).where(
        KbCategory.department_id == department_id, KbCategory.name == name
    )
    if category_id is not None:
        query = query.where(KbCategory.id != category_id)
    if session.scalar(query) is not None:
        raise ValidationFailed({"name": [NAME_TAKEN]})


def _flush_category(session: Session, category: KbCategory) -> None:
    """Write ``category``; a name another request gave its department meanwhile is a 422 on
    ``name`` (the savepoint keeps the rest of the unit's work)."""
    department_id, name, category_id = category.department_id, category.name, category.id
    try:
        with session.begin_nested():
            session.add(category)
            session.flush()
    except IntegrityError:
        _refuse_taken_name(session, department_id, name, category_id)
        raise


def _in_visible_departments(unit: Unit, query: Select[Any], column: Any) -> Select[Any]:
    visible = unit.actor.visible_department_ids()
    return query if visible is None else query.where(column.in_(sorted(visible)))


def _category_snapshot(category: KbCategory) -> dict[str, Any]:
    return {
        "department_id": category.department_id,
        "name": category.name,
        "description": category.description,
    }


def _article_snapshot(article: KbArticle) -> dict[str, Any]:
    return {
        "category_id": article.category_id,
        "title": article.title,
        "body": article.body,
        "visibility": article.visibility,
        "status": article.status,
        "author_agent_id": article.author_agent_id,
    }


# --------------------------------------------------------------------------------- categories


def create_category(
    unit: Unit, *, department_id: int, name: str, description: str = ""
) -> KbCategory:
    """Add a category to one of the actor's departments (names are unique within one).

    :raises ValidationFailed: naming each bad field (a department the actor does not belong to
        is "Unknown department.").
    """
    unit.actor.require(permissions.KB_MANAGE)
    values = gather(
        {
            "department_id": lambda: _department(unit, department_id),
            "name": lambda: _name(name),
            "description": lambda: _description(description),
        }
    )
    _refuse_taken_name(unit.session, values["department_id"], values["name"], None)
    now = clock.now()
    category = KbCategory(**values, created_at=now, updated_at=now)
    _flush_category(unit.session, category)
    unit.audit("add", "kb_category", category.id, after=_category_snapshot(category))
    return category


def get_category(unit: Unit, category_id: int) -> KbCategory:
    """The category ``category_id`` if the actor may see it.

    :raises NotFound: it does not exist or is in a department the actor does not belong to.
    :raises Forbidden: the actor may not read the knowledge base.
    """
    require_reader(unit)
    category = (
        unit.session.get(KbCategory, category_id) if _is_id(category_id, KbCategory) else None
    )
    if category is None or not unit.actor.can_see_department(category.department_id):
        raise NotFound("category not found")
    return category


def list_categories(
    unit: Unit,
    *,
    department_id: int | None = None,
    limit: int = 50,
    before: Cursor | str | None = None,
) -> list[KbCategory]:
    """Categories of the actor's departments (or of ``department_id``), newest first, one page
    at a time; ``before`` is the :class:`Cursor` of the previous page's last one."""
    require_reader(unit)
    check_limit(limit)
    query = _in_visible_departments(unit, select(KbCategory), KbCategory.department_id)
    if department_id is not None:
        query = query.where(KbCategory.department_id == department_id)
    query = newest_first(query, KbCategory.created_at, KbCategory.id, Cursor.parse(before), limit)
    return list(unit.session.scalars(query))


def count_articles(unit: Unit, categories: Iterable[KbCategory]) -> dict[int, int]:
    """How many articles each of ``categories`` holds (what deleting it with ``cascade``
    deletes), by category id; the categories come from this service, so the actor sees them."""
    require_reader(unit)
    counts = dict.fromkeys((category.id for category in categories), 0)
    if counts:
        rows = unit.session.execute(
            select(KbArticle.category_id, func.count())
            .where(KbArticle.category_id.in_(sorted(counts)))
            .group_by(KbArticle.category_id)
        )
        counts.update({category_id: count for category_id, count in rows})
    return counts


def update_category(unit: Unit, category: KbCategory, **changes: Any) -> KbCategory:
    """Rename a category, change its description, or move it with its articles to another of
    the actor's departments.

    A move marks its articles changed, so that a copy kept by ``updated_since`` learns of their
    new department.
    """
    unit.actor.require(permissions.KB_MANAGE)
    refuse_unknown_fields(changes, CATEGORY_FIELDS)
    checks: Mapping[str, Callable[[Any], Any]] = {
        "department_id": partial(_department, unit),
        "name": _name,
        "description": _description,
    }
    values = gather_changes(checks, changes)
    if values.keys() & {"department_id", "name"}:
        _refuse_taken_name(
            unit.session,
            values.get("department_id", category.department_id),
            values.get("name", category.name),
            category.id,
        )
    changed = apply_changes(category, values)
    if not changed:
        return category
    now = clock.now()
    category.updated_at = now
    _flush_category(unit.session, category)
    if "department_id" in changed:
        unit.session.execute(
            update(KbArticle).where(KbArticle.category_id == category.id).values(updated_at=now)
        )
    before, after = split_changes(changed)
    unit.audit("update", "kb_category", category.id, before=before, after=after)
    return category


def delete_category(unit: Unit, category: KbCategory, *, cascade: bool = False) -> None:
    """Delete a category; with ``cascade``, its articles too (each audited as deleted).

    :raises Conflict: the category holds articles and ``cascade`` is not set.
    """
    unit.actor.require(permissions.KB_MANAGE)
    session = unit.session
    holds_articles = (
        session.scalar(select(KbArticle.id).where(KbArticle.category_id == category.id).limit(1))
        is not None
    )
    if holds_articles and not cascade:
        raise Conflict(NOT_EMPTY)
    if holds_articles:
        articles = list(
            session.scalars(
                select(KbArticle).where(KbArticle.category_id == category.id).order_by(KbArticle.id)
            )
        )
        for article in articles:
            delete_article(unit, article)
    unit.audit("delete", "kb_category", category.id, before=_category_snapshot(category))
    session.delete(category)
    session.flush()


# ----------------------------------------------------------------------------------- articles


def create_article(
    unit: Unit,
    *,
    category_id: int,
    title: str,
    body: str = "",
    visibility: str = ArticleVisibility.ALL.value,
    status: str = ArticleStatus.DRAFT.value,
) -> KbArticle:
    """Write an article in a category of the actor's departments; the actor is its author.

    :raises ValidationFailed: naming each bad field (a category outside the actor's
        departments is "Unknown category.").
    """
    unit.actor.require(permissions.KB_MANAGE)
    values = gather(
        {
            "category_id": lambda: _category(unit, category_id),
            "title": lambda: _title(title),
            "body": lambda: _body(body),
            "visibility": lambda: _visibility(visibility),
            "status": lambda: _status(status),
        }
    )
    now = clock.now()
    article = KbArticle(
        **values, author_agent_id=unit.actor.agent_id, created_at=now, updated_at=now
    )
    unit.session.add(article)
    unit.session.flush()
    unit.audit("add", "kb_article", article.id, after=_article_snapshot(article))
    return article


def get_article(unit: Unit, article_id: int) -> KbArticle:
    """The article ``article_id`` if the actor may see it.

    :raises NotFound: it does not exist or its category is in a department the actor does not
        belong to.
    :raises Forbidden: the actor may not read the knowledge base.
    """
    require_reader(unit)
    article = unit.session.get(KbArticle, article_id) if _is_id(article_id, KbArticle) else None
    if article is None or not unit.actor.can_see_department(article.department_id):
        raise NotFound("article not found")
    return article


def update_article(unit: Unit, article: KbArticle, **changes: Any) -> KbArticle:
    """Change an article's title, body, visibility or status (publish it, take it back to
    draft), or move it to another category of the actor's departments."""
    unit.actor.require(permissions.KB_MANAGE)
    refuse_unknown_fields(changes, ARTICLE_FIELDS)
    checks: Mapping[str, Callable[[Any], Any]] = {
        "category_id": partial(_category, unit),
        "title": _title,
        "body": _body,
        "visibility": _visibility,
        "status": _status,
    }
    values = gather_changes(checks, changes)
    changed = apply_changes(article, values)
    if not changed:
        return article
    article.updated_at = clock.now()
    unit.session.flush()
    if "category_id" in changed:
        unit.session.expire(article, ["category"])
    before, after = split_changes(changed)
    sub_action = ""
    if "status" in changed:
        sub_action = "publish" if article.status == ArticleStatus.PUBLISHED else "unpublish"
    unit.audit(
        "update", "kb_article", article.id, sub_action=sub_action, before=before, after=after
    )
    return article


def delete_article(unit: Unit, article: KbArticle) -> None:
    """Delete an article for good (its audit entry keeps what it said)."""
    unit.actor.require(permissions.KB_MANAGE)
    unit.audit("delete", "kb_article", article.id, before=_article_snapshot(article))
    unit.session.delete(article)
    unit.session.flush()


def article_cursor(article: KbArticle) -> Cursor:
    """The keyset position just after ``article`` in :func:`list_articles` (pass it as
    ``before`` for the next page): its last change, then its id."""
    return Cursor(article.updated_at, article.id)


def list_articles(
    unit: Unit,
    *,
    category_ids: Iterable[int] | None = None,
    department_id: int | None = None,
    status: str | None = None,
    visibility: str | None = None,
    updated_since: datetime | None = None,
    limit: int = 50,
    before: Cursor | str | None = None,
) -> list[KbArticle]:
    """Articles of the actor's departments, last changed first, one page at a time.

    ``category_ids`` keeps those of these categories (an empty list keeps none),
    ``department_id`` those of one department, ``status`` and ``visibility`` those with that
    value, ``updated_since`` those changed at that time or later. ``before`` is
    :func:`article_cursor` of the previous page's last article.

    :raises ValidationFailed: naming each bad filter.
    """
    require_reader(unit)
    check_limit(limit)
    filters = gather(
        {
            "category_ids": lambda: _listed_categories(category_ids),
            "status": lambda: None if status is None else _status(status),
            "visibility": lambda: None if visibility is None else _visibility(visibility),
            "updated_since": lambda: require_aware(updated_since, "updated_since"),
        }
    )
    query = select(KbArticle).join(KbArticle.category).options(contains_eager(KbArticle.category))
    query = _in_visible_departments(unit, query, KbCategory.department_id)
    if department_id is not None:
        query = query.where(KbCategory.department_id == department_id)
    if filters["category_ids"] is not None:
        query = query.where(KbArticle.category_id.in_(filters["category_ids"]))
    if filters["status"] is not None:
        query = query.where(KbArticle.status == filters["status"])
    if filters["visibility"] is not None:
        query = query.where(KbArticle.visibility == filters["visibility"])
    if filters["updated_since"] is not None:
        query = query.where(KbArticle.updated_at >= filters["updated_since"])
    query = newest_first(query, KbArticle.updated_at, KbArticle.id, Cursor.parse(before), limit)
    return list(unit.session.scalars(query))
