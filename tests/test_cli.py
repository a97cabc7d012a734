"""The ``deskhost`` command: its commands, bad input (exit code 2, nothing written), the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.cli import main
from core.host import Host
from core.models import Agent, Department, Installation, Ticket
from core.models.extensions import InstallationState
from tests.plugin_fixtures import manifest


def count(db: Session, model: type) -> int:
    db.rollback()  # see what other sessions committed
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("create-admin", "demo", "import", "migrate", "serve", "worker", "plugins"):
        assert command in result.stdout


def test_create_admin_makes_an_administrator_of_every_department(
    runner: FlaskCliRunner, db: Session, make_department
) -> None:
    make_department("Support")
    make_department("Billing")
    result = runner.invoke(
        main,
        ["create-admin", "--email", "boss@example.com", "--password", "a long password"],
    )
    assert result.exit_code == 0, result.output
    admin = db.scalars(select(Agent).where(Agent.email == "boss@example.com")).one()
    assert admin.is_admin
    assert {d.name for d in admin.departments} == {"Support", "Billing"}


def test_create_admin_refuses_a_short_password_with_exit_code_2(
    runner: FlaskCliRunner, db: Session
) -> None:
    result = runner.invoke(main, ["create-admin", "--email", "boss@example.com", "--password", "x"])
    assert result.exit_code == 2
    assert "password" in result.output
    assert count(db, Agent) == 0


def test_import_of_a_bad_record_names_its_line_and_writes_nothing(
    runner: FlaskCliRunner, db: Session, tmp_path: Path
) -> None:
    lines = [
        {"type": "department", "id": "d1", "name": "Support"},
        {"type": "department", "id": "d2", "name": 42},
    ]
    source = tmp_path / "history.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = runner.invoke(main, ["import", str(source)])
    assert result.exit_code == 2
    assert "line 2:" in result.output
    assert count(db, Department) == 0


def test_import_of_a_missing_file_exits_with_code_2(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["import", str(tmp_path / "nowhere.jsonl")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_demo_loads_data_and_installs_and_authorizes_every_bundled_extension(
    runner: FlaskCliRunner, db: Session
) -> None:
    result = runner.invoke(main, ["demo", "--tickets", "60", "--admin-password", "demo password"])
    assert result.exit_code == 0, result.output
    assert "Admin login: admin@example.com / demo password" in result.output
    assert count(db, Ticket) == 60
    installations = db.scalars(select(Installation)).all()
    assert {i.plugin_id for i in installations} == {
        "customer_insights",
        "ticket_history",
        "salesiq",
        "im_dashboard",
    }
    all_departments = set(db.scalars(select(Department.id)))
    for installation in installations:
        assert installation.state == InstallationState.ACTIVE
        assert installation.department_ids == all_departments


class ThirdPartyExtension:
    """An extension of another publisher's distribution, deployed beside the bundled ones."""


def test_demo_installs_a_third_party_extension_deployed_beside_the_bundled_ones(
    runner: FlaskCliRunner, db: Session, host: Host
) -> None:
    host.plugins.register_plugin(
        ThirdPartyExtension(),
        manifest("acme_notes", publisher="Acme"),
        dist_name="acme-deskhost-notes",
        dist_version="1.0.0",
    )
    try:
        result = runner.invoke(main, ["demo", "--tickets", "20"])
    finally:
        host.plugins.unregister_plugin("acme_notes")
    assert result.exit_code == 0, result.output
    db.rollback()
    installation = db.scalars(
        select(Installation).where(Installation.plugin_id == "acme_notes")
    ).one()
    assert installation.state == InstallationState.ACTIVE
    assert installation.department_ids == set(db.scalars(select(Department.id)))


def test_demo_if_empty_leaves_loaded_data_alone(runner: FlaskCliRunner, db: Session) -> None:
    runner.invoke(main, ["demo", "--tickets", "20"])
    result = runner.invoke(main, ["demo", "--tickets", "20", "--if-empty"])
    assert result.exit_code == 0
    assert "already loaded" in result.output
    assert count(db, Ticket) == 20
