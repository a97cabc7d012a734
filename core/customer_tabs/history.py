"""The History tab: the changes to a contact's or an account's data (its audit entries), who
made them, when and from which address, newest first; an entry opens with each field's values
before and after. Only agents holding ``history.view`` see it."""

from __future__ import annotations

from typing import Any

from flask import render_template

from core.customer_tabs.base import customer_filter, customer_tab, read_cursor, tab_link
from core.errors import NotFound, ValidationFailed
from core.models import AuditEntry, CustomerEntity
from core.models.types import id_maximum
from core.permissions import HISTORY_VIEW
from core.services import audit_log
from core.services import fields as field_service
from core.services.audit_log import AuditFilter, CustomerRecord
from core.services.base import CUSTOMER_PARTS, Cursor, Unit
from core.web.ui import labels
from core.web.ui.audit import ACTION_LABELS, ENTITY_TYPES, who_acted
from core.web.ui.fields_admin import builtin_label
from core.web.ui.units import request_unit
from hostapi import Context, PanelTarget

#: How many entries a page of the History tab lists.
HISTORY_TAB_LIMIT = 20

#: How many changed fields an entry's summary names before it stops with "…".
SUMMARY_FIELDS = 5


def customer_record(target: PanelTarget) -> CustomerRecord:
    """The contact or account a tab shows the history of."""
    customer_filter(target)  # refuses a target that is not a customer
    return CustomerRecord(target.kind, target.id)


def field_labels(unit: Unit) -> dict[str, dict[str, str]]:
    """How the fields of a contact's and an account's entries are named: as their forms name
    them (an administrator's label, else the default in the agent's language), by record kind
    and field key. Other fields (a comment's, an activity's) keep their keys."""
    return {
        entity: {
            placed.key: builtin_label(placed)
            for placed in field_service.builtin_layout(unit.session, entity)
        }
        for entity in (CustomerEntity.CONTACT, CustomerEntity.ACCOUNT)
    }


def summarise(entry: AuditEntry, names_of: dict[str, dict[str, str]]) -> str:
    """One line saying what the entry changed: the part of the record (a comment, an
    attachment, an activity), then its sub-action or, for a change, the fields it touched
    (named as :func:`field_labels` gives them)."""
    pieces = []
    if entry.entity_type in CUSTOMER_PARTS:
        pieces.append(f"{labels.label(ENTITY_TYPES, entry.entity_type)} #{entry.entity_id}")
    if entry.sub_action:
        pieces.append(entry.sub_action)
    elif entry.action == "update":
        named = names_of.get(entry.entity_type, {})
        names = [named.get(name, name) for name, _, _ in audit_log.field_changes(entry)]
        shown = ", ".join(names[:SUMMARY_FIELDS])
        pieces.append(shown + (", …" if len(names) > SUMMARY_FIELDS else ""))
    return " · ".join(piece for piece in pieces if piece)


def _opened(unit: Unit, record: CustomerRecord, value: str) -> AuditEntry | None:
    """The entry ``?history_entry=`` opens, if it is one of the record's."""
    if not (value.isascii() and value.isdigit() and 0 < int(value) <= id_maximum(AuditEntry)):
        return None
    try:
        return audit_log.get_entry(unit, int(value), AuditFilter(record=record))
    except NotFound:
        return None


def render_customer_history(context: Context, target: PanelTarget) -> str:
    """The record's history, newest first (the contact and account History tab), filtered by
    agent (``?history_agent=``) and action (``?history_action=``), paged by keyset
    (``?history_before=``), with one entry opened (``?history_entry=``). An argument it cannot
    read (a hand-edited URL) is dropped."""
    args = context.query_args
    unit = request_unit()
    record = customer_record(target)
    action = args.get("history_action", "")
    action = action if action in audit_log.HISTORY_ACTIONS else ""
    agent = args.get("history_agent", "")
    try:
        given = audit_log.clean_filter(unit, record=record, agent_id=agent, action=action)
    except ValidationFailed:
        agent = ""
        given = audit_log.clean_filter(unit, record=record, action=action)
    before = read_cursor(args, "history_before", Cursor.parse)
    found = audit_log.list_entries(unit, given, before=before, limit=HISTORY_TAB_LIMIT + 1)
    rows = found[:HISTORY_TAB_LIMIT]
    older = audit_log.cursor_of(rows[-1]).encode() if len(found) > len(rows) else None
    opened = _opened(unit, record, args.get("history_entry", ""))
    shown = rows + ([opened] if opened is not None and opened not in rows else [])
    agents = audit_log.actor_names(unit, shown)
    installations = audit_log.installation_names(unit, shown)
    page = before.encode() if before else None
    names_of = field_labels(unit)

    def link(**changes: str | None) -> str:
        """The page's query with the tab's arguments changed (``None`` drops one)."""
        mine = {"history_agent": agent, "history_action": action, "history_before": page}
        return tab_link(args, "history_", **{**mine, **changes})

    def entry_view(entry: AuditEntry) -> dict[str, Any]:
        return {
            "entry": entry,
            "who": who_acted(entry, agents, installations),
            "action": labels.label(ACTION_LABELS, entry.action),
            "summary": summarise(entry, names_of),
            "open": link(history_entry=str(entry.id)),
        }

    return render_template(
        "builtin/customer_history.html",
        target=target,
        entries=[entry_view(entry) for entry in rows],
        opened=entry_view(opened) if opened is not None else None,
        changes=audit_log.field_changes(opened) if opened is not None else [],
        field_names=names_of.get(opened.entity_type, {}) if opened is not None else {},
        close=link(),
        agent=agent,
        action=action,
        agent_choices=audit_log.actors(unit, AuditFilter(record=record)),
        action_choices=[(code, ACTION_LABELS[code]) for code in audit_log.HISTORY_ACTIONS],
        kept={name: value for name, value in args.items() if not name.startswith("history_")},
        older=link(history_before=older) if older else None,
        newest=link(history_before=None) if before else None,
    )


def count_customer_history(context: Context, target: PanelTarget) -> int:
    """How many entries the record's history holds."""
    return audit_log.count_entries(request_unit(), AuditFilter(record=customer_record(target)))


PLUGIN = customer_tab(
    "core_customer_history",
    "Customer history",
    key="history",
    title="History",
    title_ja="履歴",
    render=render_customer_history,
    count=count_customer_history,
    permission=HISTORY_VIEW,
)
