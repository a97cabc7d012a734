"""Records every event its synchronous hook sees in its installation's storage."""

from __future__ import annotations

from hostapi import Context, Event, hookimpl


@hookimpl
def deskhost_event_sync(context: Context, event: Event) -> None:
    """Append the event's name and id to storage key ``seen``."""
    seen = list(context.storage_get("seen", []))
    seen.append([event.name, event.id])
    context.storage_set("seen", seen)
