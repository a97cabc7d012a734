"""Duplicates over REST: find groups, merge, bulk delete; spam marks; the duplicate rules.

``/api/v1/contacts/duplicates`` and ``/api/v1/accounts/duplicates`` page through the groups of
one rule (``rule``; default the first the organisation uses) ordered by their shared key.
Merging takes the survivor, the records merged into it and, per field, the record whose value
survives (see :mod:`core.services.merge`); bulk delete refuses records that still have
tickets and deletes the others (see :mod:`core.services.customer_deletion`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import marshmallow as ma
from flask_smorest import abort
from marshmallow import fields, validate
from sqlalchemy import select

from core.api import schemas
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.errors import Message, NotFound, ValidationFailed
from core.models import Account, Contact
from core.services import customer_deletion, customers, duplicates, merge, spam_marks
from core.services.base import Unit
from core.tokens import SETTINGS_WRITE_SCOPE
from hostapi import scopes

contact_duplicates = api_blueprint(
    "api_contact_duplicates",
    __name__,
    "/contacts",
    "Duplicate contacts: find them, merge them, delete them; spam marks.",
)
account_duplicates = api_blueprint(
    "api_account_duplicates",
    __name__,
    "/accounts",
    "Duplicate accounts: find them, merge them, delete them; spam marks.",
)
duplicate_rules = api_blueprint(
    "api_duplicate_rules",
    __name__,
    "/duplicate-rules",
    "Which fields make two contacts or two accounts duplicates.",
)

# ------------------------------------------------------------------------------------ schemas


class DuplicateArgsSchema(schemas.PageArgsSchema):
    """Which rule's groups to list, and the page."""

    rule = schemas.Text(
        load_default=None,
        max_length=20,
        metadata={
            "description": "email, phone or name (contacts); name, phone or website "
            "(accounts). Default: the first rule the organisation uses."
        },
    )


def _group_schema(record_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    return ma.Schema.from_dict(
        {
            "rule": fields.String(),
            "key": fields.String(metadata={"description": "The normalised value they share."}),
            "records": fields.List(fields.Nested(record_schema)),
        },
        name=name,
    )


ContactGroupSchema = _group_schema(schemas.ContactSchema, "DuplicateContactGroup")
AccountGroupSchema = _group_schema(schemas.AccountSchema, "DuplicateAccountGroup")
ContactGroupPage = schemas.page_of(ContactGroupSchema, "DuplicateContactGroupPage")
AccountGroupPage = schemas.page_of(AccountGroupSchema, "DuplicateAccountGroupPage")
ContactGroupList = ma.Schema.from_dict(
    {"items": fields.List(fields.Nested(ContactGroupSchema))}, name="DuplicateContactGroups"
)
AccountGroupList = ma.Schema.from_dict(
    {"items": fields.List(fields.Nested(AccountGroupSchema))}, name="DuplicateAccountGroups"
)


class MergeSchema(schemas.StrictSchema):
    """A merge: the survivor, the records merged into it, and the source of chosen values."""

    survivor_id = schemas.BigId(required=True)
    merged_ids = fields.List(
        schemas.BigId(), required=True, validate=validate.Length(min=1, max=merge.MAX_RECORDS)
    )
    choices = fields.Dict(
        keys=schemas.Text(max_length=200),
        values=schemas.BigId(),
        load_default=dict,
        metadata={
            "description": "Field name (or custom field key) → id of the record whose value "
            "survives. Fields left out keep the survivor's value, or take the first non-empty."
        },
    )


class BulkDeleteSchema(schemas.StrictSchema):
    """The records to delete."""

    ids = fields.List(
        schemas.BigId(),
        required=True,
        validate=validate.Length(min=1, max=customer_deletion.MAX_RECORDS),
    )


class RefusalSchema(ma.Schema):
    """A record that was not deleted, and why."""

    id = fields.Integer()
    reason = fields.String()


class BulkDeleteResultSchema(ma.Schema):
    """What a bulk deletion did."""

    deleted_ids = fields.List(fields.Integer())
    refused = fields.List(
        fields.Nested(RefusalSchema),
        metadata={"description": "Kept records: those with tickets (merge them instead)."},
    )


class DuplicateRulesSchema(schemas.StrictSchema):
    """The rules per entity."""

    contact = fields.List(
        fields.String(validate=validate.OneOf(duplicates.RULES["contact"])),
        metadata={"description": "Any of email, phone, name."},
    )
    account = fields.List(
        fields.String(validate=validate.OneOf(duplicates.RULES["account"])),
        metadata={"description": "Any of name, phone, website."},
    )


# ------------------------------------------------------------------------------------ helpers


def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        abort(422, errors={"query": {"cursor": ["Not a valid page cursor."]}})


def _group_page(entity: str, rule: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    work = unit()
    chosen = rule or next(iter(duplicates.rules_of(work.session)[entity]), None)
    if chosen is None:
        return {"items": [], "next_cursor": None}
    try:
        groups, after = duplicates.find_groups(
            work, entity, chosen, after=_decode(cursor), limit=limit
        )
    except ValidationFailed as failure:
        abort(422, errors={"query": failure.errors})
    return {
        "items": _with_records(work, entity, groups),
        "next_cursor": _encode(after) if after is not None else None,
    }


def _with_records(
    work: Unit, entity: str, groups: list[duplicates.DuplicateGroup]
) -> list[dict[str, Any]]:
    model = Contact if entity == "contact" else Account
    wanted = {i for g in groups for i in g.record_ids}
    records = {r.id: r for r in work.session.scalars(select(model).where(model.id.in_(wanted)))}
    return [
        {"rule": g.rule, "key": g.key, "records": [records[i] for i in g.record_ids]}
        for g in groups
    ]


def _records(work: Unit, entity: str, ids: list[int], field: str) -> list[Any]:
    getter = customers.get_contact if entity == "contact" else customers.get_account
    found, missing = [], []
    for record_id in ids:
        try:
            found.append(getter(work, record_id))
        except NotFound:
            missing.append(str(record_id))
    if missing:
        ids = ", ".join(missing)
        message = (
            Message("No contact with id %(ids)s.", ids=ids)
            if entity == "contact"
            else Message("No account with id %(ids)s.", ids=ids)
        )
        raise ValidationFailed({field: [message]})
    return found


def _merge(entity: str, data: dict[str, Any]) -> Any:
    work = unit()
    survivor = _records(work, entity, [data["survivor_id"]], "survivor_id")[0]
    others = _records(work, entity, data["merged_ids"], "merged_ids")
    merger = merge.merge_contacts if entity == "contact" else merge.merge_accounts
    kept = merger(work, survivor, others, data["choices"])
    commit()
    return kept


def _bulk_delete(entity: str, ids: list[int]) -> dict[str, Any]:
    work = unit()
    records = _records(work, entity, ids, "ids")
    deleter = (
        customer_deletion.delete_contacts
        if entity == "contact"
        else customer_deletion.delete_accounts
    )
    result = deleter(work, records)
    commit()
    return {
        "deleted_ids": result.deleted_ids,
        "refused": [{"id": i, "reason": reason} for i, reason in result.refused.items()],
    }


def _mark_spam(entity: str, record_id: int, spam: bool) -> Any:
    work = unit()
    if entity == "contact":
        record = spam_marks.mark_contact(work, customers.get_contact(work, record_id), spam=spam)
    else:
        record = spam_marks.mark_account(work, customers.get_account(work, record_id), spam=spam)
    commit()
    return record


# ----------------------------------------------------------------------------------- contacts


@contact_duplicates.route("/duplicates", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@contact_duplicates.arguments(DuplicateArgsSchema, location="query", as_kwargs=True)
@contact_duplicates.response(200, ContactGroupPage)
def list_contact_duplicates(limit: int, cursor: str | None, rule: str | None) -> dict[str, Any]:
    """Groups of duplicate contacts by one rule, ordered by the value they share."""
    return _group_page("contact", rule, limit, cursor)


@contact_duplicates.route("/<bigid:contact_id>/duplicates", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@contact_duplicates.response(200, ContactGroupList)
def contact_duplicates_of(contact_id: int) -> dict[str, Any]:
    """The groups this contact is in, under every rule the organisation uses."""
    work = unit()
    groups = duplicates.duplicates_of(work, customers.get_contact(work, contact_id))
    return {"items": _with_records(work, "contact", groups)}


@contact_duplicates.route("/merge", methods=["POST"])
@scoped(scopes.CONTACTS_WRITE)
@contact_duplicates.arguments(MergeSchema)
@contact_duplicates.response(200, schemas.ContactSchema)
def merge_contacts(data: dict[str, Any]) -> Contact:
    """Merge contacts into the survivor: their tickets and history move to it."""
    return _merge("contact", data)


@contact_duplicates.route("/bulk-delete", methods=["POST"])
@scoped(scopes.CONTACTS_WRITE)
@contact_duplicates.arguments(BulkDeleteSchema)
@contact_duplicates.response(200, BulkDeleteResultSchema)
def bulk_delete_contacts(data: dict[str, Any]) -> dict[str, Any]:
    """Delete contacts; those with tickets are kept (merge them instead) and listed."""
    return _bulk_delete("contact", data["ids"])


@contact_duplicates.route("/<bigid:contact_id>/spam", methods=["POST"])
@scoped(scopes.CONTACTS_WRITE)
@contact_duplicates.response(200, schemas.ContactSchema)
def mark_contact_spam(contact_id: int) -> Contact:
    """Mark the contact as spam: its new messages wait in the spam list."""
    return _mark_spam("contact", contact_id, spam=True)


@contact_duplicates.route("/<bigid:contact_id>/spam", methods=["DELETE"])
@scoped(scopes.CONTACTS_WRITE)
@contact_duplicates.response(200, schemas.ContactSchema)
def unmark_contact_spam(contact_id: int) -> Contact:
    """Take the spam mark back: new messages open tickets again."""
    return _mark_spam("contact", contact_id, spam=False)


# ----------------------------------------------------------------------------------- accounts


@account_duplicates.route("/duplicates", methods=["GET"])
@scoped(scopes.ACCOUNTS_READ)
@account_duplicates.arguments(DuplicateArgsSchema, location="query", as_kwargs=True)
@account_duplicates.response(200, AccountGroupPage)
def list_account_duplicates(limit: int, cursor: str | None, rule: str | None) -> dict[str, Any]:
    """Groups of duplicate accounts by one rule, ordered by the value they share."""
    return _group_page("account", rule, limit, cursor)


@account_duplicates.route("/<bigid:account_id>/duplicates", methods=["GET"])
@scoped(scopes.ACCOUNTS_READ)
@account_duplicates.response(200, AccountGroupList)
def account_duplicates_of(account_id: int) -> dict[str, Any]:
    """The groups this account is in, under every rule the organisation uses."""
    work = unit()
    groups = duplicates.duplicates_of(work, customers.get_account(work, account_id))
    return {"items": _with_records(work, "account", groups)}


@account_duplicates.route("/merge", methods=["POST"])
@scoped(scopes.ACCOUNTS_WRITE)
@account_duplicates.arguments(MergeSchema)
@account_duplicates.response(200, schemas.AccountSchema)
def merge_accounts(data: dict[str, Any]) -> Account:
    """Merge accounts into the survivor: their contacts, tickets and history move to it."""
    return _merge("account", data)


@account_duplicates.route("/bulk-delete", methods=["POST"])
@scoped(scopes.ACCOUNTS_WRITE)
@account_duplicates.arguments(BulkDeleteSchema)
@account_duplicates.response(200, BulkDeleteResultSchema)
def bulk_delete_accounts(data: dict[str, Any]) -> dict[str, Any]:
    """Delete accounts (their contacts stay); those with tickets are kept and listed."""
    return _bulk_delete("account", data["ids"])


@account_duplicates.route("/<bigid:account_id>/spam", methods=["POST"])
@scoped(scopes.ACCOUNTS_WRITE)
@account_duplicates.response(200, schemas.AccountSchema)
def mark_account_spam(account_id: int) -> Account:
    """Mark the account as spam: its contacts' new messages wait in the spam list."""
    return _mark_spam("account", account_id, spam=True)


@account_duplicates.route("/<bigid:account_id>/spam", methods=["DELETE"])
@scoped(scopes.ACCOUNTS_WRITE)
@account_duplicates.response(200, schemas.AccountSchema)
def unmark_account_spam(account_id: int) -> Account:
    """Take the spam mark back."""
    return _mark_spam("account", account_id, spam=False)


# -------------------------------------------------------------------------------------- rules


@duplicate_rules.route("", methods=["GET"])
@scoped(scopes.SETTINGS_READ)
@duplicate_rules.response(200, DuplicateRulesSchema)
def get_rules() -> dict[str, list[str]]:
    """The rules that find duplicates, per entity."""
    return duplicates.rules_of(unit().session)


@duplicate_rules.route("", methods=["PUT"])
@scoped(SETTINGS_WRITE_SCOPE)
@duplicate_rules.arguments(DuplicateRulesSchema)
@duplicate_rules.response(200, DuplicateRulesSchema)
def set_rules(data: dict[str, list[str]]) -> dict[str, list[str]]:
    """Choose the rules (each entity given is replaced; needs ``setup.manage``)."""
    rules = duplicates.set_rules(unit(), data)
    commit()
    return rules
