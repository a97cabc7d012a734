"""Checks, from its synchronous hook, whether the change holds its ticket's row.

For each ticket event it tries to lock the ticket from a connection of its own without waiting
(PostgreSQL only) and appends ``[event name, held]`` to storage key ``locks``: held when the
ticket is locked, or not there yet for other connections (created by the change).
"""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from hostapi import Context, Event, hookimpl


@hookimpl
def deskhost_event_sync(context: Context, event: Event) -> None:
    """Record whether another connection could lock the event's ticket."""
    ticket_id = event.payload.get("ticket_id")
    if ticket_id is None:
        return
    engine = create_engine(context.db.get_bind().url)
    try:
        with engine.connect() as other:
            # The lock an update of the ticket takes (an insert referring to the ticket takes
            # a weaker one, which does not keep an update out).
            try:
                # A ticket the change creates is not there yet for anyone else: held too.
                found = other.execute(
                    text("SELECT id FROM ticket WHERE id = :id FOR NO KEY UPDATE NOWAIT"),
                    {"id": ticket_id},
                ).first()
                held = found is None
            except OperationalError:  # lock_not_available
                held = True
            other.rollback()
    finally:
        engine.dispose()
    context.storage_set("locks", [*context.storage_get("locks", []), [event.name, held]])
