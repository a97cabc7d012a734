"""The rejected rows of an import as a CSV file: the original columns plus "errors".

Written by :mod:`core.csv_export`: UTF-8 with a byte order mark, so Excel opens it right, and
every cell that a spreadsheet would run as a formula neutralised with a leading quote (which
the import removes again, so the rows can be fixed and imported again).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.csv_export import excel_csv_bytes
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
    """The rejected rows as CSV bytes (UTF-8 with BOM, formula cells neutralised)."""
    columns = table_of(record).columns
    rows = (
        [*((r.values or {}).get(column, "") for column in columns), describe_errors(r.errors)]
        for r in rejections(session, record)
    )
    return excel_csv_bytes(chain([[*columns, ERRORS_COLUMN]], rows))
