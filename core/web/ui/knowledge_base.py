"""Knowledge base: the categories and articles of the agent's departments (``kb.view`` reads,
``kb.manage`` writes).

Every read and change goes through :mod:`core.services.knowledge_base`, which checks the
permission, keeps to the agent's departments (a record outside them is a 404) and audits.
Articles are listed by last change, newest first, paged by the service's keyset
(``?before=``); the categories above them are paged on their own (``?categories_before=``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core import permissions
from core.errors import Forbidden, NotFound
from core.models import Department, KbArticle, KbCategory
from core.models.types import id_maximum
from core.services import knowledge_base as kb
from core.services import org as org_service
from core.services.base import parse_whole_number
from core.web.database import db_session
from core.web.security import current_agent, login_required
from core.web.ui.paging import newest_first_page
from core.web.ui.units import committed_or_errors, request_unit

blueprint = Blueprint("knowledge_base", __name__, url_prefix="/kb")

#: The categories an article form offers, at most (the service's largest page).
MAX_FORM_CATEGORIES = 500


def _require_reader() -> None:
    agent = current_agent()
    if agent is None or not any(agent.has_permission(p) for p in kb.READ_PERMISSIONS):
        raise Forbidden(permissions.KB_VIEW)


def _require_manager() -> None:
    agent = current_agent()
    if agent is None or not agent.has_permission(permissions.KB_MANAGE):
        raise Forbidden(permissions.KB_MANAGE)


def _may_manage() -> bool:
    agent = current_agent()
    return agent is not None and agent.has_permission(permissions.KB_MANAGE)


def _departments(*, include_inactive: bool = False) -> list[Department]:
    """The departments the agent sees, by name."""
    unit = request_unit()
    return [
        department
        for department in org_service.list_departments(unit, include_inactive=include_inactive)
        if unit.actor.can_see_department(department.id)
    ]


def _id_or_given(value: str, model: type[Any]) -> object:
    """A form's id as the service takes it: a number, or the text as given (the service then
    names the field as unknown)."""
    number = parse_whole_number(value, id_maximum(model))
    return number if number is not None else value


def _list_filters(departments: list[Department]) -> dict[str, Any]:
    """The list's filters from the query; a value that is not one of the choices is no filter."""
    department_id = parse_whole_number(request.args.get("department_id"), id_maximum(Department))
    if department_id not in {department.id for department in departments}:
        department_id = None
    status = request.args.get("status", "")
    visibility = request.args.get("visibility", "")
    category: KbCategory | None = None
    category_id = parse_whole_number(request.args.get("category_id"), id_maximum(KbCategory))
    if category_id is not None:
        try:
            category = kb.get_category(request_unit(), category_id)
        except NotFound:
            category = None
    return {
        "department_id": department_id,
        "status": status if status in kb.STATUSES else "",
        "visibility": visibility if visibility in kb.VISIBILITIES else "",
        "category": category,
    }


@blueprint.get("")
@login_required
def index() -> ResponseReturnValue:
    """The categories of the agent's departments and their articles, last changed first."""
    _require_reader()
    unit = request_unit()
    departments = _departments(include_inactive=True)
    filters = _list_filters([d for d in departments if d.is_active])
    category = filters["category"]
    articles, older = newest_first_page(
        kb.list_articles,
        cursor_of=kb.article_cursor,
        category_ids=None if category is None else [category.id],
        department_id=filters["department_id"],
        status=filters["status"] or None,
        visibility=filters["visibility"] or None,
    )
    categories, older_categories = newest_first_page(
        kb.list_categories,
        page_argument="categories_before",
        department_id=filters["department_id"],
    )
    # What the pagers keep: the filters (each list then starts again at its newest).
    query = {
        key: value
        for key, value in {
            "department_id": filters["department_id"],
            "status": filters["status"],
            "visibility": filters["visibility"],
            "category_id": None if category is None else category.id,
        }.items()
        if value
    }
    return render_template(
        "knowledge_base/index.html",
        articles=articles,
        older=older,
        categories=categories,
        older_categories=older_categories,
        article_counts=kb.count_articles(unit, categories),
        department_names={department.id: department.name for department in departments},
        filter_departments=[department for department in departments if department.is_active],
        filters=filters,
        query=query,
        statuses=kb.STATUSES,
        visibilities=kb.VISIBILITIES,
        may_manage=_may_manage(),
    )


# ----------------------------------------------------------------------------------- articles


@blueprint.get("/articles/<id:article_id>")
@login_required
def article(article_id: int) -> ResponseReturnValue:
    """One article: its text, status, visibility, category and department."""
    _require_reader()
    found = kb.get_article(request_unit(), article_id)
    department = db_session().get(Department, found.department_id)
    return render_template(
        "knowledge_base/article.html",
        article=found,
        department=department,
        may_manage=_may_manage(),
    )


def _article_values() -> dict[str, Any]:
    return {
        "category_id": _id_or_given(request.form.get("category_id", ""), KbCategory),
        "title": request.form.get("title", ""),
        "body": request.form.get("body", ""),
        "visibility": request.form.get("visibility", ""),
        "status": request.form.get("status", ""),
    }


def _article_form(
    article: KbArticle | None, errors: dict[str, list[str]], status: int
) -> ResponseReturnValue:
    draft = dict(request.form.items()) if errors else {}
    if article is None and not draft:
        draft = {"category_id": request.args.get("category_id", "")}
    categories = kb.list_categories(request_unit(), limit=MAX_FORM_CATEGORIES)
    return render_template(
        "knowledge_base/article_form.html",
        article=article,
        draft=draft,
        form_errors=errors,
        categories=sorted(categories, key=lambda c: c.name),
        department_names={d.id: d.name for d in _departments(include_inactive=True)},
        statuses=kb.STATUSES,
        visibilities=kb.VISIBILITIES,
    ), status


@blueprint.route("/articles/new", methods=["GET", "POST"])
@login_required
def create_article() -> ResponseReturnValue:
    """Write an article."""
    _require_manager()
    if request.method == "GET":
        return _article_form(None, {}, 200)
    made: list[KbArticle] = []
    errors = committed_or_errors(
        lambda: made.append(kb.create_article(request_unit(), **_article_values()))
    )
    if errors:
        return _article_form(None, errors, 422)
    return redirect(url_for("knowledge_base.article", article_id=made[0].id))


@blueprint.route("/articles/<id:article_id>/edit", methods=["GET", "POST"])
@login_required
def edit_article(article_id: int) -> ResponseReturnValue:
    """Change an article's category, title, text, visibility or status."""
    _require_manager()
    unit = request_unit()
    found = kb.get_article(unit, article_id)
    if request.method == "GET":
        return _article_form(found, {}, 200)
    errors = committed_or_errors(lambda: kb.update_article(unit, found, **_article_values()))
    if errors:
        return _article_form(kb.get_article(request_unit(), article_id), errors, 422)
    return redirect(url_for("knowledge_base.article", article_id=article_id))


@blueprint.route("/articles/<id:article_id>/delete", methods=["GET", "POST"])
@login_required
def delete_article(article_id: int) -> ResponseReturnValue:
    """Confirm, then delete an article."""
    _require_manager()
    unit = request_unit()
    found = kb.get_article(unit, article_id)
    if request.method == "POST":
        kb.delete_article(unit, found)
        db_session().commit()
        return redirect(url_for("knowledge_base.index"))
    return render_template("knowledge_base/article_delete.html", article=found)


# --------------------------------------------------------------------------------- categories


def _category_values() -> dict[str, Any]:
    return {
        "department_id": _id_or_given(request.form.get("department_id", ""), Department),
        "name": request.form.get("name", ""),
        "description": request.form.get("description", ""),
    }


def _category_form(
    category: KbCategory | None, errors: dict[str, list[str]], status: int
) -> ResponseReturnValue:
    draft = dict(request.form.items()) if errors else {}
    departments = [d for d in _departments() if d.is_active]
    if category is not None and category.department_id not in {d.id for d in departments}:
        # A category stays in its department while that department is inactive.
        departments += [
            d for d in _departments(include_inactive=True) if d.id == category.department_id
        ]
    return render_template(
        "knowledge_base/category_form.html",
        category=category,
        draft=draft,
        form_errors=errors,
        departments=departments,
    ), status


@blueprint.route("/categories/new", methods=["GET", "POST"])
@login_required
def create_category() -> ResponseReturnValue:
    """Add a category to one of the agent's departments."""
    _require_manager()
    if request.method == "GET":
        return _category_form(None, {}, 200)
    made: list[KbCategory] = []
    errors = committed_or_errors(
        lambda: made.append(kb.create_category(request_unit(), **_category_values()))
    )
    if errors:
        return _category_form(None, errors, 422)
    return redirect(url_for("knowledge_base.index", category_id=made[0].id))


@blueprint.route("/categories/<id:category_id>/edit", methods=["GET", "POST"])
@login_required
def edit_category(category_id: int) -> ResponseReturnValue:
    """Rename a category, change its description, or move it (with its articles) to another
    of the agent's departments."""
    _require_manager()
    unit = request_unit()
    category = kb.get_category(unit, category_id)
    if request.method == "GET":
        return _category_form(category, {}, 200)
    errors = committed_or_errors(lambda: kb.update_category(unit, category, **_category_values()))
    if errors:
        return _category_form(kb.get_category(request_unit(), category_id), errors, 422)
    return redirect(url_for("knowledge_base.index", category_id=category_id))


@blueprint.route("/categories/<id:category_id>/delete", methods=["GET", "POST"])
@login_required
def delete_category(category_id: int) -> ResponseReturnValue:
    """Confirm, then delete a category with the articles it holds."""
    _require_manager()
    unit = request_unit()
    category = kb.get_category(unit, category_id)
    if request.method == "POST":
        kb.delete_category(unit, category, cascade=True)
        db_session().commit()
        return redirect(url_for("knowledge_base.index"))
    return render_template(
        "knowledge_base/category_delete.html",
        category=category,
        article_count=kb.count_articles(unit, [category])[category.id],
    )
