"""The product catalogue: products are created, edited and retired (deactivated) in setup.

A product is organisation-wide (not department-scoped). Managing the catalogue needs
``product.manage``; reading it one of the permissions of :data:`READ_PERMISSIONS`, as contact
and account pages show the products linked to them. An inactive product cannot be newly linked
(:func:`core.services.customers.link_product` refuses it) but stays on the records that have it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import or_, select

from core import permissions
from core.errors import Forbidden, Message, NotFound, ValidationFailed
from core.models import Product
from core.models.types import id_maximum
from core.services.base import (
    Unit,
    apply_changes,
    check_limit,
    clean_text,
    gather,
    gather_changes,
    refuse_unknown_fields,
    split_changes,
)
from hostapi import clock, events

#: The lengths of the product's text columns.
MAX_NAME = 300
MAX_CODE = 100
MAX_DESCRIPTION = 100_000
#: What :func:`update_product` changes.
UPDATABLE: frozenset[str] = frozenset(
    {"name", "code", "description", "unit_price_cents", "is_active"}
)
#: The largest price a product can have, in cents (the column is a 32-bit integer).
MAX_PRICE_CENTS = 2**31 - 1
NAME_TAKEN = Message("A product with this name exists.")


def _name(value: object) -> str:
    return clean_text(value, "name", max_length=MAX_NAME, required=True)


def _code(value: object) -> str:
    return clean_text(value, "code", max_length=MAX_CODE)


def _description(value: object) -> str:
    return clean_text(value, "description", max_length=MAX_DESCRIPTION)


def _price(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRICE_CENTS:
        raise ValidationFailed(
            {"unit_price_cents": [Message("Give a whole number of cents, 0 or more.")]}
        )
    return value


def _active(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed({"is_active": [Message("Give true or false.")]})
    return value


_CHECKS: Mapping[str, Callable[[Any], Any]] = {
    "name": _name,
    "code": _code,
    "description": _description,
    "unit_price_cents": _price,
    "is_active": _active,
}


def _free_name(unit: Unit, value: object, product_id: int | None = None) -> str:
    """A valid name no other product has."""
    name = _name(value)
    query = select(Product.id).where(Product.name == name)
    if product_id is not None:
        query = query.where(Product.id != product_id)
    if unit.session.scalar(query) is not None:
        raise ValidationFailed({"name": [NAME_TAKEN]})
    return name


def create_product(
    unit: Unit,
    *,
    name: str,
    code: str = "",
    description: str = "",
    unit_price_cents: int | None = None,
) -> Product:
    """Create an active product (names are unique)."""
    unit.actor.require(permissions.PRODUCT_MANAGE)
    values = gather(
        {
            "name": lambda: _free_name(unit, name),
            "code": lambda: _code(code),
            "description": lambda: _description(description),
            "unit_price_cents": lambda: _price(unit_price_cents),
        }
    )
    product = Product(**values, is_active=True, created_at=clock.now())
    unit.session.add(product)
    unit.session.flush()
    after = {**values, "is_active": True}
    unit.audit("add", "product", product.id, after=after)
    unit.emit(
        events.PRODUCT_CREATED,
        {"product_id": product.id, "changes": {k: [None, v] for k, v in after.items()}},
    )
    return product


#: Reading the catalogue needs one of these: the product lookup serves contact and account
#: pages, the setup page the product managers.
READ_PERMISSIONS: tuple[str, ...] = (
    permissions.CONTACT_VIEW,
    permissions.ACCOUNT_VIEW,
    permissions.PRODUCT_MANAGE,
)


def require_reader(unit: Unit) -> None:
    """Raise :class:`Forbidden` unless the actor may read the catalogue."""
    agent = unit.actor.agent
    if agent is not None and not any(agent.has_permission(p) for p in READ_PERMISSIONS):
        raise Forbidden(permissions.CONTACT_VIEW)


def get_product(unit: Unit, product_id: int) -> Product:
    """The product ``product_id``; :class:`NotFound` when there is none."""
    require_reader(unit)
    if not 0 < product_id <= id_maximum(Product):
        raise NotFound("product not found")
    product = unit.session.get(Product, product_id)
    if product is None:
        raise NotFound("product not found")
    return product


def update_product(unit: Unit, product: Product, **changes: Any) -> Product:
    """Change a product's name, code, description, price or whether it is active.

    Deactivating (``is_active=False``) keeps the product on the records that have it.
    """
    unit.actor.require(permissions.PRODUCT_MANAGE)
    refuse_unknown_fields(changes, UPDATABLE)
    checks = {**_CHECKS, "name": lambda value: _free_name(unit, value, product.id)}
    values = gather_changes(checks, changes)
    changed = apply_changes(product, values)
    if changed:
        unit.session.flush()
        before, after = split_changes(changed)
        sub_action = ""
        if "is_active" in changed:
            sub_action = "activate" if product.is_active else "deactivate"
        unit.audit(
            "update", "product", product.id, sub_action=sub_action, before=before, after=after
        )
        unit.emit(events.PRODUCT_UPDATED, {"product_id": product.id, "changes": changed})
    return product


def set_product_active(unit: Unit, product: Product, active: bool) -> Product:
    """Deactivate (no new links) or reactivate a product."""
    return update_product(unit, product, is_active=active)


# ---------------------------------------------------------------------------------- listing


def encode_name_cursor(name: str) -> str:
    """The cursor after the product named ``name`` (names are unique: the name is the key)."""
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def decode_name_cursor(cursor: str, field: str = "cursor") -> str:
    """The product name a cursor from :func:`encode_name_cursor` points after."""
    try:
        name = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as error:
        raise ValidationFailed({field: [Message("Not a valid page cursor.")]}) from error
    if "\x00" in name or len(name) > MAX_NAME:
        raise ValidationFailed({field: [Message("Not a valid page cursor.")]})
    return name


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_products(
    unit: Unit,
    *,
    search: str = "",
    active: bool | None = None,
    after: str | None = None,
    limit: int = 50,
) -> list[Product]:
    """Products by name whose name or code contains ``search``, after the name ``after``.

    ``active`` narrows to active (``True``) or inactive (``False``) products; ``None`` lists
    both. Read ``limit + 1`` to learn whether a next page exists.
    """
    require_reader(unit)
    check_limit(limit)
    query = select(Product)
    term = (search or "").strip()
    if term:
        pattern = _like(term)
        query = query.where(
            or_(Product.name.ilike(pattern, escape="\\"), Product.code.ilike(pattern, escape="\\"))
        )
    if active is not None:
        query = query.where(Product.is_active.is_(active))
    if after is not None:
        query = query.where(Product.name > after)
    return list(unit.session.scalars(query.order_by(Product.name).limit(limit)))
