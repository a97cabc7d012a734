"""``deskhost customers import``: dry run, waiting with progress, and bad input (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.cli import main
from core.models import Contact, CustomerImport

ROWS = "姓,メールアドレス,Notes\n山田,taro@example.jp,VIP\n佐藤,not-an-address,\n"


def _count(db: Session, model: type) -> int:
    db.rollback()  # see what the command committed
    return db.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def people(tmp_path: Path) -> Path:
    """A Shift_JIS CSV of two people, one with a bad email address."""
    path = tmp_path / "people.csv"
    path.write_bytes(ROWS.encode("cp932"))
    return path


def test_wait_imports_prints_progress_and_writes_the_rejected_rows(
    runner: FlaskCliRunner, db: Session, people: Path, tmp_path: Path
) -> None:
    rejected = tmp_path / "rejected.csv"
    result = runner.invoke(
        main,
        [
            "customers",
            "import",
            str(people),
            "--map",
            "Notes=description",
            "--match-on",
            "email,phone",
            "--wait",
            "--rejected-rows",
            str(rejected),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2/2 rows (100%): 1 created, 0 updated, 0 unchanged, 1 rejected" in result.output
    assert result.output.splitlines()[-2].startswith("done: ")
    assert rejected.read_bytes().decode("utf-8-sig").splitlines()[1].startswith("佐藤,")
    db.rollback()
    contact = db.scalars(select(Contact)).one()
    assert (contact.last_name, contact.description) == ("山田", "VIP")


def test_dry_run_previews_and_stores_nothing(
    runner: FlaskCliRunner, db: Session, people: Path
) -> None:
    result = runner.invoke(main, ["customers", "import", str(people), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Dry run: 2 rows, 1 valid, 1 invalid; 1 new, 0 updates, 0 unchanged." in result.output
    assert "row 3: メールアドレス: Not a valid email address." in result.output
    assert (_count(db, CustomerImport), _count(db, Contact)) == (0, 0)


def test_without_wait_the_import_is_queued_for_a_worker(
    runner: FlaskCliRunner, db: Session, people: Path
) -> None:
    result = runner.invoke(main, ["customers", "import", str(people)])
    assert result.exit_code == 0, result.output
    db.rollback()
    assert db.scalars(select(CustomerImport.state)).one() == "queued"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--encoding", "utf-8"], "not valid UTF-8 (line 1"),
        (["--map", "Notes=notes"], "mapping.Notes: Unknown field 'notes'."),
        (["--map", "Notes"], "'Notes': write COLUMN=FIELD."),
        (["--match-on", "fax"], "Match on email or phone, not 'fax'."),
    ],
    ids=["wrong-encoding", "unknown-field", "bad-map", "bad-match-on"],
)
def test_bad_input_exits_with_code_2_and_stores_nothing(
    runner: FlaskCliRunner, db: Session, people: Path, arguments: list[str], message: str
) -> None:
    result = runner.invoke(main, ["customers", "import", str(people), *arguments, "--wait"])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert (_count(db, CustomerImport), _count(db, Contact)) == (0, 0)


def test_malformed_csv_exits_with_code_2_naming_the_line(
    runner: FlaskCliRunner, db: Session, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text('last_name,email\nYamada,"taro@example.jp\n')
    result = runner.invoke(main, ["customers", "import", str(broken), "--wait"])
    assert result.exit_code == 2
    assert "Line 2: a quoted value is never closed" in result.output
    assert _count(db, CustomerImport) == 0


def test_missing_file_exits_with_code_2(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["customers", "import", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "no such file" in result.output
