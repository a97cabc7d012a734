"""Customer import uploads: encodings, formats and files that are not what they say."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.customer_import import FileRefused
from core.customer_import.readers import read_table
from core.models import Contact, CustomerImport

JAPANESE_CSV = (
    "姓,名,メールアドレス,携帯電話\n"
    "山田,太郎,taro@example.jp,090-1234-5678\n"
    "佐藤,花子,hanako@example.jp,\n"
)


def _stored_imports(db: Session) -> int:
    return db.scalar(select(func.count(CustomerImport.id))) or 0


def _xlsx(rows: list[list[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------- encodings


def test_shift_jis_file_declared_shift_jis_is_read(upload_customers: Callable[..., Any]) -> None:
    record = upload_customers(JAPANESE_CSV.encode("cp932"), encoding="shift_jis")
    assert (record.encoding, record.total_rows) == ("Shift_JIS", 2)
    assert record.mapping["姓"] == "last_name"


def test_shift_jis_file_is_detected_when_no_encoding_is_declared(
    upload_customers: Callable[..., Any],
) -> None:
    record = upload_customers(JAPANESE_CSV.encode("cp932"), encoding="auto")
    assert record.encoding == "Shift_JIS"
    assert read_table(record.content, record.filename, record.encoding).rows[0][1][0] == "山田"


def test_utf8_file_with_byte_order_mark_is_read_without_it(
    upload_customers: Callable[..., Any],
) -> None:
    record = upload_customers(b"\xef\xbb\xbf" + JAPANESE_CSV.encode(), encoding="utf-8")
    table = read_table(record.content, record.filename, record.encoding)
    assert table.columns[0] == "姓"
    assert record.mapping["姓"] == "last_name"


def test_shift_jis_file_declared_utf8_is_refused_naming_the_line(
    upload_customers: Callable[..., Any], db: Session
) -> None:
    with pytest.raises(FileRefused) as refused:
        upload_customers(JAPANESE_CSV.encode("cp932"), encoding="utf-8")
    assert refused.value.errors["encoding"][0].startswith("The file is not valid UTF-8 (line 1")
    assert "Shift_JIS" in refused.value.errors["encoding"][0]
    assert _stored_imports(db) == 0


def test_utf8_file_declared_shift_jis_is_refused(
    upload_customers: Callable[..., Any], db: Session
) -> None:
    with pytest.raises(FileRefused) as refused:
        upload_customers(JAPANESE_CSV.encode(), encoding="shift_jis")
    assert "not Shift_JIS" in refused.value.errors["encoding"][0]
    assert _stored_imports(db) == 0


# -------------------------------------------------------------------------------- malformed CSV


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"\n\n", "The file is empty."),
        (
            b'last_name,email\nYamada,"taro@example.jp\nSato,hanako@example.jp\n',
            "Line 2: a quoted value is never closed",
        ),
        (
            b"last_name,email\nYamada,taro@example.jp,extra\n",
            "Line 2: 3 values where the header names 2 columns.",
        ),
        (
            b"Yamada,taro@example.jp\nSato,hanako@example.jp\n",
            "The first row must name the columns; it holds data ('taro@example.jp').",
        ),
        (b"last_name,last_name\nYamada,Taro\n", "The header names the column 'last_name' twice."),
    ],
    ids=["empty", "blank-lines", "unterminated-quote", "ragged-row", "no-header", "twice"],
)
def test_malformed_csv_is_refused_and_nothing_is_stored(
    upload_customers: Callable[..., Any], db: Session, content: bytes, message: str
) -> None:
    with pytest.raises(FileRefused) as refused:
        upload_customers(content)
    assert refused.value.errors["file"][0].startswith(message)
    assert _stored_imports(db) == 0
    assert db.scalar(select(func.count(Contact.id))) == 0


def test_semicolon_delimited_csv_is_sniffed(upload_customers: Callable[..., Any]) -> None:
    record = upload_customers("Last name;Email\nYamada;taro@example.jp\n")
    assert record.mapping == {"Last name": "last_name", "Email": "email"}


# -------------------------------------------------------------------------------- vCard, XLSX


def test_vcard_file_becomes_columns_of_its_properties(
    upload_customers: Callable[..., Any],
) -> None:
    card = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:山田 太郎\r\nN:山田;太郎;;;\r\n"
        "EMAIL;TYPE=INTERNET:taro@example.jp\r\nTEL;TYPE=CELL:090-1234-5678\r\n"
        "TEL;TYPE=WORK:03-1234-5678\r\nORG:株式会社サンプル;営業部\r\nTITLE:部長\r\nEND:VCARD\r\n"
    )
    record = upload_customers(card, "people.vcf")
    table = read_table(record.content, record.filename, record.encoding)
    row = dict(zip(table.columns, table.rows[0][1], strict=True))
    assert record.file_format == "vcard"
    assert row["Last name"] == "山田" and row["Mobile"] == "090-1234-5678"
    assert row["Phone"] == "03-1234-5678" and row["Organization"] == "株式会社サンプル"
    assert record.mapping["Organization"] == "account"


def test_broken_vcard_is_refused(upload_customers: Callable[..., Any], db: Session) -> None:
    with pytest.raises(FileRefused) as refused:
        upload_customers("BEGIN:VCARD\nVERSION:3.0\nFN John\nEND:VCARD\n", "people.vcf")
    assert refused.value.errors["file"][0].startswith("Not a valid vCard file")
    assert _stored_imports(db) == 0


def test_xlsx_workbook_is_read_from_its_first_sheet(upload_customers: Callable[..., Any]) -> None:
    content = _xlsx([["Last name", "Email", "Phone"], ["Yamada", "taro@example.jp", 312345678]])
    record = upload_customers(content, "people.xlsx")
    table = read_table(record.content, record.filename, record.encoding)
    assert record.file_format == "xlsx"
    assert table.rows == [(2, ["Yamada", "taro@example.jp", "312345678"])]


def test_file_named_xlsx_that_is_not_a_workbook_is_refused(
    upload_customers: Callable[..., Any], db: Session
) -> None:
    with pytest.raises(FileRefused) as refused:
        upload_customers("last_name\nYamada\n", "people.xlsx")
    assert refused.value.errors["file"] == ["The file is not an Excel workbook (.xlsx)."]
    assert _stored_imports(db) == 0


def test_workbook_named_csv_is_refused(upload_customers: Callable[..., Any]) -> None:
    with pytest.raises(FileRefused) as refused:
        upload_customers(_xlsx([["Last name"], ["Yamada"]]), "people.csv")
    assert "not CSV" in refused.value.errors["file"][0]
