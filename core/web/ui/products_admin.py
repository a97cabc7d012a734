"""Setup › Products: the product catalogue contacts and accounts link to (``product.manage``).

Products are listed by name, searched by name or code, paged by the last name shown (names
are unique). Deactivating a product keeps it on the records that have it; the product lookup
on contact and account pages then no longer offers it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.errors import Forbidden, ValidationFailed
from core.models import Product
from core.permissions import PRODUCT_MANAGE
from core.services import products as product_service
from core.web.database import db_session
from core.web.security import current_agent, login_required
from core.web.ui.units import committed_or_errors, request_unit

blueprint = Blueprint("products_admin", __name__, url_prefix="/setup/products")

PAGE_SIZE = 50
#: The list's status filter: its choices and what each lists.
STATUS_FILTERS: dict[str, bool | None] = {"active": True, "inactive": False, "all": None}

# A search term longer than any name finds nothing: cut it rather than refuse it.
_MAX_TERM = product_service.MAX_NAME


def _require_manager() -> None:
    agent = current_agent()
    if agent is None or not agent.has_permission(PRODUCT_MANAGE):
        raise Forbidden(PRODUCT_MANAGE)


@blueprint.get("")
@login_required
def index() -> ResponseReturnValue:
    """The product catalogue, by name."""
    _require_manager()
    term = request.args.get("q", "").replace("\x00", "").strip()[:_MAX_TERM]
    status = request.args.get("status", "active")
    if status not in STATUS_FILTERS:
        status = "active"
    after_cursor = request.args.get("after") or None
    try:
        after = product_service.decode_name_cursor(after_cursor) if after_cursor else None
    except ValidationFailed:
        after, after_cursor = None, None
    rows = product_service.search_products(
        request_unit(),
        search=term,
        active=STATUS_FILTERS[status],
        after=after,
        limit=PAGE_SIZE + 1,
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render_template(
        "setup/products.html",
        products=rows,
        q=term,
        status=status,
        next_cursor=product_service.encode_name_cursor(rows[-1].name) if more else None,
    )


def _form_values() -> dict[str, Any]:
    """The product form's fields as the service takes them (a bad price is passed on as given,
    so the service names it along with every other bad field)."""
    price_text = request.form.get("unit_price_cents", "").strip()
    price: object = None
    if price_text:
        price = int(price_text) if price_text.isascii() and price_text.isdigit() else price_text
    return {
        "name": request.form.get("name", ""),
        "code": request.form.get("code", ""),
        "description": request.form.get("description", ""),
        "unit_price_cents": price,
    }


def _form(
    product: Product | None, errors: dict[str, list[str]], status: int
) -> ResponseReturnValue:
    draft = dict(request.form.items()) if errors else {}
    return render_template(
        "setup/products_form.html", product=product, draft=draft, form_errors=errors
    ), status


@blueprint.route("/new", methods=["GET", "POST"])
@login_required
def create() -> ResponseReturnValue:
    """Add a product."""
    _require_manager()
    if request.method == "GET":
        return _form(None, {}, 200)
    try:
        product = product_service.create_product(request_unit(), **_form_values())
    except ValidationFailed as failure:
        db_session().rollback()
        return _form(None, failure.errors, 422)
    db_session().commit()
    return redirect(url_for("products_admin.index", q=product.name, status="all"))


@blueprint.route("/<id:product_id>/edit", methods=["GET", "POST"])
@login_required
def edit(product_id: int) -> ResponseReturnValue:
    """Edit a product's name, code, description and price."""
    _require_manager()
    unit = request_unit()
    product = product_service.get_product(unit, product_id)
    if request.method == "GET":
        return _form(product, {}, 200)
    errors = committed_or_errors(
        lambda: product_service.update_product(unit, product, **_form_values())
    )
    if errors:
        return _form(product_service.get_product(request_unit(), product_id), errors, 422)
    return redirect(url_for("products_admin.index", q=product.name, status="all"))


@blueprint.post("/<id:product_id>/active")
@login_required
def set_active(product_id: int) -> ResponseReturnValue:
    """Deactivate (``active=0``) or reactivate (``active=1``) a product."""
    _require_manager()
    unit = request_unit()
    product = product_service.get_product(unit, product_id)
    active = request.form.get("active") == "1"
    product_service.set_product_active(unit, product, active)
    db_session().commit()
    return redirect(url_for("products_admin.index", q=product.name, status="all"))
