"""The Channels pages: an admin connects, changes and disconnects the installation's messaging
accounts (``/ext/im_dashboard/<installation id>/channels/``), each mapped to a department.

Only agents holding ``im_dashboard.manage_channels`` (administrators hold it) reach them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from hostapi import Context, NotFound, Page, csrf_token, current_context, render_page
from hostapi.i18n import N_, template_functions
from plugins.im_dashboard import accounts, rendering, webhooks
from plugins.im_dashboard.channels import CHANNELS, Channel
from plugins.im_dashboard.models import ChannelAccount

#: The permission the pages need.
MANAGE_CHANNELS = "im_dashboard.manage_channels"


#: The pages' title, marked here and translated when shown.
TITLE = N_("IM channels")


def page() -> Page:
    """The Channels pages, with their navigation link."""
    return Page(
        blueprint=_blueprint(),
        title="IM channels",
        title_ja="IMチャネル",
        menu=True,
        menu_path="channels/",
        settings_path="channels/",
        permission=MANAGE_CHANNELS,
    )


def _blueprint() -> Blueprint:
    pages = Blueprint("im_dashboard_channels", __name__, url_prefix="/channels")
    pages.add_url_rule("/", "index", index)
    pages.add_url_rule("/new/<channel>", "connect", connect, methods=["GET", "POST"])
    pages.add_url_rule("/<int:channel_account_id>", "edit", edit, methods=["GET", "POST"])
    pages.add_url_rule(
        "/<int:channel_account_id>/remove", "remove", remove, methods=["GET", "POST"]
    )
    return pages


def index() -> ResponseReturnValue:
    """The accounts connected, and a button to connect one of each channel."""
    context = current_context()
    listed = accounts.accounts(context)
    return _page(
        context,
        context.gettext(TITLE),
        "channels.html",
        accounts=listed,
        hints={account.id: accounts.hints(context, account) for account in listed},
        deliveries=accounts.deliveries(context, listed),
        when=lambda moment: rendering.local_time(context, moment),
    )


def connect(channel: str) -> ResponseReturnValue:
    """Connect an account of the channel whose code is ``channel``."""
    chosen = CHANNELS.get(channel) or abort(404)
    context = current_context()
    title = context.gettext("Connect a %(channel)s account", channel=chosen.name)
    if request.method == "GET":
        return _form(context, title, chosen)
    try:
        saved = accounts.save(context, chosen, request.form)
    except ValidationError as error:
        return _form(context, title, chosen, errors=error.messages), 422
    context.db.commit()
    if saved.generated:  # shown once, so not after a redirect
        return _saved(context, saved)
    return redirect(url_for(".index"), 303)


def edit(channel_account_id: int) -> ResponseReturnValue:
    """Change an account's name, department or credentials."""
    context = current_context()
    account = _account(context, channel_account_id)
    channel = accounts.channel_of(account)
    title = context.gettext("Edit %(name)s", name=account.name)
    if request.method == "GET":
        return _form(context, title, channel, account=account)
    try:
        accounts.save(context, channel, request.form, account)
    except ValidationError as error:
        return _form(context, title, channel, account=account, errors=error.messages), 422
    context.db.commit()
    return redirect(url_for(".index"), 303)


def remove(channel_account_id: int) -> ResponseReturnValue:
    """Ask, then disconnect an account."""
    context = current_context()
    account = _account(context, channel_account_id)
    if request.method == "GET":
        title = context.gettext("Disconnect %(name)s", name=account.name)
        return _page(context, title, "remove.html", account=account)
    accounts.remove(context, account)
    context.db.commit()
    return redirect(url_for(".index"), 303)


def _account(context: Context, account_id: int) -> ChannelAccount:
    try:
        return accounts.account(context, account_id)
    except NotFound:
        abort(404)


def _form(
    context: Context,
    title: str,
    channel: Channel,
    *,
    account: ChannelAccount | None = None,
    errors: Any = None,
) -> str:
    return _page(
        context,
        title,
        "account_form.html",
        channel=channel,
        account=account,
        hints=accounts.hints(context, account) if account else {},
        draft=request.form if request.method == "POST" else {},
        errors=errors or {},
    )


def _saved(context: Context, saved: accounts.Saved) -> str:
    title = context.gettext("%(name)s is connected", name=saved.account.name)
    return _page(
        context,
        title,
        "saved.html",
        account=saved.account,
        channel=accounts.channel_of(saved.account),
        generated=saved.generated,
    )


def _page(context: Context, title: str, template: str, **values: Any) -> str:
    departments = {d.id: d.name for d in context.departments()}

    def webhook_url(account: ChannelAccount) -> str:
        return webhooks.webhook_url(request.host_url, context.installation_id, account)

    body = rendering.templates.get_template(template).render(
        title=title,
        channels=CHANNELS,
        departments=departments,
        webhook_url=webhook_url,
        csrf_token=csrf_token(),
        url_for=url_for,
        **values,
        **template_functions(context),
    )
    return render_page(title, body)
