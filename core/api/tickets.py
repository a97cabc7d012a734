"""``/api/v1/tickets``: tickets and their threads, ratings, time entries and status history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select

from core.api import schemas
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.api.paging import list_page, page, parse_cursor
from core.models import HappinessRating, Thread, Ticket, TimeEntry
from core.services import ticket_bulk, ticket_timeline
from core.services import tickets as ticket_service
from core.services.base import Cursor, Unit, newest_first
from hostapi import scopes

blp = api_blueprint(
    "api_tickets",
    __name__,
    "/tickets",
    "Tickets, department-scoped: a ticket outside the caller's departments answers 404.",
)

TicketPage = schemas.page_of(schemas.TicketSchema, "TicketPage")
ThreadPage = schemas.page_of(schemas.ThreadSchema, "ThreadPage")
RatingPage = schemas.page_of(schemas.RatingSchema, "RatingPage")
TimeEntryPage = schemas.page_of(schemas.TimeEntrySchema, "TimeEntryPage")
StatusHistory = schemas.page_of(schemas.StatusChangeSchema, "StatusHistory")


@blp.route("", methods=["GET"])
@scoped(scopes.TICKETS_READ)
@blp.arguments(schemas.TicketListArgsSchema, location="query", as_kwargs=True)
@blp.response(200, TicketPage)
def list_tickets(limit: int, cursor: str | None, **filters: Any) -> dict[str, Any]:
    """List the tickets of the caller's departments, newest first."""
    return list_page(ticket_service.list_tickets, unit(), limit, cursor, **filters)


@blp.route("", methods=["POST"])
@scoped(scopes.TICKETS_WRITE)
@blp.arguments(schemas.TicketCreateSchema)
@blp.response(201, schemas.TicketSchema)
def create_ticket(data: dict[str, Any]) -> Ticket:
    """Create a ticket in one of the caller's departments."""
    ticket = ticket_service.create_ticket(unit(), **data)
    commit()
    return ticket


@blp.route("/bulk", methods=["POST"])
@scoped(scopes.TICKETS_WRITE)
@blp.arguments(schemas.TicketBulkSchema)
@blp.response(200, schemas.TicketBulkResultSchema)
def bulk(data: dict[str, Any]) -> dict[str, Any]:
    """Assign, change the status or priority of, or close many tickets, each on its own.

    Each ticket is checked (department, permission, value) and audited like a change of that
    ticket alone; one that fails does not stop the others. The answer says, per ticket, what
    happened (``ok``, else ``failure``: ``not_found``, ``forbidden`` or ``invalid``).
    """
    value = {
        "assign": data.get("assignee_id"),
        "status": data.get("status"),
        "priority": data.get("priority"),
    }.get(data["action"])
    outcomes = ticket_bulk.apply(
        unit(), ticket_ids=data["ticket_ids"], action=data["action"], value=value
    )
    commit()
    return {
        "items": [
            {
                "ticket_id": o.ticket_id,
                "number": o.number,
                "ok": o.ok,
                "failure": o.failure,
                "permission": o.permission,
                "errors": o.messages,
            }
            for o in outcomes
        ]
    }


@blp.route("/<bigid:ticket_id>", methods=["GET"])
@scoped(scopes.TICKETS_READ)
@blp.response(200, schemas.TicketSchema)
def get_ticket(ticket_id: int) -> Ticket:
    """Read one ticket."""
    return ticket_service.get_ticket(unit(), ticket_id)


@blp.route("/<bigid:ticket_id>", methods=["PATCH"])
@scoped(scopes.TICKETS_WRITE)
@blp.arguments(schemas.TicketUpdateSchema)
@blp.response(200, schemas.TicketSchema)
def update_ticket(changes: dict[str, Any], ticket_id: int) -> Ticket:
    """Change the fields given; a ticket may move to any active department (the caller may
    then no longer see it)."""
    work = unit()
    ticket = ticket_service.update_ticket(
        work, ticket_service.get_ticket(work, ticket_id), **changes
    )
    commit()
    return ticket


@blp.route("/<bigid:ticket_id>/status", methods=["POST"])
@scoped(scopes.TICKETS_WRITE)
@blp.arguments(schemas.StatusChangeRequestSchema)
@blp.response(200, schemas.TicketSchema)
def change_status(data: dict[str, Any], ticket_id: int) -> Ticket:
    """Move the ticket to another status (closing, reopening)."""
    work = unit()
    ticket = ticket_service.change_status(
        work, ticket_service.get_ticket(work, ticket_id), data["status"]
    )
    commit()
    return ticket


@blp.route("/<bigid:ticket_id>/status-history", methods=["GET"])
@scoped(scopes.TICKETS_READ)
@blp.response(200, StatusHistory)
def status_history(ticket_id: int) -> dict[str, Any]:
    """The ticket's status changes, oldest first (one page: a ticket has few)."""
    work = unit()
    changes = ticket_service.status_history(work, ticket_service.get_ticket(work, ticket_id))
    return {"items": changes, "next_cursor": None}


# The rows a ticket owns, listed newest first.
_Owned = TypeVar("_Owned", Thread, HappinessRating, TimeEntry)


def _ticket_rows_page(
    model: type[_Owned],
    at: Any,
    ticket_id: int,
    limit: int,
    cursor: str | None,
    cursor_of: Callable[[_Owned], Cursor] = Cursor.of,
) -> dict[str, Any]:
    """A page of the ``model`` rows of ticket ``ticket_id``, newest ``at`` first."""
    work = unit()
    ticket = ticket_service.get_ticket(work, ticket_id)
    query = select(model).where(model.ticket_id == ticket.id)
    rows = work.session.scalars(
        newest_first(query, at, model.id, parse_cursor(cursor), limit + 1)
    ).all()
    return page(rows, limit, cursor_of)


def _time_entry_cursor(entry: TimeEntry) -> Cursor:
    return Cursor(entry.logged_at, entry.id)


@blp.route("/<bigid:ticket_id>/threads", methods=["GET"])
@scoped(scopes.THREADS_READ)
@blp.arguments(schemas.PageArgsSchema, location="query", as_kwargs=True)
@blp.response(200, ThreadPage)
def list_threads(ticket_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
    """The ticket's threads, newest first; a reply mailed to the customer with its delivery."""
    found = _ticket_rows_page(Thread, Thread.created_at, ticket_id, limit, cursor)
    found["items"] = _with_delivery(unit(), found["items"])
    return found


_THREAD_FIELDS = tuple(name for name in schemas.ThreadSchema().fields if name != "delivery")


def _with_delivery(work: Unit, threads: list[Thread]) -> list[dict[str, Any]]:
    """The threads as the API shows them, each with its email's delivery (or null)."""
    sent = ticket_timeline.deliveries(work, threads)
    return [
        {name: getattr(thread, name) for name in _THREAD_FIELDS} | {"delivery": sent.get(thread.id)}
        for thread in threads
    ]


@blp.route("/<bigid:ticket_id>/threads", methods=["POST"])
@scoped(scopes.THREADS_WRITE)
@blp.arguments(schemas.ThreadCreateSchema)
@blp.response(201, schemas.ThreadSchema)
def add_thread(data: dict[str, Any], ticket_id: int) -> dict[str, Any]:
    """Reply to the customer, comment internally, or record an incoming message."""
    work = unit()
    thread = ticket_service.add_thread(work, ticket_service.get_ticket(work, ticket_id), **data)
    shown = _with_delivery(work, [thread])[0]
    commit()
    return shown


@blp.route("/<bigid:ticket_id>/ratings", methods=["GET"])
@scoped(scopes.TICKETS_READ)
@blp.arguments(schemas.PageArgsSchema, location="query", as_kwargs=True)
@blp.response(200, RatingPage)
def list_ratings(ticket_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
    """The ticket's happiness ratings, newest (the one that counts) first."""
    return _ticket_rows_page(HappinessRating, HappinessRating.created_at, ticket_id, limit, cursor)


@blp.route("/<bigid:ticket_id>/ratings", methods=["POST"])
@scoped(scopes.TICKETS_WRITE)
@blp.arguments(schemas.RatingCreateSchema)
@blp.response(201, schemas.RatingSchema)
def add_rating(data: dict[str, Any], ticket_id: int) -> HappinessRating:
    """Record the customer's rating (good, okay or bad) with optional feedback."""
    work = unit()
    rating = ticket_service.add_rating(work, ticket_service.get_ticket(work, ticket_id), **data)
    commit()
    return rating


@blp.route("/<bigid:ticket_id>/time-entries", methods=["GET"])
@scoped(scopes.TICKETS_READ)
@blp.arguments(schemas.PageArgsSchema, location="query", as_kwargs=True)
@blp.response(200, TimeEntryPage)
def list_time_entries(ticket_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
    """Time logged on the ticket, latest first."""
    return _ticket_rows_page(
        TimeEntry, TimeEntry.logged_at, ticket_id, limit, cursor, _time_entry_cursor
    )


@blp.route("/<bigid:ticket_id>/time-entries", methods=["POST"])
@scoped(scopes.TICKETS_WRITE)
@blp.arguments(schemas.TimeEntryCreateSchema)
@blp.response(201, schemas.TimeEntrySchema)
def add_time_entry(data: dict[str, Any], ticket_id: int) -> TimeEntry:
    """Log time the caller spent on the ticket."""
    work = unit()
    entry = ticket_service.add_time_entry(work, ticket_service.get_ticket(work, ticket_id), **data)
    commit()
    return entry
