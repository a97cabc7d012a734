"""``deskhost agents``: list, add (the link printed without SMTP), deactivate, reactivate,
reset-link; bad input exits 2 and writes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import tokens
from core.cli import main
from core.models import AccessToken, Agent, AgentLink, Department
from core.services import agent_links
from core.services.agent_links import LinkState

pytestmark = pytest.mark.usefixtures("host")

_LINK = re.compile(r"^(https://desk\.example\.com/password/set/(dhl_\S+))$", re.MULTILINE)


def _agent(db: Session, email: str) -> Agent | None:
    db.rollback()
    db.expire_all()
    return db.scalar(select(Agent).where(Agent.email == email))


def test_add_prints_the_link_without_smtp(
    runner: FlaskCliRunner, department: Department, db: Session
) -> None:
    result = runner.invoke(
        main,
        [
            "agents",
            "add",
            "--email",
            "new@example.com",
            "--name",
            "New Agent",
            "--department",
            "Support",
            "--locale",
            "ja",
            "--base-url",
            "https://desk.example.com",
        ],
    )
    assert result.exit_code == 0, result.output
    match = _LINK.search(result.output)
    assert match, result.output
    agent = _agent(db, "new@example.com")
    assert agent is not None and agent.department_ids == {department.id}
    assert agent.password_hash == "" and agent.profile.name == "Agent"
    assert agent_links.find_link(db, match.group(2)).state is LinkState.VALID


def test_add_with_an_unknown_department_or_profile_exits_2_and_writes_nothing(
    runner: FlaskCliRunner, department: Department, db: Session
) -> None:
    unknown_department = runner.invoke(
        main,
        ["agents", "add", "--email", "a@example.com", "--name", "A", "--department", "Nowhere"],
    )
    unknown_profile = runner.invoke(
        main, ["agents", "add", "--email", "a@example.com", "--name", "A", "--profile", "Boss"]
    )
    bad_email = runner.invoke(main, ["agents", "add", "--email", "nope", "--name", "A"])
    assert unknown_department.exit_code == unknown_profile.exit_code == bad_email.exit_code == 2
    assert "Nowhere" in unknown_department.output
    assert "profile_name" in unknown_profile.output and "email" in bad_email.output
    assert _agent(db, "a@example.com") is None
    assert db.scalar(select(AgentLink)) is None


def test_list_shows_agents_by_activity(
    runner: FlaskCliRunner, make_agent: Callable[..., Agent], db: Session
) -> None:
    make_agent("here@example.com", name="Still Here")
    gone = make_agent("gone@example.com", name="Long Gone")
    gone.is_active = False
    db.commit()
    active = runner.invoke(main, ["agents", "list"])
    inactive = runner.invoke(main, ["agents", "list", "--activity", "inactive"])
    assert active.exit_code == inactive.exit_code == 0
    assert "here@example.com" in active.output and "gone@example.com" not in active.output
    assert "gone@example.com" in inactive.output and "inactive" in inactive.output


def test_deactivate_revokes_tokens_and_reactivate_lets_them_back(
    runner: FlaskCliRunner, make_agent: Callable[..., Agent], db: Session
) -> None:
    agent = make_agent("leaving@example.com")
    tokens.create_personal_token(db, agent, "script", ["desk.tickets.read"])
    db.commit()
    assert runner.invoke(main, ["agents", "deactivate", "leaving@example.com"]).exit_code == 0
    leaving = _agent(db, "leaving@example.com")
    assert leaving is not None and not leaving.is_active
    assert db.scalars(select(AccessToken)).one().revoked_at is not None
    assert runner.invoke(main, ["agents", "reactivate", "leaving@example.com"]).exit_code == 0
    back = _agent(db, "leaving@example.com")
    assert back is not None and back.is_active


def test_reset_link_replaces_the_older_link(
    runner: FlaskCliRunner, make_agent: Callable[..., Agent], db: Session
) -> None:
    make_agent("forgetful@example.com")
    arguments = [
        "agents",
        "reset-link",
        "forgetful@example.com",
        "--base-url",
        "https://desk.example.com",
    ]
    first = _LINK.search(runner.invoke(main, arguments).output)
    second = _LINK.search(runner.invoke(main, arguments).output)
    assert first and second
    _agent(db, "forgetful@example.com")
    assert agent_links.find_link(db, first.group(2)).state is LinkState.REPLACED
    assert agent_links.find_link(db, second.group(2)).state is LinkState.VALID


def test_commands_on_an_unknown_email_exit_2(runner: FlaskCliRunner) -> None:
    for command in ("deactivate", "reactivate", "reset-link"):
        result = runner.invoke(main, ["agents", command, "nobody@example.com"])
        assert result.exit_code == 2 and "nobody@example.com" in result.output
