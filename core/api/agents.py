"""``/api/v1/agents``: the desk's agents; adding and changing them is setup.

Reading takes ``desk.agents.read``; adding, changing, (de)activating an agent and issuing a
set-password link take the host-only ``desk.settings.write`` (no extension can hold it) and
the ``agent.manage`` permission. A new agent has no password: the answer carries a one-time
set-password link, mailed to them when SMTP is configured (and then absent from the answer).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, url_for
from marshmallow import fields, validate

from core.api import schemas
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.api.schemas import Id, StrictSchema, Text
from core.models import Agent, LinkPurpose
from core.models.org import AgentStatus
from core.services import agent_links
from core.services import org as org_service
from core.services.base import Unit
from core.tokens import SETTINGS_WRITE_SCOPE
from hostapi import scopes

blp = api_blueprint(
    "api_agents",
    __name__,
    "/agents",
    "Agents: reading them, and (setup, `desk.settings.write`) adding and changing them.",
)

ACTIVITY_CHOICES = ("active", "inactive", "all")


class AgentSchema(ma.Schema):
    """An agent."""

    id = fields.Integer()
    name = fields.String()
    email = fields.String()
    locale = fields.String(allow_none=True, metadata={"description": "null: the desk's default"})
    status = fields.String(metadata={"description": "available, busy, away or offline"})
    is_active = fields.Boolean()
    has_password = fields.Boolean(
        metadata={"description": "False until the agent set a password from their link."}
    )
    profile = fields.Nested(schemas.ProfileSummarySchema)
    department_ids = fields.List(fields.Integer())
    created_at = fields.AwareDateTime()


class SetPasswordLinkSchema(ma.Schema):
    """A set-password link just issued."""

    url = fields.String(
        allow_none=True,
        metadata={
            "description": "The one-time link, in this answer only; null when it was mailed "
            "to the agent."
        },
    )
    expires_at = fields.AwareDateTime()
    mailed = fields.Boolean()
    mail_error = fields.String(
        allow_none=True, metadata={"description": "Why mailing failed, if it was tried."}
    )


class CreatedAgentSchema(AgentSchema):
    """An agent just added, with their set-password link."""

    set_password_link = fields.Nested(SetPasswordLinkSchema)


class AgentListArgsSchema(schemas.PageArgsSchema):
    """Filters of the agents' list (by name)."""

    search = Text(
        load_default=None,
        max_length=200,
        metadata={"description": "Part of the name or email."},
    )
    activity = fields.String(
        load_default="active",
        validate=validate.OneOf(ACTIVITY_CHOICES),
        metadata={"description": "active (default), inactive or all"},
    )


class AgentCreateSchema(StrictSchema):
    """A new agent (no password: they set it from their link)."""

    name = Text(required=True, min_length=1, max_length=200)
    email = Text(required=True, min_length=1, max_length=320)
    locale = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(org_service.LOCALES)
    )
    profile_id = Id(required=True)
    department_ids = fields.List(Id(), load_default=list)


class AgentUpdateSchema(StrictSchema):
    """Changes to an agent: only the fields given are changed."""

    name = Text(min_length=1, max_length=200)
    email = Text(min_length=1, max_length=320)
    locale = fields.String(allow_none=True, validate=validate.OneOf(org_service.LOCALES))
    profile_id = Id()
    department_ids = fields.List(Id())
    status = fields.String(validate=validate.OneOf([s.value for s in AgentStatus]))


AgentPage = schemas.page_of(AgentSchema, "AgentPage")


def agent_view(agent: Agent) -> dict[str, Any]:
    """An agent as the API answers it."""
    return {
        "id": agent.id,
        "name": agent.name,
        "email": agent.email,
        "locale": agent.locale,
        "status": agent.status,
        "is_active": agent.is_active,
        "has_password": bool(agent.password_hash),
        "profile": agent.profile,
        "department_ids": sorted(agent.department_ids),
        "created_at": agent.created_at,
    }


@blp.route("", methods=["GET"])
@scoped(scopes.AGENTS_READ)
@blp.arguments(AgentListArgsSchema, location="query", as_kwargs=True)
@blp.response(200, AgentPage)
def list_agents(
    limit: int, cursor: str | None, search: str | None, activity: str
) -> dict[str, Any]:
    """List agents by name (active ones unless ``activity`` says otherwise)."""
    active = {"active": True, "inactive": False, "all": None}[activity]
    rows = org_service.page_agents(
        unit(),
        limit=limit + 1,
        after=org_service.AgentCursor.parse(cursor, "cursor"),
        search=search,
        active=active,
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = org_service.AgentCursor(rows[-1].name, rows[-1].id).encode()
    return {"items": [agent_view(agent) for agent in rows], "next_cursor": next_cursor}


@blp.route("/<id:agent_id>", methods=["GET"])
@scoped(scopes.AGENTS_READ)
@blp.response(200, AgentSchema)
def get_agent(agent_id: int) -> dict[str, Any]:
    """Read one agent."""
    return agent_view(org_service.get_agent(unit(), agent_id))


@blp.route("", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@blp.arguments(AgentCreateSchema)
@blp.response(201, CreatedAgentSchema)
def create_agent(data: dict[str, Any]) -> dict[str, Any]:
    """Add an agent (``agent.manage``); the answer carries their set-password link."""
    work = unit()
    agent = org_service.create_agent(work, **data)
    link = _issue(work, agent, LinkPurpose.INVITATION)
    return agent_view(agent) | {"set_password_link": link}


@blp.route("/<id:agent_id>", methods=["PATCH"])
@scoped(SETTINGS_WRITE_SCOPE)
@blp.arguments(AgentUpdateSchema)
@blp.response(200, AgentSchema)
def update_agent(changes: dict[str, Any], agent_id: int) -> dict[str, Any]:
    """Change the fields given (``agent.manage``; an agent may set their own ``status``)."""
    work = unit()
    agent = org_service.get_agent(work, agent_id)
    status = changes.pop("status", None)
    if changes or status is None:
        # Anything but an agent's own availability needs agent.manage, an empty change too.
        org_service.update_agent(work, agent, **changes)
    if status is not None:
        org_service.set_status(work, agent, status)
    commit()
    return agent_view(agent)


@blp.route("/<id:agent_id>/deactivate", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@blp.response(200, AgentSchema)
def deactivate_agent(agent_id: int) -> dict[str, Any]:
    """Deactivate an agent: their sessions end, their tokens and links stop working; their
    tickets stay assigned to them until reassigned."""
    work = unit()
    agent = org_service.update_agent(work, org_service.get_agent(work, agent_id), is_active=False)
    commit()
    return agent_view(agent)


@blp.route("/<id:agent_id>/reactivate", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@blp.response(200, AgentSchema)
def reactivate_agent(agent_id: int) -> dict[str, Any]:
    """Reactivate an agent (their old tokens stay revoked)."""
    work = unit()
    agent = org_service.update_agent(work, org_service.get_agent(work, agent_id), is_active=True)
    commit()
    return agent_view(agent)


@blp.route("/<id:agent_id>/set-password-link", methods=["POST"])
@scoped(SETTINGS_WRITE_SCOPE)
@blp.response(201, SetPasswordLinkSchema)
def issue_set_password_link(agent_id: int) -> dict[str, Any]:
    """Issue a new set-password link for an agent (their older links stop working)."""
    work = unit()
    agent = org_service.get_agent(work, agent_id)
    return _issue(
        work, agent, LinkPurpose.INVITATION if not agent.password_hash else LinkPurpose.RESET
    )


def _issue(work: Unit, agent: Agent, purpose: str) -> dict[str, Any]:
    """Issue a link, commit, then mail it (or hand it back when it cannot be mailed)."""
    issued = agent_links.issue_link(work, agent, purpose)
    commit()
    url = url_for("password.set_password", token=issued.token, _external=True)
    smtp = current_app.extensions["deskhost.host"].settings.smtp
    delivery = agent_links.deliver(work.session, smtp, agent, issued, url)
    return {
        "url": delivery.url,
        "expires_at": delivery.expires_at,
        "mailed": delivery.mailed,
        "mail_error": delivery.error,
    }
