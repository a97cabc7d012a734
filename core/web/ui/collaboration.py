"""Working together in the desk: comments with @mentions, follows, products, notifications.

The contact and account pages include this blueprint's partials (``customers/_comments.html``,
``_follow.html``, ``_products.html``); what those show comes from the template globals below,
so the pages' own views need not know about them. The nav badge reads
``unread_notifications_count`` (a context processor) or ``GET /notifications/unread-count``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import Select, select
from sqlalchemy.exc import SQLAlchemyError

from core import permissions
from core.customer_tabs import products as products_tab
from core.customer_tabs.base import tab_page_key
from core.errors import NotFound, ValidationFailed
from core.models import (
    Account,
    Agent,
    Contact,
    CustomerComment,
    Notification,
    Product,
    Ticket,
)
from core.models.types import id_maximum
from core.services import comments as comment_service
from core.services import customers as customer_service
from core.services import follows as follow_service
from core.services import notifications as notification_service
from core.services.base import Cursor, parse_whole_number
from core.web.database import db_session
from core.web.security import current_agent, login_required
from core.web.ui import customers as customer_pages
from core.web.ui.units import request_unit

blueprint = Blueprint("collaboration", __name__)

COMMENTS_PAGE_SIZE = 20
NOTIFICATIONS_PAGE_SIZE = 50
_KINDS = {"contacts": "contact", "accounts": "account"}


# ----------------------------------------------------------------------- what the pages show


@dataclass(frozen=True)
class CommentView:
    """A comment as the page shows it."""

    comment: CustomerComment
    html: Markup
    author_name: str
    mine: bool


@blueprint.app_context_processor
def _unread_notifications() -> dict[str, Any]:
    """``unread_notifications_count`` for the signed-in agent's nav badge (0 when signed out)."""
    if current_agent() is None:
        return {"unread_notifications_count": 0}
    try:
        count = notification_service.unread_count(request_unit())
    except SQLAlchemyError:
        # An error page rendered after a failed statement must still render: no badge then.
        count = 0
    return {"unread_notifications_count": count}


def _agent_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db_session().execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids)))
    return {agent_id: name for agent_id, name in rows}


@blueprint.app_template_global()
def customer_comments(customer: Contact | Account) -> dict[str, Any]:
    """The page of comments the customer page shows (``?comments_before=`` pages back)."""
    unit = request_unit()
    rows = comment_service.list_comments(
        unit,
        customer,
        limit=COMMENTS_PAGE_SIZE + 1,
        before=request.args.get("comments_before") or None,
    )
    older = None
    if len(rows) > COMMENTS_PAGE_SIZE:
        rows = rows[:COMMENTS_PAGE_SIZE]
        older = Cursor.of(rows[-1]).encode()
    names = _agent_names(
        {c.author_id for c in rows if c.author_id}
        | {i for c in rows for i in c.mentioned_agent_ids or []}
    )
    me = unit.actor.agent_id
    return {
        "items": [
            CommentView(
                comment=c,
                html=comment_service.render_body(c.body, names),
                author_name=names.get(c.author_id or 0, _("Former agent")),
                mine=c.author_id == me,
            )
            for c in rows
        ],
        "older": older,
        "errors": g.get("comment_errors", {}),
        "draft": g.get("comment_draft", ""),
        "edit_errors": g.get("comment_edit_errors", {}),
    }


@blueprint.app_template_global()
def customer_follow(customer: Contact | Account) -> dict[str, Any]:
    """Whether the signed-in agent follows the customer, and how many agents do."""
    unit = request_unit()
    return {
        "following": follow_service.is_following(unit, customer),
        "count": follow_service.follower_count(unit, customer),
    }


@blueprint.app_template_global()
def customer_products(customer: Contact | Account) -> dict[str, Any]:
    """The products linked to the customer, and whether the agent may link and unlink them."""
    unit = request_unit()
    kind = comment_service.CustomerRef.of(customer).kind
    linked = customer_service.list_products(unit, **{f"{kind}_id": customer.id})
    agent = unit.actor.agent
    edit = permissions.CONTACT_EDIT if kind == "contact" else permissions.ACCOUNT_EDIT
    can_manage = agent is not None and all(
        agent.has_permission(p) for p in (permissions.PRODUCT_MANAGE, edit)
    )
    return {"items": linked, "can_manage": can_manage, "errors": g.get("product_errors", {})}


def _customer(kinds: str, customer_id: int) -> Contact | Account:
    if kinds not in _KINDS:
        raise NotFound("customer not found")
    return comment_service.customer_of(request_unit(), _KINDS[kinds], customer_id)


def _customer_page_url(customer: Contact | Account, anchor: str) -> str:
    if isinstance(customer, Contact):
        return url_for("customers.contact", contact_id=customer.id) + anchor
    return url_for("customers.account", account_id=customer.id) + anchor


def _products_tab(customer: Contact | Account) -> str:
    """The page key of the customer's Products tab."""
    kind = "contact" if isinstance(customer, Contact) else "account"
    return tab_page_key(products_tab.PLUGIN_ID, kind, "products")


def _customer_page_again(
    customer: Contact | Account, *, tab: str | None = None
) -> ResponseReturnValue:
    """The customer's page re-rendered with this request's form errors (422), nothing stored;
    ``tab`` (a page key) is the tab shown, where the form was in one."""
    db_session().rollback()
    g.selected_tab = tab
    if isinstance(customer, Contact):
        return customer_pages.contact(customer.id), 422
    return customer_pages.account(customer.id), 422


# ---------------------------------------------------------------------------------- comments


@blueprint.post("/<any(contacts, accounts):kinds>/<bigid:customer_id>/comments")
@login_required
def add_comment(kinds: str, customer_id: int) -> ResponseReturnValue:
    """Comment on a contact or an account."""
    customer = _customer(kinds, customer_id)
    body = request.form.get("body", "")
    try:
        comment = comment_service.add_comment(request_unit(), customer, body=body)
    except ValidationFailed as failure:
        g.comment_errors, g.comment_draft = failure.errors, body
        return _customer_page_again(customer)
    db_session().commit()
    return redirect(_customer_page_url(customer, f"#comment-{comment.id}"))


def _comment_and_customer(comment_id: int) -> tuple[CustomerComment, Contact | Account]:
    unit = request_unit()
    comment = comment_service.get_comment(unit, comment_id)
    if comment.contact_id is not None:
        return comment, comment_service.customer_of(unit, "contact", comment.contact_id)
    assert comment.account_id is not None
    return comment, comment_service.customer_of(unit, "account", comment.account_id)


@blueprint.post("/comments/<bigid:comment_id>/edit")
@login_required
def edit_comment(comment_id: int) -> ResponseReturnValue:
    """Change one's own comment."""
    comment, customer = _comment_and_customer(comment_id)
    body = request.form.get("body", "")
    try:
        comment_service.update_comment(request_unit(), comment, body=body)
    except ValidationFailed as failure:
        g.comment_edit_errors = {comment_id: {"errors": failure.errors, "draft": body}}
        return _customer_page_again(customer)
    db_session().commit()
    return redirect(_customer_page_url(customer, f"#comment-{comment_id}"))


@blueprint.post("/comments/<bigid:comment_id>/delete")
@login_required
def delete_comment(comment_id: int) -> ResponseReturnValue:
    """Delete one's own comment."""
    comment, customer = _comment_and_customer(comment_id)
    comment_service.delete_comment(request_unit(), comment)
    db_session().commit()
    return redirect(_customer_page_url(customer, "#comments"))


@blueprint.get("/mentions/agents")
@login_required
def mentionable_agents() -> ResponseReturnValue:
    """Active agents matching ``?q=`` for the @-autocomplete, with the token to insert."""
    agents = comment_service.mentionable_agents(request_unit(), request.args.get("q", ""))
    return jsonify(
        items=[
            {
                "id": agent.id,
                "name": agent.name,
                "email": agent.email,
                "token": comment_service.mention_token(agent),
            }
            for agent in agents
        ]
    )


# ----------------------------------------------------------------------------------- follows


@blueprint.post("/<any(contacts, accounts):kinds>/<bigid:customer_id>/follow")
@login_required
def follow(kinds: str, customer_id: int) -> ResponseReturnValue:
    """Follow (``following=1``) or stop following (``following=0``) a contact or an account."""
    customer = _customer(kinds, customer_id)
    if request.form.get("following") == "0":
        follow_service.unfollow(request_unit(), customer)
    else:
        follow_service.follow(request_unit(), customer)
    db_session().commit()
    return redirect(_customer_page_url(customer, ""))


# ---------------------------------------------------------------------------------- products


def _product_from_form() -> Product:
    """The product the form names: its id (set by the lookup), else an exact name or code."""
    session = db_session()
    raw_id = request.form.get("product_id", "")
    product_id = parse_whole_number(raw_id, id_maximum(Product))
    product = session.get(Product, product_id) if product_id is not None else None
    term = request.form.get("product", "").strip()
    if product is None and term:
        product = session.scalar(
            select(Product).where((Product.name == term) | (Product.code == term)).limit(1)
        )
    if product is None:
        raise ValidationFailed({"product": [_("Choose a product from the list.")]})
    return product


@blueprint.post("/<any(contacts, accounts):kinds>/<bigid:customer_id>/products")
@login_required
def link_product(kinds: str, customer_id: int) -> ResponseReturnValue:
    """Link a product to a contact or an account."""
    customer = _customer(kinds, customer_id)
    unit = request_unit()
    unit.actor.require(permissions.PRODUCT_MANAGE)
    try:
        product = _product_from_form()
        customer_service.link_product(unit, product, **{_KINDS[kinds]: customer})
    except ValidationFailed as failure:
        g.product_errors = failure.errors
        return _customer_page_again(customer, tab=_products_tab(customer))
    db_session().commit()
    return redirect(_customer_page_url(customer, f"?tab={_products_tab(customer)}#customer-tabs"))


@blueprint.post(
    "/<any(contacts, accounts):kinds>/<bigid:customer_id>/products/<id:product_id>/unlink"
)
@login_required
def unlink_product(kinds: str, customer_id: int, product_id: int) -> ResponseReturnValue:
    """Remove a product from a contact or an account."""
    customer = _customer(kinds, customer_id)
    unit = request_unit()
    unit.actor.require(permissions.PRODUCT_MANAGE)
    product = db_session().get(Product, product_id)
    if product is None:
        raise NotFound("product not found")
    customer_service.unlink_product(unit, product, **{_KINDS[kinds]: customer})
    db_session().commit()
    return redirect(_customer_page_url(customer, f"?tab={_products_tab(customer)}#customer-tabs"))


# ------------------------------------------------------------------------------ notifications


@dataclass(frozen=True)
class NotificationView:
    """A notification as the centre shows it: a translated headline and where it leads."""

    notification: Notification
    headline: str
    target_url: str


def _headline(n: Notification, actor: str, target: str) -> str:
    if n.kind == "mention":
        return _("%(actor)s mentioned you on %(target)s", actor=actor, target=target)
    if n.kind == "comment":
        return _("%(actor)s commented on %(target)s", actor=actor, target=target)
    if n.kind == "new_ticket":
        return _("New ticket for %(target)s", target=target)
    if n.actor_id is not None:
        return _("%(actor)s replied on a ticket of %(target)s", actor=actor, target=target)
    return _("New customer message on a ticket of %(target)s", target=target)


def _names(query: Select[tuple[int, str]]) -> dict[int, str]:
    return {record_id: name for record_id, name in db_session().execute(query)}


def _notification_views(rows: list[Notification]) -> list[NotificationView]:
    session = db_session()
    actors = _agent_names({n.actor_id for n in rows if n.actor_id})
    contact_ids = {n.contact_id for n in rows if n.contact_id}
    account_ids = {n.account_id for n in rows if n.account_id}
    ticket_ids = {n.ticket_id for n in rows if n.ticket_id}
    contacts = (
        {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))}
        if contact_ids
        else {}
    )
    accounts = _names(select(Account.id, Account.name).where(Account.id.in_(account_ids)))
    tickets = _names(select(Ticket.id, Ticket.subject).where(Ticket.id.in_(ticket_ids)))
    views = []
    for n in rows:
        if n.contact_id in contacts:
            target = contacts[n.contact_id].name
        else:
            target = accounts.get(n.account_id or 0, "")
        if n.ticket_id is not None:
            target = target or tickets.get(n.ticket_id, "")
            url = url_for("tickets.detail", ticket_id=n.ticket_id)
        elif n.contact_id is not None:
            url = url_for("customers.contact", contact_id=n.contact_id)
        else:
            url = url_for("customers.account", account_id=n.account_id or 0)
        if n.comment_id is not None:
            url += f"#comment-{n.comment_id}"
        views.append(
            NotificationView(
                notification=n,
                headline=_headline(n, actors.get(n.actor_id or 0, _("Someone")), target),
                target_url=url,
            )
        )
    return views


@blueprint.get("/notifications")
@login_required
def notifications() -> ResponseReturnValue:
    """The notification centre: newest first, unread ones highlighted."""
    unread_only = request.args.get("unread") == "1"
    rows = notification_service.list_notifications(
        request_unit(),
        unread_only=unread_only,
        limit=NOTIFICATIONS_PAGE_SIZE + 1,
        before=request.args.get("before") or None,
    )
    older = None
    if len(rows) > NOTIFICATIONS_PAGE_SIZE:
        rows = rows[:NOTIFICATIONS_PAGE_SIZE]
        older = Cursor.of(rows[-1]).encode()
    return render_template(
        "notifications/index.html",
        notifications=_notification_views(rows),
        older=older,
        unread_only=unread_only,
    )


@blueprint.get("/notifications/unread-count")
@login_required
def unread_count() -> ResponseReturnValue:
    """``{"unread": n}`` for the nav badge."""
    return jsonify(unread=notification_service.unread_count(request_unit()))


@blueprint.get("/notifications/<bigid:notification_id>/open")
@login_required
def open_notification(notification_id: int) -> ResponseReturnValue:
    """Mark the notification read and go to what it is about.

    A GET that marks read: following a link is how one reads a notification, and marking
    one's own notification read is harmless if a page makes the browser do it.
    """
    unit = request_unit()
    notification = notification_service.get_notification(unit, notification_id)
    notification_service.mark_read(unit, notification)
    (view,) = _notification_views([notification])
    db_session().commit()
    return redirect(view.target_url)


@blueprint.post("/notifications/<bigid:notification_id>/read")
@login_required
def mark_read(notification_id: int) -> ResponseReturnValue:
    """Mark one notification read."""
    unit = request_unit()
    notification_service.mark_read(
        unit, notification_service.get_notification(unit, notification_id)
    )
    db_session().commit()
    return redirect(url_for("collaboration.notifications"))


@blueprint.post("/notifications/read-all")
@login_required
def mark_all_read() -> ResponseReturnValue:
    """Mark every notification read."""
    notification_service.mark_all_read(request_unit())
    db_session().commit()
    return redirect(url_for("collaboration.notifications"))
