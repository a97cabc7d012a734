"""Deleting contacts and accounts in bulk (duplicates that hold nothing worth keeping).

A record that still has tickets is not deleted: its history belongs to a customer, so it is
refused with the advice to merge it instead, and the other records of the request are
deleted. Records merged into another are kept for the audit trail and refused too. The
decision is taken for every record before anything is deleted, and all the deletions share
the caller's transaction: a failure deletes nothing.

What hangs off a deleted record without a ticket goes with it: its identities, activities,
comments, follows and notifications (by the database's cascades), its files (through the
attachment service, so their bytes are removed once the deletion commits) and its product
links. Records merged into it are deleted with it, since they would otherwise come back to
the lists with their link cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from core import permissions
from core.errors import Message, ValidationFailed
from core.models import Account, Attachment, Contact, Ticket
from core.services import attachments
from core.services.base import Unit, jsonable
from hostapi import events

MAX_RECORDS = 500
HAS_TICKETS = "Has tickets: merge it into the record to keep instead of deleting it."
MERGED = "Merged into another record: kept for the audit trail."


@dataclass
class Deletion:
    """What a bulk deletion did: the ids deleted and, by id, why the others were kept."""

    deleted_ids: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def delete_contacts(unit: Unit, contacts: Sequence[Contact]) -> Deletion:
    """Delete the contacts without tickets; the others are refused with the reason."""
    unit.actor.require(permissions.CONTACT_DELETE)
    return _delete(unit, "contact", contacts)


def delete_accounts(unit: Unit, accounts: Sequence[Account]) -> Deletion:
    """Delete the accounts without tickets (their contacts stay, without an account)."""
    unit.actor.require(permissions.ACCOUNT_DELETE)
    return _delete(unit, "account", accounts)


def _delete(unit: Unit, entity: str, records: Sequence[Any]) -> Deletion:
    unique = list({r.id: r for r in records}.values())
    if not unique:
        raise ValidationFailed({"ids": [Message("Choose the records to delete.")]})
    if len(unique) > MAX_RECORDS:
        raise ValidationFailed(
            {"ids": [Message("Delete at most %(count)d records at once.", count=MAX_RECORDS)]}
        )
    model = Contact if entity == "contact" else Account
    ticket_column = Ticket.contact_id if entity == "contact" else Ticket.account_id
    ids = [r.id for r in unique]
    with_tickets = set(
        unit.session.scalars(select(ticket_column).where(ticket_column.in_(ids)).distinct())
    )
    result = Deletion()
    doomed: list[Any] = []
    for record in sorted(unique, key=lambda r: r.id):
        if record.merged_into_id is not None:
            result.refused[record.id] = MERGED
        elif record.id in with_tickets:
            result.refused[record.id] = HAS_TICKETS
        else:
            doomed.append(record)
    if doomed:
        husks = list(
            unit.session.scalars(
                select(model).where(model.merged_into_id.in_([r.id for r in doomed]))
            )
        )
        for record in [*doomed, *husks]:
            _delete_one(unit, entity, record)
        result.deleted_ids = [r.id for r in doomed]
        unit.session.flush()
    return result


def _delete_one(unit: Unit, entity: str, record: Any) -> None:
    owner = Attachment.contact_id if entity == "contact" else Attachment.account_id
    for attachment in unit.session.scalars(select(Attachment).where(owner == record.id)):
        attachments.delete_attachment(unit, attachment)
    snapshot = _snapshot(entity, record)
    unit.audit("delete", entity, record.id, before=snapshot)
    if entity == "contact":
        unit.emit(
            events.CONTACT_DELETED,
            {"contact_id": record.id, "name": record.name, "email": record.email},
        )
    else:
        unit.emit(events.ACCOUNT_DELETED, {"account_id": record.id, "name": record.name})
    unit.session.delete(record)


def _snapshot(entity: str, record: Any) -> dict[str, Any]:
    names = (
        ("first_name", "last_name", "email", "phone", "mobile", "account_id", "merged_into_id")
        if entity == "contact"
        else ("name", "website", "phone", "industry", "merged_into_id")
    )
    return {name: jsonable(getattr(record, name)) for name in names}
