"""Merging duplicate contacts or accounts into one survivor.

The agent reviews the records side by side (:func:`plan_merge`), picks the record each field's
value comes from, and merges: the chosen values are written to the survivor through the
ordinary update (so they are validated and phones re-normalised), tags are united, and
everything that points at the other records moves to the survivor. The others are kept,
marked ``merged_into_id``, so links and the audit trail still lead somewhere; lists leave them
out and they cannot be merged again.

Everything happens in the caller's transaction: a failure anywhere rolls all of it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, delete, func, insert, select, update
from sqlalchemy.orm import Session

from core import permissions
from core.errors import Message, ValidationFailed
from core.models import (
    Account,
    AccountContract,
    Activity,
    Agent,
    Attachment,
    Contact,
    ContactIdentity,
    CustomerComment,
    Follow,
    HappinessRating,
    Notification,
    SpamMessage,
    Thread,
    Ticket,
    TimeEntry,
    account_products,
    contact_products,
)
from core.services import customers as customer_service
from core.services.base import Unit
from core.services.fields import display_value, fields_for
from hostapi import clock, events

#: The built-in fields whose surviving value the agent chooses, in page order.
CONTACT_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "secondary_email",
    "phone",
    "mobile",
    "title",
    "account_id",
    "owner_id",
    "description",
)
ACCOUNT_FIELDS: tuple[str, ...] = (
    "name",
    "website",
    "phone",
    "industry",
    "owner_id",
    "description",
)
#: The parts of a contact's name: they come from one record together unless the agent picks
#: otherwise, so that a whole name stored in one part ("佐藤 花子" in the family name) and the
#: same name in two parts never combine into "花子 佐藤 花子". ``name_order`` travels with them.
NAME_FIELDS: tuple[str, ...] = ("first_name", "last_name")
#: At most this many records merge at once (the review page shows one column each).
MAX_RECORDS = 10
_TOO_MANY_RECORDS = Message("Merge at most %(count)d records at once.", count=MAX_RECORDS)

# What points at a contact or an account and moves to the survivor: (name, column).
# Threads, ratings and time entries of moved tickets move with their tickets; the thread and
# rating rows below are those that name the customer themselves.
_CONTACT_MOVES: tuple[tuple[str, Any], ...] = (
    ("tickets", Ticket.contact_id),
    ("threads", Thread.author_contact_id),
    ("ratings", HappinessRating.contact_id),
    ("activities", Activity.contact_id),
    ("attachments", Attachment.contact_id),
    ("identities", ContactIdentity.contact_id),
    ("comments", CustomerComment.contact_id),
    ("notifications", Notification.contact_id),
    ("spam_messages", SpamMessage.contact_id),
    # Records merged into a merged contact earlier now point at the survivor: no chains.
    ("merged_records", Contact.merged_into_id),
)
_ACCOUNT_MOVES: tuple[tuple[str, Any], ...] = (
    ("contacts", Contact.account_id),
    ("tickets", Ticket.account_id),
    ("activities", Activity.account_id),
    ("attachments", Attachment.account_id),
    ("comments", CustomerComment.account_id),
    ("notifications", Notification.account_id),
    ("spam_messages", SpamMessage.account_id),
    ("contracts", AccountContract.account_id),
    ("merged_records", Account.merged_into_id),
)


@dataclass
class FieldChoice:
    """One row of the review: a field, each record's value, and the default source."""

    key: str
    label: str | None  # None for built-in fields: the page names them in its language
    custom: bool
    values: dict[int, Any]
    shown: dict[int, str]
    default_source: int | None

    @property
    def differs(self) -> bool:
        """True when the records do not all hold the same value."""
        return len({repr(v) for v in self.values.values()}) > 1


@dataclass
class MergePlan:
    """What a merge would do: the records, the field rows and what moves from each record."""

    entity: str
    records: list[Any]
    survivor: Any
    fields: list[FieldChoice]
    moves: dict[int, dict[str, int]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ review


def plan_merge(
    unit: Unit, records: Sequence[Contact | Account], survivor_id: int | None = None
) -> MergePlan:
    """The side-by-side review of ``records`` (survivor: ``survivor_id``, else the first)."""
    entity = _entity_of(records)
    unit.actor.require(_merge_permission(entity))
    survivor = _survivor(records, survivor_id)
    _refuse_unmergeable(survivor, [r for r in records if r.id != survivor.id], entity)
    ordered = [survivor, *(r for r in records if r.id != survivor.id)]
    owners = _owner_names(unit.session, [r.owner_id for r in ordered])
    rows: list[FieldChoice] = []
    name_source = _name_source(ordered) if entity == "contact" else None
    for name in CONTACT_FIELDS if entity == "contact" else ACCOUNT_FIELDS:
        values = {r.id: getattr(r, name) for r in ordered}
        shown = {r.id: _shown_builtin(r, name, owners) for r in ordered}
        default = name_source if name in NAME_FIELDS else _default_source(values)
        rows.append(FieldChoice(name, None, False, values, shown, default))
    for custom in fields_for(unit.session, entity):
        values = {r.id: (r.custom_fields or {}).get(custom.key) for r in ordered}
        shown = {rid: display_value(custom, value) for rid, value in values.items()}
        rows.append(
            FieldChoice(custom.key, custom.label, True, values, shown, _default_source(values))
        )
    moves = _counts(unit.session, entity, [r.id for r in ordered])
    return MergePlan(entity, ordered, survivor, rows, moves)


def _owner_names(session: Session, ids: list[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    found = session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(wanted)))
    return {agent_id: name for agent_id, name in found}


def _shown_builtin(record: Contact | Account, name: str, owners: Mapping[int, str]) -> str:
    if name == "account_id":
        account = record.account if isinstance(record, Contact) else None
        return account.name if account is not None else ""
    if name == "owner_id":
        return owners.get(record.owner_id, "") if record.owner_id is not None else ""
    value = getattr(record, name)
    return "" if value is None else str(value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _default_source(values: Mapping[int, Any]) -> int | None:
    """The survivor's (first) value when it has one, else the first record that has one."""
    return next((rid for rid, value in values.items() if not _empty(value)), None)


def _name_source(records: Sequence[Contact]) -> int:
    """The record a contact's name comes from: the first (survivor first) whose name has both
    parts, else the first with a family name: both parts always from that one record."""
    complete = next((r.id for r in records if r.first_name.strip() and r.last_name.strip()), None)
    if complete is not None:
        return complete
    return next((r.id for r in records if r.last_name.strip()), records[0].id)


def _counts(session: Session, entity: str, ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {rid: {} for rid in ids}
    moves = _CONTACT_MOVES if entity == "contact" else _ACCOUNT_MOVES
    for name, column in moves:
        if name in ("notifications", "merged_records"):
            continue  # bookkeeping, not something the agent weighs up
        for rid, count in session.execute(
            select(column, func.count()).where(column.in_(ids)).group_by(column)
        ):
            counts[rid][name] = count
    ticket_column = Ticket.contact_id if entity == "contact" else Ticket.account_id
    for rid, count in session.execute(
        select(ticket_column, func.count(TimeEntry.id))
        .join(Ticket, TimeEntry.ticket_id == Ticket.id)
        .where(ticket_column.in_(ids))
        .group_by(ticket_column)
    ):
        counts[rid]["time_entries"] = count
    _table, owner = _products_table(entity)
    for rid, count in session.execute(
        select(owner, func.count()).where(owner.in_(ids)).group_by(owner)
    ):
        counts[rid]["products"] = count
    follow_column = Follow.contact_id if entity == "contact" else Follow.account_id
    for rid, count in session.execute(
        select(follow_column, func.count()).where(follow_column.in_(ids)).group_by(follow_column)
    ):
        counts[rid]["follows"] = count
    return counts


# ------------------------------------------------------------------------------------- merge


def merge_contacts(
    unit: Unit,
    survivor: Contact,
    others: Sequence[Contact],
    choices: Mapping[str, int] | None = None,
) -> Contact:
    """Merge ``others`` into ``survivor``; ``choices`` maps a field to the record id it comes from.

    A field not in ``choices`` keeps the survivor's value, or takes the first other record's
    non-empty one; the name's parts come from one record together (see ``NAME_FIELDS``).
    Emits ``contact.merged`` (contact_id, merged_contact_ids, ticket_ids).

    :raises ValidationFailed: no other record, a merged record, an unknown field or source.
    """
    unit.actor.require(permissions.CONTACT_MERGE)
    others = _distinct_others(survivor, others)
    _lock(unit.session, Contact, [survivor, *others])
    _refuse_unmergeable(survivor, others, "contact")
    other_ids = [c.id for c in others]
    ticket_ids = _ids_where(unit.session, Ticket.id, Ticket.contact_id, other_ids)
    chosen = _apply_choices(unit, "contact", survivor, others, choices)
    survivor.tags = list({t.id: t for c in (survivor, *others) for t in c.tags}.values())
    moved = _move(unit.session, _CONTACT_MOVES, survivor.id, other_ids)
    moved["products"] = _move_links(unit.session, "contact", survivor.id, other_ids)
    moved["follows"] = _move_follows(unit.session, Follow.contact_id, survivor.id, other_ids)
    _mark_merged(unit, "contact", survivor, others)
    # Identities moved by a bulk UPDATE: reload the relationship rather than trust the cache.
    for contact in (survivor, *others):
        unit.session.expire(contact, ["identities"])
    _audit(unit, "contact", survivor.id, other_ids, chosen, moved, ticket_ids=ticket_ids)
    unit.emit(
        events.CONTACT_MERGED,
        {"contact_id": survivor.id, "merged_contact_ids": other_ids, "ticket_ids": ticket_ids},
    )
    return survivor


def merge_accounts(
    unit: Unit,
    survivor: Account,
    others: Sequence[Account],
    choices: Mapping[str, int] | None = None,
) -> Account:
    """Merge ``others`` into ``survivor`` as :func:`merge_contacts` does for contacts.

    Their contacts, tickets, activities, files, comments, contracts, products and follows
    move. Emits
    ``account.merged`` (account_id, merged_account_ids, contact_ids, ticket_ids).
    """
    unit.actor.require(permissions.ACCOUNT_MERGE)
    others = _distinct_others(survivor, others)
    _lock(unit.session, Account, [survivor, *others])
    _refuse_unmergeable(survivor, others, "account")
    other_ids = [a.id for a in others]
    session = unit.session
    ticket_ids = _ids_where(session, Ticket.id, Ticket.account_id, other_ids)
    contact_ids = _ids_where(session, Contact.id, Contact.account_id, other_ids)
    chosen = _apply_choices(unit, "account", survivor, others, choices)
    moved = _move(session, _ACCOUNT_MOVES, survivor.id, other_ids)
    moved["products"] = _move_links(session, "account", survivor.id, other_ids)
    moved["follows"] = _move_follows(session, Follow.account_id, survivor.id, other_ids)
    _mark_merged(unit, "account", survivor, others)
    _audit(
        unit,
        "account",
        survivor.id,
        other_ids,
        chosen,
        moved,
        ticket_ids=ticket_ids,
        contact_ids=contact_ids,
    )
    unit.emit(
        events.ACCOUNT_MERGED,
        {
            "account_id": survivor.id,
            "merged_account_ids": other_ids,
            "contact_ids": contact_ids,
            "ticket_ids": ticket_ids,
        },
    )
    return survivor


# --------------------------------------------------------------------------------- internals


def _entity_of(records: Sequence[Contact | Account]) -> str:
    if records and all(isinstance(r, Contact) for r in records):
        entity = "contact"
    elif records and all(isinstance(r, Account) for r in records):
        entity = "account"
    else:
        raise ValidationFailed({"ids": [Message("Choose contacts or accounts to merge.")]})
    if len({r.id for r in records}) < 2:
        raise ValidationFailed({"ids": [Message("Choose at least two records to merge.")]})
    if len({r.id for r in records}) > MAX_RECORDS:
        raise ValidationFailed({"ids": [_TOO_MANY_RECORDS]})
    return entity


def _merge_permission(entity: str) -> str:
    return permissions.CONTACT_MERGE if entity == "contact" else permissions.ACCOUNT_MERGE


def _survivor(records: Sequence[Any], survivor_id: int | None) -> Any:
    if survivor_id is None:
        return records[0]
    found = next((r for r in records if r.id == survivor_id), None)
    if found is None:
        raise ValidationFailed(
            {"survivor_id": [Message("Choose one of the records being merged.")]}
        )
    return found


def _distinct_others(survivor: Any, others: Sequence[Any]) -> list[Any]:
    unique = list({r.id: r for r in others if r.id != survivor.id}.values())
    if not unique:
        raise ValidationFailed(
            {"merged_ids": [Message("Choose at least one other record to merge.")]}
        )
    if len(unique) + 1 > MAX_RECORDS:
        raise ValidationFailed({"merged_ids": [_TOO_MANY_RECORDS]})
    return unique


def _lock(session: Session, model: Any, records: Sequence[Any]) -> None:
    """Lock the records (in id order) and re-read their merge state.

    Two agents merging A into B and B into A at once would otherwise both pass the check and
    leave each record pointing at the other. (SQLite takes no row locks; it lets one writer
    at a time commit, and the later one fails on its stale snapshot instead.)
    """
    ids = sorted(r.id for r in records)
    session.execute(select(model.id).where(model.id.in_(ids)).order_by(model.id).with_for_update())
    for record in records:
        session.refresh(record, ["merged_into_id"])


def _refuse_unmergeable(survivor: Any, others: Sequence[Any], entity: str) -> None:
    if survivor.merged_into_id is not None:
        raise ValidationFailed(
            {
                "survivor_id": [
                    Message("This contact was merged already; merge into the one it went to.")
                    if entity == "contact"
                    else Message("This account was merged already; merge into the one it went to.")
                ]
            }
        )
    merged = sorted(r.id for r in others if r.merged_into_id is not None)
    if merged:
        raise ValidationFailed(
            {
                "merged_ids": [
                    Message(
                        "Already merged, cannot be merged again: %(ids)s.",
                        ids=", ".join(map(str, merged)),
                    )
                ]
            }
        )


def _apply_choices(
    unit: Unit,
    entity: str,
    survivor: Any,
    others: Sequence[Any],
    choices: Mapping[str, int] | None,
) -> dict[str, int]:
    """Write the chosen values to the survivor; returns ``{field: source id}`` of every field."""
    records = {r.id: r for r in (survivor, *others)}
    builtin = CONTACT_FIELDS if entity == "contact" else ACCOUNT_FIELDS
    custom_keys = [f.key for f in fields_for(unit.session, entity)]
    choices = dict(choices or {})
    errors: dict[str, list[str]] = {}
    for name, source in choices.items():
        if name not in builtin and name not in custom_keys:
            errors[f"choices.{name}"] = [Message("Unknown field.")]
        elif isinstance(source, bool) or source not in records:
            errors[f"choices.{name}"] = [Message("Choose one of the records being merged.")]
    if errors:
        raise ValidationFailed(errors)

    def value_of(record: Any, name: str) -> Any:
        if name in builtin:
            return getattr(record, name)
        return (record.custom_fields or {}).get(name)

    if entity == "contact":
        # A name part not chosen comes from where the other part was chosen, else both
        # from the record with the whole name (see NAME_FIELDS).
        picked = [choices[n] for n in NAME_FIELDS if n in choices]
        source = picked[0] if picked else _name_source(list(records.values()))
        for name in NAME_FIELDS:
            choices.setdefault(name, source)
    sources: dict[str, int] = {}
    changes: dict[str, Any] = {}
    custom_changes: dict[str, Any] = {}
    for name in (*builtin, *custom_keys):
        source = choices.get(name)
        if source is None:
            source = _default_source({rid: value_of(r, name) for rid, r in records.items()})
        if source is None:
            continue
        sources[name] = source
        value = value_of(records[source], name)
        if value != value_of(survivor, name):
            (changes if name in builtin else custom_changes)[name] = value
    if entity == "contact":
        order = records[sources["last_name"]].name_order
        if order != survivor.name_order:
            changes["name_order"] = order
    if custom_changes:
        changes["custom_fields"] = custom_changes
    if changes:
        # The ordinary update validates the values and keeps the E.164 columns in step.
        updater = (
            customer_service.update_contact
            if entity == "contact"
            else customer_service.update_account
        )
        updater(unit, survivor, **changes)
    return sources


def _ids_where(session: Session, id_column: Any, column: Any, ids: list[int]) -> list[int]:
    return list(session.scalars(select(id_column).where(column.in_(ids)).order_by(id_column)))


def _move(
    session: Session, moves: Sequence[tuple[str, Any]], survivor_id: int, other_ids: list[int]
) -> dict[str, int]:
    moved: dict[str, int] = {}
    for name, column in moves:
        # The default synchronisation also updates rows already loaded in this session.
        result = session.execute(
            update(column.class_).where(column.in_(other_ids)).values({column.key: survivor_id})
        )
        if result.rowcount:
            moved[name] = result.rowcount
    return moved


def _products_table(entity: str) -> tuple[Any, Column[Any]]:
    if entity == "contact":
        return contact_products, contact_products.c.contact_id
    return account_products, account_products.c.account_id


def _move_links(session: Session, entity: str, survivor_id: int, other_ids: list[int]) -> int:
    """Link the others' products to the survivor (each once); returns how many were new."""
    table, owner = _products_table(entity)
    have = set(session.scalars(select(table.c.product_id).where(owner == survivor_id)))
    moving = set(session.scalars(select(table.c.product_id).where(owner.in_(other_ids))))
    session.execute(delete(table).where(owner.in_(other_ids)))
    added = sorted(moving - have)
    for product_id in added:
        session.execute(insert(table).values({"product_id": product_id, owner.key: survivor_id}))
    return len(added)


def _move_follows(session: Session, column: Any, survivor_id: int, other_ids: list[int]) -> int:
    """Followers of the others follow the survivor (an agent following both, once)."""
    following = set(session.scalars(select(Follow.agent_id).where(column == survivor_id)))
    doomed: list[int] = []
    moving: list[int] = []
    for follow_id, agent_id in session.execute(
        select(Follow.id, Follow.agent_id).where(column.in_(other_ids)).order_by(Follow.id)
    ):
        if agent_id in following:
            doomed.append(follow_id)
        else:
            following.add(agent_id)
            moving.append(follow_id)
    if doomed:
        session.execute(delete(Follow).where(Follow.id.in_(doomed)))
    if moving:
        session.execute(
            update(Follow).where(Follow.id.in_(moving)).values({column.key: survivor_id})
        )
    return len(moving)


def _mark_merged(unit: Unit, entity: str, survivor: Any, others: Sequence[Any]) -> None:
    now = clock.now()
    for other in others:
        other.merged_into_id = survivor.id
        other.updated_at = now
        unit.audit(
            "update",
            entity,
            other.id,
            sub_action="merged_into",
            before={"merged_into_id": None},
            after={"merged_into_id": survivor.id},
        )
    survivor.updated_at = now
    unit.session.flush()


def _audit(
    unit: Unit,
    entity: str,
    survivor_id: int,
    other_ids: list[int],
    chosen: dict[str, int],
    moved: dict[str, int],
    **moved_ids: list[int],
) -> None:
    unit.audit(
        "update",
        entity,
        survivor_id,
        sub_action="merge",
        before={f"merged_{entity}_ids": []},
        after={
            f"merged_{entity}_ids": other_ids,
            "choices": chosen,
            "moved": moved,
            **moved_ids,
        },
    )
