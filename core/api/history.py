"""``/api/v1/contacts/<id>/history`` and ``/api/v1/accounts/<id>/history``: a customer's
history, the audit entries of the record and its parts (comments, attachments, activities).

Reading it needs the record's read scope and the ``history.view`` permission (403 otherwise);
an unknown record is 404.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate

from core.api import schemas
from core.api.audit import AuditEntrySchema
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint
from core.api.paging import page, parse_cursor
from core.errors import ValidationFailed
from core.models import AuditEntry
from core.services import audit_log
from core.services import comments as comment_service
from core.services.audit_log import AuditFilter, CustomerRecord
from core.services.base import Unit
from hostapi import scopes


class FieldChangeSchema(ma.Schema):
    """One field of an entry: its value before and after (null: none)."""

    field = fields.String()
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)


class HistoryEntrySchema(AuditEntrySchema):
    """One entry of a customer's history, with each field it names before and after."""

    changes = fields.Method("_changes", metadata={"description": "Each field, before and after."})

    def _changes(self, entry: AuditEntry) -> list[dict[str, Any]]:
        return [
            {"field": name, "before": before, "after": after}
            for name, before, after in audit_log.field_changes(entry)
        ]


HistoryPage = schemas.page_of(AuditEntrySchema, "HistoryEntryPage")


class HistoryArgsSchema(schemas.PageArgsSchema):
    """A page of the history, filtered by who acted and how."""

    agent_id = schemas.Id(load_default=None, metadata={"description": "Only this agent's changes."})
    action = fields.String(
        load_default=None,
        validate=validate.OneOf(audit_log.HISTORY_ACTIONS),
        metadata={"description": ", ".join(audit_log.HISTORY_ACTIONS)},
    )


def _history_routes(blp: Blueprint, kind: str, read_scope: str) -> None:
    """History routes under ``/{kind}s/<{kind}_id>``."""
    key = f"{kind}_id"

    def record_of(work: Unit, customer_id: int) -> CustomerRecord:
        """The customer whose history is read: 403 first for a missing permission, then 404."""
        record = CustomerRecord(kind, customer_id)
        audit_log.require_reader(work, record)
        comment_service.customer_of(work, kind, customer_id)
        return record

    @blp.route(f"/<bigid:{key}>/history", methods=["GET"])
    @scoped(read_scope)
    @blp.arguments(HistoryArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, HistoryPage)
    def list_history(limit: int, cursor: str | None, **given: Any) -> dict[str, Any]:
        """The record's history, newest first (needs the ``history.view`` permission)."""
        work = unit()
        record = record_of(work, given.pop(key))
        try:
            chosen = audit_log.clean_filter(work, record=record, **given)
        except ValidationFailed as failure:
            abort(422, errors={"query": failure.errors})
        rows = audit_log.list_entries(work, chosen, before=parse_cursor(cursor), limit=limit + 1)
        return page(rows, limit, audit_log.cursor_of)

    @blp.route(f"/<bigid:{key}>/history/<bigid:entry_id>", methods=["GET"])
    @scoped(read_scope)
    @blp.response(200, HistoryEntrySchema)
    def get_history_entry(entry_id: int, **path: int) -> AuditEntry:
        """One entry of the record's history, each field before and after (404: another's)."""
        work = unit()
        record = record_of(work, path[key])
        return audit_log.get_entry(work, entry_id, AuditFilter(record=record))


contact_history = api_blueprint(
    "api_contact_history", __name__, "/contacts", "The history of contacts' data."
)
account_history = api_blueprint(
    "api_account_history", __name__, "/accounts", "The history of accounts' data."
)
_history_routes(contact_history, "contact", scopes.CONTACTS_READ)
_history_routes(account_history, "account", scopes.ACCOUNTS_READ)
