"""Setup › Audit log: who changed what, when and from where, organisation-wide (``audit.view``).

The list is filtered by agent, record type, action and a period of days (the organisation's
time zone), paged newest first, and downloads as CSV with the same filters.
"""

from __future__ import annotations

import io
import json
import tempfile
from typing import Any

from flask import Blueprint, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime, gettext, lazy_gettext
from sqlalchemy import select

from core.csv_export import csv_writer
from core.errors import Forbidden, ValidationFailed
from core.models import Account, Agent, AuditEntry, Contact, Product, Ticket
from core.permissions import AUDIT_VIEW, PRODUCT_MANAGE
from core.services import audit_log
from core.services.base import Cursor, Unit
from core.web.security import current_agent, login_required
from core.web.ui import labels
from core.web.ui.paging import PAGE_SIZE
from core.web.ui.units import request_unit

blueprint = Blueprint("audit", __name__, url_prefix="/setup/audit")

#: Bytes of an export kept in memory before its temporary file moves to disk.
SPOOL_BYTES = 8 * 1024 * 1024

#: Record types as the log shows them (others are shown by their code).
ENTITY_TYPES: dict[str, Any] = {
    "ticket": lazy_gettext("Ticket"),
    "thread": lazy_gettext("Conversation"),
    "contact": lazy_gettext("Contact"),
    "account": lazy_gettext("Account"),
    "product": lazy_gettext("Product"),
    "agent": lazy_gettext("Agent"),
    "department": lazy_gettext("Department"),
    "permission_profile": lazy_gettext("Permission profile"),
    "organisation": lazy_gettext("Organisation"),
    "custom_field": lazy_gettext("Custom field"),
    "custom_view": lazy_gettext("Custom view"),
    "customer_comment": lazy_gettext("Comment"),
    "customer_import": lazy_gettext("Import"),
    "attachment": lazy_gettext("Attachment"),
    "activity": lazy_gettext("Activity"),
    "access_token": lazy_gettext("Access token"),
    "installation": lazy_gettext("Extension"),
    "spam_rule": lazy_gettext("Spam rule"),
    "spam_message": lazy_gettext("Spam message"),
    "contact_list": lazy_gettext("Contact list"),
    "account_list": lazy_gettext("Account list"),
}

ACTION_LABELS: dict[str, Any] = {
    "add": lazy_gettext("Added"),
    "update": lazy_gettext("Changed"),
    "delete": lazy_gettext("Deleted"),
    "export": lazy_gettext("Exported"),
}

#: Record types with a page, the page's endpoint and the id argument it takes.
_PAGES: dict[str, tuple[str, str]] = {
    "ticket": ("tickets.detail", "ticket_id"),
    "contact": ("customers.contact", "contact_id"),
    "account": ("customers.account", "account_id"),
}


def _require_viewer() -> None:
    agent = current_agent()
    if agent is None or not agent.has_permission(AUDIT_VIEW):
        raise Forbidden(AUDIT_VIEW)


def _filter_args() -> dict[str, str]:
    return {
        name: request.args.get(name, "").strip()
        for name in ("agent_id", "entity_type", "action", "since", "until")
    }


def _linkable(unit: Unit, entries: list[AuditEntry]) -> set[tuple[str, str]]:
    """The ``(entity_type, entity_id)`` of ``entries`` whose record exists and the viewer may
    open (a deleted record, or a ticket of another department, gets no link)."""
    wanted: dict[str, set[int]] = {}
    for entry in entries:
        if entry.entity_type in (*_PAGES, "product") and entry.entity_id.isdigit():
            wanted.setdefault(entry.entity_type, set()).add(int(entry.entity_id))
    found: set[tuple[str, str]] = set()
    models: dict[str, Any] = {
        "ticket": Ticket,
        "contact": Contact,
        "account": Account,
        "product": Product,
    }
    agent = unit.actor.agent
    for entity_type, ids in wanted.items():
        model = models[entity_type]
        query = select(model.id).where(model.id.in_(ids))
        if model is Ticket:
            visible = unit.actor.visible_department_ids()
            if visible is not None:
                query = query.where(Ticket.department_id.in_(visible))
        if model is Product and not (agent is not None and agent.has_permission(PRODUCT_MANAGE)):
            continue
        found |= {(entity_type, str(record_id)) for record_id in unit.session.scalars(query)}
    return found


def record_url(entry: AuditEntry, linkable: set[tuple[str, str]]) -> str | None:
    """The page of the entry's record, when it has one the viewer may open."""
    if (entry.entity_type, entry.entity_id) not in linkable:
        return None
    if entry.entity_type == "product":
        return url_for("products_admin.edit", product_id=int(entry.entity_id))
    endpoint, argument = _PAGES[entry.entity_type]
    return url_for(endpoint, **{argument: int(entry.entity_id)})


def who_acted(
    entry: AuditEntry, agents: dict[int, str], installations: dict[int, str]
) -> tuple[str, str]:
    """Who acted, and through which extension installation (empty when none)."""
    if entry.actor_agent_id is not None:
        who = agents.get(entry.actor_agent_id, gettext("Agent %(id)s", id=entry.actor_agent_id))
    elif entry.actor_label in ("", "system"):
        who = gettext("System")
    else:
        who = entry.actor_label
    via = ""
    if entry.installation_id is not None:
        via = installations.get(
            entry.installation_id, gettext("Installation %(id)s", id=entry.installation_id)
        )
    return who, via


@blueprint.get("")
@login_required
def index() -> ResponseReturnValue:
    """The audit log, newest first, filtered."""
    _require_viewer()
    unit = request_unit()
    args = _filter_args()
    errors: dict[str, list[str]] = {}
    try:
        given = audit_log.clean_filter(unit, **args)
    except ValidationFailed as failure:
        errors = failure.errors
        given = audit_log.AuditFilter()
    try:
        cursor = Cursor.parse(request.args.get("before") or None)
    except ValidationFailed:
        cursor = None
    rows = audit_log.list_entries(unit, given, before=cursor, limit=PAGE_SIZE + 1)
    older = audit_log.cursor_of(rows[PAGE_SIZE - 1]).encode() if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    linkable = _linkable(unit, rows)
    agents = audit_log.actor_names(unit, rows)
    installations = audit_log.installation_names(unit, rows)
    entries = [
        {
            "entry": entry,
            "who": who_acted(entry, agents, installations),
            "url": record_url(entry, linkable),
            "changes": audit_log.field_changes(entry),
        }
        for entry in rows
    ]
    agent_choices = unit.session.execute(select(Agent.id, Agent.name).order_by(Agent.name)).all()
    type_choices = [
        (code, labels.label(ENTITY_TYPES, code)) for code in audit_log.entity_types(unit)
    ]
    return (
        render_template(
            "setup/audit.html",
            entries=entries,
            older=older,
            args=args,
            form_errors=errors,
            agent_choices=agent_choices,
            type_choices=type_choices,
            action_choices=[(code, ACTION_LABELS[code]) for code in audit_log.ACTIONS],
            entity_label=lambda code: labels.label(ENTITY_TYPES, code),
            action_label=lambda code: labels.label(ACTION_LABELS, code),
            filters={name: value for name, value in args.items() if value},
        ),
        422 if errors else 200,
    )


@blueprint.get("/export.csv")
@login_required
def export() -> ResponseReturnValue:
    """The filtered entries as a CSV file (UTF-8 with a byte order mark, for Excel).

    The file is written to a spooled temporary file in batches, then sent: the request's
    session is done before the download starts, however slowly the client reads it.
    """
    _require_viewer()
    unit = request_unit()
    given = audit_log.clean_filter(unit, **_filter_args())
    stream = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - handed out
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
    text.write("\ufeff")
    writer = csv_writer(text, lineterminator="\r\n")
    writer.writerow(
        [
            gettext("When"),
            gettext("Agent"),
            gettext("Extension"),
            gettext("IP address"),
            gettext("Record type"),
            gettext("Record"),
            gettext("Action"),
            gettext("Detail"),
            gettext("Field"),
            gettext("Before"),
            gettext("After"),
        ]
    )
    batch: list[AuditEntry] = []
    for entry in audit_log.iter_entries(unit, given):
        batch.append(entry)
        if len(batch) == audit_log.EXPORT_BATCH:
            _write_batch(unit, writer, batch)
            batch = []
    _write_batch(unit, writer, batch)
    text.flush()
    text.detach()
    stream.seek(0)
    return send_file(stream, mimetype="text/csv", as_attachment=True, download_name="audit-log.csv")


def _write_batch(unit: Unit, writer: Any, batch: list[AuditEntry]) -> None:
    """One CSV row per changed field of each entry (one row for an entry without fields)."""
    agents = audit_log.actor_names(unit, batch)
    installations = audit_log.installation_names(unit, batch)
    for entry in batch:
        who, via = who_acted(entry, agents, installations)
        head = [
            format_datetime(entry.at, "yyyy-MM-dd HH:mm:ss"),
            who,
            via,
            entry.ip_address or "",
            labels.label(ENTITY_TYPES, entry.entity_type),
            entry.entity_id,
            labels.label(ACTION_LABELS, entry.action),
            entry.sub_action,
        ]
        changes = audit_log.field_changes(entry) or [("", None, None)]
        for field, before, after in changes:
            writer.writerow([*head, field, _cell(before), _cell(after)])


def _cell(value: Any) -> Any:
    """A before/after value as a cell: text and numbers as they are, the rest as JSON."""
    if value is None or isinstance(value, str | int | float):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
