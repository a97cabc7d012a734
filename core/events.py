"""Domain events: written to the outbox in the change's transaction, then dispatched.

``emit`` is the one door: it inserts the outbox row, runs the core's own reactions (see
:func:`subscriber`) and the synchronous hooks of the installations concerned (each under its
own savepoint, see ``core.plugins.dispatch``); the relay (``core.outbox``) later hands the row
to RQ for the asynchronous hooks.
"""

from __future__ import annotations

import importlib
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from core.models import OutboxEvent
from hostapi import Event, clock

if TYPE_CHECKING:
    from core.host import Host

#: A core reaction to an event: called with the emitting session, inside its transaction.
Subscriber = Callable[[Session, Event], None]

_SUBSCRIBERS: dict[str, list[Subscriber]] = defaultdict(list)


def subscriber(*names: str) -> Callable[[Subscriber], Subscriber]:
    """Register a core feature's reaction to the events ``names`` (a decorator).

    Reactions are core code (notifications, outgoing mail…), not extensions: they share the
    change's transaction, so what they write commits or rolls back with it. Their modules are
    listed in ``core.reactions``, imported on the first emit.
    """

    def register(function: Subscriber) -> Subscriber:
        for name in names:
            _SUBSCRIBERS[name].append(function)
        return function

    return register


def _reactions_to(name: str) -> list[Subscriber]:
    importlib.import_module("core.reactions")
    return _SUBSCRIBERS.get(name, [])


def emit(
    session: Session,
    host: Host | None,
    name: str,
    payload: Mapping[str, Any],
    department_ids: Iterable[int] = (),
    *,
    installation_id: int | None = None,
) -> Event:
    """Record a domain event in the outbox and run synchronous hooks; returns the event.

    ``host`` is ``None`` only where no extension can be loaded (schema bootstrap); then only
    the outbox row is written and asynchronous delivery still happens.
    """
    event = Event(
        id=str(uuid.uuid4()),
        name=name,
        occurred_at=clock.now(),
        payload=dict(payload),
        department_ids=tuple(sorted(set(department_ids))),
    )
    session.add(
        OutboxEvent(
            id=event.id,
            kind="event",
            name=name,
            payload=event.payload,
            department_ids=list(event.department_ids),
            installation_id=installation_id,
            occurred_at=event.occurred_at,
        )
    )
    for react in _reactions_to(name):
        react(session, event)
    if host is not None:
        host.plugins.dispatch_sync(session, event)
    return event
