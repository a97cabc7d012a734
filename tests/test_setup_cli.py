"""``deskhost departments`` and ``deskhost profiles``: what an admin scripts, and bad input
(exit code 2, nothing written)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.cli import main
from core.models import AuditEntry, Department, PermissionProfile, Ticket
from tests.page_helpers import see_committed

pytestmark = pytest.mark.usefixtures("host")


def test_departments_are_listed_with_state_and_open_tickets(
    runner: FlaskCliRunner, department: Department, make_department, make_ticket, db: Session
) -> None:
    make_ticket()
    make_department("Archive").is_active = False
    db.commit()
    active_only = runner.invoke(main, ["departments", "list"])
    assert active_only.exit_code == 0, active_only.output
    assert active_only.output.splitlines() == [f"{department.id}\tSupport\tactive\t1\t"]
    everything = runner.invoke(main, ["departments", "list", "--all"]).output.splitlines()
    assert [line.split("\t")[1:3] for line in everything] == [
        ["Archive", "inactive"],
        ["Support", "active"],
    ]


def test_department_is_added_and_audited_as_the_cli(runner: FlaskCliRunner, db: Session) -> None:
    result = runner.invoke(
        main, ["departments", "add", "Billing", "--mailbox", "billing@example.com"]
    )
    assert result.exit_code == 0, result.output
    see_committed(db)
    billing = db.scalars(select(Department).where(Department.name == "Billing")).one()
    assert billing.mailbox == "billing@example.com"
    entry = db.scalars(select(AuditEntry).where(AuditEntry.entity_type == "department")).one()
    assert entry.actor_label == "cli"


def test_bad_department_is_refused_with_exit_code_2(
    runner: FlaskCliRunner, department: Department, db: Session
) -> None:
    result = runner.invoke(main, ["departments", "add", "support", "--mailbox", "nope"])
    assert result.exit_code == 2
    assert "name:" in result.output and "mailbox:" in result.output
    see_committed(db)
    assert db.scalar(select(func.count()).select_from(Department)) == 1


def test_deactivation_moves_open_tickets_to_the_named_department(
    runner: FlaskCliRunner,
    department: Department,
    make_department: Callable[..., Department],
    make_ticket: Callable[..., Ticket],
    db: Session,
) -> None:
    make_department("Sales")
    ticket = make_ticket()
    refused = runner.invoke(main, ["departments", "deactivate", "Support"])
    assert refused.exit_code == 2
    assert "open tickets" in refused.output
    result = runner.invoke(main, ["departments", "deactivate", "Support", "--move-to", "Sales"])
    assert result.exit_code == 0, result.output
    assert "1 open tickets moved" in result.output
    see_committed(db)
    assert ticket.department.name == "Sales"
    assert not department.is_active


def test_deactivating_an_unknown_department_exits_2(runner: FlaskCliRunner) -> None:
    result = runner.invoke(main, ["departments", "deactivate", "Nowhere"])
    assert result.exit_code == 2
    assert "No department 'Nowhere'" in result.output


def test_profiles_are_listed_by_name_with_their_kind(runner: FlaskCliRunner) -> None:
    result = runner.invoke(main, ["profiles", "list"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t")[1:3] for line in result.output.splitlines()]
    assert rows == [
        ["Administrator", "built-in"],
        ["Agent", "built-in"],
        ["Light Agent", "built-in"],
        ["Support Manager", "built-in"],
    ]


def test_profile_is_cloned_by_name(runner: FlaskCliRunner, db: Session) -> None:
    result = runner.invoke(main, ["profiles", "clone", "Agent", "Tier 2"])
    assert result.exit_code == 0, result.output
    see_committed(db)
    clone, source = (
        db.scalars(select(PermissionProfile).where(PermissionProfile.name == name)).one()
        for name in ("Tier 2", "Agent")
    )
    assert clone.permission_names == source.permission_names and not clone.is_builtin


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["profiles", "clone", "Nobody", "Copy"], "No profile 'Nobody'"),
        (["profiles", "clone", "Agent", "light agent"], "name:"),
    ],
)
def test_bad_clone_exits_2_and_writes_nothing(
    runner: FlaskCliRunner, db: Session, arguments: list[str], message: str
) -> None:
    result = runner.invoke(main, arguments)
    assert result.exit_code == 2
    assert message in result.output
    see_committed(db)
    assert db.scalar(select(func.count()).select_from(PermissionProfile)) == 4
