"""Knowledge-base sync: the desk's published articles of the categories chosen for each chat
department go to the chat product, so its chat window can show them.

Settings: on or off; which articles by their visibility (for all users, for registered users,
or both, each carrying its visibility to the product); the status they get there (kept
published or kept draft: the admin's choice wins over the product's habit of saving synced
articles as drafts); the interval (``schedule``). Articles are sent by the desk article's id,
tagged as coming from the desk, and only when they changed since they were last sent, so a
repeated sync changes nothing; an article no longer due (unpublished, deleted, moved out of
the chosen categories) is deleted from the product at the end of a run. Disabling stops the
syncs and leaves the product's articles alone.

A scheduler tick (a cron job of the host's scheduler, through the outbox) starts the run that
is due, once; "sync now" starts one at once. A run sends a batch of articles per job, saving
its progress after each, and asks for the next batch; a run the product could not take (it is
down, it refused the token) is tried again a few times after a pause, then shown as failed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import marshmallow as ma
from sqlalchemy import delete, select

from hostapi import Context, KbArticleRecord
from plugins.salesiq import departments, link, schedule
from plugins.salesiq.chat_client import ChatProductClient, ChatProductError
from plugins.salesiq.models import KbCategoryLink, KbSync, SyncedArticle

TICK_JOB = "kb_sync_tick"
RUN_JOB = "kb_sync"
#: The tag that marks an article in the product as synced from the desk.
ORIGIN_TAG = "deskhost"
#: Articles sent per job of a run.
BATCH = 50
#: How often a failed run is tried again, and the pause before the first retry (doubling).
RETRIES = 3
RETRY_PAUSE = timedelta(minutes=5)
#: A run that has not moved for this long is taken as lost (its worker stopped).
STALE_RUN = timedelta(hours=1)

IDLE, RUNNING, FAILED = "idle", "running", "failed"
VISIBILITIES = ("all", "registered", "both")
STATUSES = ("published", "draft")


class SyncForm(ma.Schema):
    """The sync settings as the admin submits them."""

    enabled = ma.fields.Boolean(load_default=False)
    visibility = ma.fields.String(required=True, validate=ma.validate.OneOf(VISIBILITIES))
    article_status = ma.fields.String(required=True, validate=ma.validate.OneOf(STATUSES))
    interval = ma.fields.String(required=True, validate=ma.validate.OneOf(schedule.INTERVALS))


def current(context: Context) -> KbSync:
    """The installation's sync settings, as saved or (never saved) the defaults: off."""
    return context.db.get(KbSync, context.installation_id) or _defaults(context)


def settings(context: Context) -> KbSync:
    """The installation's sync settings, saved (with the defaults) if they never were, and
    locked until the transaction ends (a save, "sync now" and the scheduler's tick take
    turns)."""
    row = context.db.get(KbSync, context.installation_id, with_for_update=True)
    if row is None:
        row = _defaults(context)
        context.db.add(row)
        context.db.flush()
    return row


def _defaults(context: Context) -> KbSync:
    return KbSync(
        installation_id=context.installation_id,
        enabled=False,
        visibility="all",
        article_status="published",
        interval=schedule.DAILY,
        state=IDLE,
        progress_done=0,
        progress_total=0,
        attempts=0,
        last_result={},
        last_error="",
        updated_at=context.now(),
    )


def category_links(context: Context) -> dict[int, str]:
    """Each linked desk category's chat department id."""
    rows = context.db.scalars(
        select(KbCategoryLink).where(KbCategoryLink.installation_id == context.installation_id)
    )
    return {row.kb_category_id: row.chat_department_id for row in rows}


def save(context: Context, form: Mapping[str, Any], chosen: Mapping[str, Sequence[str]]) -> KbSync:
    """Save the settings and each chat department's categories (``chosen``: chat department
    id → desk category ids). Enabling the sync or changing its interval starts a new series:
    its first sync is the next 04:00.

    :raises marshmallow.ValidationError: naming each bad field.
    """
    values = SyncForm().load(dict(form), unknown=ma.EXCLUDE)
    categories = _checked_categories(context, chosen)
    row = settings(context)
    starts_anew = values["enabled"] and (not row.enabled or values["interval"] != row.interval)
    row.enabled = values["enabled"]
    row.visibility, row.article_status = values["visibility"], values["article_status"]
    row.interval = values["interval"]
    if starts_anew:
        row.first_sync_at = schedule.first_sync(context.now(), context.timezone)
        row.next_sync_at = row.first_sync_at
    elif not row.enabled:
        row.next_sync_at, row.state = None, IDLE  # a run under way stops at its next batch
    row.updated_at = context.now()
    context.db.execute(
        delete(KbCategoryLink).where(KbCategoryLink.installation_id == context.installation_id)
    )
    context.db.add_all(
        KbCategoryLink(
            installation_id=context.installation_id,
            chat_department_id=chat_department_id,
            kb_category_id=category_id,
        )
        for category_id, chat_department_id in categories.items()
    )
    context.db.flush()
    return row


def turn_off(context: Context) -> None:
    """Stop syncing (the link went): off, nothing scheduled, no run under way."""
    row = context.db.get(KbSync, context.installation_id, with_for_update=True)
    if row is not None:
        row.enabled, row.next_sync_at, row.state = False, None, IDLE
        row.updated_at = context.now()


def sync_now(context: Context) -> None:
    """Start a run at once (the schedule stays as it is).

    :raises ValueError: the sync is off, or a run is under way.
    """
    row = settings(context)
    if not row.enabled:
        raise ValueError(context.gettext("Turn the sync on first."))
    if _running(context, row):
        raise ValueError(context.gettext("A sync is under way."))
    _start(context, row)


def tick(context: Context, payload: Mapping[str, Any]) -> None:
    """The scheduler's tick (a job): start the run that is due, if any."""
    row = context.db.get(KbSync, context.installation_id, with_for_update=True)
    now = context.now()
    if row is None or not row.enabled or row.next_sync_at is None or row.next_sync_at > now:
        return
    assert row.first_sync_at is not None
    row.next_sync_at = schedule.next_sync(row.first_sync_at, row.interval, now, context.timezone)
    if not _running(context, row):
        _start(context, row)


def run(context: Context, payload: Mapping[str, Any]) -> None:
    """Send one batch of the run's articles, then ask for the next (the job)."""
    row = context.db.get(KbSync, context.installation_id, with_for_update=True)
    if row is None or row.state != RUNNING or not row.enabled:
        return
    linked = link.current(context)
    if not link.works(context, linked):
        _failed(
            context, row, context.gettext("The SalesIQ integration is not active."), retry=False
        )
        return
    assert linked is not None
    chat_departments = category_links(context)
    after = _cursor(payload.get("after"))
    articles = _due_articles(context, row, list(chat_departments), after)
    product = link.client(context, linked)
    result = dict(row.last_result)
    done = len(articles) < BATCH
    try:
        for article in articles:
            _send(context, product, row, article, chat_departments[article.category_id], result)
        if done:
            _withdraw(context, product, row, result)
    except ChatProductError as error:
        row.last_result = result
        _failed(context, row, error.message, retry=True, after=after)
        return
    # A new dict each time: the column does not see changes made inside the one it holds.
    row.last_result, row.updated_at = result, context.now()
    row.progress_done += len(articles)
    if done:
        row.state, row.finished_at, row.attempts = IDLE, context.now(), 0
    else:
        last = articles[-1]
        context.enqueue(RUN_JOB, {"after": [last.updated_at.isoformat(), last.id]})


def _start(context: Context, row: KbSync) -> None:
    row.state, row.attempts, row.last_error = RUNNING, 0, ""
    row.started_at, row.finished_at, row.updated_at = context.now(), None, context.now()
    row.progress_done = 0
    row.progress_total = _count(context, row, list(category_links(context)))
    row.last_result = {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "failed": 0,
        "errors": [],
    }
    context.enqueue(RUN_JOB, {})


def _running(context: Context, row: KbSync) -> bool:
    stale = row.updated_at < context.now() - STALE_RUN
    return row.state == RUNNING and not stale


def _failed(context: Context, row: KbSync, message: str, *, retry: bool, after: Any = None) -> None:
    row.last_error, row.updated_at = message[:500], context.now()
    if retry and row.attempts < RETRIES:
        row.attempts += 1
        pause = RETRY_PAUSE * 2 ** (row.attempts - 1)
        payload = {} if after is None else {"after": [after[0].isoformat(), after[1]]}
        context.enqueue(RUN_JOB, payload, delay=pause)
        return
    row.state, row.finished_at = FAILED, context.now()


def _send(
    context: Context,
    product: ChatProductClient,
    row: KbSync,
    article: KbArticleRecord,
    chat_department_id: str,
    result: dict[str, Any],
) -> None:
    """Send one article unless it is unchanged since it was last sent; count what happened.

    :raises ChatProductError: the product cannot take articles now (the run is retried).
    """
    fields = {
        "title": article.title,
        "content": article.body,
        "department_id": chat_department_id,
        "visibility": article.visibility,
        "status": row.article_status,
        "tags": [ORIGIN_TAG],
    }
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    synced = context.db.scalar(
        select(SyncedArticle).where(
            SyncedArticle.installation_id == context.installation_id,
            SyncedArticle.article_id == article.id,
        )
    )
    if synced is not None and synced.digest == digest:
        synced.synced_at = context.now()  # met by this run: not withdrawn at its end
        result["unchanged"] += 1
        return
    try:
        sent, created = product.upsert_article(str(article.id), **fields)
    except ChatProductError as error:
        if error.status_code is None or error.status_code >= 500 or error.status_code == 401:
            raise
        result["failed"] += 1
        result["errors"] = [*result["errors"], f"{article.title}: {error.message}"][-20:]
        if synced is not None:
            synced.synced_at = context.now()  # its earlier version stays in the product
        return
    if synced is None:
        synced = SyncedArticle(installation_id=context.installation_id, article_id=article.id)
        context.db.add(synced)
    synced.product_article_id, synced.digest, synced.synced_at = sent.id, digest, context.now()
    result["created" if created else "updated"] += 1


def _withdraw(
    context: Context, product: ChatProductClient, row: KbSync, result: dict[str, Any]
) -> None:
    """Delete from the product the articles sent before that this run did not meet again
    (unpublished, deleted, moved out of the chosen categories, or no longer of the chosen
    visibility).

    :raises ChatProductError: the product cannot take the deletions now (the run is retried).
    """
    assert row.started_at is not None
    gone = context.db.scalars(
        select(SyncedArticle).where(
            SyncedArticle.installation_id == context.installation_id,
            SyncedArticle.synced_at < row.started_at,
        )
    )
    for synced in gone:
        try:
            product.delete_article(str(synced.article_id))
        except ChatProductError as error:
            if error.status_code != 404:  # already gone there
                raise
        context.db.delete(synced)
        result["removed"] = result.get("removed", 0) + 1


def _due_articles(
    context: Context, row: KbSync, category_ids: list[int], after: tuple[datetime, int] | None
) -> list[KbArticleRecord]:
    if not category_ids:
        return []
    return context.kb_articles(
        category_ids=category_ids,
        status="published",
        visibility=None if row.visibility == "both" else row.visibility,
        limit=BATCH,
        after=after,
    )


def _count(context: Context, row: KbSync, category_ids: list[int]) -> int:
    count, after = 0, None
    while page := _due_articles(context, row, category_ids, after):
        count += len(page)
        after = (page[-1].updated_at, page[-1].id)
    return count


def _cursor(value: Any) -> tuple[datetime, int] | None:
    if not value:
        return None
    return datetime.fromisoformat(value[0]), int(value[1])


def _checked_categories(context: Context, chosen: Mapping[str, Sequence[str]]) -> dict[int, str]:
    """Desk category id → chat department id, each category known and given once."""
    known = {category.id for category in context.kb_categories()}
    chat_ids = {d.chat_department_id for d in departments.listed(context)}
    categories: dict[int, str] = {}
    errors: dict[str, list[str]] = {}
    for chat_department_id, category_ids in chosen.items():
        field = f"categories-{chat_department_id}"
        if chat_department_id not in chat_ids:
            errors[field] = [context.gettext("Unknown chat department.")]
            continue
        for value in category_ids:
            if not value.isdigit() or int(value) not in known:
                errors.setdefault(field, []).append(context.gettext("Unknown category."))
            elif int(value) in categories:
                errors.setdefault(field, []).append(
                    context.gettext("A category syncs to one chat department only.")
                )
            else:
                categories[int(value)] = chat_department_id
    if errors:
        raise ma.ValidationError(errors)
    return categories
