"""Comments, follows and products of contacts and accounts; the caller's notifications.

Contact routes need the contacts scopes, account routes the accounts scopes: reading
(comments, follow state, linked products) the read scope, commenting and linking the write
scope. Following is the caller's own state, not a change to the customer: it needs only the
read scope (and the CSRF header in a session, like any unsafe request). Notifications need
``desk.contacts.read``. The product catalogue itself is :mod:`core.api.products`.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint
from marshmallow import fields

from core import permissions
from core.api import products as products_api
from core.api import schemas
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.api.paging import list_page
from core.errors import NotFound
from core.models import Account, Contact, CustomerComment, Notification
from core.services import comments as comment_service
from core.services import customers as customer_service
from core.services import follows as follow_service
from core.services import notifications as notification_service
from core.services import products as product_service
from core.services.base import Unit
from hostapi import scopes

# ------------------------------------------------------------------------------------ schemas


class CommentSchema(ma.Schema):
    """A comment on a contact or an account.

    ``body`` carries mentions as tokens, ``@[Name](agent:12)``; ``body_html`` is the same text
    escaped, with each mention as ``<span class="mention" data-agent-id="12">@Name</span>``.
    """

    id = fields.Integer()
    contact_id = fields.Integer(allow_none=True)
    account_id = fields.Integer(allow_none=True)
    author_id = fields.Integer(allow_none=True)
    body = fields.String()
    body_html = fields.Method("_html")
    mentioned_agent_ids = fields.List(fields.Integer())
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()

    def _html(self, comment: CustomerComment) -> str:
        return str(comment_service.render_body(comment.body))


class CommentWriteSchema(schemas.StrictSchema):
    """A comment's text: mention an agent with ``@[Name](agent:<id>)`` (active agents only)."""

    body = schemas.Text(
        required=True,
        min_length=1,
        max_length=comment_service.MAX_BODY_LENGTH,
        metadata={"description": f"1 to {comment_service.MAX_BODY_LENGTH} characters."},
    )


class FollowSchema(ma.Schema):
    """Whether the caller follows the record, and how many agents do."""

    following = fields.Boolean()
    follower_count = fields.Integer()


class NotificationSchema(ma.Schema):
    """One entry of the caller's notification centre."""

    id = fields.Integer()
    kind = fields.String(metadata={"description": "mention, comment, new_ticket or reply"})
    actor_id = fields.Integer(allow_none=True, metadata={"description": "Who caused it."})
    contact_id = fields.Integer(allow_none=True)
    account_id = fields.Integer(allow_none=True)
    ticket_id = fields.Integer(allow_none=True)
    comment_id = fields.Integer(allow_none=True)
    summary = fields.String(metadata={"description": "An excerpt of what was written."})
    created_at = fields.AwareDateTime()
    read_at = fields.AwareDateTime(allow_none=True)


class NotificationListArgsSchema(schemas.PageArgsSchema):
    """A page of notifications, unread ones only if asked."""

    unread = fields.Boolean(load_default=False, metadata={"description": "Only unread ones."})


class UnreadCountSchema(ma.Schema):
    """How many notifications are unread."""

    unread = fields.Integer()


class MarkedSchema(ma.Schema):
    """How many notifications were marked read."""

    marked = fields.Integer()


CommentPage = schemas.page_of(CommentSchema, "CommentPage")
NotificationPage = schemas.page_of(NotificationSchema, "NotificationPage")


# --------------------------------------------------------------------- contacts and accounts


def _customer_routes(blp: Blueprint, kind: str, read_scope: str, write_scope: str) -> None:
    """Comment, follow and product routes under ``/{kind}s/<{kind}_id>``."""
    key = f"{kind}_id"

    def customer(work: Unit, customer_id: int) -> Contact | Account:
        return comment_service.customer_of(work, kind, customer_id)

    def own_comment(work: Unit, customer_id: int, comment_id: int) -> CustomerComment:
        record = customer(work, customer_id)
        comment = comment_service.get_comment(work, comment_id)
        if getattr(comment, key) != record.id:
            raise NotFound("comment not found")
        return comment

    @blp.route(f"/<bigid:{key}>/comments", methods=["GET"])
    @scoped(read_scope)
    @blp.arguments(schemas.PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, CommentPage)
    def list_comments(limit: int, cursor: str | None, **path: int) -> dict[str, Any]:
        """List the comments, newest first."""
        work = unit()
        record = customer(work, path[key])
        return list_page(
            lambda w, **page: comment_service.list_comments(w, record, **page),
            work,
            limit,
            cursor,
        )

    @blp.route(f"/<bigid:{key}>/comments", methods=["POST"])
    @scoped(write_scope)
    @blp.arguments(CommentWriteSchema)
    @blp.response(201, CommentSchema)
    def add_comment(data: dict[str, Any], **path: int) -> CustomerComment:
        """Comment as the caller; each mentioned agent is notified."""
        work = unit()
        comment = comment_service.add_comment(work, customer(work, path[key]), **data)
        commit()
        return comment

    @blp.route(f"/<bigid:{key}>/comments/<bigid:comment_id>", methods=["PATCH"])
    @scoped(write_scope)
    @blp.arguments(CommentWriteSchema)
    @blp.response(200, CommentSchema)
    def update_comment(data: dict[str, Any], comment_id: int, **path: int) -> Any:
        """Change the caller's own comment (403 for another's); new mentions are notified."""
        work = unit()
        comment = comment_service.update_comment(
            work, own_comment(work, path[key], comment_id), **data
        )
        commit()
        return comment

    @blp.route(f"/<bigid:{key}>/comments/<bigid:comment_id>", methods=["DELETE"])
    @scoped(write_scope)
    @blp.response(204)
    def delete_comment(comment_id: int, **path: int) -> None:
        """Delete the caller's own comment (403 for another's)."""
        work = unit()
        comment_service.delete_comment(work, own_comment(work, path[key], comment_id))
        commit()

    def follow_state(work: Unit, record: Contact | Account) -> dict[str, Any]:
        return {
            "following": follow_service.is_following(work, record),
            "follower_count": follow_service.follower_count(work, record),
        }

    @blp.route(f"/<bigid:{key}>/follow", methods=["GET"])
    @scoped(read_scope)
    @blp.response(200, FollowSchema)
    def get_follow(**path: int) -> dict[str, Any]:
        """Whether the caller follows this record."""
        work = unit()
        return follow_state(work, customer(work, path[key]))

    @blp.route(f"/<bigid:{key}>/follow", methods=["PUT"])
    @scoped(read_scope, unsafe=True)
    @blp.response(200, FollowSchema)
    def follow(**path: int) -> dict[str, Any]:
        """Follow: be notified of its new tickets, replies and comments (idempotent)."""
        work = unit()
        record = customer(work, path[key])
        follow_service.follow(work, record)
        commit()
        return follow_state(work, record)

    @blp.route(f"/<bigid:{key}>/follow", methods=["DELETE"])
    @scoped(read_scope, unsafe=True)
    @blp.response(200, FollowSchema)
    def unfollow(**path: int) -> dict[str, Any]:
        """Stop following (idempotent)."""
        work = unit()
        record = customer(work, path[key])
        follow_service.unfollow(work, record)
        commit()
        return follow_state(work, record)

    @blp.route(f"/<bigid:{key}>/products", methods=["GET"])
    @scoped(read_scope)
    @blp.response(200, products_api.ProductList)
    def list_linked_products(**path: int) -> dict[str, Any]:
        """The linked products, by name (one page: all of them)."""
        work = unit()
        record = customer(work, path[key])
        rows = customer_service.list_products(work, **{f"{kind}_id": record.id})
        return {"items": rows, "next_cursor": None}

    @blp.route(f"/<bigid:{key}>/products/<id:product_id>", methods=["PUT"])
    @scoped(write_scope)
    @blp.response(204)
    def link(product_id: int, **path: int) -> None:
        """Link a product (idempotent; needs ``product.manage``)."""
        work = unit()
        record = customer(work, path[key])
        work.actor.require(permissions.PRODUCT_MANAGE)
        customer_service.link_product(
            work, product_service.get_product(work, product_id), **{kind: record}
        )
        commit()

    @blp.route(f"/<bigid:{key}>/products/<id:product_id>", methods=["DELETE"])
    @scoped(write_scope)
    @blp.response(204)
    def unlink(product_id: int, **path: int) -> None:
        """Unlink a product (idempotent; needs ``product.manage``)."""
        work = unit()
        record = customer(work, path[key])
        work.actor.require(permissions.PRODUCT_MANAGE)
        customer_service.unlink_product(
            work, product_service.get_product(work, product_id), **{kind: record}
        )
        commit()


contact_collaboration = api_blueprint(
    "api_contact_collaboration",
    __name__,
    "/contacts",
    "Comments, follows and products of contacts.",
)
account_collaboration = api_blueprint(
    "api_account_collaboration",
    __name__,
    "/accounts",
    "Comments, follows and products of accounts.",
)
_customer_routes(contact_collaboration, "contact", scopes.CONTACTS_READ, scopes.CONTACTS_WRITE)
_customer_routes(account_collaboration, "account", scopes.ACCOUNTS_READ, scopes.ACCOUNTS_WRITE)


# ------------------------------------------------------------------------------ notifications

notification_blp = api_blueprint(
    "api_notifications", __name__, "/me/notifications", "The caller's notification centre."
)


@notification_blp.route("", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@notification_blp.arguments(NotificationListArgsSchema, location="query", as_kwargs=True)
@notification_blp.response(200, NotificationPage)
def list_notifications(limit: int, cursor: str | None, unread: bool) -> dict[str, Any]:
    """The caller's notifications, newest first."""
    return list_page(
        notification_service.list_notifications, unit(), limit, cursor, unread_only=unread
    )


@notification_blp.route("/unread-count", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@notification_blp.response(200, UnreadCountSchema)
def unread_count() -> dict[str, int]:
    """How many of the caller's notifications are unread."""
    return {"unread": notification_service.unread_count(unit())}


@notification_blp.route("/<bigid:notification_id>/read", methods=["POST"])
@scoped(scopes.CONTACTS_READ, unsafe=True)
@notification_blp.response(200, NotificationSchema)
def mark_read(notification_id: int) -> Notification:
    """Mark one notification read (404 for another agent's)."""
    work = unit()
    notification = notification_service.mark_read(
        work, notification_service.get_notification(work, notification_id)
    )
    commit()
    return notification


@notification_blp.route("/read-all", methods=["POST"])
@scoped(scopes.CONTACTS_READ, unsafe=True)
@notification_blp.response(200, MarkedSchema)
def mark_all_read() -> dict[str, int]:
    """Mark all of the caller's notifications read."""
    marked = notification_service.mark_all_read(unit())
    commit()
    return {"marked": marked}
