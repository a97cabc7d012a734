"""Turning rows into records: validation, matching (upsert) and what a batch would write.

The planner validates every row with the rules the customer services apply (their field
checks, custom-field parsing and cleaning, E.164 phones), matches it against existing records
(and against earlier rows of the same file) on ``match_on``, and produces a :class:`BatchPlan`:
the records to insert, the changes to apply, the rejected rows. The preview runs it without
writing; the job writes each plan in one transaction (``core.customer_import.writer``).

A row is rejected whole: if any of its values is bad, nothing of it (the record, its tags, a
new account it names, its custom values) is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, func, or_, select
from sqlalchemy.orm import Session

from core.customer_import.mapping import Target
from core.errors import Message, ValidationFailed
from core.models import Account, Agent, Contact, Tag, contact_tags
from core.services import customers as customer_rules
from core.services import fields as field_rules
from core.services.base import NUL_MESSAGE, clean_text, gather
from core.services.phones import organisation_region, to_e164

#: A row's owner column names no agent.
NO_SUCH_OWNER = Message("No agent with this email.")

NUL = "\x00"
#: What a NUL character in a rejected row's cell is stored as: the replacement character.
NUL_SHOWN = "\ufffd"

#: Tag lists in a cell: "vip, tokyo", "vip;tokyo" or "vip、tokyo".
_TAG_SEPARATORS = re.compile(r"[,;、，]")


@dataclass(frozen=True)
class EntityRules:
    """How one entity is imported: its table, text fields and match keys."""

    entity: str
    table: Table
    text_fields: dict[str, int]
    required: str
    checks: Callable[[Session, dict[str, Any]], dict[str, Any]]
    phone_columns: dict[str, str]


RULES: dict[str, EntityRules] = {
    "contact": EntityRules(
        "contact",
        Contact.__table__,  # type: ignore[arg-type]
        customer_rules.CONTACT_FIELDS,
        "last_name",
        customer_rules.contact_checks,
        {"phone": "phone_e164", "mobile": "mobile_e164"},
    ),
    "account": EntityRules(
        "account",
        Account.__table__,  # type: ignore[arg-type]
        customer_rules.ACCOUNT_FIELDS,
        "name",
        customer_rules.account_checks,
        {"phone": "phone_e164"},
    ),
}


@dataclass
class Record:
    """A record the import writes or matched: its stored column values and its id.

    ``id`` is ``None`` for a record this import will create (until the batch is written).
    """

    values: dict[str, Any]
    id: int | None = None
    tags: set[str] = field(default_factory=set)
    changes: dict[str, Any] = field(default_factory=dict)
    new_tags: set[str] = field(default_factory=set)
    account_name: str | None = None
    queued_in: int = -1


@dataclass
class RowResult:
    """What became of one row: its action ("create", "update", "unchanged" or "reject")."""

    row_number: int
    action: str
    cells: dict[str, str]
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    new_account: str | None = None
    record: Record | None = None


@dataclass
class BatchPlan:
    """What one batch writes: new and changed records, new accounts, rejected rows."""

    number: int
    results: list[RowResult] = field(default_factory=list)
    created: list[Record] = field(default_factory=list)
    updated: list[Record] = field(default_factory=list)
    new_accounts: dict[str, Record] = field(default_factory=dict)

    def count(self, action: str) -> int:
        """How many rows of the batch had ``action``."""
        return sum(1 for result in self.results if result.action == action)


class Planner:
    """Plans batch after batch of one file; remembers what earlier batches created or matched."""

    def __init__(
        self,
        session: Session,
        entity: str,
        columns: Sequence[str],
        mapping: dict[str, str],
        match_on: Sequence[str],
        targets: dict[str, Target],
    ) -> None:
        self.rules = RULES[entity]
        self.entity = entity
        self.columns = list(columns)
        self.mapping = [
            (self.columns.index(column), column, key) for column, key in mapping.items()
        ]
        self.match_on = list(match_on)
        self.custom = {key: t.custom for key, t in targets.items() if t.custom is not None}
        self.required_custom = [key for key, f in self.custom.items() if f.required]
        self.region = organisation_region(session)
        self._region_cache = [self.region]
        mapped = set(mapping.values())
        self.agents: dict[str, int] = (
            {
                email.lower(): agent_id
                for agent_id, email in session.execute(select(Agent.id, Agent.email))
            }
            if "owner" in mapped
            else {}
        )
        #: Match keys ("email", "…") → the record (this run) or its id (an earlier batch).
        self.known: dict[tuple[str, str], Record | int] = {}
        self._remembered: list[tuple[str, str]] = []
        #: Account names (case-folded) → the account, for contacts' "account" column.
        self.accounts: dict[str, Record | int] = {}
        self.account_names: dict[int, str] = {}
        self.tag_ids: dict[str, int] = {}

    # ------------------------------------------------------------------------- validation

    def _row_values(
        self, session: Session, cells: list[str]
    ) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """The row's non-empty mapped values, checked; and the errors by column."""
        text_values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        column_of: dict[str, str] = {}
        custom_values: dict[str, Any] = {}
        for index, column, key in self.mapping:
            raw = cells[index].strip()
            if not raw:
                continue
            column_of[key] = column
            if key in self.custom:
                field_def = self.custom[key]
                try:
                    value = field_rules.parse_custom_value(field_def, raw)
                    # The cleaning clean_custom_values applies, without its per-call query of
                    # the layout (read once per import here).
                    custom_values[key] = field_rules.clean_value(
                        session, field_def, value, self._region_cache
                    )
                except field_rules.InvalidValue as error:
                    errors.setdefault(column, []).append(error.message)
            elif key in ("owner", "tags", "account"):
                extra[key] = raw
            else:
                text_values[key] = raw
        try:
            values = gather(self.rules.checks(session, text_values))
        except ValidationFailed as failure:
            values = {}
            for key, messages in failure.errors.items():
                errors.setdefault(column_of.get(key, key), []).extend(messages)
        if "owner" in extra:
            owner_id = self.agents.get(extra["owner"].lower())
            if owner_id is None:
                errors.setdefault(column_of["owner"], []).append(NO_SUCH_OWNER)
            values["owner_id"] = owner_id
        if "account" in extra:
            try:
                values["account"] = clean_text(extra["account"], "account", max_length=300)
            except ValidationFailed as failure:
                errors.setdefault(column_of["account"], []).extend(failure.errors["account"])
        if "tags" in extra:
            names = [part for part in _TAG_SEPARATORS.split(extra["tags"]) if part.strip()]
            try:
                values["tags"] = customer_rules.tag_names(names)
            except ValidationFailed as failure:
                errors.setdefault(column_of["tags"], []).extend(failure.errors["tags"])
        if custom_values:
            values["custom_fields"] = custom_values
        for name, e164 in self.rules.phone_columns.items():
            if values.get(name):
                values[e164] = to_e164(values[name], self.region)
        return values, errors

    def _keys(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        keys: list[tuple[str, str]] = []
        for name in self.match_on:
            if name == "email" and values.get("email"):
                keys.append(("email", values["email"]))
            elif name == "name" and values.get("name"):
                keys.append(("name", values["name"].casefold()))
            elif name == "phone":
                for e164 in self.rules.phone_columns.values():
                    if values.get(e164):
                        keys.append(("phone", values[e164]))
        return keys

    def _record_keys(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        """The keys a stored record is found by (all of them, whatever ``match_on`` says)."""
        keys: list[tuple[str, str]] = []
        if values.get("email"):
            keys.append(("email", str(values["email"]).lower()))
        if self.entity == "account" and values.get("name"):
            keys.append(("name", str(values["name"]).casefold()))
        for e164 in self.rules.phone_columns.values():
            if values.get(e164):
                keys.append(("phone", values[e164]))
        return keys

    # ---------------------------------------------------------------------------- matching

    def _load_matches(
        self, session: Session, wanted: set[tuple[str, str]], earlier: dict[tuple[str, str], int]
    ) -> dict[tuple[str, str], Record]:
        """Existing records holding one of ``wanted``'s keys, or matched by an earlier batch
        (``earlier``: key → id), by key."""
        table = self.rules.table
        conditions = []
        emails = [value for kind, value in wanted if kind == "email"]
        names = [value for kind, value in wanted if kind == "name"]
        phones = [value for kind, value in wanted if kind == "phone"]
        if emails and "email" in table.c:
            conditions.append(table.c.email.in_(emails))
        if names and "name" in table.c:
            conditions.append(func.lower(table.c.name).in_(names))
        for e164 in self.rules.phone_columns.values():
            if phones:
                conditions.append(table.c[e164].in_(phones))
        if earlier:
            conditions.append(table.c.id.in_(set(earlier.values())))
        if not conditions:
            return {}
        rows = session.execute(
            select(table)
            .where(or_(*conditions), table.c.merged_into_id.is_(None))
            .order_by(table.c.id)
        ).mappings()
        found: dict[tuple[str, str], Record] = {}
        by_id: dict[int, Record] = {}
        for row in rows:
            record = Record(values=dict(row), id=row["id"])
            by_id[record.id] = record
            for key in self._record_keys(record.values):
                # The oldest record holding a key wins (rows come ordered by id).
                found.setdefault(key, record)
        if by_id and self.entity == "contact":
            for contact_id, name in session.execute(
                select(contact_tags.c.contact_id, Tag.name)
                .join(Tag, Tag.id == contact_tags.c.tag_id)
                .where(contact_tags.c.contact_id.in_(list(by_id)))
            ):
                by_id[contact_id].tags.add(name)
        for key, record_id in earlier.items():
            if record_id in by_id:
                found[key] = by_id[record_id]
        return found

    def _load_accounts(self, session: Session, names: set[str]) -> None:
        missing = [name for name in names if name.casefold() not in self.accounts]
        if not missing:
            return
        folded = {name.casefold() for name in missing}
        for account_id, name in session.execute(
            select(Account.id, Account.name)
            .where(func.lower(Account.name).in_(folded), Account.merged_into_id.is_(None))
            .order_by(Account.id)
        ):
            self.accounts.setdefault(name.casefold(), account_id)
            self.account_names.setdefault(account_id, name.casefold())

    # -------------------------------------------------------------------------------- plan

    def plan(
        self, session: Session, number: int, rows: Sequence[tuple[int, list[str]]]
    ) -> BatchPlan:
        """Validate and match one batch of rows; writes nothing."""
        batch = BatchPlan(number)
        checked: list[tuple[int, list[str], dict[str, Any], dict[str, list[str]]]] = []
        wanted: set[tuple[str, str]] = set()
        account_names: set[str] = set()
        for row_number, cells in rows:
            refused = {
                column: [NUL_MESSAGE]
                for column, cell in zip(self.columns, cells, strict=True)
                if NUL in cell
            }
            if refused:
                # Kept as the rejected row with the character shown, since no database stores it.
                stored = [cell.replace(NUL, NUL_SHOWN) for cell in cells]
                checked.append((row_number, stored, {}, refused))
                continue
            values, errors = self._row_values(session, cells)
            checked.append((row_number, cells, values, errors))
            if not errors:
                wanted.update(key for key in self._keys(values) if key not in self.known)
                if values.get("account"):
                    account_names.add(values["account"])
        earlier = {
            key: known
            for _row, _cells, values, errors in checked
            if not errors
            for key in self._keys(values)
            if isinstance(known := self.known.get(key), int)
        }
        matches = self._load_matches(session, wanted, earlier)
        self._load_accounts(session, account_names)
        for row_number, cells, values, errors in checked:
            result = RowResult(row_number, "reject", dict(zip(self.columns, cells, strict=True)))
            batch.results.append(result)
            if errors:
                result.errors = errors
                continue
            self._apply(batch, result, values, matches)
        return batch

    def _find(
        self, values: dict[str, Any], matches: dict[tuple[str, str], Record]
    ) -> Record | None:
        for key in self._keys(values):
            known = self.known.get(key)
            if isinstance(known, Record):
                return known
            if key in matches:
                return matches[key]
        return None

    def _apply(
        self,
        batch: BatchPlan,
        result: RowResult,
        values: dict[str, Any],
        matches: dict[tuple[str, str], Record],
    ) -> None:
        record = self._find(values, matches)
        creating = record is None
        if creating:
            missing = []
            if not values.get(self.rules.required):
                missing.append(self.rules.required)
            present = values.get("custom_fields", {})
            missing.extend(key for key in self.required_custom if present.get(key) is None)
            if missing:
                result.errors = {name: ["This field is required."] for name in missing}
                return
            record = Record(values={})
        assert record is not None
        changes = self._changes(record, values)
        tags = set(values.get("tags", ())) - record.tags
        account = values.get("account")
        if account and self._account_ref(record) != account.casefold():
            changes["account_id"] = None  # resolved to the account's id when written
            record.account_name = account
            if account.casefold() not in self.accounts:
                new = Record(values={"name": account})
                self.accounts[account.casefold()] = new
                batch.new_accounts[account.casefold()] = new
                result.new_account = account
            elif isinstance(self.accounts[account.casefold()], Record) and (
                account.casefold() in batch.new_accounts
            ):
                result.new_account = account
        result.values = {
            **{k: v for k, v in values.items() if k not in ("tags", "custom_fields")},
            **({"tags": sorted(record.tags | tags)} if "tags" in values else {}),
            **values.get("custom_fields", {}),
        }
        result.record = record
        if not changes and not tags:
            result.action = "unchanged"
        else:
            result.action = "create" if creating else "update"
            record.values.update(changes)
            record.tags |= tags
            record.new_tags |= tags
            if creating:
                batch.created.append(record)
            elif record.id is not None and record.queued_in != batch.number:
                record.queued_in = batch.number
                batch.updated.append(record)
            if record.id is not None:
                record.changes.update(changes)
        for key in (*self._record_keys(record.values), *self._keys(values)):
            if key not in self.known:
                self.known[key] = record
                self._remembered.append(key)

    def _changes(self, record: Record, values: dict[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name, value in values.items():
            if name in ("tags", "account"):
                continue
            if name == "custom_fields":
                merged = {**(record.values.get("custom_fields") or {}), **value}
                if merged != (record.values.get("custom_fields") or {}):
                    changes["custom_fields"] = merged
            elif (
                name == "name" and str(record.values.get(name) or "").casefold() == value.casefold()
            ):
                continue  # matched on the name: a change of case alone does not rename
            elif record.values.get(name) != value:
                changes[name] = value
        return changes

    def _account_ref(self, record: Record) -> str | None:
        if record.account_name is not None:
            return record.account_name.casefold()
        account_id = record.values.get("account_id")
        return None if account_id is None else self.account_names.get(account_id)

    def account_id(self, name: str) -> int | None:
        """The id of the account called ``name`` (known once its batch was written)."""
        known = self.accounts.get(name.casefold())
        return known.id if isinstance(known, Record) else known

    def written(self, batch: BatchPlan) -> None:
        """Forget the batch's records (keep their ids): later batches reload what they match."""
        for key in self._remembered:
            known = self.known[key]
            if isinstance(known, Record) and known.id is not None:
                self.known[key] = known.id
        self._remembered.clear()
        for name, account in batch.new_accounts.items():
            if account.id is not None:
                self.accounts[name] = account.id
                self.account_names[account.id] = name
        for record in (*batch.created, *batch.updated):
            record.changes.clear()
            record.new_tags.clear()
