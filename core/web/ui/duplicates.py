"""Duplicates in the desk: the group lists, the side-by-side review and merge, bulk delete,
spam marks on a record's page, and the admin page choosing the duplicate rules."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext
from sqlalchemy import select

from core import permissions
from core.errors import Message, NotFound, ValidationFailed
from core.models import Account, Contact, Ticket
from core.models.types import INT64_MAX
from core.services import customer_deletion, customers, duplicates, merge, spam_marks
from core.services.base import Unit, parse_whole_number
from core.web.database import db_session
from core.web.security import login_required
from core.web.ui.units import request_unit

blueprint = Blueprint("duplicates", __name__)

PAGE_SIZE = 20
ENTITIES = ("contacts", "accounts")
_ENTITY = {"contacts": "contact", "accounts": "account"}

#: Labels of the built-in fields and rules, in the page's language.
FIELD_LABELS: dict[str, Any] = {
    "first_name": lazy_gettext("First name"),
    "last_name": lazy_gettext("Last name"),
    "email": lazy_gettext("Email address"),
    "secondary_email": lazy_gettext("Secondary email"),
    "phone": lazy_gettext("Phone"),
    "mobile": lazy_gettext("Mobile"),
    "title": lazy_gettext("Title"),
    "account_id": lazy_gettext("Account"),
    "owner_id": lazy_gettext("Owner"),
    "description": lazy_gettext("Description"),
    "name": lazy_gettext("Name"),
    "website": lazy_gettext("Website"),
    "industry": lazy_gettext("Industry"),
}
RULE_LABELS: dict[str, Any] = {
    "email": lazy_gettext("Same email address"),
    "phone": lazy_gettext("Same phone number"),
    "name": lazy_gettext("Same name"),
    "website": lazy_gettext("Same website domain"),
}
#: What moves to the survivor, as the review counts it.
MOVE_LABELS: dict[str, Any] = {
    "tickets": lazy_gettext("Tickets"),
    "threads": lazy_gettext("Messages written"),
    "ratings": lazy_gettext("Ratings"),
    "time_entries": lazy_gettext("Time entries"),
    "activities": lazy_gettext("Calls, events and tasks"),
    "attachments": lazy_gettext("Files"),
    "identities": lazy_gettext("Channel identities"),
    "comments": lazy_gettext("Comments"),
    "spam_messages": lazy_gettext("Held spam messages"),
    "products": lazy_gettext("Products"),
    "follows": lazy_gettext("Followers"),
    "contacts": lazy_gettext("Contacts"),
    "contracts": lazy_gettext("Contracts"),
}


#: Why a record was kept by a bulk delete, in the page's language.
REFUSAL_LABELS: dict[str, Any] = {
    customer_deletion.HAS_TICKETS: lazy_gettext(
        "Has tickets: merge it into the record to keep instead of deleting it."
    ),
    customer_deletion.MERGED: lazy_gettext("Merged into another record: kept for the audit trail."),
}


def _entity(kinds: str) -> str:
    if kinds not in ENTITIES:
        raise NotFound("page not found")
    return _ENTITY[kinds]


def _model(entity: str) -> type[Contact] | type[Account]:
    return Contact if entity == "contact" else Account


def _ids(values: list[str]) -> list[int]:
    """Record ids from ``ids=1&ids=2`` or ``ids=1,2``; anything else is a form error."""
    found: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            record_id = parse_whole_number(part, INT64_MAX)
            if record_id is None:
                raise ValidationFailed({"ids": [Message("Give record ids.")]})
            if record_id not in found:
                found.append(record_id)
    return found


def _records(unit: Unit, entity: str, ids: list[int]) -> list[Any]:
    getter = customers.get_contact if entity == "contact" else customers.get_account
    return [getter(unit, record_id) for record_id in ids]


def _detail_url(entity: str, record_id: int) -> str:
    if entity == "contact":
        return url_for("customers.contact", contact_id=record_id)
    return url_for("customers.account", account_id=record_id)


def _groups_with_records(
    unit: Unit, entity: str, groups: list[duplicates.DuplicateGroup]
) -> list[tuple[duplicates.DuplicateGroup, list[Any]]]:
    model = _model(entity)
    wanted = {i for g in groups for i in g.record_ids}
    found = {r.id: r for r in unit.session.scalars(select(model).where(model.id.in_(wanted)))}
    return [(g, [found[i] for i in g.record_ids]) for g in groups]


# --------------------------------------------------------------------------------- the lists


@blueprint.get("/<any(contacts, accounts):kinds>/duplicates")
@login_required
def groups(kinds: str) -> ResponseReturnValue:
    """Groups of duplicates by one of the rules in use, a page at a time."""
    entity = _entity(kinds)
    unit = request_unit()
    rules = duplicates.rules_of(unit.session)[entity]
    rule = request.args.get("rule") or (rules[0] if rules else "")
    found: list[tuple[duplicates.DuplicateGroup, list[Any]]] = []
    after = None
    if rule:
        page, after = duplicates.find_groups(
            unit, entity, rule, after=request.args.get("after") or None, limit=PAGE_SIZE
        )
        found = _groups_with_records(unit, entity, page)
    return render_template(
        "customers/duplicates.html",
        kinds=kinds,
        entity=entity,
        rules=rules,
        rule=rule,
        groups=found,
        after=after,
        rule_labels=RULE_LABELS,
    )


@blueprint.get("/<any(contacts, accounts):kinds>/<bigid:record_id>/duplicates")
@login_required
def of_record(kinds: str, record_id: int) -> ResponseReturnValue:
    """The duplicates of one contact or account, by every rule in use."""
    entity = _entity(kinds)
    unit = request_unit()
    record = _records(unit, entity, [record_id])[0]
    found = _groups_with_records(unit, entity, duplicates.duplicates_of(unit, record))
    return render_template(
        "customers/duplicates_of.html",
        kinds=kinds,
        entity=entity,
        record=record,
        groups=found,
        rule_labels=RULE_LABELS,
    )


# ------------------------------------------------------------------------------------- merge


def _render_review(
    unit: Unit,
    kinds: str,
    records: list[Any],
    survivor_id: int | None,
    chosen: dict[str, int] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    plan = merge.plan_merge(unit, records, survivor_id)
    picks = {row.key: row.default_source for row in plan.fields} | (chosen or {})
    move_keys = [k for k in MOVE_LABELS if any(k in m for m in plan.moves.values())]
    return (
        render_template(
            "customers/merge.html",
            kinds=kinds,
            plan=plan,
            picks=picks,
            move_keys=move_keys,
            field_labels=FIELD_LABELS,
            move_labels=MOVE_LABELS,
            errors=errors or {},
            detail_url=_detail_url,
        ),
        status,
    )


@blueprint.get("/<any(contacts, accounts):kinds>/merge")
@login_required
def review(kinds: str) -> ResponseReturnValue:
    """The records side by side: a column each, a row per field, a choice per row."""
    entity = _entity(kinds)
    unit = request_unit()
    records = _records(unit, entity, _ids(request.args.getlist("ids")))
    survivor = request.args.get("survivor", "")
    return _render_review(unit, kinds, records, parse_whole_number(survivor, INT64_MAX))


@blueprint.post("/<any(contacts, accounts):kinds>/merge")
@login_required
def confirm(kinds: str) -> ResponseReturnValue:
    """Merge the records as chosen; the survivor's page shows the result."""
    entity = _entity(kinds)
    unit = request_unit()
    records = _records(unit, entity, _ids(request.form.getlist("ids")))
    survivor_id = parse_whole_number(request.form.get("survivor"), INT64_MAX)
    choices = {
        name.removeprefix("choice."): record_id
        for name, value in request.form.items()
        if name.startswith("choice.")
        and (record_id := parse_whole_number(value, INT64_MAX)) is not None
    }
    survivor = next((r for r in records if r.id == survivor_id), None)
    try:
        if survivor is None:
            raise ValidationFailed({"survivor_id": [Message("Choose the record to keep.")]})
        merger = merge.merge_contacts if entity == "contact" else merge.merge_accounts
        merger(unit, survivor, [r for r in records if r.id != survivor_id], choices)
    except ValidationFailed as failure:
        db_session().rollback()
        return _render_review(
            unit,
            kinds,
            _records(unit, entity, [r.id for r in records]),
            survivor_id or None,
            choices,
            failure.errors,
            422,
        )
    db_session().commit()
    return redirect(_detail_url(entity, survivor_id))


# ------------------------------------------------------------------------------- bulk delete


@blueprint.get("/<any(contacts, accounts):kinds>/delete")
@login_required
def confirm_delete(kinds: str) -> ResponseReturnValue:
    """Ask before deleting: which records go, which are kept because they have tickets."""
    entity = _entity(kinds)
    unit = request_unit()
    records = _records(unit, entity, _ids(request.args.getlist("ids")))
    if not records:
        raise ValidationFailed({"ids": [Message("Choose the records to delete.")]})
    column = _ticket_column(entity)
    busy = set(
        unit.session.scalars(select(column).where(column.in_([r.id for r in records])).distinct())
    )
    return render_template(
        "customers/duplicates_delete.html",
        kinds=kinds,
        entity=entity,
        records=records,
        busy=busy,
        result=None,
        detail_url=_detail_url,
    )


def _ticket_column(entity: str) -> Any:
    return Ticket.contact_id if entity == "contact" else Ticket.account_id


@blueprint.post("/<any(contacts, accounts):kinds>/delete")
@login_required
def delete(kinds: str) -> ResponseReturnValue:
    """Delete the records without tickets; say which were kept and why."""
    entity = _entity(kinds)
    unit = request_unit()
    records = _records(unit, entity, _ids(request.form.getlist("ids")))
    names = {r.id: r.name for r in records}
    deleter = (
        customer_deletion.delete_contacts
        if entity == "contact"
        else customer_deletion.delete_accounts
    )
    result = deleter(unit, records)
    db_session().commit()
    return render_template(
        "customers/duplicates_delete.html",
        kinds=kinds,
        entity=entity,
        records=[],
        busy=set(),
        result=result,
        names=names,
        refusal_labels=REFUSAL_LABELS,
        detail_url=_detail_url,
    )


# -------------------------------------------------------------------------------------- spam


@blueprint.post("/<any(contacts, accounts):kinds>/<bigid:record_id>/spam")
@login_required
def mark_spam(kinds: str, record_id: int) -> ResponseReturnValue:
    """Mark the record as spam (``spam=1``) or take the mark back (``spam=0``)."""
    entity = _entity(kinds)
    unit = request_unit()
    record = _records(unit, entity, [record_id])[0]
    spam = request.form.get("spam") == "1"
    if entity == "contact":
        spam_marks.mark_contact(unit, record, spam=spam)
    else:
        spam_marks.mark_account(unit, record, spam=spam)
    db_session().commit()
    return redirect(_detail_url(entity, record_id))


# ------------------------------------------------------------------------------------- admin


@blueprint.route("/admin/duplicate-rules", methods=["GET", "POST"])
@login_required
def rules() -> ResponseReturnValue:
    """Choose which fields make two contacts or two accounts duplicates."""
    unit = request_unit()
    unit.actor.require(permissions.SETUP_MANAGE)
    errors: dict[str, list[str]] = {}
    saved = False
    if request.method == "POST":
        wanted = {entity: request.form.getlist(entity) for entity in duplicates.RULES}
        try:
            duplicates.set_rules(unit, wanted)
        except ValidationFailed as failure:
            db_session().rollback()
            errors = failure.errors
        else:
            db_session().commit()
            saved = True
    return (
        render_template(
            "admin/duplicate_rules.html",
            available=duplicates.RULES,
            current=duplicates.rules_of(unit.session),
            rule_labels=RULE_LABELS,
            errors=errors,
            saved=saved,
        ),
        422 if errors else 200,
    )
