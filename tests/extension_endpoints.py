"""A test extension with a page and REST endpoints that name tickets, for the suites that walk
every page and operation of the app (isolation matrix, API fuzzing): it puts the installation
URL shapes (``/ext/<plugin>/<installation id>/…``, ``/api/v1/ext/<plugin>/<installation id>/…``)
in front of them even while no bundled extension has any."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Blueprint, abort

from core.host import Host
from hostapi import ApiRoute, Context, NotFound, Page, current_context, hookimpl, scopes
from tests.plugin_fixtures import manifest

PLUGIN = "endpoints"


class TicketSchema(ma.Schema):
    """A ticket as the extension answers it."""

    id = ma.fields.Integer(required=True)
    subject = ma.fields.String(required=True)


class NoteSchema(ma.Schema):
    """A note on a ticket."""

    text = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


class LimitArgs(ma.Schema):
    """A page size."""

    limit = ma.fields.Integer(load_default=10, validate=ma.validate.Range(min=1, max=100))


class CountSchema(ma.Schema):
    """A count of tickets."""

    count = ma.fields.Integer(required=True)


def _ticket(context: Context, ticket_id: int) -> dict[str, Any]:
    ticket = context.get_ticket(ticket_id)
    if ticket is None:
        raise NotFound("No such ticket.")
    return {"id": ticket.id, "subject": ticket.subject}


def read_ticket(context: Context, arguments: dict[str, Any], ticket_id: int) -> dict[str, Any]:
    """One ticket the caller and the installation see."""
    return _ticket(context, ticket_id)


def note_ticket(context: Context, arguments: dict[str, Any], ticket_id: int) -> dict[str, Any]:
    """Keep a note on a ticket the caller and the installation see."""
    _ticket(context, ticket_id)
    context.storage_set(f"note:{ticket_id}", arguments["text"])
    return {"text": arguments["text"]}


def count_tickets(context: Context, arguments: dict[str, Any]) -> dict[str, Any]:
    """How many tickets the installation shows the caller, up to ``limit``."""
    from hostapi import TicketQuery

    return {"count": len(context.list_tickets(TicketQuery(limit=arguments["limit"])))}


def _pages() -> Blueprint:
    pages = Blueprint("endpoints_pages", __name__)

    @pages.route("/report")
    def report() -> str:
        return f"installation {current_context().installation_id}"

    @pages.route("/tickets/<int:ticket_id>")
    def ticket(ticket_id: int) -> str:
        found = current_context().get_ticket(ticket_id)
        if found is None:
            abort(404)
        return found.subject

    return pages


class Endpoints:
    """Pages and REST endpoints that name tickets."""

    @hookimpl
    def deskhost_pages(self) -> list[Page]:
        return [Page(blueprint=_pages(), title="Report")]

    @hookimpl
    def deskhost_api_routes(self) -> list[ApiRoute]:
        return [
            ApiRoute(
                name="count_tickets",
                path="/tickets",
                handle=count_tickets,
                summary="Count the tickets the installation shows the caller.",
                arguments=LimitArgs,
                response=CountSchema,
                scopes=(scopes.TICKETS_READ,),
            ),
            ApiRoute(
                name="read_ticket",
                path="/tickets/<int:ticket_id>",
                handle=read_ticket,
                summary="Read a ticket.",
                response=TicketSchema,
                scopes=(scopes.TICKETS_READ,),
            ),
            ApiRoute(
                name="note_ticket",
                path="/tickets/<int:ticket_id>/notes",
                method="POST",
                handle=note_ticket,
                summary="Keep a note on a ticket.",
                arguments=NoteSchema,
                response=NoteSchema,
                status=201,
                scopes=(scopes.TICKETS_READ,),
            ),
        ]


def register(host: Host) -> None:
    """Load the extension on ``host`` (before its app is built)."""
    host.plugins.register_plugin(Endpoints(), manifest(PLUGIN, scopes=[scopes.TICKETS_READ]))


def unregister(host: Host) -> None:
    """Unload it again."""
    host.plugins.unregister_plugin(PLUGIN)
