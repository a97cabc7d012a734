"""Runs one import: decode and check every line, write batches, refuse or commit the whole."""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import msgspec
from sqlalchemy.orm import Session

from core import events
from core.bootstrap import ensure_baseline
from core.errors import DeskError
from core.importer.bulk import BulkWriter
from core.importer.plan import Batch, Planner, RecordError
from core.importer.records import (
    AccountRecord,
    AgentRecord,
    ContactRecord,
    DepartmentRecord,
    ProfileRecord,
    TicketRecord,
    make_decoder,
)
from core.models import AuditEntry
from core.services.base import NUL_MESSAGE
from core.services.tickets import channels
from hostapi import clock
from hostapi import events as event_names

if TYPE_CHECKING:
    from core.host import Host

#: Tickets per batch: one ``history.imported`` event and one write round per batch.
BATCH_TICKETS = 10_000
#: A refused import reports at most this many errors (the file is usually wrong throughout).
MAX_ERRORS = 200

#: From this size on, an import is "large" (see ``BulkWriter.lock``): about 30,000 tickets.
LARGE_IMPORT_BYTES = 40_000_000

Progress = Callable[[int, int], None]


class ImportRefused(DeskError):
    """The file has bad records; nothing was written. ``errors`` holds (line, message)."""

    status_code = 422

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        shown = "; ".join(f"line {line}: {message}" for line, message in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"import refused: {shown}{more}")


@dataclass
class ImportReport:
    """What an import wrote: counts per record type (nested ones included) and what it skipped."""

    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0
    batches: int = 0


_TYPE_NAMES: dict[type, str] = {
    DepartmentRecord: "department",
    ProfileRecord: "profile",
    AgentRecord: "agent",
    AccountRecord: "account",
    ContactRecord: "contact",
    TicketRecord: "ticket",
}


def _describe_decode_error(error: msgspec.DecodeError) -> str:
    """msgspec says "Expected `str`, got `int` - at `$.threads[0].body`"; lead with the field."""
    message = str(error)
    if " - at `$." in message:
        text, path = message.rsplit(" - at `$.", 1)
        return f"{path.rstrip('`')}: {text}"
    return message


def _identify(line: bytes) -> tuple[str | None, str | None]:
    """Best-effort type and ref of an undecodable line, so records referring to it say why."""
    try:
        loose = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return None, None
    if not isinstance(loose, dict):
        return None, None
    kind, ref = loose.get("type"), loose.get("id")
    return (kind if isinstance(kind, str) else None), (ref if isinstance(ref, str) else None)


def _nul_path(line: bytes) -> str | None:
    """Where a string of the line holds a NUL character (``threads[0].body``), if one does.

    JSON can carry it (``\\u0000``) but no database stores it; only lines with the escape
    are decoded a second time to find the field.
    """
    if b"\\u0000" not in line:
        return None
    pending: list[tuple[str, Any]] = [("", msgspec.json.decode(line))]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str) and "\x00" in value:
            return path or "$"
        if isinstance(value, dict):
            for key, item in value.items():
                pending.append((f"{path}.{key}" if path else str(key), item))
                if "\x00" in key:
                    return path or "$"
        elif isinstance(value, list):
            pending.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None


def _open(source: Path | IO[bytes]) -> tuple[Iterable[bytes], int, Any]:
    """Lines of ``source``, its size in bytes (0 if unknown) and what to close afterwards."""
    if isinstance(source, (str, Path)):
        handle = open(source, "rb")  # noqa: SIM115 - closed by run_import
        return handle, os.fstat(handle.fileno()).st_size, handle
    try:
        size = os.fstat(source.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        size = 0
    return source, size, None


def run_import(
    host: Host,
    source: Path | IO[bytes],
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    batch_tickets: int = BATCH_TICKETS,
) -> ImportReport:
    """Import a JSON Lines history file (docs/import-format.md) in one transaction.

    Every record is checked. With ``skip_invalid`` false, any bad record refuses the whole
    import and nothing is written; with it true, bad records and the records referring to them
    are skipped and listed in the report. ``progress(bytes_read, total_bytes)`` is called after
    each batch (``total_bytes`` is 0 when the source's size is unknown).

    :raises ImportRefused: with every (line, message) found, at most :data:`MAX_ERRORS`.
    """
    started = clock.monotonic()
    lines, total_bytes, closer = _open(source)
    try:
        with host.engine.connect() as connection:
            transaction = connection.begin()
            try:
                report = _import(
                    host, connection, lines, skip_invalid, progress, total_bytes, batch_tickets
                )
            except BaseException:
                transaction.rollback()
                raise
            transaction.commit()
    finally:
        if closer is not None:
            closer.close()
    report.seconds = clock.monotonic() - started
    return report


def _import(
    host: Host,
    connection: Any,
    lines: Iterable[bytes],
    skip_invalid: bool,
    progress: Progress | None,
    total_bytes: int,
    batch_tickets: int,
) -> ImportReport:
    session = Session(bind=connection)
    ensure_baseline(session)
    session.flush()
    writer = BulkWriter(connection)
    writer.lock(large=total_bytes >= LARGE_IMPORT_BYTES)
    planner = Planner(writer.read_known(channels()), writer.to_db_time, clock.now())
    handlers: dict[type, Callable[[Any, Batch], None]] = {
        DepartmentRecord: planner.department,
        ProfileRecord: planner.profile,
        AgentRecord: planner.agent,
        AccountRecord: planner.account,
        ContactRecord: planner.contact,
        TicketRecord: planner.ticket,
    }
    report = ImportReport()
    errors = report.skipped
    decode = make_decoder().decode
    batch = Batch(1)
    bytes_read = 0

    background = _BackgroundWriter(lambda batch: _write_batch(session, host, writer, batch))
    known_numbers = planner.known.load_ticket_numbers
    # The planner reads the database only for this; let the pending writes finish first, as
    # the connection is the writer thread's meanwhile.
    planner.known.load_ticket_numbers = lambda: (background.drain(), known_numbers())[1]

    def flush(batch: Batch) -> None:
        # Once a record was refused (without skip_invalid) nothing will be committed, so
        # stop writing and only go on checking, to report every bad line at once.
        if batch.is_empty or (errors and not skip_invalid):
            return
        background.submit(batch)
        report.batches += 1
        for name, count in batch.counts.items():
            report.counts[name] = report.counts.get(name, 0) + count
        if progress is not None:
            progress(bytes_read, total_bytes)

    try:
        for line_number, line in _numbered(lines):
            bytes_read += len(line)
            try:
                record = decode(line)
                nul_at = _nul_path(line)
            except msgspec.DecodeError as error:
                kind, ref = _identify(line)
                if kind is not None:
                    planner.refuse(kind, ref, line_number)
                errors.append((line_number, _describe_decode_error(error)))
            else:
                try:
                    if nul_at is not None:
                        raise RecordError(nul_at, NUL_MESSAGE)
                    handlers[type(record)](record, batch)
                except RecordError as error:
                    kind = _TYPE_NAMES[type(record)]
                    planner.refuse(kind, record.id, line_number)
                    errors.append((line_number, f"{kind} {record.id!r}: {error}"))
                else:
                    if batch.tickets >= batch_tickets:
                        flush(batch)
                        batch = Batch(batch.number + 1)
            if len(errors) >= MAX_ERRORS and not skip_invalid:
                break
        if errors and not skip_invalid:
            raise ImportRefused(errors)
        flush(batch)
        background.drain()
    finally:
        background.close()
    writer.finish(planner.next_ticket_number)
    session.add(
        AuditEntry(
            at=clock.now(),
            actor_agent_id=None,
            actor_label="import",
            ip_address=None,
            action="add",
            entity_type="import",
            entity_id=uuid.uuid4().hex,
            sub_action="history",
            before=None,
            after={"counts": report.counts, "skipped": len(errors), "batches": report.batches},
        )
    )
    session.flush()
    if progress is not None:
        progress(total_bytes or bytes_read, total_bytes)
    return report


def _numbered(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based line numbers."""
    for number, line in enumerate(lines, 1):
        if line.strip():
            yield number, line


def _write_batch(session: Session, host: Host, writer: BulkWriter, batch: Batch) -> None:
    writer.write(batch)
    _emit_batch_event(session, host, batch)


class _BackgroundWriter:
    """Writes batches on a thread of its own, so checking the next batch overlaps the
    database's work on this one (the driver releases the GIL while the server works)."""

    def __init__(self, write: Callable[[Batch], None]) -> None:
        self._write = write
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="import-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            try:
                if self._error is None:
                    self._write(batch)
            except BaseException as error:
                self._error = error
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, batch: Batch) -> None:
        """Queue a batch (waits while the previous one is still queued)."""
        self._raise()
        self._queue.put(batch)

    def drain(self) -> None:
        """Wait until every queued batch is written; raise what a write raised."""
        self._queue.join()
        self._raise()

    def close(self) -> None:
        """Stop the thread after the queued batches."""
        self._queue.put(None)
        self._thread.join()


def _emit_batch_event(session: Session, host: Host, batch: Batch) -> None:
    """One ``history.imported`` event for the batch, to the departments of its tickets."""
    tickets, contacts = batch.ticket_ids, batch.contact_ids
    events.emit(
        session,
        host,
        event_names.HISTORY_IMPORTED,
        {
            "batch": batch.number,
            "ticket_ids": [min(tickets), max(tickets)] if tickets else None,
            "contact_ids": [min(contacts), max(contacts)] if contacts else None,
            "counts": dict(batch.counts),
        },
        batch.department_ids,
    )
    session.flush()
