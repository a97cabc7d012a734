"""IM Dashboard: WhatsApp, Telegram, WeChat and LINE conversations as chats, with a real-time
dashboard of contacts, messages, assignment, channels, response times and agents.

The extension is loaded through the ``deskhost.plugins`` entry point; its hook
implementations live in this package and its manifest in ``manifest.json``. An admin
connects the channel accounts (``pages``, ``accounts``); their webhooks store what the
platforms deliver, once each (``webhooks``); a job files it into chats (``intake``, ``chats``);
agents work the chats in the inbox (``inbox``) or through REST (``api``), their replies sent
through each platform's API by a job (``sending``, ``senders``).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete

from hostapi import ApiRoute, Context, JobSpec, Page, PermissionSpec, Webhook, hookimpl
from plugins.im_dashboard import (
    accounts,
    api,
    chats,
    dashboard,
    inbox,
    intake,
    pages,
    sending,
    tally,
    webhooks,
)
from plugins.im_dashboard.models import (
    ChannelAccount,
    Chat,
    ChatActivity,
    ChatMessage,
    DrainLock,
    InboundEvent,
    Rotation,
)


@hookimpl
def deskhost_pages() -> list[Page]:
    """The dashboard and the inbox (agents), and the Channels pages (admins)."""
    return [dashboard.page(), inbox.page(), pages.page()]


@hookimpl
def deskhost_webhooks() -> list[Webhook]:
    """Each channel's webhook, one URL per channel account (``webhooks``)."""
    return webhooks.webhooks()


@hookimpl
def deskhost_api_routes() -> list[ApiRoute]:
    """Chats and their timelines, and the agents' actions on them (``api``)."""
    return api.routes()


@hookimpl
def deskhost_jobs() -> list[JobSpec]:
    """Filing webhook events into chats (also every minute), and sending replies."""
    return [
        JobSpec(name=intake.DRAIN_JOB, run=intake.run, cron="* * * * *", timeout_seconds=600),
        JobSpec(name=chats.SEND_JOB, run=sending.run, timeout_seconds=60),
    ]


@hookimpl
def deskhost_permissions() -> list[PermissionSpec]:
    """Connecting and changing the channel accounts."""
    return [
        PermissionSpec(
            name=pages.MANAGE_CHANNELS,
            label="Manage IM channels",
            label_ja="IMチャネルの管理",
            description="Connect, change and disconnect the messaging accounts.",
        )
    ]


@hookimpl
def deskhost_migrations() -> str:
    """The folder of the extension's Alembic stream."""
    return str(Path(__file__).with_name("migrations") / "versions")


@hookimpl
def deskhost_install(context: Context) -> None:
    """Start the new installation with no rows: any under its id are leftovers of a database
    whose ids started again (restored from an older backup, or a test run's)."""
    _forget_everything(context)


@hookimpl
def deskhost_uninstall(context: Context, purge: bool) -> None:
    """Delete the installation's channel accounts and chats when its data is purged (the host
    deletes its secrets)."""
    if purge:
        _forget_everything(context)


def _forget_everything(context: Context) -> None:
    for model in (
        ChatActivity,
        ChatMessage,
        Chat,
        Rotation,
        DrainLock,
        InboundEvent,
        ChannelAccount,
    ):
        context.db.execute(delete(model).where(model.installation_id == context.installation_id))
    tally.forget(context.db, context.installation_id)
    accounts.forget_credentials(context.installation_id)
