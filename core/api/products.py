"""``/api/v1/products``: the product catalogue.

Reading it (the product lookup on contact and account pages reads it too) needs
``desk.contacts.read``, the scope product events go out under; creating and changing products
is setup: ``desk.settings.write`` and the ``product.manage`` permission.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import abort
from marshmallow import fields, validate

from core.api import schemas
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.errors import ValidationFailed
from core.models import Product
from core.services import products as product_service
from core.tokens import SETTINGS_WRITE_SCOPE
from hostapi import scopes

products = api_blueprint("api_products", __name__, "/products", "The product catalogue.")


class ProductSchema(ma.Schema):
    """A product; an inactive one stays on the records that have it but cannot be linked."""

    id = fields.Integer()
    name = fields.String()
    code = fields.String()
    description = fields.String()
    unit_price_cents = fields.Integer(allow_none=True)
    is_active = fields.Boolean()
    created_at = fields.AwareDateTime()


ProductList = schemas.page_of(ProductSchema, "ProductList")


class ProductSearchArgsSchema(schemas.StrictSchema):
    """A page of the catalogue by name, narrowed by a search and by being active."""

    search = schemas.Text(
        load_default="",
        max_length=schemas.MAX_SEARCH_LENGTH,
        metadata={"description": "Part of the name or the code."},
    )
    active = fields.Boolean(
        load_default=None,
        allow_none=True,
        metadata={"description": "true: active products only; false: inactive only."},
    )
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))
    cursor = schemas.CursorArg(
        load_default=None,
        max_length=1000,
        metadata={"description": "The `next_cursor` of the previous page."},
    )


class ProductCreateSchema(schemas.StrictSchema):
    """A new product (active); names are unique."""

    name = schemas.Text(required=True, min_length=1, max_length=product_service.MAX_NAME)
    code = schemas.Text(load_default="", max_length=product_service.MAX_CODE)
    description = schemas.Text(load_default="", max_length=product_service.MAX_DESCRIPTION)
    unit_price_cents = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=0, max=product_service.MAX_PRICE_CENTS),
    )


class ProductUpdateSchema(schemas.StrictSchema):
    """Changes to a product; ``is_active: false`` deactivates it."""

    name = schemas.Text(min_length=1, max_length=product_service.MAX_NAME)
    code = schemas.Text(max_length=product_service.MAX_CODE)
    description = schemas.Text(max_length=product_service.MAX_DESCRIPTION)
    unit_price_cents = fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=0, max=product_service.MAX_PRICE_CENTS),
    )
    is_active = fields.Boolean()


@products.route("", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@products.arguments(ProductSearchArgsSchema, location="query", as_kwargs=True)
@products.response(200, ProductList)
def list_products(
    search: str, active: bool | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Products by name whose name or code contains ``search`` (the lookup's source)."""
    try:
        after = product_service.decode_name_cursor(cursor) if cursor else None
    except ValidationFailed as failure:
        abort(422, errors={"query": failure.errors})
    rows = product_service.search_products(
        unit(), search=search, active=active, after=after, limit=limit + 1
    )
    items = rows[:limit]
    more = len(rows) > limit
    return {
        "items": items,
        "next_cursor": product_service.encode_name_cursor(items[-1].name) if more else None,
    }


@products.route("", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@products.arguments(ProductCreateSchema)
@products.response(201, ProductSchema)
def create_product(data: dict[str, Any]) -> Product:
    """Create a product (needs ``product.manage``)."""
    product = product_service.create_product(unit(), **data)
    commit()
    return product


@products.route("/<id:product_id>", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@products.response(200, ProductSchema)
def get_product(product_id: int) -> Product:
    """Read one product."""
    return product_service.get_product(unit(), product_id)


@products.route("/<id:product_id>", methods=["PATCH"])
@scoped(SETTINGS_WRITE_SCOPE)
@products.arguments(ProductUpdateSchema)
@products.response(200, ProductSchema)
def update_product(changes: dict[str, Any], product_id: int) -> Product:
    """Change a product, or deactivate / reactivate it (needs ``product.manage``)."""
    work = unit()
    product = product_service.update_product(
        work, product_service.get_product(work, product_id), **changes
    )
    commit()
    return product
