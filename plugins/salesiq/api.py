"""The desk inside the chat window: the REST endpoints the chat product calls with the OAuth
token an administrator authorized when linking.

Each call acts as that administrator, within the installation's scopes and departments, and
checks their permissions (403 when they lack one). What a chat's department may see and do
follows its mapping: no integration answers 404 (nothing is shown); view only shows tickets of
all departments and refuses converting and status changes (403); choose each time shows all
departments and converts with the agent's choices; a mapped department shows the tickets of
its desk department, or of all departments when the ``recent_tickets`` setting says so. While
the integration is disabled or needs a new link every call answers 409.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import marshmallow as ma
from flask import request

from hostapi import ApiRoute, Conflict, Context, NotFound, TicketQuery, TicketRecord, scopes
from plugins.salesiq import chats, departments, link
from plugins.salesiq.models import ChatDepartment

#: Every call checks that the admin who linked the account is still an active agent.
_READ = (scopes.TICKETS_READ, scopes.THREADS_READ, scopes.CONTACTS_READ, scopes.AGENTS_READ)
_WRITE = (*_READ, scopes.TICKETS_WRITE, scopes.THREADS_WRITE, scopes.CONTACTS_WRITE)
#: Tickets a recent list or a search gives at most.
LIMIT = 20


# ------------------------------------------------------------------------------ schemas


class WindowTicketSchema(ma.Schema):
    """A ticket as the chat window lists it."""

    id = ma.fields.Integer()
    number = ma.fields.String(attribute="display_number")
    subject = ma.fields.String()
    status = ma.fields.String()
    status_type = ma.fields.String(metadata={"description": "open, on_hold or closed."})
    priority = ma.fields.String()
    department = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    due_at = ma.fields.AwareDateTime(allow_none=True)
    url = ma.fields.String(metadata={"description": "Opens the ticket in the desk."})


class WindowTicketListSchema(ma.Schema):
    """Tickets, newest first."""

    tickets = ma.fields.List(ma.fields.Nested(WindowTicketSchema))


class WindowThreadSchema(ma.Schema):
    """A message of a ticket."""

    kind = ma.fields.String(metadata={"description": "incoming, outgoing, comment…"})
    body = ma.fields.String()
    created_at = ma.fields.AwareDateTime()


class WindowTranscriptSchema(ma.Schema):
    """A chat linked to the ticket, with its messages."""

    chat_id = ma.fields.String()
    started_at = ma.fields.AwareDateTime()
    messages = ma.fields.List(ma.fields.Dict())


class WindowTicketDetailSchema(WindowTicketSchema):
    """A ticket with its messages and the chats linked to it."""

    threads = ma.fields.List(ma.fields.Nested(WindowThreadSchema))
    chats = ma.fields.List(ma.fields.Nested(WindowTranscriptSchema))


class WindowVisitorSchema(ma.Schema):
    """What the desk knows of a visitor."""

    known = ma.fields.Boolean(metadata={"description": "A contact has the visitor's email."})
    contact_id = ma.fields.Integer(allow_none=True)
    name = ma.fields.String(allow_none=True)
    account_name = ma.fields.String(allow_none=True)
    sla_name = ma.fields.String(
        allow_none=True,
        metadata={"description": "The SLA policy the account's contract or department has."},
    )
    contract_name = ma.fields.String(
        allow_none=True, metadata={"description": "The account's contract in force today."}
    )
    contact_owner = ma.fields.String(allow_none=True)
    total_tickets = ma.fields.Integer()
    overdue_tickets = ma.fields.Integer()
    url = ma.fields.String(allow_none=True, metadata={"description": "The contact in the desk."})


class WindowChoiceSchema(ma.Schema):
    """A value an agent may pick, with its label."""

    value = ma.fields.String()
    label = ma.fields.String()


class WindowOptionsSchema(ma.Schema):
    """What an agent converting in a choose-each-time department picks from."""

    departments = ma.fields.List(ma.fields.Nested(WindowChoiceSchema))
    priorities = ma.fields.List(ma.fields.Nested(WindowChoiceSchema))
    statuses = ma.fields.List(ma.fields.Nested(WindowChoiceSchema))
    classifications = ma.fields.List(ma.fields.Nested(WindowChoiceSchema))


class ChatWindowArguments(ma.Schema):
    """The department of the chat the window is showing."""

    chat_department_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))


class WindowVisitorArguments(ChatWindowArguments):
    """Whose details: the visitor's email."""

    email = ma.fields.Email(required=True)


class WindowSearchArguments(ChatWindowArguments):
    """What to look for."""

    q = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=200),
        metadata={"description": "A visitor's name or email, a ticket number or subject words."},
    )


class WindowVisitorEdit(ma.Schema):
    """The visitor's details as the agent edited them."""

    name = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    email = ma.fields.Email(metadata={"description": "Empty or left out: no email."})
    phone = ma.fields.String(load_default="", validate=ma.validate.Length(max=50))


class WindowConvertArguments(ma.Schema):
    """How to make the ticket; in a mapped department only ``visitor`` counts."""

    visitor = ma.fields.Nested(WindowVisitorEdit, load_default=None)
    department_id = ma.fields.Integer(load_default=None)
    priority = ma.fields.String(load_default="medium")
    status = ma.fields.String(load_default="Open")
    classification = ma.fields.String(load_default="", validate=ma.validate.Length(max=60))


class WindowMergeArguments(ma.Schema):
    """The existing ticket."""

    ticket_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))


class WindowStatusArguments(ChatWindowArguments):
    """Reopen or close."""

    status = ma.fields.String(required=True, validate=ma.validate.OneOf(("open", "closed")))


# ------------------------------------------------------------------------------ routes


def routes() -> list[ApiRoute]:
    """The chat window's endpoints."""
    return [
        ApiRoute(
            name="visitor",
            path="/visitor",
            handle=_visitor,
            summary="The desk's details of a chat visitor",
            arguments=WindowVisitorArguments,
            response=WindowVisitorSchema,
            scopes=(*_READ, scopes.ACCOUNTS_READ),
        ),
        ApiRoute(
            name="recent_tickets",
            path="/tickets/recent",
            handle=_recent,
            summary="A visitor's recent tickets",
            arguments=WindowVisitorArguments,
            response=WindowTicketListSchema,
            scopes=_READ,
        ),
        ApiRoute(
            name="search_tickets",
            path="/tickets/search",
            handle=_search,
            summary="Search tickets by visitor name or email, number or subject",
            arguments=WindowSearchArguments,
            response=WindowTicketListSchema,
            scopes=_READ,
        ),
        ApiRoute(
            name="ticket",
            path="/tickets/<int:ticket_id>",
            handle=_ticket,
            summary="A ticket with its messages and chat transcripts",
            arguments=ChatWindowArguments,
            response=WindowTicketDetailSchema,
            scopes=_READ,
        ),
        ApiRoute(
            name="ticket_options",
            path="/options",
            handle=_options,
            summary="Departments, priorities, statuses and classifications to convert with",
            arguments=ChatWindowArguments,
            response=WindowOptionsSchema,
            scopes=_READ,
        ),
        ApiRoute(
            name="convert_chat",
            path="/chats/<chat_id>/convert",
            handle=_convert,
            summary="Convert the chat to a ticket",
            method="POST",
            arguments=WindowConvertArguments,
            response=WindowTicketSchema,
            status=201,
            scopes=_WRITE,
        ),
        ApiRoute(
            name="merge_chat",
            path="/chats/<chat_id>/merge",
            handle=_merge,
            summary="Add the chat to an existing ticket",
            method="POST",
            arguments=WindowMergeArguments,
            response=WindowTicketSchema,
            scopes=_WRITE,
        ),
        ApiRoute(
            name="absorb_ticket",
            path="/chats/<chat_id>/absorb",
            handle=_absorb,
            summary="Merge an existing ticket into the chat's ticket",
            description="The existing ticket's conversation moves into the ticket the chat "
            "became, and the existing ticket is closed as merged.",
            method="POST",
            arguments=WindowMergeArguments,
            response=WindowTicketSchema,
            scopes=_WRITE,
        ),
        ApiRoute(
            name="set_ticket_status",
            path="/tickets/<int:ticket_id>/status",
            handle=_set_status,
            summary="Reopen or close a ticket",
            method="POST",
            arguments=WindowStatusArguments,
            response=WindowTicketSchema,
            scopes=(*_READ, scopes.TICKETS_WRITE),
        ),
    ]


# ------------------------------------------------------------------------------ what a chat may see


@dataclass(frozen=True)
class Window:
    """What the chat window of one chat department may see and do."""

    department: ChatDepartment
    #: The desk department tickets are limited to; ``None``: all the installation's.
    desk_department_id: int | None

    @property
    def may_change(self) -> bool:
        """Whether tickets may be created or their status changed from this window."""
        return self.department.mode in (departments.MAPPED, departments.CHOOSE)


def window(context: Context, chat_department_id: str) -> Window:
    """The window of a chat department, for the calling agent.

    :raises Conflict: the integration is not running.
    :raises NotFound: the department is unknown or not integrated.
    :raises PermissionError: the token is not the linking admin's, or they may not view
        tickets.
    """
    linked = link.current(context)
    if not link.works(context, linked):
        raise Conflict(context.gettext("The SalesIQ integration is not active."))
    assert linked is not None
    if context.agent is None or context.agent.id != linked.linked_by_agent_id:
        # The chat side acts with the linking admin's permissions, and no one else's.
        raise PermissionError(
            context.gettext("Authorize SalesIQ again as the admin who linked it.")
        )
    department = departments.find(context, chat_department_id)
    if department is None or department.mode == departments.NONE:
        raise NotFound(f"chat department {chat_department_id} is not integrated")
    _require(context, "ticket.view")
    limited = (
        department.mode == departments.MAPPED
        and context.settings.get("recent_tickets", "associated") != "all"
    )
    return Window(department, department.desk_department_id if limited else None)


def _require(context: Context, permission: str) -> None:
    if not context.has_permission(permission):
        raise PermissionError(
            context.gettext("The linked admin lacks the permission %(name)s.", name=permission)
        )


# ------------------------------------------------------------------------------ handlers


def _visitor(context: Context, arguments: dict[str, Any]) -> dict[str, Any]:
    shown = window(context, arguments["chat_department_id"])
    contact = context.find_contact(email=arguments["email"])
    if contact is None:
        return {"known": False, "total_tickets": 0, "overdue_tickets": 0}
    account = context.get_account(contact.account_id) if contact.account_id else None
    terms = (
        context.service_terms(account.id, department_id=shown.department.desk_department_id)
        if account is not None
        else None
    )
    owner = context.get_agent(contact.owner_id) if contact.owner_id else None
    query = TicketQuery(contact_id=contact.id, department_id=shown.desk_department_id)
    return {
        "known": True,
        "contact_id": contact.id,
        "name": contact.display_name or contact.name,
        "account_name": account.name if account else None,
        "sla_name": terms.sla_name if terms else None,
        "contract_name": terms.contract_name if terms else None,
        "contact_owner": owner.name if owner is not None else None,
        "total_tickets": context.count_tickets(query),
        "overdue_tickets": context.count_tickets(replace(query, overdue=True)),
        "url": f"{request.host_url}contacts/{contact.id}",
    }


def _recent(context: Context, arguments: dict[str, Any]) -> dict[str, Any]:
    shown = window(context, arguments["chat_department_id"])
    contact = context.find_contact(email=arguments["email"])
    if contact is None:
        return {"tickets": []}
    query = TicketQuery(contact_id=contact.id, department_id=shown.desk_department_id, limit=LIMIT)
    return {"tickets": _listed(context, context.list_tickets(query))}


def _search(context: Context, arguments: dict[str, Any]) -> dict[str, Any]:
    shown = window(context, arguments["chat_department_id"])
    query = TicketQuery(search=arguments["q"], department_id=shown.desk_department_id, limit=LIMIT)
    return {"tickets": _listed(context, context.list_tickets(query))}


def _ticket(context: Context, arguments: dict[str, Any], ticket_id: int) -> dict[str, Any]:
    shown = window(context, arguments["chat_department_id"])
    ticket = _visible(context, shown, ticket_id)
    return {
        **_listed(context, [ticket])[0],
        "threads": [
            {"kind": thread.kind, "body": thread.body, "created_at": thread.created_at}
            for thread in context.list_threads(ticket.id)
        ],
        "chats": [
            {"chat_id": chat.chat_id, "started_at": chat.started_at, "messages": chat.messages}
            for chat in chats.of_ticket(context, ticket.id)
        ],
    }


def _options(context: Context, arguments: dict[str, Any]) -> dict[str, Any]:
    window(context, arguments["chat_department_id"])
    offered = context.ticket_choices()
    return {
        "departments": [{"value": str(d.id), "label": d.name} for d in context.departments()],
        "priorities": [{"value": p, "label": p} for p in offered.priorities],
        "statuses": [{"value": s.name, "label": s.label} for s in offered.statuses],
        "classifications": [{"value": c, "label": c} for c in offered.classifications],
    }


def _convert(context: Context, arguments: dict[str, Any], chat_id: str) -> dict[str, Any]:
    chat = chats.get(context, chat_id, for_update=True)
    shown = window(context, chat.chat_department_id)
    _require_change(context, shown, "ticket.create", "ticket.edit", "ticket.reply")
    if arguments["visitor"] is not None:
        chats.visitor_changed(context, chat, arguments["visitor"])
    if shown.department.mode == departments.MAPPED:
        assert shown.department.desk_department_id is not None
        choices: dict[str, Any] = {"department_id": shown.department.desk_department_id}
    else:
        choices = _chosen(context, arguments)
    ticket = chats.convert(context, chat, by=chats.BY_AGENT, **choices)
    return _listed(context, [ticket])[0]


def _merge(context: Context, arguments: dict[str, Any], chat_id: str) -> dict[str, Any]:
    chat = chats.get(context, chat_id, for_update=True)
    shown = window(context, chat.chat_department_id)
    _require_change(context, shown, "ticket.edit", "ticket.reply")
    ticket = _visible(context, shown, arguments["ticket_id"])
    chats.merge_into(context, chat, ticket.id)
    return _listed(context, [ticket])[0]


def _absorb(context: Context, arguments: dict[str, Any], chat_id: str) -> dict[str, Any]:
    chat = chats.get(context, chat_id, for_update=True)
    shown = window(context, chat.chat_department_id)
    _require_change(context, shown, "ticket.edit", "ticket.change_status")
    if chat.ticket_id is None:
        raise Conflict(context.gettext("Convert the chat to a ticket first."))
    older = _visible(context, shown, arguments["ticket_id"])
    if older.id == chat.ticket_id:
        raise ma.ValidationError({"ticket_id": [context.gettext("This is the chat's own ticket.")]})
    merged = context.merge_ticket(older.id, into_ticket_id=chat.ticket_id)
    chats.follow_merge(context, older.id, merged.id)
    return _listed(context, [merged])[0]


def _set_status(context: Context, arguments: dict[str, Any], ticket_id: int) -> dict[str, Any]:
    shown = window(context, arguments["chat_department_id"])
    _require_change(context, shown, "ticket.change_status")
    ticket = _visible(context, shown, ticket_id)
    wanted = chats.STATUS_NAMES[arguments["status"]]
    if (ticket.status_type == "closed") != (arguments["status"] == chats.CLOSED):
        ticket = context.change_status(ticket.id, wanted)
    return _listed(context, [ticket])[0]


# ------------------------------------------------------------------------------ helpers


def _require_change(context: Context, shown: Window, *permissions: str) -> None:
    """Refuse a change the window's department does not allow, or the linked admin may not
    make (converting writes the ticket and its incoming and outgoing messages)."""
    if not shown.may_change:
        raise PermissionError(
            context.gettext(
                "Tickets are view only for the chats of %(name)s.", name=shown.department.name
            )
        )
    for permission in permissions:
        _require(context, permission)


def _chosen(context: Context, arguments: dict[str, Any]) -> dict[str, Any]:
    """The choose-each-time values, checked against what the desk offers."""
    offered = context.ticket_choices()
    errors: dict[str, list[str]] = {}
    if arguments["department_id"] is None:
        errors["department_id"] = [context.gettext("Choose the department.")]
    elif arguments["department_id"] not in context.department_ids:
        errors["department_id"] = [context.gettext("Unknown department.")]
    if arguments["priority"] not in offered.priorities:
        errors["priority"] = [context.gettext("Choose one of the priorities offered.")]
    if arguments["status"] not in {s.name for s in offered.statuses}:
        errors["status"] = [context.gettext("Choose one of the statuses offered.")]
    if arguments["classification"] and arguments["classification"] not in offered.classifications:
        errors["classification"] = [context.gettext("Choose one of the classifications offered.")]
    if errors:
        raise ma.ValidationError(errors)
    return {
        key: arguments[key] for key in ("department_id", "priority", "status", "classification")
    }


def _visible(context: Context, shown: Window, ticket_id: int) -> TicketRecord:
    ticket = context.get_ticket(ticket_id)
    if ticket is None or (
        shown.desk_department_id is not None and ticket.department_id != shown.desk_department_id
    ):
        raise NotFound(f"ticket {ticket_id} not found")
    return ticket


def _listed(context: Context, tickets: list[TicketRecord]) -> list[dict[str, Any]]:
    names = {d.id: d.name for d in context.departments()}
    return [
        {
            "id": ticket.id,
            "display_number": ticket.display_number,
            "subject": ticket.subject,
            "status": context.status_label(ticket.status),
            "status_type": ticket.status_type,
            "priority": ticket.priority,
            "department": names.get(ticket.department_id, ""),
            "created_at": ticket.created_at,
            "due_at": ticket.due_at,
            "url": f"{request.host_url}tickets/{ticket.id}",
        }
        for ticket in tickets
    ]
