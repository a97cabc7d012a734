"""``/api/v1/audit``: the organisation's audit log (``desk.settings.read`` and ``audit.view``)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import abort
from marshmallow import fields, validate

from core.api import schemas
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint
from core.api.paging import page, parse_cursor
from core.errors import ValidationFailed
from core.models import Agent, AuditEntry
from core.models.types import id_maximum
from core.services import audit_log
from hostapi import scopes

blp = api_blueprint(
    "api_audit", __name__, "/audit", "The audit log: every audited change, organisation-wide."
)


class AuditEntrySchema(ma.Schema):
    """One audited change of one record."""

    id = fields.Integer()
    at = fields.AwareDateTime()
    actor_agent_id = fields.Integer(
        allow_none=True, metadata={"description": "The agent who acted; null for the system."}
    )
    actor_label = fields.String(
        metadata={"description": "Who acted when not an agent: system, import, extension:<id>…"}
    )
    installation_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The extension installation that acted, if one did."},
    )
    ip_address = fields.String(allow_none=True)
    action = fields.String(metadata={"description": ", ".join(audit_log.ACTIONS)})
    entity_type = fields.String()
    entity_id = fields.String()
    sub_action = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)


AuditPage = schemas.page_of(AuditEntrySchema, "AuditEntryPage")


class AuditArgsSchema(schemas.PageArgsSchema):
    """A page of the log, filtered by who acted, on what, how and when."""

    agent_id = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=id_maximum(Agent)),
        metadata={"description": "Only changes this agent made."},
    )
    entity_type = schemas.Text(
        load_default=None, max_length=60, metadata={"description": "ticket, contact, product…"}
    )
    action = fields.String(load_default=None, validate=validate.OneOf(audit_log.ACTIONS))
    since = fields.Date(
        load_default=None,
        metadata={"description": "First day of the period (organisation time zone)."},
    )
    until = fields.Date(
        load_default=None,
        metadata={"description": "Last day of the period (organisation time zone)."},
    )


@blp.route("", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@blp.arguments(AuditArgsSchema, location="query", as_kwargs=True)
@blp.response(200, AuditPage)
def list_audit_entries(limit: int, cursor: str | None, **filters: Any) -> dict[str, Any]:
    """Audit entries, newest first (needs the ``audit.view`` permission)."""
    work = unit()
    try:
        given = audit_log.clean_filter(work, **filters)
    except ValidationFailed as failure:
        abort(422, errors={"query": failure.errors})
    rows: list[AuditEntry] = audit_log.list_entries(
        work, given, before=parse_cursor(cursor), limit=limit + 1
    )
    return page(rows, limit, audit_log.cursor_of)
