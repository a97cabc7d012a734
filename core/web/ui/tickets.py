"""The ticket list (filters, count, bulk actions), the new-ticket form and the ticket page
(conversation with its timeline; reply, status, assignee, priority, due date, tags and move)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    flash,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from sqlalchemy import or_, select

from core import permissions
from core.errors import Forbidden, Message, NotFound, ValidationFailed
from core.models import Agent, Contact, Department, Ticket, TicketStatus, agent_departments
from core.models.tickets import StatusType, ThreadKind
from core.services import comments as comment_service
from core.services import customers as customer_service
from core.services import new_ticket as new_ticket_service
from core.services import ticket_bulk, ticket_mentions, ticket_tags, ticket_timeline
from core.services import tickets as ticket_service
from core.services.base import Cursor, parse_whole_number
from core.web.database import db_session
from core.web.i18n import current_organisation, select_timezone
from core.web.security import current_agent, login_required
from core.web.ui.labels import message_text
from core.web.ui.paging import newest_first_page
from core.web.ui.panels import panels_at
from core.web.ui.units import request_unit
from hostapi.types import Location, PanelTarget

blueprint = Blueprint("tickets", __name__, url_prefix="/tickets")

ASSIGNEE_FILTERS = ("all", "me", "unassigned")
#: A status filter value naming one status rather than a status type.
STATUS_NAME_PREFIX = "name:"
#: Contacts the new-ticket form offers for one search.
CONTACT_CHOICES = 10
#: Agents the @-autocomplete offers for one search.
MENTION_CHOICES = 10
#: The "moved away" notice shown on the list after a move the agent can no longer see.
MOVED_CATEGORY = "ticket-moved"

#: What the bulk result says for a ticket that was not changed, by :class:`ticket_bulk.Failure`.
_BULK_FAILURES: dict[str, Any] = {
    ticket_bulk.Failure.NOT_FOUND: lazy_gettext("you cannot see this ticket"),
    ticket_bulk.Failure.FORBIDDEN: lazy_gettext("you may not make this change"),
    ticket_bulk.Failure.INVALID: lazy_gettext("this change does not fit this ticket"),
}
#: What the bulk result says for a changed ticket, by :class:`ticket_bulk.BulkAction`.
_BULK_DONE: dict[str, Any] = {
    ticket_bulk.BulkAction.ASSIGN: lazy_gettext("assigned"),
    ticket_bulk.BulkAction.STATUS: lazy_gettext("status changed"),
    ticket_bulk.BulkAction.PRIORITY: lazy_gettext("priority changed"),
    ticket_bulk.BulkAction.CLOSE: lazy_gettext("closed"),
}
#: The permission each bulk action needs (the page offers only what the agent may do).
_BULK_PERMISSIONS: dict[str, str] = {
    ticket_bulk.BulkAction.ASSIGN: permissions.TICKET_ASSIGN,
    ticket_bulk.BulkAction.STATUS: permissions.TICKET_CHANGE_STATUS,
    ticket_bulk.BulkAction.CLOSE: permissions.TICKET_CHANGE_STATUS,
    ticket_bulk.BulkAction.PRIORITY: permissions.TICKET_EDIT,
}


def _int_or_none(value: str | None) -> int | None:
    return parse_whole_number(value, 10**18)


def _signed_in() -> Agent:
    agent = current_agent()
    assert agent is not None  # every view here is @login_required
    return agent


def _require(agent: Agent, *names: str) -> None:
    for name in names:
        if not agent.has_permission(name):
            raise Forbidden(name)


# ------------------------------------------------------------------------------------ the list


def _filter_agents(agent: Agent) -> list[Agent]:
    """Agents the assignee filter offers: those of the viewer's departments, deactivated ones
    included (their tickets wait for reassignment), by name."""
    query = select(Agent).order_by(Agent.is_active.desc(), Agent.name, Agent.id)
    if not agent.is_admin:
        members = select(agent_departments.c.agent_id).where(
            agent_departments.c.department_id.in_(sorted(agent.department_ids))
        )
        query = query.where(or_(Agent.id.in_(members), Agent.id == agent.id))
    return list(db_session().scalars(query))


def _bulk_agents(agent: Agent) -> list[Agent]:
    """Active agents a bulk assignment offers (each ticket then checks its own department)."""
    return [a for a in _filter_agents(agent) if a.is_active]


@blueprint.get("")
@login_required
def index() -> ResponseReturnValue:
    """Tickets of the agent's departments, newest first, with filters, count and bulk actions."""
    agent = _signed_in()
    unit = request_unit()
    statuses = ticket_service.list_statuses(db_session())
    agents = _filter_agents(agent)
    filters = {
        "department": _int_or_none(request.args.get("department")),
        "status": request.args.get("status", ""),
        "assignee": request.args.get("assignee", "all"),
        "q": request.args.get("q", "").strip(),
    }
    if filters["department"] not in agent.department_ids:
        filters["department"] = None
    status_names = {STATUS_NAME_PREFIX + s.name for s in statuses}
    if filters["status"] not in {t.value for t in StatusType} | status_names:
        filters["status"] = ""
    agent_ids = {str(a.id) for a in agents}
    if filters["assignee"] not in (*ASSIGNEE_FILTERS, *agent_ids):
        filters["assignee"] = "all"
    query: dict[str, Any] = {
        "department_id": filters["department"],
        "search": filters["q"] or None,
    }
    if filters["status"].startswith(STATUS_NAME_PREFIX):
        query["status"] = filters["status"].removeprefix(STATUS_NAME_PREFIX)
    elif filters["status"]:
        query["status_type"] = filters["status"]
    if filters["assignee"] == "me":
        query["assignee_id"] = agent.id
    elif filters["assignee"] == "unassigned":
        query["unassigned"] = True
    elif filters["assignee"] != "all":
        query["assignee_id"] = int(filters["assignee"])
    rows, older = newest_first_page(ticket_service.list_tickets, **query)
    count = ticket_service.count_tickets(
        unit, before=Cursor.parse(request.args.get("before") or None), **query
    )
    can = {
        "assign": agent.has_permission(permissions.TICKET_ASSIGN)
        and agent.has_permission(permissions.TICKET_EDIT),
        "status": agent.has_permission(permissions.TICKET_CHANGE_STATUS),
        "priority": agent.has_permission(permissions.TICKET_EDIT),
    }
    return render_template(
        "tickets/list.html",
        tickets=rows,
        filters=filters,
        older=older,
        count=count,
        count_text=f"{count.count:,}+" if count.capped else f"{count.count:,}",
        first_position=f"{count.newer + 1:,}",
        last_position=f"{count.newer + len(rows):,}",
        show_position=bool(rows) and count.newer < ticket_service.COUNT_CAP,
        departments=agent.departments,
        status_types=[t.value for t in StatusType],
        statuses=statuses,
        status_name_prefix=STATUS_NAME_PREFIX,
        filter_agents=agents,
        bulk_agents=_bulk_agents(agent) if can["assign"] else [],
        priorities=ticket_service.PRIORITIES,
        can_bulk=any(can.values()),
        can=can,
        tags=ticket_tags.tags_of_tickets(unit, [t.id for t in rows]),
        moved=get_flashed_messages(category_filter=[MOVED_CATEGORY]),
        number=_numberer(),
    )


def _numberer() -> Any:
    organisation = current_organisation()
    prefix = organisation.ticket_prefix if organisation else ""
    return lambda ticket: f"{prefix}{ticket.number}"


@dataclass(frozen=True)
class BulkLine:
    """One ticket's line in the bulk result."""

    ticket_id: int
    number: str | None
    ok: bool
    reason: str


@blueprint.post("/bulk")
@login_required
def bulk() -> ResponseReturnValue:
    """Apply one change to the chosen tickets, each on its own, and say what became of each."""
    agent = _signed_in()
    action = request.form.get("action", "")
    needed = _BULK_PERMISSIONS.get(action)
    if needed is not None:
        _require(agent, needed)
    ids = [int(v) for v in request.form.getlist("ticket_ids") if _int_or_none(v) is not None]
    value: Any = {
        "assign": request.form.get("assignee_id", ""),
        "status": request.form.get("status", ""),
        "priority": request.form.get("priority", ""),
    }.get(action)
    back = _list_url(request.form.get("back", ""))
    try:
        outcomes = ticket_bulk.apply(request_unit(), ticket_ids=ids, action=action, value=value)
    except ValidationFailed as error:
        db_session().rollback()
        messages = [
            gettext("Choose at least one ticket.")
            if not ids
            else gettext("At most %(num)s tickets at once.", num=ticket_bulk.MAX_BULK_TICKETS)
            if "ticket_ids" in error.errors
            else gettext("Choose what to change.")
        ]
        page = render_template(
            "tickets/bulk_result.html", lines=[], errors=messages, back=back, done=""
        )
        return page, 422
    db_session().commit()
    prefix = _numberer()
    lines = [
        BulkLine(
            outcome.ticket_id,
            prefix(outcome) if outcome.number is not None else None,
            outcome.ok,
            _bulk_reason(outcome),
        )
        for outcome in outcomes
    ]
    return render_template(
        "tickets/bulk_result.html", lines=lines, errors=[], back=back, done=_BULK_DONE[action]
    )


def _bulk_reason(outcome: ticket_bulk.Outcome) -> str:
    if outcome.ok or outcome.failure is None:
        return ""
    reason = str(_BULK_FAILURES[outcome.failure])
    details = [message_text(m) for messages in outcome.messages.values() for m in messages]
    return f"{reason} ({' '.join(details)})" if details else reason


def _list_url(query: str) -> str:
    """The list with the filters it was shown with (only a query string is taken back)."""
    base = url_for("tickets.index")
    cleaned = query.lstrip("?")
    if not cleaned or any(c in cleaned for c in "\r\n/\\#"):
        return base
    return f"{base}?{cleaned}"


# ------------------------------------------------------------------------------ a new ticket


def _contact_choices(term: str) -> list[Contact]:
    if not term.strip() or not _signed_in().has_permission(permissions.CONTACT_VIEW):
        return []
    return customer_service.list_contacts(request_unit(), search=term, limit=CONTACT_CHOICES)


@blueprint.get("/new/contacts")
@login_required
def contact_search() -> ResponseReturnValue:
    """Contacts matching ``?q=`` for the new-ticket form's type-ahead."""
    _require(_signed_in(), permissions.TICKET_CREATE, permissions.CONTACT_VIEW)
    return jsonify(
        items=[
            {"id": c.id, "name": c.name, "email": c.email or "", "phone": c.phone or ""}
            for c in _contact_choices(request.args.get("q", "")[:200])
        ]
    )


_NEW_TICKET_FIELDS = (
    "subject",
    "description",
    "department_id",
    "channel",
    "priority",
    "status",
    "assignee_id",
    "contact_name",
    "contact_email",
    "contact_phone",
)


@blueprint.route("/new", methods=["GET", "POST"])
@login_required
def new() -> ResponseReturnValue:
    """The new-ticket form: a contact found by search (or typed in), then the ticket."""
    agent = _signed_in()
    _require(agent, permissions.TICKET_CREATE)
    unit = request_unit()
    contact = _chosen_contact(request.values.get("contact_id") or request.args.get("contact"))
    if request.method == "GET":
        form = {"channel": new_ticket_service.DEFAULT_CHANNEL, "priority": "medium"}
        form["status"] = "Open"
        return _new_page(agent, form, {}, contact)
    form = {name: request.form.get(name, "").strip() for name in _NEW_TICKET_FIELDS}
    typed = any(form[name] for name in ("contact_name", "contact_email", "contact_phone"))
    errors: dict[str, list[str]] = {}
    if contact is None and not typed:
        errors["contact"] = [gettext("Choose a contact or enter a new one.")]
    assignee = _int_or_none(form["assignee_id"])
    if assignee is not None and not agent.has_permission(permissions.TICKET_ASSIGN):
        raise Forbidden(permissions.TICKET_ASSIGN)
    if errors:
        return _new_page(agent, form, errors, contact)
    try:
        ticket = new_ticket_service.open_ticket(
            unit,
            subject=form["subject"],
            description=form["description"],
            department_id=_int_or_none(form["department_id"]) or 0,
            channel=form["channel"] or new_ticket_service.DEFAULT_CHANNEL,
            priority=form["priority"] or "medium",
            status=form["status"] or "Open",
            assignee_id=assignee,
            contact_id=contact.id if contact is not None else None,
            new_contact=(
                new_ticket_service.NewContact(
                    form["contact_name"], form["contact_email"], form["contact_phone"]
                )
                if contact is None
                else None
            ),
        )
    except ValidationFailed as error:
        db_session().rollback()
        return _new_page(agent, form, error.errors, contact)
    db_session().commit()
    return redirect(url_for("tickets.detail", ticket_id=ticket.id))


def _chosen_contact(value: str | None) -> Contact | None:
    contact_id = _int_or_none(value)
    if contact_id is None:
        return None
    try:
        contact = customer_service.get_contact(request_unit(), contact_id)
    except (NotFound, Forbidden):
        return None
    return contact if contact.merged_into_id is None else None


def _new_page(
    agent: Agent,
    form: dict[str, str],
    errors: dict[str, list[str]],
    contact: Contact | None,
) -> ResponseReturnValue:
    departments = [d for d in agent.departments if d.is_active]
    unit = request_unit()
    assignees = (
        {d.id: ticket_service.assignable_agents(unit, d.id) for d in departments}
        if agent.has_permission(permissions.TICKET_ASSIGN)
        else {}
    )
    term = request.args.get("contact_q", "").strip()[:200]
    page = render_template(
        "tickets/new.html",
        form=form,
        errors=errors,
        contact=contact,
        contact_q=term,
        choices=_contact_choices(term) if contact is None else [],
        departments=departments,
        assignees=assignees,
        channels=sorted(ticket_service.channels()),
        priorities=ticket_service.PRIORITIES,
        statuses=ticket_service.list_statuses(db_session()),
    )
    return page, 422 if errors else 200


# ------------------------------------------------------------------------------ the ticket page


def _mention_names(threads: list[Any]) -> dict[int, str]:
    ids = {
        agent_id
        for thread in threads
        if thread.kind == ThreadKind.COMMENT
        for agent_id in comment_service.mentioned_ids(thread.body)
    }
    if not ids:
        return {}
    return dict(db_session().execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids))).all())


def _zone() -> ZoneInfo:
    return ZoneInfo(select_timezone())


def _render_detail(
    ticket: Ticket, *, form_errors: dict[str, list[str]] | None = None, status_code: int = 200
) -> ResponseReturnValue:
    agent = _signed_in()
    unit = request_unit()
    timeline = ticket_timeline.conversation(unit, ticket)
    threads = [entry.thread for entry in timeline if entry.thread is not None]
    author_ids = {t.author_agent_id for t in threads if t.author_agent_id}
    agents = {a.id: a for a in db_session().scalars(select(Agent).where(Agent.id.in_(author_ids)))}
    names = _mention_names(threads)
    statuses = list(
        db_session().scalars(select(TicketStatus).order_by(TicketStatus.position, TicketStatus.id))
    )
    panels = panels_at(Location.TICKET_RIGHT_PANEL, PanelTarget("ticket", ticket.id), agent)
    can_edit = agent.has_permission(permissions.TICKET_EDIT)
    can_assign = can_edit and agent.has_permission(permissions.TICKET_ASSIGN)
    zone = _zone()
    return (
        render_template(
            "tickets/detail.html",
            ticket=ticket,
            timeline=timeline,
            thread_authors=agents,
            comment_html=lambda thread: comment_service.render_body(thread.body, names),
            statuses=statuses,
            panels=panels,
            panel_location=Location.TICKET_RIGHT_PANEL,
            number=_numberer(),
            form_errors=form_errors or {},
            can_reply=agent.has_permission(permissions.TICKET_REPLY),
            can_comment=agent.has_permission(permissions.TICKET_COMMENT),
            can_change_status=agent.has_permission(permissions.TICKET_CHANGE_STATUS),
            can_edit=can_edit,
            can_assign=can_assign,
            assignees=ticket_service.assignable_agents(unit, ticket.department_id)
            if can_assign
            else [],
            move_targets=_move_targets(ticket) if can_edit else [],
            priorities=ticket_service.PRIORITIES,
            tags=ticket_tags.tags_of(unit, ticket),
            due_value=ticket.due_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
            if ticket.due_at
            else "",
            zone_name=zone.key,
        ),
        status_code,
    )


def _move_targets(ticket: Ticket) -> list[Department]:
    return list(
        db_session().scalars(
            select(Department)
            .where(Department.is_active.is_(True), Department.id != ticket.department_id)
            .order_by(Department.name)
        )
    )


@blueprint.get("/<bigid:ticket_id>")
@login_required
def detail(ticket_id: int) -> ResponseReturnValue:
    """One ticket: properties, conversation with its timeline, forms and the panel area."""
    ticket = ticket_service.get_ticket(request_unit(), ticket_id)
    return _render_detail(ticket)


@blueprint.get("/<bigid:ticket_id>/mentionable")
@login_required
def mentionable(ticket_id: int) -> ResponseReturnValue:
    """Agents matching ``?q=`` who may see the ticket, for the comment box's @-autocomplete
    (a mention of anyone else would notify nobody)."""
    unit = request_unit()
    ticket = ticket_service.get_ticket(unit, ticket_id)
    found = comment_service.mentionable_agents(unit, request.args.get("q", "")[:100], limit=50)
    agents = [a for a in found if ticket_mentions.may_be_told(a, ticket)][:MENTION_CHOICES]
    return jsonify(
        items=[
            {
                "id": agent.id,
                "name": agent.name,
                "email": agent.email,
                "token": comment_service.mention_token(agent),
            }
            for agent in agents
        ]
    )


def _back_to(ticket: Ticket, anchor: str = "") -> ResponseReturnValue:
    return redirect(url_for("tickets.detail", ticket_id=ticket.id) + anchor)


@blueprint.post("/<bigid:ticket_id>/threads")
@login_required
def add_thread(ticket_id: int) -> ResponseReturnValue:
    """Send a reply to the customer or add an internal comment."""
    unit = request_unit()
    ticket = ticket_service.get_ticket(unit, ticket_id)
    kind = request.form.get("kind", ThreadKind.OUTGOING.value)
    if kind not in (ThreadKind.OUTGOING.value, ThreadKind.COMMENT.value):
        raise ValidationFailed({"kind": [Message("Choose a reply or an internal comment.")]})
    try:
        ticket_service.add_thread(unit, ticket, kind=kind, body=request.form.get("body", ""))
    except ValidationFailed as error:
        db_session().rollback()
        return _render_detail(ticket, form_errors=error.errors, status_code=422)
    db_session().commit()
    return _back_to(ticket, "#conversation")


def _change(ticket_id: int, change: Any) -> ResponseReturnValue:
    """Run ``change(unit, ticket)``; re-render the page with its errors, else go back to it."""
    unit = request_unit()
    ticket = ticket_service.get_ticket(unit, ticket_id)
    try:
        change(unit, ticket)
    except ValidationFailed as error:
        db_session().rollback()
        return _render_detail(ticket, form_errors=error.errors, status_code=422)
    db_session().commit()
    return _back_to(ticket)


@blueprint.post("/<bigid:ticket_id>/status")
@login_required
def change_status(ticket_id: int) -> ResponseReturnValue:
    """Move the ticket to another status."""
    status = request.form.get("status", "")
    return _change(ticket_id, lambda u, t: ticket_service.change_status(u, t, status))


@blueprint.post("/<bigid:ticket_id>/assignee")
@login_required
def assign(ticket_id: int) -> ResponseReturnValue:
    """Assign the ticket (``assignee_id``; ``me`` for the agent; empty to unassign)."""
    agent = _signed_in()
    _require(agent, permissions.TICKET_EDIT, permissions.TICKET_ASSIGN)
    value = request.form.get("assignee_id", "")
    if value == "me":
        assignee: int | None = agent.id
    elif value == "":
        assignee = None
    else:
        assignee = _int_or_none(value)
        if assignee is None:
            raise ValidationFailed({"assignee_id": [Message("Unknown agent.")]})
    return _change(ticket_id, lambda u, t: ticket_service.update_ticket(u, t, assignee_id=assignee))


@blueprint.post("/<bigid:ticket_id>/priority")
@login_required
def set_priority(ticket_id: int) -> ResponseReturnValue:
    """Change the ticket's priority."""
    _require(_signed_in(), permissions.TICKET_EDIT)
    priority = request.form.get("priority", "")
    return _change(ticket_id, lambda u, t: ticket_service.update_ticket(u, t, priority=priority))


def _due_at(value: str) -> datetime | None:
    """A ``datetime-local`` value in the organisation's time zone, as an aware datetime."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed({"due_at": [Message("Give a date and a time.")]}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone())
    return moment


@blueprint.post("/<bigid:ticket_id>/due")
@login_required
def set_due(ticket_id: int) -> ResponseReturnValue:
    """Set the ticket's due date and time (in the organisation's time zone), or clear it."""
    _require(_signed_in(), permissions.TICKET_EDIT)
    value = "" if request.form.get("clear") else request.form.get("due_at", "")

    def change(unit: Any, ticket: Ticket) -> None:
        ticket_service.update_ticket(unit, ticket, due_at=_due_at(value))

    return _change(ticket_id, change)


@blueprint.post("/<bigid:ticket_id>/tags")
@login_required
def add_tags(ticket_id: int) -> ResponseReturnValue:
    """Add the comma-separated tags of ``tags`` to the ticket."""
    _require(_signed_in(), permissions.TICKET_EDIT)
    names = [n for n in request.form.get("tags", "").replace("、", ",").split(",") if n.strip()]
    if not names:
        names = [""]  # an empty box is a missing tag, said so next to the box

    return _change(ticket_id, lambda u, t: ticket_tags.add_ticket_tags(u, t, names))


@blueprint.post("/<bigid:ticket_id>/tags/remove")
@login_required
def remove_tag(ticket_id: int) -> ResponseReturnValue:
    """Take the tag ``tag`` off the ticket."""
    _require(_signed_in(), permissions.TICKET_EDIT)
    name = request.form.get("tag", "")
    return _change(ticket_id, lambda u, t: ticket_tags.remove_ticket_tag(u, t, name))


@blueprint.route("/<bigid:ticket_id>/move", methods=["GET", "POST"])
@login_required
def move(ticket_id: int) -> ResponseReturnValue:
    """Move the ticket to another department, after a confirmation that says whether the
    agent will still see it there."""
    agent = _signed_in()
    _require(agent, permissions.TICKET_EDIT)
    unit = request_unit()
    ticket = ticket_service.get_ticket(unit, ticket_id)
    target_id = _int_or_none(request.values.get("department_id"))
    target = db_session().get(Department, target_id) if target_id else None
    if target is None or not target.is_active or target.id == ticket.department_id:
        if request.method == "GET":
            return _back_to(ticket, "#move-form")  # nothing chosen yet: choose on the page
        return _render_detail(
            ticket,
            form_errors={"department_id": [gettext("Choose another active department.")]},
            status_code=422,
        )
    if request.method == "GET":
        return render_template(
            "tickets/move.html",
            ticket=ticket,
            target=target,
            stays_visible=unit.actor.can_see_department(target.id),
            assignee_stays=ticket.assignee is not None
            and target.id in ticket.assignee.department_ids,
            number=_numberer(),
        )
    try:
        ticket_service.update_ticket(unit, ticket, department_id=target.id)
    except ValidationFailed as error:
        db_session().rollback()
        return _render_detail(ticket, form_errors=error.errors, status_code=422)
    db_session().commit()
    if unit.actor.can_see_department(target.id):
        return _back_to(ticket)
    flash(
        gettext(
            "Ticket #%(number)s was moved to %(department)s; you are not in that department, "
            "so it is no longer in your list.",
            number=_numberer()(ticket),
            department=target.name,
        ),
        MOVED_CATEGORY,
    )
    return redirect(url_for("tickets.index"))
