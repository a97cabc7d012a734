"""The import service: upload, mapping, preview, the job and its progress.

The job runs on the core queue (:data:`core.outbox.CORE_QUEUE`), enqueued after the commit
that marks the import ``queued``. If Redis is unreachable then, the import stays ``queued``
and the worker's relay loop enqueues it later (:func:`enqueue_waiting`). Each batch of rows is
matched, written and counted in one transaction, so the progress a page shows is exactly what
is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from core import permissions
from core.customer_import.mapping import (
    DEFAULT_MATCH_ON,
    ENTITIES,
    check_mapping,
    check_match_on,
    suggest,
    targets,
)
from core.customer_import.plan import Planner, RowResult
from core.customer_import.readers import Table, read_table
from core.customer_import.writer import lock, write_batch
from core.errors import Conflict, Message, NotFound, ValidationFailed
from core.models import AuditEntry, CustomerImport, ImportState
from core.services.base import Unit, clean_text
from hostapi import clock

if TYPE_CHECKING:
    from core.host import Host

log = logging.getLogger(__name__)

#: Rows per batch: one transaction, one event and one audit entry each.
BATCH_ROWS = 1000
#: Rows the preview shows as they would be stored.
PREVIEW_ROWS = 20
#: The RQ job function, by import path.
JOB_FUNCTION = "core.customer_import.runner.run_job"
#: Largest file accepted (bytes): about a million contacts.
MAX_FILE_BYTES = 200_000_000

Progress = Callable[[CustomerImport], None]


# ------------------------------------------------------------------------------------ upload


def _entity(entity: object) -> str:
    if entity not in ENTITIES:
        raise ValidationFailed({"entity": [Message("Give contact or account.")]})
    return str(entity)


def read_upload(content: bytes, filename: str, encoding: str | None) -> Table:
    """Read and check an uploaded file (nothing is stored).

    :raises FileRefused: the file is empty, malformed, or not in the declared encoding.
    """
    if len(content) > MAX_FILE_BYTES:
        raise ValidationFailed(
            {"file": [Message("At most %(count)d MB.", count=MAX_FILE_BYTES // 1_000_000)]}
        )
    table = read_table(content, filename, encoding)
    if any("\x00" in column for column in table.columns):
        # Column names are kept (the mapping); a NUL row is refused later, as a row.
        raise ValidationFailed({"file": [Message("A column name contains the NUL character.")]})
    return table


def create_import(
    unit: Unit,
    *,
    entity: str,
    filename: str,
    content: bytes,
    encoding: str | None = None,
    mapping: dict[str, str] | None = None,
    match_on: Sequence[str] | str | None = None,
) -> CustomerImport:
    """Check an uploaded file and keep it, with its mapping (given, else suggested).

    A file that is not what it says is refused and nothing is stored, not even the import.

    :raises ValidationFailed: ``file``/``encoding`` (the file), ``mapping.<column>``,
        ``match_on`` or ``entity``.
    """
    unit.actor.require(permissions.IMPORT_RUN)
    entity = _entity(entity)
    filename = clean_text(filename or "upload", "filename", max_length=300) or "upload"
    table = read_upload(content, filename, encoding)
    available = targets(unit.session, entity)
    chosen = (
        suggest(table.columns, available, entity)
        if mapping is None
        else check_mapping(mapping, table.columns, available)
    )
    record = CustomerImport(
        entity=entity,
        filename=filename,
        file_format=table.file_format,
        encoding=table.encoding,
        content=content,
        mapping=chosen,
        match_on=DEFAULT_MATCH_ON[entity] if match_on is None else check_match_on(match_on, entity),
        state=ImportState.UPLOADED.value,
        total_rows=len(table.rows),
        created_by_id=unit.actor.agent_id,
        created_at=clock.now(),
    )
    unit.session.add(record)
    unit.session.flush()
    unit.audit(
        "add",
        "customer_import",
        record.id,
        after={
            "entity": entity,
            "filename": filename,
            "file_format": table.file_format,
            "encoding": table.encoding,
            "total_rows": record.total_rows,
        },
    )
    return record


def get_import(unit: Unit, import_id: int, entity: str | None = None) -> CustomerImport:
    """The import ``import_id`` (of ``entity`` when given).

    :raises NotFound: no such import.
    """
    unit.actor.require(permissions.IMPORT_RUN)
    record = unit.session.get(CustomerImport, import_id)
    if record is None or (entity is not None and record.entity != entity):
        raise NotFound("import not found")
    return record


def list_imports(unit: Unit, entity: str, limit: int = 20) -> list[CustomerImport]:
    """The latest imports of ``entity``, newest first."""
    unit.actor.require(permissions.IMPORT_RUN)
    return list(
        unit.session.scalars(
            select(CustomerImport)
            .where(CustomerImport.entity == _entity(entity))
            .order_by(CustomerImport.created_at.desc(), CustomerImport.id.desc())
            .limit(limit)
        )
    )


def table_of(record: CustomerImport) -> Table:
    """The import's file read again (it was checked at upload)."""
    return read_table(record.content, record.filename, record.encoding)


def set_mapping(
    unit: Unit,
    record: CustomerImport,
    *,
    mapping: dict[str, str] | None = None,
    match_on: Sequence[str] | str | None = None,
) -> CustomerImport:
    """Change the mapping or the match fields of an import not started yet.

    :raises Conflict: the import was started.
    :raises ValidationFailed: ``mapping.<column>`` or ``match_on``.
    """
    unit.actor.require(permissions.IMPORT_RUN)
    if record.state != ImportState.UPLOADED:
        raise Conflict("The import has started: its mapping can no longer change.")
    values: dict[str, Any] = {}
    if mapping is not None:
        available = targets(unit.session, record.entity)
        values["mapping"] = check_mapping(mapping, table_of(record).columns, available)
    if match_on is not None:
        values["match_on"] = check_match_on(match_on, record.entity)
    before = {name: getattr(record, name) for name in values}
    for name, value in values.items():
        setattr(record, name, value)
    unit.session.flush()
    if values and before != values:
        unit.audit(
            "update",
            "customer_import",
            record.id,
            sub_action="mapping",
            before=before,
            after=values,
        )
    return record


# ----------------------------------------------------------------------------------- preview


@dataclass
class Preview:
    """A dry run: the first rows as they would be stored, and totals for the whole file."""

    columns: list[str]
    mapping: dict[str, str]
    match_on: list[str]
    rows: list[RowResult] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    new_accounts: list[str] = field(default_factory=list)


def _chunks(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def dry_run(
    session: Session,
    entity: str,
    table: Table,
    mapping: dict[str, str],
    match_on: Sequence[str],
    *,
    shown: int = PREVIEW_ROWS,
) -> Preview:
    """Validate and match every row of ``table`` without writing anything."""
    available = targets(session, entity)
    mapping = check_mapping(mapping, table.columns, available)
    planner = Planner(session, entity, table.columns, mapping, match_on, available)
    preview = Preview(table.columns, mapping, list(match_on))
    totals = dict.fromkeys(("rows", "valid", "invalid", "new", "updates", "unchanged"), 0)
    for number, chunk in enumerate(_chunks(table.rows, BATCH_ROWS), 1):
        batch = planner.plan(session, number, chunk)
        for result in batch.results:
            if len(preview.rows) < shown:
                preview.rows.append(result)
            totals["rows"] += 1
            totals["invalid" if result.action == "reject" else "valid"] += 1
            if result.action == "create":
                totals["new"] += 1
            elif result.action == "update":
                totals["updates"] += 1
            elif result.action == "unchanged":
                totals["unchanged"] += 1
        preview.new_accounts.extend(item.values["name"] for item in batch.new_accounts.values())
    preview.totals = totals
    return preview


def preview_import(
    unit: Unit, record: CustomerImport, *, shown: int = PREVIEW_ROWS, table: Table | None = None
) -> Preview:
    """The dry run of an uploaded import with its current mapping (writes nothing).

    ``table`` is the import's file when the caller has read it already.
    """
    unit.actor.require(permissions.IMPORT_RUN)
    return dry_run(
        unit.session,
        record.entity,
        table or table_of(record),
        record.mapping,
        record.match_on,
        shown=shown,
    )


# --------------------------------------------------------------------------------------- job


def start(unit: Unit, record: CustomerImport) -> CustomerImport:
    """Queue the import; the caller commits, then calls :func:`enqueue`.

    :raises Conflict: it was started already.
    :raises ValidationFailed: ``mapping`` when no column is mapped.
    """
    unit.actor.require(permissions.IMPORT_RUN)
    if record.state != ImportState.UPLOADED:
        raise Conflict("The import was started already.")
    check_mapping(record.mapping, record.mapping.keys(), targets(unit.session, record.entity))
    record.state = ImportState.QUEUED.value
    unit.session.flush()
    unit.audit(
        "update",
        "customer_import",
        record.id,
        sub_action="start",
        before={"state": ImportState.UPLOADED.value},
        after={"state": record.state, "mapping": record.mapping, "match_on": record.match_on},
    )
    return record


def job_id(import_id: int) -> str:
    """The RQ job id of an import: one job per import, whoever enqueues it."""
    return f"deskhost-customer-import-{import_id}"


def enqueue(host: Host, import_id: int) -> bool:
    """Hand a queued import to RQ; ``False`` when Redis is down (the worker retries later)."""
    try:
        Queue(_queue_name(), connection=host.redis).enqueue(
            JOB_FUNCTION,
            import_id,
            job_id=job_id(import_id),
            job_timeout=6 * 3600,
            result_ttl=3600,
            failure_ttl=7 * 86_400,
        )
    except redis.RedisError:
        log.warning("Redis unavailable: import %s waits for the worker's relay", import_id)
        return False
    return True


def _queue_name() -> str:
    from core.outbox import CORE_QUEUE

    return CORE_QUEUE


def enqueue_waiting(host: Host) -> int:
    """Enqueue the ``queued`` imports RQ does not hold (Redis was down when they started).

    The worker's relay loop calls it on every pass.
    """
    with host.sessions() as session:
        waiting = list(
            session.scalars(
                select(CustomerImport.id).where(CustomerImport.state == ImportState.QUEUED.value)
            )
        )
    handed = 0
    for import_id in waiting:
        try:
            status = Job.fetch(job_id(import_id), connection=host.redis).get_status()
        except NoSuchJobError:
            status = None
        # A job that ran and failed stays failed (its import shows it); only a job Redis
        # never got, or lost, is handed over again.
        if status is None:
            handed += enqueue(host, import_id)
    return handed


def run_job(import_id: int) -> None:
    """The RQ job: run the import with the worker's host."""
    from core.outbox import current_host

    run_import(current_host(), import_id)


def _claim(host: Host, import_id: int) -> bool:
    """Move the import from queued to running; ``False`` when someone else did (or it is gone)."""
    with host.transaction() as session:
        result = session.execute(
            update(CustomerImport)
            .where(
                CustomerImport.id == import_id,
                CustomerImport.state == ImportState.QUEUED.value,
            )
            .values(state=ImportState.RUNNING.value, started_at=clock.now())
        )
        return bool(result.rowcount)


def run_import(
    host: Host,
    import_id: int,
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
) -> CustomerImport | None:
    """Run a queued import, batch by batch; returns it as it ended (``None``: not claimed).

    A batch's failure (the database refusing a write) marks the import failed, with the
    batches before it kept, counted and audited.
    """
    if not _claim(host, import_id):
        return None
    try:
        with host.sessions() as session:
            record = session.get(CustomerImport, import_id)
            assert record is not None
            table = table_of(record)
            available = targets(session, record.entity)
            planner = Planner(
                session, record.entity, table.columns, record.mapping, record.match_on, available
            )
            session.commit()
        for number, chunk in enumerate(_chunks(table.rows, batch_rows), 1):
            with host.transaction() as session:
                lock(session, record.entity)
                batch = planner.plan(session, number, chunk)
                write_batch(session, host, planner, batch, record)
            planner.written(batch)
            if number & (number - 1) == 0:
                refresh_statistics(host, record.entity)
            if progress is not None:
                progress(_fresh(host, import_id))
        return _finish(host, import_id, ImportState.DONE, "")
    except Exception as error:
        log.exception("customer import %s failed", import_id)
        return _finish(host, import_id, ImportState.FAILED, str(error)[:2000])


def refresh_statistics(host: Host, entity: str) -> None:
    """On PostgreSQL, ``ANALYZE`` the entity's table (after batches 1, 2, 4, 8…).

    Importing into a small table makes it grow faster than autovacuum re-reads it: with the
    statistics of an empty table, the planner matches each batch by scanning the whole table,
    and the import slows down as it grows.
    """
    if host.engine.dialect.name == "postgresql":
        with host.transaction() as session:
            session.execute(text(f"ANALYZE {entity}"))


def _fresh(host: Host, import_id: int) -> CustomerImport:
    with host.sessions() as session:
        record = session.get(CustomerImport, import_id)
        assert record is not None
        return record


def _finish(host: Host, import_id: int, state: ImportState, error: str) -> CustomerImport:
    with host.transaction() as session:
        record = session.get(CustomerImport, import_id)
        assert record is not None
        record.state = state.value
        record.error = error
        record.finished_at = clock.now()
        session.add(
            AuditEntry(
                at=record.finished_at,
                actor_agent_id=record.created_by_id,
                actor_label="import",
                ip_address=None,
                action="update",
                entity_type="customer_import",
                entity_id=str(record.id),
                sub_action="finish",
                before={"state": ImportState.RUNNING.value},
                after={"state": record.state, **progress_of(record), "error": error or None},
            )
        )
    return record


def progress_of(record: CustomerImport) -> dict[str, Any]:
    """The import's progress as the pages, the API and the CLI show it."""
    total = record.total_rows or 0
    processed = record.processed_rows or 0
    done = record.state == ImportState.DONE
    return {
        "state": record.state,
        "total_rows": total,
        "processed_rows": processed,
        "created": record.created_count,
        "updated": record.updated_count,
        "rejected": record.rejected_count,
        "unchanged": max(
            processed - record.created_count - record.updated_count - record.rejected_count, 0
        ),
        "percent": processed * 100 // total if total else (100 if done else 0),
        "error": record.error or None,
    }
