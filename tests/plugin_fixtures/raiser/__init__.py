"""Writes to its storage and then raises in its synchronous hook (the write must not survive)."""

from __future__ import annotations

from hostapi import Context, Event, hookimpl


class Boom(RuntimeError):
    """The failure this fixture raises."""


@hookimpl
def deskhost_event_sync(context: Context, event: Event) -> None:
    """Store something, then fail."""
    context.storage_set("half_done", event.id)
    raise Boom(f"cannot handle {event.name}")
