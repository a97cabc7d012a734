"""Setup → Agents: list, add, edit, deactivate and reactivate agents (``agent.manage``), and
every agent's own availability in the header.

A new agent has no password: the page after adding them shows their one-time set-password
link once, or says it was mailed (:mod:`core.services.agent_links`). Changing an agent's
profile goes through a confirmation step that lists the permissions they gain and lose.
A deactivated agent's open tickets stay theirs, listed on their page for reassignment.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, lazy_gettext
from sqlalchemy import select
from werkzeug.wrappers import Response

from core import permissions
from core.errors import ValidationFailed
from core.models import Agent, Department, LinkPurpose, PermissionProfile
from core.models.org import AgentStatus
from core.models.types import INT32_MAX
from core.services import agent_links
from core.services import org as org_service
from core.services.base import Unit, parse_whole_number
from core.services.tickets import display_number
from core.web.database import db_session
from core.web.security import current_agent, login_required, safe_next_url
from core.web.ui.units import committed_or_errors, request_unit

blueprint = Blueprint("agents_admin", __name__)

#: Agents on one page of the list (by name).
PAGE_SIZE = 25

#: Which agents the list shows, as its filter offers them.
ACTIVITY_FILTERS: dict[str, Any] = {
    "active": lazy_gettext("Active agents"),
    "inactive": lazy_gettext("Inactive agents"),
    "all": lazy_gettext("All agents"),
}
_ACTIVE_OF = {"active": True, "inactive": False, "all": None}

#: The availability statuses, as agents read them.
STATUS_LABELS: dict[str, Any] = {
    AgentStatus.AVAILABLE.value: lazy_gettext("Available"),
    AgentStatus.BUSY.value: lazy_gettext("Busy"),
    AgentStatus.AWAY.value: lazy_gettext("Away"),
    AgentStatus.OFFLINE.value: lazy_gettext("Offline"),
}


def status_label(status: str) -> str:
    """An availability status as the reader reads it."""
    label = STATUS_LABELS.get(status)
    return str(label) if label is not None else status


@blueprint.app_context_processor
def _availability_context() -> dict[str, Any]:
    # The header's availability menu is on every page.
    return {"agent_statuses": STATUS_LABELS, "agent_status_label": status_label}


def _manager_unit() -> Unit:
    """The request's unit, refused (403) unless the agent manages agents."""
    unit = request_unit()
    unit.actor.require(permissions.AGENT_MANAGE)
    return unit


# -------------------------------------------------------------------------------------- list


@blueprint.get("/admin/agents")
@login_required
def index() -> ResponseReturnValue:
    """The agents by name: active, inactive or all, searched by name or email."""
    unit = _manager_unit()
    activity = request.args.get("activity", "active")
    if activity not in ACTIVITY_FILTERS:
        activity = "active"
    search = request.args.get("q", "").strip()[:200]
    try:
        rows = org_service.page_agents(
            unit,
            limit=PAGE_SIZE + 1,
            after=request.args.get("after") or None,
            search=search,
            active=_ACTIVE_OF[activity],
        )
    except ValidationFailed:
        # A cursor edited by hand: start again from the first page.
        return redirect(url_for("agents_admin.index", activity=activity, q=search or None))
    after = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        after = org_service.AgentCursor(rows[-1].name, rows[-1].id).encode()
    return render_template(
        "setup/agents.html",
        agents=rows,
        after=after,
        activity=activity,
        activity_filters=ACTIVITY_FILTERS,
        search=search,
    )


# --------------------------------------------------------------------------------------- add


@blueprint.route("/admin/agents/new", methods=["GET", "POST"])
@login_required
def add() -> ResponseReturnValue:
    """The form to add an agent; on success, the page with their set-password link."""
    unit = _manager_unit()
    if request.method == "GET":
        return _form_page(unit, None, _blank_form(unit), {})
    form = _read_form()
    try:
        agent = org_service.create_agent(
            unit,
            email=form["email"],
            name=form["name"],
            profile_id=form["profile_id"],
            department_ids=form["department_ids"],
            locale=form["locale"],
        )
        issued = agent_links.issue_link(unit, agent, LinkPurpose.INVITATION)
    except ValidationFailed as error:
        db_session().rollback()
        return _form_page(unit, None, form, error.errors)
    db_session().commit()
    return _link_page(unit, agent, issued, created=True)


def _blank_form(unit: Unit) -> dict[str, Any]:
    default_profile = unit.session.scalar(
        select(PermissionProfile.id).where(PermissionProfile.name == "Agent")
    )
    return {
        "name": "",
        "email": "",
        "locale": None,
        "profile_id": default_profile,
        "department_ids": [],
    }


def _read_form() -> dict[str, Any]:
    """The agent form as the services take it (ids that are not numbers are left out: the
    service then names the field)."""
    locale = request.form.get("locale") or None
    department_ids = [
        number
        for value in request.form.getlist("department_ids")
        if (number := parse_whole_number(value, INT32_MAX)) is not None
    ]
    return {
        "name": request.form.get("name", ""),
        "email": request.form.get("email", ""),
        "locale": locale,
        "profile_id": parse_whole_number(request.form.get("profile_id"), INT32_MAX),
        "department_ids": department_ids,
    }


def _form_page(
    unit: Unit, agent: Agent | None, form: dict[str, Any], errors: dict[str, list[str]]
) -> ResponseReturnValue:
    profiles = list(
        unit.session.scalars(select(PermissionProfile).order_by(PermissionProfile.name))
    )
    departments = org_service.list_departments(unit)
    own = set(agent.department_ids) if agent is not None else set()
    # An inactive department the agent still belongs to stays on the form (unticking it works).
    departments += [
        d
        for d in unit.session.scalars(
            select(Department).where(Department.id.in_(own), Department.is_active.is_(False))
        )
    ]
    context: dict[str, Any] = {
        "agent": agent,
        "form": form,
        "errors": errors,
        "profiles": profiles,
        "departments": departments,
        "locales": org_service.LOCALES,
    }
    if agent is not None:
        context |= _agent_context(unit, agent)
    template = "setup/agents_edit.html" if agent is not None else "setup/agents_new.html"
    return render_template(template, **context), 422 if errors else 200


def _agent_context(unit: Unit, agent: Agent) -> dict[str, Any]:
    organisation = org_service.get_organisation(unit.session)
    return {
        "ticket_number": lambda ticket: display_number(organisation, ticket.number),
        "open_tickets": org_service.assigned_open_tickets(unit, agent),
        "statuses": STATUS_LABELS,
        "has_password": bool(agent.password_hash),
    }


# -------------------------------------------------------------------------------------- edit


@blueprint.route("/admin/agents/<id:agent_id>", methods=["GET", "POST"])
@login_required
def edit(agent_id: int) -> ResponseReturnValue:
    """An agent's page: their details, availability, activity, link and open tickets.

    A profile change is confirmed first: the page lists what the agent gains and loses, and
    the same form sent again with ``confirm`` saves it.
    """
    unit = request_unit()
    agent = org_service.get_agent(unit, agent_id)
    unit.actor.require(permissions.AGENT_MANAGE)
    if request.method == "GET":
        return _form_page(unit, agent, _form_of(agent), {})
    form = _read_form()
    new_profile = (
        unit.session.get(PermissionProfile, form["profile_id"]) if form["profile_id"] else None
    )
    if (
        new_profile is not None
        and new_profile.id != agent.profile_id
        and request.form.get("confirm") != "1"
    ):
        gained, lost = org_service.permission_changes(
            unit.session, unit.host, agent.profile, new_profile
        )
        return render_template(
            "setup/agents_confirm.html",
            agent=agent,
            form=form,
            new_profile=new_profile,
            gained=[_permission_label(name) for name in gained],
            lost=[_permission_label(name) for name in lost],
        )
    errors = committed_or_errors(
        lambda: org_service.update_agent(
            unit,
            agent,
            name=form["name"],
            email=form["email"],
            locale=form["locale"],
            profile_id=form["profile_id"],
            department_ids=form["department_ids"],
        )
    )
    if errors:
        return _form_page(unit, agent, form, errors)
    return redirect(url_for("agents_admin.edit", agent_id=agent.id, saved=1))


def _form_of(agent: Agent) -> dict[str, Any]:
    return {
        "name": agent.name,
        "email": agent.email,
        "locale": agent.locale,
        "profile_id": agent.profile_id,
        "department_ids": sorted(agent.department_ids),
    }


def _permission_label(name: str) -> tuple[str, str]:
    """A permission's name and its label in the reader's language (extensions': the name)."""
    info = _CATALOGUE.get(name)
    if info is None:
        return name, name
    return name, info.label_ja if str(get_locale()) == "ja" else info.label


_CATALOGUE = {info.name: info for info in permissions.CATALOGUE}


@blueprint.post("/admin/agents/<id:agent_id>/deactivate")
@login_required
def deactivate(agent_id: int) -> ResponseReturnValue:
    """Deactivate an agent: their sessions end and their tokens and links stop working."""
    return _set_active(agent_id, False)


@blueprint.post("/admin/agents/<id:agent_id>/reactivate")
@login_required
def reactivate(agent_id: int) -> ResponseReturnValue:
    """Let a deactivated agent sign in again (with a new link if they need a password)."""
    return _set_active(agent_id, True)


def _set_active(agent_id: int, active: bool) -> ResponseReturnValue:
    unit = request_unit()
    agent = org_service.get_agent(unit, agent_id)
    errors = committed_or_errors(lambda: org_service.update_agent(unit, agent, is_active=active))
    if errors:
        return _form_page(unit, agent, _form_of(agent), errors)
    return redirect(url_for("agents_admin.edit", agent_id=agent.id))


@blueprint.post("/admin/agents/<id:agent_id>/status")
@login_required
def set_status(agent_id: int) -> ResponseReturnValue:
    """An admin sets an agent's availability."""
    unit = request_unit()
    agent = org_service.get_agent(unit, agent_id)
    unit.actor.require(permissions.AGENT_MANAGE)
    errors = committed_or_errors(
        lambda: org_service.set_status(unit, agent, request.form.get("status", ""))
    )
    if errors:
        return _form_page(unit, agent, _form_of(agent), errors)
    return redirect(url_for("agents_admin.edit", agent_id=agent.id))


@blueprint.post("/admin/agents/<id:agent_id>/link")
@login_required
def new_link(agent_id: int) -> ResponseReturnValue:
    """Issue a new set-password link for an agent (older links stop working)."""
    unit = request_unit()
    agent = org_service.get_agent(unit, agent_id)
    unit.actor.require(permissions.AGENT_MANAGE)
    purpose = LinkPurpose.INVITATION if not agent.password_hash else LinkPurpose.RESET
    try:
        issued = agent_links.issue_link(unit, agent, purpose)
    except ValidationFailed as error:
        db_session().rollback()
        return _form_page(unit, agent, _form_of(agent), error.errors)
    db_session().commit()
    return _link_page(unit, agent, issued, created=False)


def _link_page(
    unit: Unit, agent: Agent, issued: agent_links.IssuedLink, *, created: bool
) -> ResponseReturnValue:
    """The page that shows a new link once, or says it was mailed (or why mailing failed)."""
    url = url_for("password.set_password", token=issued.token, _external=True)
    smtp = current_app.extensions["deskhost.host"].settings.smtp
    delivery = agent_links.deliver(unit.session, smtp, agent, issued, url)
    return render_template(
        "setup/agents_link.html", agent=agent, delivery=delivery, created=created
    )


# ----------------------------------------------------------------------- own availability


@blueprint.post("/settings/status")
@login_required
def my_status() -> Response:
    """The signed-in agent sets their own availability (the header's menu)."""
    unit = request_unit()
    agent = current_agent()
    assert agent is not None  # login_required
    status = request.form.get("status", "")
    if status in STATUS_LABELS:
        org_service.set_status(unit, agent, status)
        db_session().commit()
    return redirect(safe_next_url(request.form.get("next"), url_for("tickets.index")))
