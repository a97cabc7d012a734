"""The host's CSV writer for extensions: every text cell neutralised against formula
injection, as in every file the host itself writes.

A spreadsheet runs a cell whose text begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or a
carriage return) as a formula; a customer named ``=HYPERLINK(…)`` would then run on the
computer of whoever opens the file. :func:`writer` writes such a cell with a leading single
quote, which spreadsheets read as "this is text"; numbers passed as numbers stay numbers and
``None`` is an empty cell. Extensions write CSV through it rather than ``csv.writer``.

.. versionadded:: 1.2
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TextIO


class CsvWriter(Protocol):
    """What :func:`writer` returns: ``csv.writer``'s row methods, neutralising."""

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row."""

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write each row."""


def writer(stream: TextIO, **format_parameters: Any) -> CsvWriter:
    """A CSV writer on ``stream`` (``csv.writer``'s format parameters, e.g.
    ``lineterminator="\\r\\n"``) whose every text cell is neutralised."""
    from core.csv_export import csv_writer

    return csv_writer(stream, **format_parameters)


def neutralise_cell(value: object) -> object:
    """``value`` as :func:`writer` writes it (a formula-like text gets a leading quote)."""
    from core.csv_export import neutralise_cell as neutralise

    return neutralise(value)
