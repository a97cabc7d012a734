"""SalesIQ live chat: chats of a linked SalesIQ account become tickets by rule, the chat window
shows the visitor's desk data, and knowledge-base articles sync on a schedule.

The extension is loaded through the ``deskhost.plugins`` entry point; its hook
implementations live in this package and its manifest in ``manifest.json``. An administrator
links the chat account and maps its departments (``pages``, ``link``, ``departments``); the
product's signed webhook events are stored once each and applied by a job (``events``), which
converts chats by the settings' rule (``chats``); the chat window calls the extension's REST
endpoints with the OAuth token the admin authorized (``api``).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete

from hostapi import ApiRoute, Context, JobSpec, Page, Webhook, hookimpl
from plugins.salesiq import api, events, kb_sync, link, pages
from plugins.salesiq.models import (
    Chat,
    ChatDepartment,
    InboundEvent,
    KbCategoryLink,
    KbSync,
    Link,
    SyncedArticle,
)


@hookimpl
def deskhost_pages() -> list[Page]:
    """The integration pages (administrators)."""
    return [pages.page()]


@hookimpl
def deskhost_webhooks() -> list[Webhook]:
    """The webhook the product posts its events to."""
    return [events.webhook()]


@hookimpl
def deskhost_api_routes() -> list[ApiRoute]:
    """The desk inside the chat window: visitor, tickets, conversion, merges, status."""
    return api.routes()


@hookimpl
def deskhost_jobs() -> list[JobSpec]:
    """Applying the stored webhook events (also every minute, for any a stopped run left);
    the knowledge-base sync's scheduler tick (every five minutes) and its runs."""
    return [
        JobSpec(name=events.PROCESS_JOB, run=events.run, cron="* * * * *", timeout_seconds=600),
        JobSpec(name=kb_sync.TICK_JOB, run=kb_sync.tick, cron="*/5 * * * *"),
        JobSpec(name=kb_sync.RUN_JOB, run=kb_sync.run, timeout_seconds=600),
    ]


@hookimpl
def deskhost_migrations() -> str:
    """The folder of the extension's Alembic stream."""
    return str(Path(__file__).with_name("migrations") / "versions")


@hookimpl
def deskhost_install(context: Context) -> None:
    """Start the new installation with no rows: any under its id are leftovers of a database
    whose ids started again."""
    _forget_everything(context)


@hookimpl
def deskhost_uninstall(context: Context, purge: bool) -> None:
    """Take the link's registrations back at the product; delete the rows when purged."""
    linked = link.current(context)
    if linked is not None:
        link.unlink(context, linked)
    if purge:
        _forget_everything(context)


def _forget_everything(context: Context) -> None:
    for model in (Chat, InboundEvent, ChatDepartment, Link, KbSync, KbCategoryLink, SyncedArticle):
        context.db.execute(delete(model).where(model.installation_id == context.installation_id))
