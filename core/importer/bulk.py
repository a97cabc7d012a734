"""The bulk write path: raw DBAPI ``executemany`` on SQLite, ``COPY … FROM STDIN`` on PostgreSQL.

Everything runs in the one transaction of the import. The import first takes the write lock
(the database's on SQLite, table locks on PostgreSQL), reads the highest ids ever issued and
allocates the ids of referenced records itself; on PostgreSQL the sequences are moved past them
at the end (SQLite's AUTOINCREMENT counters follow the inserted ids by themselves).
Rows that nothing refers to (threads, status changes…) take their ids from the database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from core.importer.plan import AgentInfo, Batch, ContactInfo, Known

#: Columns written per table, in the order of the planner's row tuples.
COLUMNS: dict[str, tuple[str, ...]] = {
    "department": ("id", "name", "description", "is_active", "external_id", "created_at"),
    "permission_profile": ("id", "name", "description", "is_admin", "external_id"),
    "profile_permission": ("profile_id", "permission"),
    "agent": (
        "id",
        "email",
        "name",
        "password_hash",
        "profile_id",
        "locale",
        "status",
        "is_active",
        "external_id",
        "created_at",
    ),
    "agent_department": ("agent_id", "department_id"),
    "account": (
        "id",
        "name",
        "website",
        "phone",
        "phone_e164",
        "industry",
        "description",
        "owner_id",
        "external_id",
        "created_at",
        "updated_at",
    ),
    "contact": (
        "id",
        "first_name",
        "last_name",
        "email",
        "secondary_email",
        "phone",
        "mobile",
        "phone_e164",
        "mobile_e164",
        "title",
        "description",
        "account_id",
        "owner_id",
        "is_spam",
        "external_id",
        "created_at",
        "updated_at",
    ),
    "contact_identity": ("contact_id", "channel", "external_id", "display_name"),
    "tag": ("id", "name"),
    "contact_tag": ("contact_id", "tag_id"),
    "ticket": (
        "id",
        "number",
        "subject",
        "description",
        "status",
        "status_type",
        "priority",
        "channel",
        "classification",
        "department_id",
        "contact_id",
        "account_id",
        "assignee_id",
        "raised_by",
        "due_at",
        "created_at",
        "updated_at",
        "closed_at",
        "external_id",
        "last_reaction_at",
    ),
    "ticket_status_change": (
        "ticket_id",
        "from_status",
        "from_type",
        "to_status",
        "to_type",
        "agent_id",
        "changed_at",
    ),
    "thread": (
        "ticket_id",
        "kind",
        "channel",
        "author_agent_id",
        "author_contact_id",
        "body",
        "created_at",
    ),
    "happiness_rating": ("ticket_id", "contact_id", "agent_id", "rating", "feedback", "created_at"),
    "time_entry": (
        "ticket_id",
        "agent_id",
        "seconds",
        "billable",
        "billed",
        "description",
        "logged_at",
    ),
}

#: Tables whose ids the import allocates (records refer to them).
ALLOCATED_TABLES: tuple[str, ...] = (
    "department",
    "permission_profile",
    "agent",
    "account",
    "contact",
    "tag",
    "ticket",
)


#: Tables of ticket history: many rows, referring only to tickets, agents and contacts.
HISTORY_TABLES: tuple[str, ...] = (
    "ticket_status_change",
    "thread",
    "happiness_rating",
    "time_entry",
)

#: Tables whose foreign keys a large import on PostgreSQL drops and re-adds (see ``lock``):
#: the ticket history and the tickets themselves (to departments, contacts, accounts, agents).
UNCHECKED_TABLES: tuple[str, ...] = ("ticket", *HISTORY_TABLES)


def sqlite_time(value: datetime) -> str:
    """A time as SQLAlchemy stores it on SQLite: naive UTC text with microseconds."""
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def postgres_time(value: datetime) -> datetime:
    """PostgreSQL takes aware times as they are."""
    return value


class BulkWriter:
    """Writes batches through the raw driver connection of ``connection``'s transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.is_postgres = connection.dialect.name == "postgresql"
        self.raw: Any = connection.connection.driver_connection
        self.to_db_time: Callable[[datetime], Any] = (
            postgres_time if self.is_postgres else sqlite_time
        )
        self._dropped_foreign_keys: list[tuple[str, str, str]] = []
        self._types: dict[str, list[int]] = {}

    def lock(self, *, large: bool = False) -> None:
        """Take the write lock before reading the highest ids (no one else inserts meanwhile).

        For a ``large`` import on PostgreSQL, the foreign keys of the tickets and of their
        history (:data:`UNCHECKED_TABLES`) are dropped in the transaction and re-added (so
        re-validated in one scan each) by :meth:`finish`: per-row foreign-key triggers cost
        about half of COPY's time (four checks per ticket), and the planner resolved every
        reference already. The price: those tables and the ones they refer to (tickets,
        agents, contacts, accounts, departments) are locked against reading too until the
        import commits. A failed import rolls the drops back with everything else.
        """
        if self.is_postgres:
            tables = ", ".join((*COLUMNS, "organisation"))
            self.connection.execute(text(f"LOCK TABLE {tables} IN EXCLUSIVE MODE"))
            if large:
                self._drop_foreign_keys()
        else:
            # SQLite's default page cache (2 MB) thrashes on index inserts into big tables.
            self.connection.exec_driver_sql("PRAGMA cache_size = -262144")
            # Any write takes SQLite's database lock for the rest of the transaction.
            self.connection.execute(
                text("UPDATE organisation SET next_ticket_number = next_ticket_number")
            )

    def _sequence(self, table: str) -> str:
        """The PostgreSQL sequence issuing ``table``'s ids."""
        return str(
            self.connection.exec_driver_sql(
                f"SELECT pg_get_serial_sequence('{table}', 'id')"
            ).scalar_one()
        )

    def _next_id(self, table: str) -> int:
        """The next id of ``table`` that was never issued, deleted rows' ids included."""
        run = self.connection.exec_driver_sql
        highest = run(f"SELECT COALESCE(MAX(id), 0) FROM {table}").scalar_one()
        if self.is_postgres:
            issued = run(
                "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END"
                f" FROM {self._sequence(table)}"
            ).scalar_one()
        else:
            issued = run(
                "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = ?", (table,)
            ).scalar_one()
        return int(max(highest, issued)) + 1

    def read_known(self, channels: frozenset[str]) -> Known:
        """Read what earlier imports and live work left: refs, names, ids, counters."""
        run = self.connection.exec_driver_sql

        def refs(table: str) -> dict[str, int]:
            query = f"SELECT external_id, id FROM {table} WHERE external_id IS NOT NULL"
            return {ref: row_id for ref, row_id in run(query)}

        next_ids = {table: self._next_id(table) for table in ALLOCATED_TABLES}
        agent_departments: dict[int, set[int]] = {}
        for agent_id, department_id in run("SELECT agent_id, department_id FROM agent_department"):
            agent_departments.setdefault(agent_id, set()).add(department_id)
        agents = {
            ref: AgentInfo(agent_id, frozenset(agent_departments.get(agent_id, ())), bool(active))
            for ref, agent_id, active in run(
                "SELECT external_id, id, is_active FROM agent WHERE external_id IS NOT NULL"
            )
        }
        contacts = {
            ref: ContactInfo(contact_id, account_id, merged is not None)
            for ref, contact_id, account_id, merged in run(
                "SELECT external_id, id, account_id, merged_into_id FROM contact"
                " WHERE external_id IS NOT NULL"
            )
        }
        departments = {
            ref: (department_id, bool(active))
            for ref, department_id, active in run(
                "SELECT external_id, id, is_active FROM department WHERE external_id IS NOT NULL"
            )
        }
        return Known(
            next_ids=next_ids,
            departments=departments,
            department_names={name for (name,) in run("SELECT name FROM department")},
            profiles=refs("permission_profile"),
            profile_names={
                name: pid for name, pid in run("SELECT name, id FROM permission_profile")
            },
            agents=agents,
            agent_emails={email.lower() for (email,) in run("SELECT email FROM agent")},
            accounts=refs("account"),
            contacts=contacts,
            tickets=set(refs("ticket")),
            tags={name: tag_id for name, tag_id in run("SELECT name, id FROM tag")},
            identities={
                (channel, ref)
                for channel, ref in run("SELECT channel, external_id FROM contact_identity")
            },
            statuses={
                name: kind for name, kind in run("SELECT name, status_type FROM ticket_status")
            },
            channels=channels,
            next_ticket_number=run(
                "SELECT next_ticket_number FROM organisation ORDER BY id LIMIT 1"
            ).scalar_one(),
            load_ticket_numbers=lambda: {n for (n,) in run("SELECT number FROM ticket")},
            phone_region=run(
                "SELECT phone_region FROM organisation ORDER BY id LIMIT 1"
            ).scalar_one(),
        )

    def _drop_foreign_keys(self) -> None:
        run = self.connection.exec_driver_sql
        tables = ", ".join(f"'{table}'::regclass" for table in UNCHECKED_TABLES)
        self._dropped_foreign_keys = [
            (table, name, definition)
            for table, name, definition in run(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                f" FROM pg_constraint WHERE contype = 'f' AND conrelid IN ({tables})"
            )
        ]
        for table, name, _definition in self._dropped_foreign_keys:
            run(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')

    def write(self, batch: Batch) -> None:
        """Insert a batch's rows, parents before children."""
        for table, columns in COLUMNS.items():
            rows = batch.rows.get(table)
            if not rows:
                continue
            if self.is_postgres:
                self._copy(table, columns, rows)
            else:
                placeholders = ", ".join("?" * len(columns))
                statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
                cursor = self.raw.cursor()
                try:
                    cursor.executemany(statement, rows)
                finally:
                    cursor.close()

    def _column_types(self, table: str, columns: tuple[str, ...]) -> list[int]:
        """The type oids of ``columns``, read from the catalogue once per table."""
        types = self._types.get(table)
        if types is None:
            with self.raw.cursor() as cursor:
                cursor.execute(
                    "SELECT attname, atttypid FROM pg_attribute"
                    " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                    (table,),
                )
                oids = dict(cursor.fetchall())
            types = self._types[table] = [oids[column] for column in columns]
        return types

    def _copy(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        # Binary COPY: psycopg's C dumpers turn the row tuples into wire format several times
        # faster than its text formatting (which spends most of the writer thread's time, under
        # the GIL, on datetimes), and the server skips parsing text into ints and timestamps.
        # The column types come from the catalogue, as binary input must match them exactly;
        # the server still checks each value against its column (lengths, NOT NULL, uniques).
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        types = self._column_types(table, columns)
        with self.raw.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(types)
            write_row = copy.write_row
            for row in rows:
                write_row(row)

    def finish(self, next_ticket_number: int) -> None:
        """Advance the ticket counter and, on PostgreSQL, the id sequences."""
        self.connection.execute(
            text("UPDATE organisation SET next_ticket_number = :n WHERE next_ticket_number < :n"),
            {"n": next_ticket_number},
        )
        for table, name, definition in self._dropped_foreign_keys:
            self.connection.exec_driver_sql(
                f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
            )
        if not self.is_postgres:
            # Back to SQLite's default for the pooled connection's next user.
            self.connection.exec_driver_sql("PRAGMA cache_size = -2000")
        if self.is_postgres:
            for table in ALLOCATED_TABLES:
                # Only ever forward: a sequence moved back would issue deleted ids again.
                self.connection.exec_driver_sql(
                    f"SELECT setval('{self._sequence(table)}', {self._next_id(table)}, false)"
                )
