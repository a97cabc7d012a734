"""The link between the installation and an account of the chat product.

An administrator links it with the product's address, portal and an API token of their own
account there: the token's operator must have the administrator's email (the link carries the
linking admin's permissions, so no one links someone else's account). Linking reads the
product's webhook key and departments (mapped by name), subscribes the installation's webhook,
and registers the product as an OAuth client of the desk, which the admin then authorizes on
the desk's consent page from the product. The link can be disabled and enabled again; when the
admin who linked it is deactivated it stops (``relink``) until an administrator links again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from sqlalchemy import delete

from hostapi import Context
from plugins.salesiq import departments, payloads
from plugins.salesiq.chat_client import ChatProductClient, ChatProductError
from plugins.salesiq.models import ChatDepartment, KbCategoryLink, Link, SyncedArticle

log = logging.getLogger(__name__)

ACTIVE, DISABLED, RELINK = "active", "disabled", "relink"
#: The installation secret holding the product's API token.
API_TOKEN = "api_token"


class LinkForm(ma.Schema):
    """What the admin enters to link an account."""

    base_url = ma.fields.String(required=True)
    portal = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^[A-Za-z0-9_-]{1,100}$", error="Letters, digits, - and _."),
    )
    api_token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))

    @ma.validates("base_url")
    def _web_address(self, value: str, **kwargs: Any) -> None:
        parts = urlsplit(value)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ma.ValidationError("Enter the product's address, https://…")
        if parts.scheme == "http" and not loopback:
            raise ma.ValidationError("Use https (http only for 127.0.0.1 and localhost).")


def current(context: Context) -> Link | None:
    """The installation's link, if one was made."""
    return context.db.get(Link, context.installation_id)


def client(context: Context, link: Link) -> ChatProductClient:
    """A client of the product calling with the linked account's API token."""
    return ChatProductClient(link.base_url, link.portal, context.secret_get(API_TOKEN) or "")


def make(context: Context, form: dict[str, str], *, webhook_url: str, return_url: str) -> Link:
    """Link the account ``form`` names, as the viewing administrator (replacing a link); the
    admin then authorizes the product at the link's ``connect_url``.

    :raises marshmallow.ValidationError: a field is bad, the product refused or could not
        be reached, or the account's email is not the administrator's.
    """
    values = LinkForm().load(form, unknown=ma.EXCLUDE)
    admin = context.agent
    if admin is None:
        raise RuntimeError("an account is linked from an administrator's page")
    base_url = values["base_url"].rstrip("/")
    product = ChatProductClient(base_url, values["portal"], values["api_token"])
    try:
        operator = product.me()
    except ChatProductError as error:
        raise ma.ValidationError({_field_of(error): [error.message]}) from error
    if operator.email.casefold() != admin.email.casefold():
        raise ma.ValidationError(
            {
                "api_token": [
                    context.gettext(
                        "This token belongs to %(email)s. Link the chat account whose email is "
                        "yours (%(yours)s): the chat side acts with your permissions.",
                        email=operator.email,
                        yours=admin.email,
                    )
                ]
            }
        )
    try:
        public_key = product.public_key()
        chat_departments = product.departments()
        subscription = product.subscribe(webhook_url, payloads.EVENTS)
    except ChatProductError as error:
        raise ma.ValidationError({"base_url": [error.message]}) from error
    try:
        registered = context.register_linked_client(
            name=f"SalesIQ ({values['portal']})", redirect_uri=f"{base_url}/oauth/desk/callback"
        )
        connect_url = product.register_desk_client(
            client_id=registered.client_id,
            client_secret=registered.client_secret,
            authorize_url=registered.authorize_url,
            token_url=registered.token_url,
            api_base=registered.api_base,
            scope=" ".join(registered.scopes),
            return_url=return_url,
        )
        if not _on_product(connect_url, base_url):
            raise ChatProductError(
                context.gettext("The product gave an authorization address not its own.")
            )
    except (ChatProductError, ValueError) as error:
        # Nothing of this link is kept (the page rolls the desk's side back): take the new
        # subscription back too, and leave any previous link as it was.
        _quietly(lambda: product.unsubscribe(subscription.id))
        message = error.message if isinstance(error, ChatProductError) else str(error)
        raise ma.ValidationError({"base_url": [message]}) from error
    previous = current(context)
    if previous is not None:
        same_account = (previous.base_url, previous.portal) == (base_url, values["portal"])
        _undo(context, previous, forget_at_product=not same_account)
        if not same_account:
            _forget_account_data(context)
    now = context.now()
    link = Link(
        installation_id=context.installation_id,
        base_url=base_url,
        portal=values["portal"],
        operator_email=operator.email,
        operator_name=operator.name,
        linked_by_agent_id=admin.id,
        linked_at=now,
        state=ACTIVE,
        state_changed_at=now,
        public_key=public_key,
        webhook_id=subscription.id,
        client_id=registered.client_id,
        connect_url=connect_url,
    )
    context.db.add(link)
    context.secret_set(API_TOKEN, values["api_token"])
    departments.arrived_all(context, [{"id": d.id, "name": d.name} for d in chat_departments])
    context.db.flush()
    return link


def disable(context: Context, link: Link) -> None:
    """Stop the integration: webhooks refused, nothing converted or shown, until enabled."""
    _move(context, link, DISABLED)


def enable(context: Context, link: Link) -> None:
    """Start a disabled integration again (a link whose admin left must be made again)."""
    if link.state == DISABLED:
        _move(context, link, ACTIVE)


def unlink(context: Context, link: Link) -> None:
    """Remove the link: the product's webhook and desk client go, as do their tokens, the
    department mapping and what the knowledge-base sync kept (the chats and their tickets
    stay)."""
    _undo(context, link, forget_at_product=True)
    _forget_account_data(context)
    context.secret_delete(API_TOKEN)


def works(context: Context, link: Link | None) -> bool:
    """Whether the integration runs: linked, enabled, and its admin still an active agent
    (else it is set to ``relink``)."""
    if link is None or link.state != ACTIVE:
        return False
    if context.get_agent(link.linked_by_agent_id) is None:
        _move(context, link, RELINK)
        return False
    return True


def _undo(context: Context, link: Link, *, forget_at_product: bool) -> None:
    """Take the link's registrations back: its desk client and tokens, its webhook, and (when
    the product is no longer this account's) the product's record of the desk, as far as the
    product answers."""
    context.revoke_linked_client(link.client_id)
    product = client(context, link)
    if link.webhook_id:
        _quietly(lambda: product.unsubscribe(link.webhook_id))
    if forget_at_product:
        _quietly(product.forget_desk_client)
    context.db.delete(link)
    context.db.flush()


def _forget_account_data(context: Context) -> None:
    """Forget what belonged to the linked account: its departments and the sync's
    bookkeeping (a sync to another account starts afresh, turned off)."""
    from plugins.salesiq import kb_sync

    for model in (ChatDepartment, KbCategoryLink, SyncedArticle):
        context.db.execute(delete(model).where(model.installation_id == context.installation_id))
    kb_sync.turn_off(context)


def _on_product(url: str, base_url: str) -> bool:
    """Whether ``url`` is a web address of the product itself (the admin is sent there)."""
    parts, product = urlsplit(url), urlsplit(base_url)
    return parts.scheme in ("https", "http") and (parts.scheme, parts.netloc) == (
        product.scheme,
        product.netloc,
    )


def _quietly(call: Callable[[], object]) -> None:
    """Make a call to the product that may fail: it may be gone, and the desk's side is
    undone all the same."""
    try:
        call()
    except ChatProductError:
        log.info("the chat product did not answer while a link was undone", exc_info=True)


def _move(context: Context, link: Link, state: str) -> None:
    link.state, link.state_changed_at = state, context.now()


def _field_of(error: ChatProductError) -> str:
    return "api_token" if error.status_code == 401 else "base_url"


def linked_admin_name(context: Context, link: Link) -> str:
    """The name of the admin who linked the account, while they are an active agent."""
    agent = context.get_agent(link.linked_by_agent_id)
    return agent.name if agent is not None else context.gettext("a deactivated agent")
