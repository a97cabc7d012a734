"""Turning the events the webhooks stored into chats, in batches, by a job.

The webhooks only verify and store (``webhooks``); this job files each user message in its
chat and applies WhatsApp's delivery statuses to the messages we sent. One such job runs at a
time per installation (it holds the installation's ``DrainLock`` row; on SQLite the write lock
does it): two at once would each start a chat for one new user.

What wakes it: a webhook that stored something asks for a run, at most once a second per
process (``request_drain``) rather than once per request; a run that stopped at its limit asks
for the next at once, and one that found work asks for another a little later, which picks up
what arrived while asks were held back; and a run every minute catches anything else (a worker
that died mid-run).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from hostapi import Context
from plugins.im_dashboard import chats, locking
from plugins.im_dashboard.messages import DeliveryStatus, IncomingMessage, read_event
from plugins.im_dashboard.models import (
    ChannelAccount,
    ChatMessage,
    DrainLock,
    InboundEvent,
)

#: The job's name.
DRAIN_JOB = "process_events"
#: Events a run reads at once.
BATCH_SIZE = 500
#: Events one run files before handing over to the next run (one transaction each). What a
#: run files shows in the inbox when it commits: at 5,000, under a steady 450 messages a second,
#: chats lagged behind by 10 seconds and more; a thousand take about a second.
RUN_LIMIT = 1000
#: How often one process asks for a run at most; a run that did work asks again this much
#: later (twice: what a held-back ask stored is there by then).
ASK_SECONDS = 1.0

#: The order of WhatsApp's delivery statuses: a late ``delivered`` does not undo ``read``.
_DELIVERY_ORDER = {"sending": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}

_asked: dict[int, float] = {}
_asked_lock = threading.Lock()


def request_drain(context: Context) -> None:
    """Ask for a run, written at once (the webhook stores without a transaction, and the run
    must find what it stored), unless this process asked less than ``ASK_SECONDS`` ago (that
    run, or the one it asks for, will find these events)."""
    moment = time.monotonic()
    with _asked_lock:
        if moment - _asked.get(context.installation_id, float("-inf")) < ASK_SECONDS:
            return
        _asked[context.installation_id] = moment
    context.enqueue(DRAIN_JOB)
    context.db.flush()


def reset_requests() -> None:
    """Forget when this process last asked for runs (a test starting afresh)."""
    with _asked_lock:
        _asked.clear()


def run(context: Context, payload: Mapping[str, Any]) -> None:
    """The job: file waiting events, then, if there was work, ask for a run a little later
    (for what arrives while asks are held back), and one at once when this run stopped at its
    limit with more waiting."""
    filed = drain(context, RUN_LIMIT)
    if filed >= RUN_LIMIT:
        context.enqueue(DRAIN_JOB)
    if filed:
        context.enqueue(DRAIN_JOB, delay=timedelta(seconds=2 * ASK_SECONDS))


def drain(context: Context, limit: int = RUN_LIMIT) -> int:
    """File up to ``limit`` waiting events, oldest first; returns how many were read."""
    locking.hold(context.db, DrainLock, context.installation_id)  # one run at a time
    accounts = {
        account.id: account
        for account in context.db.scalars(
            select(ChannelAccount).where(ChannelAccount.installation_id == context.installation_id)
        )
    }
    done = 0
    while done < limit:
        events = list(
            context.db.scalars(
                select(InboundEvent)
                .where(
                    InboundEvent.installation_id == context.installation_id,
                    InboundEvent.processed_at.is_(None),
                )
                .order_by(InboundEvent.id)
                .limit(min(BATCH_SIZE, limit - done))
            )
        )
        if not events:
            break
        _file(context, accounts, events)
        context.db.execute(
            update(InboundEvent)
            .where(InboundEvent.id.in_([event.id for event in events]))
            .values(processed_at=context.now())
            .execution_options(synchronize_session=False)
        )
        done += len(events)
    return done


def _file(
    context: Context, accounts: Mapping[int, ChannelAccount], events: Sequence[InboundEvent]
) -> None:
    """File a batch: each account's user messages in time order, then delivery statuses."""
    messages: dict[int, list[tuple[IncomingMessage, int]]] = defaultdict(list)
    statuses: dict[int, list[DeliveryStatus]] = defaultdict(list)
    for event in events:
        account = accounts.get(event.channel_account_id)
        if account is None:  # disconnected since: its events are kept, unfiled
            continue
        try:
            read = read_event(account.kind, event.kind, event.payload, event.received_at)
        except (KeyError, TypeError, ValueError, AttributeError):
            read = None  # a malformed event stays stored, raw, for whoever looks into it
        if isinstance(read, IncomingMessage):
            messages[account.id].append((read, event.id))
        elif isinstance(read, DeliveryStatus):
            statuses[account.id].append(read)
    for account_id, arrived in messages.items():
        _file_messages(context, accounts[account_id], arrived)
    for account_id, news in statuses.items():
        _apply_statuses(context, account_id, news)


def _file_messages(
    context: Context, account: ChannelAccount, arrived: list[tuple[IncomingMessage, int]]
) -> None:
    known = set(
        context.db.scalars(
            select(ChatMessage.platform_message_id).where(
                ChatMessage.channel_account_id == account.id,
                ChatMessage.direction == chats.IN,
                ChatMessage.platform_message_id.in_([m.message_id for m, _ in arrived]),
            )
        )
    )
    fresh = []
    for message, event_id in sorted(arrived, key=lambda pair: (pair[0].sent_at, pair[1])):
        if message.message_id not in known:  # else an edit of a message filed, or a repeat
            known.add(message.message_id)
            fresh.append((message, event_id))
    latest = chats.latest_chats(context, account, (m.user_id for m, _ in fresh))
    # Users new to the account start their chats together, before any message is filed.
    firsts: dict[str, IncomingMessage] = {}
    for message, _ in fresh:
        if message.user_id not in latest:
            firsts.setdefault(message.user_id, message)
    latest.update(chats.start_chats(context, account, firsts.values()))
    chats.receive_all(context, account, fresh, latest)
    context.db.flush()


def _apply_statuses(context: Context, account_id: int, news: list[DeliveryStatus]) -> None:
    sent = {
        message.platform_message_id: message
        for message in context.db.scalars(
            select(ChatMessage).where(
                ChatMessage.channel_account_id == account_id,
                ChatMessage.direction == chats.OUT,
                ChatMessage.platform_message_id.in_([status.message_id for status in news]),
            )
        )
    }
    for status in sorted(news, key=lambda status: status.at):
        message = sent.get(status.message_id)
        if message is None or status.status not in _DELIVERY_ORDER:
            continue
        if _DELIVERY_ORDER[status.status] > _DELIVERY_ORDER.get(message.delivery or "", -1):
            message.delivery, message.delivery_at = status.status, status.at
            if status.status == "failed":
                message.error = message.error or "The platform reported the message as failed."
