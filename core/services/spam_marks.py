"""Marking a contact or an account as spam, and taking the mark back.

The mark is the ``is_spam`` flag; the ways in read it (the contact's, and its account's) and
hold a marked sender's new messages in the spam list instead of opening tickets. Unmarking
restores the normal flow for new messages; what was held stays in the list for review.
"""

from __future__ import annotations

from core import permissions
from core.models import Account, Contact
from core.services.base import Unit, apply_changes, split_changes
from hostapi import clock, events


def mark_contact(unit: Unit, contact: Contact, *, spam: bool) -> Contact:
    """Mark ``contact`` as spam (``spam=True``) or not; an unchanged mark writes nothing."""
    unit.actor.require(permissions.CONTACT_EDIT)
    changed = apply_changes(contact, {"is_spam": bool(spam)})
    if changed:
        _record(unit, "contact", contact, changed)
        unit.emit(events.CONTACT_UPDATED, {"contact_id": contact.id, "changes": changed})
    return contact


def mark_account(unit: Unit, account: Account, *, spam: bool) -> Account:
    """Mark ``account`` as spam or not: a spam account's contacts' new messages are spam too."""
    unit.actor.require(permissions.ACCOUNT_EDIT)
    changed = apply_changes(account, {"is_spam": bool(spam)})
    if changed:
        _record(unit, "account", account, changed)
        unit.emit(events.ACCOUNT_UPDATED, {"account_id": account.id, "changes": changed})
    return account


def _record(
    unit: Unit, entity: str, record: Contact | Account, changed: dict[str, list[object]]
) -> None:
    record.updated_at = clock.now()
    unit.session.flush()
    before, after = split_changes(changed)
    unit.audit("update", entity, record.id, sub_action="spam", before=before, after=after)
