"""The rejected rows of an import as a CSV file: the original columns plus "errors".

UTF-8 with a byte order mark, so Excel (which reads a CSV without one as Shift_JIS on a
Japanese Windows) opens it right; the rows can be fixed and imported again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.customer_import.runner import table_of
from core.models import CustomerImport, CustomerImportRejection

ERRORS_COLUMN = "errors"


def describe_errors(errors: dict[str, list[str]]) -> str:
    """``{"Email": ["Not a valid email address."]}`` as "Email: Not a valid email address."."""
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())


def rejections(session: Session, record: CustomerImport) -> Iterator[CustomerImportRejection]:
    """The import's rejected rows in file order."""
    yield from session.scalars(
        select(CustomerImportRejection)
        .where(CustomerImportRejection.import_id == record.id)
        .order_by(CustomerImportRejection.row_number)
        .execution_options(yield_per=1000)
    )


def rejections_csv(session: Session, record: CustomerImport) -> bytes:
    """The rejected rows as CSV bytes (UTF-8 with BOM)."""
    columns = table_of(record).columns
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*columns, ERRORS_COLUMN])
    for rejection in rejections(session, record):
        values = rejection.values or {}
        writer.writerow(
            [*(values.get(column, "") for column in columns), describe_errors(rejection.errors)]
        )
    return buffer.getvalue().encode("utf-8")
