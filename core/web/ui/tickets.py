"""The ticket list and the ticket page (conversation, reply and status forms, panel area)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from core.errors import ValidationFailed
from core.models import Agent, Ticket, TicketStatus
from core.models.tickets import StatusType, ThreadKind
from core.services import tickets as ticket_service
from core.web.database import db_session
from core.web.i18n import current_organisation
from core.web.security import current_agent, login_required
from core.web.ui.paging import newest_first_page
from core.web.ui.panels import panels_at
from core.web.ui.units import request_unit
from hostapi.types import Location, PanelTarget

blueprint = Blueprint("tickets", __name__, url_prefix="/tickets")

ASSIGNEE_FILTERS = ("all", "me", "unassigned")


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@blueprint.get("")
@login_required
def index() -> ResponseReturnValue:
    """Tickets of the agent's departments, newest first, with filters and an "older" link."""
    agent = current_agent()
    assert agent is not None
    filters = {
        "department": _int_or_none(request.args.get("department")),
        "status": request.args.get("status", ""),
        "assignee": request.args.get("assignee", "all"),
        "q": request.args.get("q", "").strip(),
    }
    if filters["department"] not in agent.department_ids:
        filters["department"] = None
    if filters["status"] not in {t.value for t in StatusType}:
        filters["status"] = ""
    if filters["assignee"] not in ASSIGNEE_FILTERS:
        filters["assignee"] = "all"
    query: dict[str, Any] = {
        "department_id": filters["department"],
        "status_type": filters["status"] or None,
        "search": filters["q"] or None,
    }
    if filters["assignee"] == "me":
        query["assignee_id"] = agent.id
    elif filters["assignee"] == "unassigned":
        query["unassigned"] = True
    rows, older = newest_first_page(ticket_service.list_tickets, **query)
    return render_template(
        "tickets/list.html",
        tickets=rows,
        filters=filters,
        older=older,
        departments=agent.departments,
        status_types=[t.value for t in StatusType],
        number=_numberer(),
    )


def _numberer() -> Any:
    organisation = current_organisation()
    prefix = organisation.ticket_prefix if organisation else ""
    return lambda ticket: f"{prefix}{ticket.number}"


def _render_detail(
    ticket: Ticket, *, form_errors: dict[str, list[str]] | None = None, status_code: int = 200
) -> ResponseReturnValue:
    agent = current_agent()
    assert agent is not None
    unit = request_unit()
    threads = ticket_service.list_threads(unit, ticket)
    author_ids = {t.author_agent_id for t in threads if t.author_agent_id}
    agents = {a.id: a for a in db_session().scalars(select(Agent).where(Agent.id.in_(author_ids)))}
    statuses = list(
        db_session().scalars(select(TicketStatus).order_by(TicketStatus.position, TicketStatus.id))
    )
    panels = panels_at(Location.TICKET_RIGHT_PANEL, PanelTarget("ticket", ticket.id), agent)
    return (
        render_template(
            "tickets/detail.html",
            ticket=ticket,
            threads=threads,
            thread_authors=agents,
            statuses=statuses,
            panels=panels,
            panel_location=Location.TICKET_RIGHT_PANEL,
            number=_numberer(),
            form_errors=form_errors or {},
            can_reply=agent.has_permission("ticket.reply"),
            can_comment=agent.has_permission("ticket.comment"),
            can_change_status=agent.has_permission("ticket.change_status"),
        ),
        status_code,
    )


@blueprint.get("/<bigid:ticket_id>")
@login_required
def detail(ticket_id: int) -> ResponseReturnValue:
    """One ticket: properties, conversation, forms and the extension panel area."""
    ticket = ticket_service.get_ticket(request_unit(), ticket_id)
    return _render_detail(ticket)


@blueprint.post("/<bigid:ticket_id>/threads")
@login_required
def add_thread(ticket_id: int) -> ResponseReturnValue:
    """Send a reply to the customer or add an internal comment."""
    unit = request_unit()
    ticket = ticket_service.get_ticket(unit, ticket_id)
    kind = request.form.get("kind", ThreadKind.OUTGOING.value)
    if kind not in (ThreadKind.OUTGOING.value, ThreadKind.COMMENT.value):
        raise ValidationFailed({"kind": ["Choose a reply or an internal comment."]})
    try:
        ticket_service.add_thread(unit, ticket, kind=kind, body=request.form.get("body", ""))
    except ValidationFailed as error:
        db_session().rollback()
        return _render_detail(ticket, form_errors=error.errors, status_code=422)
    db_session().commit()
    return redirect(url_for("tickets.detail", ticket_id=ticket.id) + "#conversation")


@blueprint.post("/<bigid:ticket_id>/status")
@login_required
def change_status(ticket_id: int) -> ResponseReturnValue:
    """Move the ticket to another status."""
    unit = request_unit()
    ticket = ticket_service.get_ticket(unit, ticket_id)
    try:
        ticket_service.change_status(unit, ticket, request.form.get("status", ""))
    except ValidationFailed as error:
        db_session().rollback()
        return _render_detail(ticket, form_errors=error.errors, status_code=422)
    db_session().commit()
    return redirect(url_for("tickets.detail", ticket_id=ticket.id))
