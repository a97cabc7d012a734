"""Hello Extension: a first deskhost extension, written against ``hostapi`` alone.

It contributes four things, one of each kind:

- a **ticket panel** greeting the agent with the ticket's number and how many of the ticket's
  events the extension has seen;
- a **REST endpoint**, ``GET /api/v1/ext/hello_extension/<installation id>/tickets/<ticket
  id>/events``, giving the same count to scripts and other tools;
- a **periodic job**, every five minutes, recording a heartbeat in the installation's storage;
- an **event handler** counting the ticket events it receives, idempotent on the event id
  (delivery is at least once).

Everything it keeps lives in its installation's storage, so each installation counts only the
tickets of its own departments, and an uninstall that purges the data takes it all away.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from hostapi import (
    ApiRoute,
    Context,
    Event,
    JobSpec,
    Location,
    NotFound,
    Panel,
    PanelTarget,
    events,
    hookimpl,
    scopes,
)

PANEL_KEY = "hello"
HEARTBEAT_JOB = "heartbeat"
#: Every five minutes, in the organisation's time zone (the manifest says the same).
HEARTBEAT_CRON = "*/5 * * * *"

#: Storage keys (per installation).
TICKETS_CREATED = "tickets_created"
HEARTBEATS = "heartbeats"
LAST_HEARTBEAT = "last_heartbeat"


def ticket_events_key(ticket_id: int) -> str:
    """The storage key counting one ticket's events."""
    return f"ticket:{ticket_id}:events"


def _seen_key(event_id: str) -> str:
    return f"event:{event_id}"


# ------------------------------------------------------------------------------ lifecycle


@hookimpl
def deskhost_install(context: Context) -> None:
    """Start the installation's counters at zero."""
    context.storage_set(TICKETS_CREATED, 0)
    context.storage_set(HEARTBEATS, 0)


# ------------------------------------------------------------------------------ the panel


def render_panel(context: Context, target: PanelTarget) -> str:
    """The greeting beside a ticket: its number and how many of its events were seen."""
    ticket = context.get_ticket(target.id)
    if ticket is None:  # outside what this agent and installation may see
        return ""
    seen = int(context.storage_get(ticket_events_key(ticket.id), 0))
    greeting = str(context.settings.get("greeting") or "Hello")
    agent = context.agent
    if agent is not None and (agent.locale or "").startswith("ja"):
        text = f"{greeting}！問い合わせ #{ticket.display_number} のイベントは {seen} 件です。"
    else:
        text = f"{greeting}! Ticket #{ticket.display_number} has seen {seen} events."
    # Panels return HTML: escape everything that comes from data or settings.
    return f'<p class="hello-extension">{html.escape(text)}</p>'


@hookimpl
def deskhost_panels() -> list[Panel]:
    """The ticket side panel."""
    return [
        Panel(
            key=PANEL_KEY,
            location=Location.TICKET_RIGHT_PANEL,
            title="Hello",
            title_ja="ハロー",
            render=render_panel,
        )
    ]


# ------------------------------------------------------------------------------ the endpoint


class TicketEventsSchema(ma.Schema):
    """How many of a ticket's events this installation has seen."""

    ticket_id = ma.fields.Integer(metadata={"description": "The ticket's id."})
    display_number = ma.fields.String(metadata={"description": "The number agents see."})
    events_seen = ma.fields.Integer(metadata={"description": "Ticket events counted so far."})


def ticket_events(context: Context, arguments: Mapping[str, Any], ticket_id: int) -> dict[str, Any]:
    """The panel's count for one ticket the caller may see (404 for any other)."""
    ticket = context.get_ticket(ticket_id)
    if ticket is None:
        raise NotFound("No such ticket.")
    return {
        "ticket_id": ticket.id,
        "display_number": ticket.display_number,
        "events_seen": int(context.storage_get(ticket_events_key(ticket.id), 0)),
    }


@hookimpl
def deskhost_api_routes() -> list[ApiRoute]:
    """The ticket's event count, for scripts."""
    return [
        ApiRoute(
            name="ticket_events",
            path="/tickets/<int:ticket_id>/events",
            handle=ticket_events,
            summary="How many of a ticket's events this installation has seen.",
            response=TicketEventsSchema,
            scopes=(scopes.TICKETS_READ,),
        )
    ]


# ------------------------------------------------------------------------------ the job


def heartbeat(context: Context, payload: Mapping[str, Any]) -> None:
    """Record that the job ran, and when (the host's clock)."""
    context.storage_set(HEARTBEATS, int(context.storage_get(HEARTBEATS, 0)) + 1)
    context.storage_set(LAST_HEARTBEAT, context.now().isoformat())


@hookimpl
def deskhost_jobs() -> list[JobSpec]:
    """The periodic heartbeat."""
    return [JobSpec(name=HEARTBEAT_JOB, run=heartbeat, cron=HEARTBEAT_CRON, timeout_seconds=30)]


# ------------------------------------------------------------------------------ events


@hookimpl
def deskhost_event(context: Context, event: Event) -> None:
    """Count each ticket's events, and the tickets created, once per event id."""
    ticket_id = event.payload.get("ticket_id")
    if event.name not in events.TICKET_EVENTS or ticket_id is None:
        return
    # Delivery is at least once: a mark per event id makes a redelivery count nothing.
    if context.storage_get(_seen_key(event.id)):
        return
    context.storage_set(_seen_key(event.id), True)
    _increment(context, ticket_events_key(int(ticket_id)))
    if event.name == events.TICKET_CREATED:
        _increment(context, TICKETS_CREATED)


def _increment(context: Context, key: str) -> None:
    context.storage_set(key, int(context.storage_get(key, 0)) + 1)
