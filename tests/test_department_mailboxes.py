"""Department mailboxes: the support address whose inbound mail becomes the department's tickets."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.cli import main
from core.errors import ValidationFailed
from core.models import Agent, Department
from core.services import org
from core.services.base import Unit

pytest_plugins = ["tests.api_fixtures"]

UnitFor = Callable[[Agent | None], Unit]


def test_a_mailbox_is_stored_lower_cased(department: Department, unit_for: UnitFor) -> None:
    org.update_department(unit_for(None), department, mailbox=" Support@Example.COM ")
    assert department.mailbox == "support@example.com"


def test_two_departments_cannot_share_a_mailbox(
    department: Department, unit_for: UnitFor, db: Session
) -> None:
    unit = unit_for(None)
    org.update_department(unit, department, mailbox="help@example.com")
    with pytest.raises(ValidationFailed) as refused:
        org.create_department(unit, name="Billing", mailbox="HELP@example.com")
    assert refused.value.errors == {"mailbox": ["Already the mailbox of Support."]}
    assert db.scalar(select(Department).where(Department.name == "Billing")) is None


def test_a_malformed_mailbox_is_refused_by_name(department: Department, unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as refused:
        org.update_department(unit_for(None), department, mailbox="not an address")
    assert list(refused.value.errors) == ["mailbox"]
    assert department.mailbox is None


def test_admin_sets_a_mailbox_through_the_api(
    sign_in_as, admin_agent: Agent, client, department: Department
) -> None:
    csrf = sign_in_as(admin_agent)
    path = f"/api/v1/departments/{department.id}"
    answer = client.patch(path, json={"mailbox": "support@example.com"}, headers=csrf)
    assert (answer.status_code, answer.json["mailbox"]) == (200, "support@example.com")
    refused = client.patch(path, json={"mailbox": "nope"}, headers=csrf)
    assert refused.status_code == 422 and "mailbox" in refused.json["errors"]["json"]


def test_unknown_department_answers_404(sign_in_as, admin_agent: Agent, client) -> None:
    csrf = sign_in_as(admin_agent)
    answer = client.patch("/api/v1/departments/9999", json={"mailbox": None}, headers=csrf)
    assert answer.status_code == 404


def test_cli_sets_shows_and_clears_a_mailbox(runner, department: Department, db: Session) -> None:
    assert runner.invoke(main, ["mail", "mailbox", "Support", "desk@example.com"]).exit_code == 0
    shown = runner.invoke(main, ["mail", "mailbox", "Support"])
    assert shown.output.strip() == "Support: desk@example.com"
    cleared = runner.invoke(main, ["mail", "mailbox", "Support", "--clear"])
    assert cleared.output.strip() == "Support: (none)"


@pytest.mark.parametrize(
    "args", [["Nowhere", "a@example.com"], ["Support", "bad"], ["Support", "a@b.jp", "--clear"]]
)
def test_cli_refuses_bad_input_with_exit_code_2(
    runner, department: Department, args: list[str]
) -> None:
    result = runner.invoke(main, ["mail", "mailbox", *args])
    assert result.exit_code == 2 and "Error:" in result.output
