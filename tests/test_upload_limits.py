"""Uploads that try to hurt: a zip bomb dressed as a workbook, and multipart bodies that are
not what they say. Every endpoint that takes a file (the customer import page and API) refuses
them clearly (400/422), stores nothing and never unpacks the bomb."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator

import pytest
from flask.testing import FlaskClient
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.customer_import import FileRefused
from core.customer_import.readers import MAX_XLSX_UNPACKED_BYTES, read_table
from core.models import Agent, CustomerImport, Department

pytest_plugins = ["tests.api_fixtures"]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET = "xl/worksheets/sheet1.xml"
#: What the bomb's sheet unpacks to: hundreds of MB from under a megabyte.
BOMB_UNPACKED_BYTES = 300_000_000


def _workbook_parts() -> dict[str, bytes]:
    workbook = Workbook()
    workbook.active.append(["Last name", "Email"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """A real .xlsx whose first sheet's XML unpacks to 300 MB of rows (under 1 MB packed)."""
    row = b'<row><c t="inlineStr"><is><t>Yamada</t></is></c></row>' * 20_000
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in _workbook_parts().items():
            if name != SHEET:
                archive.writestr(name, data)
        with archive.open(SHEET, "w", force_zip64=True) as sheet:
            sheet.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/')
            sheet.write(b'2006/main"><sheetData>')
            written = 0
            while written < BOMB_UNPACKED_BYTES:
                sheet.write(row)
                written += len(row)
            sheet.write(b"</sheetData></worksheet>")
    return buffer.getvalue()


@pytest.fixture
def importer(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An administrator (who holds ``import.run``)."""
    return make_agent("importer@example.com", profile="Administrator", departments=[department])


@pytest.fixture
def csrf(importer: Agent, sign_in_as: Callable[[Agent], dict[str, str]]) -> dict[str, str]:
    """The client signed in as ``importer``; the CSRF header."""
    return sign_in_as(importer)


def _stored_imports(db: Session) -> int:
    db.rollback()
    return db.scalar(select(func.count(CustomerImport.id))) or 0


@pytest.fixture
def bounded_memory() -> Iterator[Callable[[], int]]:
    """Trace allocations during the test; the callable gives the peak so far, in bytes."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------------------------------ zip bomb


def test_zip_bomb_is_refused_before_it_is_unpacked(
    zip_bomb: bytes, bounded_memory: Callable[[], int]
) -> None:
    assert len(zip_bomb) < 1_000_000
    started = time.monotonic()
    with pytest.raises(FileRefused, match="unpacks to more than 100 MB"):
        read_table(zip_bomb, "people.xlsx")
    assert time.monotonic() - started < 5
    assert bounded_memory() < 20_000_000


def test_workbook_packed_far_tighter_than_a_spreadsheet_is_refused() -> None:
    """Under the total limit, but 20 MB of one repeated byte in a few KB: a bomb's shape."""
    parts = _workbook_parts()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
        archive.writestr("xl/media/padding.bin", b"\0" * 20_000_000)
    assert MAX_XLSX_UNPACKED_BYTES > 20_000_000
    with pytest.raises(FileRefused, match="unpacks to more than"):
        read_table(buffer.getvalue(), "people.xlsx")


def test_ordinary_workbook_is_still_read() -> None:
    buffer = io.BytesIO()
    workbook = Workbook()
    workbook.active.append(["Last name", "Email"])
    for number in range(2_000):
        workbook.active.append([f"Yamada {number}", f"taro{number}@example.jp"])
    workbook.save(buffer)
    table = read_table(buffer.getvalue(), "people.xlsx")
    assert (table.columns, len(table.rows)) == (["Last name", "Email"], 2_000)


def test_zip_bomb_upload_page_answers_422_and_stores_nothing(
    client: FlaskClient, csrf: dict[str, str], db: Session, zip_bomb: bytes
) -> None:
    answer = client.post(
        "/contacts/import",
        data={"file": (io.BytesIO(zip_bomb), "people.xlsx", XLSX), "encoding": "auto"},
        headers=csrf,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    assert "unpacks to more than 100 MB" in answer.get_data(as_text=True)
    assert _stored_imports(db) == 0


def test_zip_bomb_upload_api_answers_422_naming_the_file_and_stores_nothing(
    client: FlaskClient, csrf: dict[str, str], db: Session, zip_bomb: bytes
) -> None:
    answer = client.post(
        "/api/v1/customer-imports",
        data={"file": (io.BytesIO(zip_bomb), "people.xlsx", XLSX)},
        headers=csrf,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422, answer.json
    assert "unpacks to more than 100 MB" in str(answer.json["errors"])
    assert _stored_imports(db) == 0


# --------------------------------------------------------------------------- malformed multipart

#: Multipart bodies a client can get wrong, each with the Content-Type it was sent with.
MALFORMED: dict[str, tuple[str, bytes]] = {
    "no boundary": ("multipart/form-data", b"--x\r\nContent-Disposition: form-data\r\n\r\n1"),
    "truncated part": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nemail\r\n',
    ),
    "garbage": ("multipart/form-data; boundary=x", b"\x00\xff not multipart at all \x00"),
    "part without headers end": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n--x--\r\n',
    ),
    "boundary never closed": (
        "multipart/form-data; boundary=x",
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\nemail\r\na@example.com\r\n--x",
    ),
    "empty body": ("multipart/form-data; boundary=x", b""),
    "not multipart": ("text/csv", b"email\na@example.com\n"),
}

UPLOAD_ENDPOINTS = ("/contacts/import", "/accounts/import", "/api/v1/customer-imports")


@pytest.mark.parametrize("endpoint", UPLOAD_ENDPOINTS)
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_multipart_is_refused_clearly_and_stores_nothing(
    client: FlaskClient, csrf: dict[str, str], db: Session, endpoint: str, case: str
) -> None:
    content_type, body = MALFORMED[case]
    answer = client.post(endpoint, data=body, headers=csrf | {"Content-Type": content_type})
    assert answer.status_code in (400, 422), answer.get_data(as_text=True)[:500]
    text = answer.get_data(as_text=True)
    assert "Traceback" not in text
    if endpoint.startswith("/api/"):
        assert "file" in str(answer.json), answer.json
    assert _stored_imports(db) == 0


def test_upload_without_csrf_in_a_broken_body_is_still_a_csrf_refusal(
    client: FlaskClient, csrf: dict[str, str], db: Session
) -> None:
    content_type, body = MALFORMED["truncated part"]
    answer = client.post("/contacts/import", data=body, headers={"Content-Type": content_type})
    assert answer.status_code == 400
    assert _stored_imports(db) == 0


def test_upload_over_the_request_size_limit_is_refused_with_413(
    client: FlaskClient, csrf: dict[str, str], db: Session
) -> None:
    too_big = b"email\n" + b"a@example.com\n" * 2_000_000
    answer = client.post(
        "/api/v1/customer-imports",
        data={"file": (io.BytesIO(too_big), "people.csv", "text/csv")},
        headers=csrf,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 413
    assert _stored_imports(db) == 0
