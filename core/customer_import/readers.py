"""Reading an uploaded file into a header and rows of text: CSV, vCard or XLSX.

Every reader checks the whole file up front, so an upload that is not what it says is refused
before anything is stored: an unterminated quote, rows longer or shorter than the header, a
missing header, an XLSX that is not a workbook, an empty file.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any

from core.csv_export import restore_cell
from core.customer_import.encoding import decode
from core.customer_import.errors import FileRefused
from core.errors import Message

FORMATS: tuple[str, ...] = ("csv", "vcard", "xlsx")
_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".vcf": "vcard",
    ".vcard": "vcard",
    ".xlsx": "xlsx",
}
#: Columns of a vCard file, in this order (a vCard has properties, not columns).
VCARD_COLUMNS: tuple[str, ...] = (
    "Last name",
    "First name",
    "Full name",
    "Email",
    "Email 2",
    "Phone",
    "Mobile",
    "Organization",
    "Title",
    "Note",
)
_DELIMITERS = ",;\t|"
_LOOKS_LIKE_DATA = re.compile(r"^(?:[^@\s]+@[^@\s]+\.[^@\s]+|[+\d][\d\s().-]{5,})$")


@dataclass
class Table:
    """A file read as text: its format, encoding, header and rows.

    ``rows`` holds ``(row_number, cells)``, the row number counting the header as row 1 (for a
    CSV with line breaks inside quotes, it is the record's number, not the physical line).
    """

    file_format: str
    encoding: str | None
    columns: list[str]
    rows: list[tuple[int, list[str]]]


def detect_format(filename: str, content: bytes) -> str:
    """The format a file says it is: by its extension, else by its first bytes."""
    by_extension = _EXTENSIONS.get(PurePath(filename or "").suffix.lower())
    if by_extension is not None:
        return by_extension
    if content.startswith(b"PK\x03\x04"):
        return "xlsx"
    head = content[:200].lstrip(b"\xef\xbb\xbf \r\n\t").upper()
    return "vcard" if head.startswith(b"BEGIN:VCARD") else "csv"


def read_table(content: bytes, filename: str, encoding: str | None = None) -> Table:
    """Read and check the whole file.

    :raises FileRefused: the file is empty, malformed, or not in its declared encoding.
    """
    if not content or not content.strip():
        raise FileRefused(Message("The file is empty."))
    file_format = detect_format(filename, content)
    if file_format == "xlsx":
        return _read_xlsx(content)
    if content.startswith(b"PK\x03\x04"):
        raise FileRefused(
            Message(
                "The file is a zip archive (an Excel workbook?), not %(format)s: "
                "save it with the .xlsx extension or export it as CSV.",
                format=file_format.upper(),
            )
        )
    text, found = decode(content, encoding)
    if file_format == "vcard":
        return _read_vcard(text, found)
    return _read_csv(text, found)


# ----------------------------------------------------------------------------------------- CSV


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    sample = text[:65_536]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:
        # One column, or too little text to tell: the comma is the default of every tool.
        return csv.excel
    if sniffed.quotechar != '"':
        # Spreadsheets quote with '"' only; a leading "'" marks a cell that core.csv_export
        # neutralised, and two of them on a line fool the sniffer into taking it for a quote.
        sniffed.quotechar = '"'
        sniffed.doublequote = True
    return sniffed


def _read_csv(text: str, encoding: str) -> Table:
    dialect = _dialect(text)
    reader = csv.reader(io.StringIO(text, newline=""), dialect, strict=True)
    records: list[tuple[int, list[str]]] = []
    started_on = 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                # A file of rejected rows comes back with its formula cells quoted: unquote them.
                records.append((started_on, [restore_cell(cell) for cell in record]))
            started_on = reader.line_num + 1
    except csv.Error as error:
        if "end of data" in str(error) or "unexpected end" in str(error):
            raise FileRefused(
                Message(
                    "Line %(line)d: a quoted value is never closed (a missing '\"').",
                    line=started_on,
                ),
                line=started_on,
            ) from error
        raise FileRefused(
            Message("Line %(line)d: not valid CSV (%(error)s).", line=started_on, error=error),
            line=started_on,
        ) from error
    if not records:
        raise FileRefused(Message("The file is empty."))
    (_, header), body = records[0], records[1:]
    columns = _check_header(header)
    rows: list[tuple[int, list[str]]] = []
    for number, (line, cells) in enumerate(body, 2):
        if len(cells) != len(columns):
            raise FileRefused(
                Message(
                    "Line %(line)d: %(values)d values where the header names %(columns)d columns.",
                    line=line,
                    values=len(cells),
                    columns=len(columns),
                ),
                line=line,
            )
        rows.append((number, cells))
    return Table("csv", encoding, columns, rows)


def _check_header(header: list[str]) -> list[str]:
    columns = [cell.strip() for cell in header]
    if not any(columns):
        raise FileRefused(Message("The first row must name the columns; it is blank."), line=1)
    data_like = [cell for cell in columns if _LOOKS_LIKE_DATA.match(cell)]
    if data_like:
        raise FileRefused(
            Message(
                "The first row must name the columns; it holds data (%(value)r).",
                value=data_like[0],
            ),
            line=1,
        )
    for index, name in enumerate(columns):
        if not name:
            raise FileRefused(
                Message("Column %(number)d has no name in the header.", number=index + 1), line=1
            )
        if name in columns[:index]:
            raise FileRefused(
                Message("The header names the column %(name)r twice.", name=name), line=1
            )
    return columns


# --------------------------------------------------------------------------------------- vCard


def _read_vcard(text: str, encoding: str) -> Table:
    import vobject
    from vobject.base import ParseError

    rows: list[tuple[int, list[str]]] = []
    try:
        for number, card in enumerate(vobject.readComponents(text), 2):
            if card.name.upper() != "VCARD":
                raise FileRefused(
                    Message(
                        "Card %(number)d: a %(kind)s, not a VCARD.",
                        number=number - 1,
                        kind=card.name,
                    )
                )
            rows.append((number, _card_cells(card)))
    except ParseError as error:
        message = re.sub(r"^At line \d+: ", "", str(error))
        raise FileRefused(
            Message("Not a valid vCard file: %(problem)s", problem=message)
        ) from error
    if not rows:
        raise FileRefused(Message("The file holds no vCard (BEGIN:VCARD … END:VCARD)."))
    return Table("vcard", encoding, list(VCARD_COLUMNS), rows)


def _card_cells(card: Any) -> list[str]:
    contents = card.contents

    def first(name: str) -> Any:
        values = contents.get(name)
        return values[0].value if values else None

    family = given = ""
    name = first("n")
    if name is not None:
        family = _joined(name.family)
        given = _joined(name.given)
    full = str(first("fn") or "").strip()
    emails = [str(item.value).strip() for item in contents.get("email", []) if item.value]
    phone = mobile = ""
    for item in contents.get("tel", []):
        kinds = {kind.upper() for kind in item.params.get("TYPE", [])}
        value = str(item.value).strip()
        if "CELL" in kinds and not mobile:
            mobile = value
        elif not phone:
            phone = value
    organization = first("org")
    if isinstance(organization, list):
        organization = organization[0] if organization else ""
    return [
        family or ("" if given else full),
        given,
        full,
        emails[0] if emails else "",
        emails[1] if len(emails) > 1 else "",
        phone,
        mobile,
        str(organization or "").strip(),
        str(first("title") or "").strip(),
        str(first("note") or "").strip(),
    ]


def _joined(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(part) for part in value if part).strip()
    return str(value or "").strip()


# ---------------------------------------------------------------------------------------- XLSX


#: What a workbook may unpack to, all its parts together: well above a real sheet of the
#: largest upload, far below what a zip bomb (a few hundred KB that unpack to gigabytes) holds.
MAX_XLSX_UNPACKED_BYTES = 100_000_000
#: How many times its packed size one part may unpack to (spreadsheet XML packs about 10:1).
MAX_XLSX_PACKING_RATIO = 200
#: Parts below this size are not held to the ratio (a tiny part packs however it likes).
_RATIO_CHECKED_FROM_BYTES = 1_000_000
MAX_XLSX_PARTS = 1_000


def _check_unpacked_size(content: bytes) -> None:
    """Refuse a workbook that would unpack to too much, from its zip directory alone.

    The sizes a zip declares bound what :mod:`zipfile` (and so openpyxl) will unpack: a part
    whose real data is longer is cut there and fails its checksum, so checking the declared
    sizes before reading anything keeps memory bounded.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise FileRefused(Message("The file is not an Excel workbook (.xlsx).")) from error
    limit_mb = MAX_XLSX_UNPACKED_BYTES // 1_000_000
    too_big = FileRefused(
        Message(
            "The workbook unpacks to more than %(count)d MB: split it, or save it as CSV.",
            count=limit_mb,
        )
    )
    if len(parts) > MAX_XLSX_PARTS:
        raise FileRefused(
            Message(
                "The workbook has more than %(count)d parts: save it as CSV.",
                count=MAX_XLSX_PARTS,
            )
        )
    if sum(part.file_size for part in parts) > MAX_XLSX_UNPACKED_BYTES:
        raise too_big
    for part in parts:
        if (
            part.file_size >= _RATIO_CHECKED_FROM_BYTES
            and part.file_size > MAX_XLSX_PACKING_RATIO * max(part.compress_size, 1)
        ):
            raise too_big


def _read_xlsx(content: bytes) -> Table:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    _check_unpacked_size(content)
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as error:
        raise FileRefused(Message("The file is not an Excel workbook (.xlsx).")) from error
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise FileRefused(Message("The workbook has no sheet."))
        lines = [
            (number, [_cell_text(value) for value in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), 1)
        ]
    finally:
        workbook.close()
    lines = [(number, cells) for number, cells in lines if any(cell for cell in cells)]
    if not lines:
        raise FileRefused(Message("The first sheet of the workbook is empty."))
    (_, header), body = lines[0], lines[1:]
    while header and not header[-1]:
        header.pop()
    columns = _check_header(header)
    rows: list[tuple[int, list[str]]] = []
    for number, cells in body:
        extra = [cell for cell in cells[len(columns) :] if cell]
        if extra:
            raise FileRefused(
                Message(
                    "Row %(number)d: a value (%(value)r) in a column without a header.",
                    number=number,
                    value=extra[0],
                ),
                line=number,
            )
        rows.append((number, (cells + [""] * len(columns))[: len(columns)]))
    return Table("xlsx", None, columns, rows)


def _cell_text(value: Any) -> str:
    """A cell as the text a person typed: 42 not 42.0, dates as ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()
