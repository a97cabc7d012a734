"""Customer export: the contacts or accounts of a view, with their custom fields, as a file.

What is exported is exactly what the list shows for the view (its conditions, its sort order,
the search typed above the list), every built-in field and every custom field, one record a
row. Records are read in keyset batches of :data:`BATCH` through the view's own pager and
written to a spooled temporary file, so 100,000 contacts never sit in memory at once, and
the export is audited with its row count before the file is handed out.

CSV is written only through :mod:`core.csv_export` (a cell that a spreadsheet would run as a
formula gets a leading quote), UTF-8 with a byte order mark so that Excel reads Japanese.
XLSX cells holding text are typed as strings explicitly: openpyxl would otherwise store a
text starting with ``=`` as a formula.

Exporting needs ``contact.export`` (contacts) or ``account.export`` (accounts) on top of the
permission to view them. Contacts and accounts are organisation-wide records, so an export
is not narrowed by department.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import select

from core import permissions
from core.csv_export import csv_writer
from core.errors import Message, ValidationFailed
from core.models import CustomerEntity, Organisation
from core.services import views as view_service
from core.services.base import Unit
from core.services.views import NUMBER, ViewField, ViewSpec
from hostapi import clock

#: The formats an export can take.
FORMATS: tuple[str, ...] = ("csv", "xlsx")
MIMETYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: Records read per query (the views' largest page).
BATCH = 500
#: Bytes of an export kept in memory before the temporary file moves to disk.
SPOOL_BYTES = 8 * 1024 * 1024
#: The first column: the record's id, so a re-import or a lookup can find it.
ID_COLUMN = ViewField("id", "ID", NUMBER, None)
#: Built-in view fields not exported: a contact's "name" repeats its first and last names,
#: and "is_spam" is a filter (the spam view), not data.
_LEFT_OUT = frozenset({"is_spam"})
_LEFT_OUT_CONTACT = frozenset({"name"})
#: The audit log's entity type of an export, by what was exported.
AUDIT_TYPES: dict[str, str] = {
    CustomerEntity.CONTACT: "contact_list",
    CustomerEntity.ACCOUNT: "account_list",
}


@dataclass
class ExportFile:
    """A finished export: the file (at its start), its name, type and how many records."""

    stream: IO[bytes]
    filename: str
    mimetype: str
    rows: int


def require_export(unit: Unit, entity: str) -> None:
    """Raise :class:`~core.errors.Forbidden` unless the actor may export ``entity`` records."""
    unit.actor.require(
        permissions.CONTACT_EXPORT
        if entity == CustomerEntity.CONTACT
        else permissions.ACCOUNT_EXPORT
    )


def export_columns(unit: Unit, entity: str) -> list[ViewField]:
    """The columns of an export: the id, the built-in fields, then the custom fields."""
    left_out = _LEFT_OUT | (_LEFT_OUT_CONTACT if entity == CustomerEntity.CONTACT else set())
    known = view_service.view_fields(unit.session, entity)
    return [ID_COLUMN, *(field for name, field in known.items() if name not in left_out)]


def iter_records(unit: Unit, spec: ViewSpec, search: str | None = None) -> Iterator[Any]:
    """Every record of ``spec`` in its order, read :data:`BATCH` at a time by keyset."""
    cursor: str | None = None
    while True:
        page = view_service.run_view(unit, spec, limit=BATCH, cursor=cursor, search=search)
        yield from page.rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _zone(unit: Unit) -> ZoneInfo:
    return ZoneInfo(unit.session.scalar(select(Organisation.timezone).limit(1)) or "UTC")


def cell_value(
    record: Any, field: ViewField, agents: dict[int, str], zone: ZoneInfo
) -> str | int | float | None:
    """What a cell holds: numbers as numbers, times in the organisation's zone, else text."""
    if field is ID_COLUMN:
        return int(record.id)
    if field.custom is not None and field.kind == NUMBER:
        value = (record.custom_fields or {}).get(field.name)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if field.custom is None and field.name in ("created_at", "updated_at"):
        moment: datetime | None = getattr(record, field.name)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else None
    if field.custom is None and field.name == "is_spam":
        return "true" if record.is_spam else "false"
    return view_service.column_value(record, field, agents)


def _batches(records: Iterator[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for record in records:
        batch.append(record)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _rows(
    unit: Unit, spec: ViewSpec, columns: Sequence[ViewField], search: str | None
) -> Iterator[list[str | int | float | None]]:
    zone = _zone(unit)
    for batch in _batches(iter_records(unit, spec, search)):
        agents = view_service.agent_names(unit.session, batch)
        for record in batch:
            yield [cell_value(record, field, agents, zone) for field in columns]


def _write_csv(stream: IO[bytes], header: list[str], rows: Iterator[list[Any]]) -> int:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
    text.write("\ufeff")
    writer = csv_writer(text, lineterminator="\r\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    text.flush()
    text.detach()  # the stream stays open for the caller
    return count


def _xlsx_cell(sheet: Any, value: Any) -> Any:
    if isinstance(value, int | float) or value is None:
        return value
    # Characters XML cannot hold (control characters) are dropped rather than failing.
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", str(value)))
    cell.data_type = "s"  # text stays text, even when it starts with "="
    return cell


def _write_xlsx(stream: IO[bytes], title: str, header: list[str], rows: Iterator[list[Any]]) -> int:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title)
    sheet.append([_xlsx_cell(sheet, label) for label in header])
    count = 0
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
        count += 1
    workbook.save(stream)
    return count


def export_view(
    unit: Unit,
    entity: str,
    view_key: str | int | None,
    *,
    file_format: str,
    search: str | None = None,
    label: Callable[[ViewField], str] = lambda field: field.label,
) -> ExportFile:
    """Export the view ``view_key`` of ``entity`` as ``file_format`` (csv or xlsx), audited.

    ``label`` gives a column's header (the web and the API pass the agent's language).
    :raises ValidationFailed: an unknown ``file_format``.
    :raises NotFound: an unknown view, or another agent's private view.
    :raises Forbidden: no permission to view or to export ``entity`` records.
    """
    spec = view_service.get_view(unit, entity, view_key)
    require_export(unit, entity)
    if file_format not in FORMATS:
        choices = ", ".join(FORMATS)
        raise ValidationFailed(
            {"format": [Message("Choose one of: %(choices)s.", choices=choices)]}
        )
    columns = export_columns(unit, entity)
    header = [label(field) for field in columns]
    rows = _rows(unit, spec, columns, search.strip() if search else None)
    stream = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - handed out
    if file_format == "csv":
        count = _write_csv(stream, header, rows)
    else:
        count = _write_xlsx(stream, f"{entity}s", header, rows)
    stream.seek(0)
    unit.audit(
        "export",
        AUDIT_TYPES[entity],
        spec.key,
        sub_action=file_format,
        after={"view": spec.name, "format": file_format, "search": search or "", "rows": count},
    )
    day = clock.now().astimezone(_zone(unit)).strftime("%Y%m%d")
    return ExportFile(
        stream=stream,
        filename=f"{entity}s-{spec.key}-{day}.{file_format}",
        mimetype=MIMETYPES[file_format],
        rows=count,
    )
