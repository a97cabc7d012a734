"""The Products tab: the products linked to the contact or account, linked and unlinked there."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import func, select

from core.customer_tabs.base import customer_tab
from core.errors import NotFound
from core.models import Account, Contact, account_products, contact_products
from core.web.database import db_session
from hostapi import Context, PanelTarget

PLUGIN_ID = "core_customer_products"


def render_customer_products(context: Context, target: PanelTarget) -> str:
    """The linked products, each with its unlink button, and the lookup that links one (for
    agents who may manage products and edit the customer)."""
    model = Contact if target.kind == "contact" else Account
    customer = db_session().get(model, target.id)
    if customer is None:
        raise NotFound(f"{target.kind} not found")
    return render_template(
        "builtin/customer_products.html", customer=customer, customer_kind=target.kind
    )


def count_customer_products(context: Context, target: PanelTarget) -> int:
    """How many products are linked to the customer."""
    table, column = (
        (contact_products, contact_products.c.contact_id)
        if target.kind == "contact"
        else (account_products, account_products.c.account_id)
    )
    counted = db_session().scalar(
        select(func.count()).select_from(table).where(column == target.id)
    )
    return int(counted or 0)


PLUGIN = customer_tab(
    PLUGIN_ID,
    "Customer products",
    key="products",
    title="Products",
    title_ja="商品",
    render=render_customer_products,
    count=count_customer_products,
)
