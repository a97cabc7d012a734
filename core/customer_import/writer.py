"""Writing one planned batch: a few multi-row statements, one event and one audit entry.

New records take their ids from the database, so live writers can go on beside an import: on
PostgreSQL the batch draws them from the table's sequence and writes the rows with ``COPY``
(psycopg's client-side handling of one huge multi-row ``INSERT`` cost more than the server's
work); on SQLite, ``INSERT … RETURNING`` under the transaction's write lock. Updates are
``executemany`` grouped by the columns they change. The batch emits one
``contacts.imported`` (or ``accounts.imported``) event and writes one audit entry, not one per
record: an extension that derives data from contacts rebuilds what the event names.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import events
from core.customer_import.plan import BatchPlan, Planner, Record
from core.models import (
    Account,
    AuditEntry,
    CustomerImport,
    CustomerImportRejection,
    Tag,
    contact_tags,
)
from hostapi import clock
from hostapi import events as event_names

if TYPE_CHECKING:
    from core.host import Host

#: The event each entity's batches emit.
BATCH_EVENTS: dict[str, str] = {
    "contact": event_names.CONTACTS_IMPORTED,
    "account": event_names.ACCOUNTS_IMPORTED,
}


def lock(session: Session, entity: str) -> None:
    """Keep other writers of the entity's table out while a batch is matched and written.

    On PostgreSQL, a contact created by a live request between the batch's match query and
    its insert would otherwise be duplicated; the lock lasts one batch (tens of milliseconds).
    SQLite's write transaction (``BEGIN IMMEDIATE``) already excludes other writers.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"LOCK TABLE {entity} IN SHARE ROW EXCLUSIVE MODE"))


def _defaults(table: Any) -> dict[str, Any]:
    """The value of every insertable column when a row does not give it."""
    values: dict[str, Any] = {}
    for column in table.c:
        if column.primary_key:
            continue
        default = column.default.arg if column.default is not None else None
        if callable(default):
            default = None  # the JSON documents' ``dict`` factory: filled below
        values[column.name] = default
    if "custom_fields" in values:
        values["custom_fields"] = {}
    return values


def write_batch(
    session: Session, host: Host | None, planner: Planner, batch: BatchPlan, record: CustomerImport
) -> None:
    """Write ``batch`` in the session's transaction and count it on the import ``record``."""
    table = planner.rules.table
    now = clock.now()
    created_accounts = _insert_accounts(session, batch, now)
    for item in (*batch.created, *batch.updated):
        if item.account_name is not None:
            item.values["account_id"] = planner.account_id(item.account_name)
            if item.id is not None:
                item.changes["account_id"] = item.values["account_id"]
    if batch.created:
        defaults = _defaults(table)
        rows = [
            {**defaults, **_columns(table, item.values), "created_at": now, "updated_at": now}
            for item in batch.created
        ]
        ids = _insert(session, table, rows)
        for item, new_id in zip(batch.created, ids, strict=True):
            item.id = new_id
    _update(session, table, batch.updated, now)
    if planner.entity == "contact":
        _link_tags(session, planner, [*batch.created, *batch.updated])
    rejected = [result for result in batch.results if result.action == "reject"]
    if rejected:
        session.execute(
            insert(CustomerImportRejection),
            [
                {
                    "import_id": record.id,
                    "row_number": result.row_number,
                    "values": result.cells,
                    "errors": result.errors,
                }
                for result in rejected
            ],
        )
    counts = {
        "created": batch.count("create"),
        "updated": batch.count("update"),
        "unchanged": batch.count("unchanged"),
        "rejected": len(rejected),
    }
    payload = {
        "import_id": record.id,
        "batch": batch.number,
        "created_ids": [item.id for item in batch.created],
        "updated_ids": [item.id for item in batch.updated],
        "created_account_ids": created_accounts,
        "counts": counts,
    }
    events.emit(session, host, BATCH_EVENTS[planner.entity], payload)
    session.add(
        AuditEntry(
            at=now,
            actor_agent_id=record.created_by_id,
            actor_label="import",
            ip_address=None,
            action="add",
            entity_type="customer_import",
            entity_id=str(record.id),
            sub_action=f"{planner.entity}_batch",
            before=None,
            after={**payload, "fields": sorted(set(record.mapping.values()))},
        )
    )
    session.execute(
        update(CustomerImport)
        .where(CustomerImport.id == record.id)
        .values(
            processed_rows=CustomerImport.processed_rows + len(batch.results),
            created_count=CustomerImport.created_count + counts["created"],
            updated_count=CustomerImport.updated_count + counts["updated"],
            rejected_count=CustomerImport.rejected_count + counts["rejected"],
        )
    )


def _columns(table: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if name in table.c and name != "id"}


def _insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (every one with the same keys); their new ids, in order."""
    if session.get_bind().dialect.name != "postgresql":
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(session.execute(statement, rows).scalars())
    ids = list(
        session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": len(rows)},
        ).scalars()
    )
    names = list(rows[0])
    raw = session.connection().connection.driver_connection
    statement = f"COPY {table.name} (id, {', '.join(names)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for new_id, row in zip(ids, rows, strict=True):
            copy.write_row([new_id, *(_copy_value(row[name]) for name in names)])
    return ids


def _copy_value(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, (dict, list)) else value


def _insert_accounts(session: Session, batch: BatchPlan, now: Any) -> list[int]:
    if not batch.new_accounts:
        return []
    table = Account.__table__
    defaults = _defaults(table)
    accounts = list(batch.new_accounts.values())
    rows = [
        {**defaults, "name": item.values["name"], "created_at": now, "updated_at": now}
        for item in accounts
    ]
    ids = _insert(session, table, rows)
    for item, new_id in zip(accounts, ids, strict=True):
        item.id = new_id
    return ids


def _update(session: Session, table: Any, records: list[Record], now: Any) -> None:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for item in records:
        changes = {**_columns(table, item.changes), "updated_at": now}
        groups[tuple(sorted(changes))].append(
            {"row_id": item.id, **{f"new_{name}": value for name, value in changes.items()}}
        )
    for names, params in groups.items():
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in names})
        )
        session.connection().execute(statement, params)


def _link_tags(session: Session, planner: Planner, records: list[Record]) -> None:
    wanted = {name for item in records for name in item.new_tags}
    missing = wanted - planner.tag_ids.keys()
    if missing:
        _ensure_tags(session, missing)
        found = session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(missing)))
        planner.tag_ids.update({name: tag_id for name, tag_id in found})
    pairs = [
        {"contact_id": item.id, "tag_id": planner.tag_ids[name]}
        for item in records
        for name in sorted(item.new_tags)
    ]
    if pairs:
        session.execute(insert(contact_tags), pairs)


def _ensure_tags(session: Session, names: set[str]) -> None:
    """Create the tags not there yet (a concurrent writer creating one too is not an error)."""
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Tag.__table__)
    session.execute(
        statement.on_conflict_do_nothing(index_elements=["name"]),
        [{"name": name} for name in sorted(names)],
    )
