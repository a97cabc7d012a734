"""``deskhost ext``: list, search, show, install, authorize, uninstall, upgrade, restore."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.cli import main
from core.host import Host
from core.models import Agent, AuditEntry, Department, Installation
from core.models.extensions import InstallationState
from hostapi import scopes
from marketplace_registry import lifecycle
from tests.factories import install_for, system_unit
from tests.plugin_fixtures import manifest


def fresh(db: Session) -> Session:
    """``db`` seeing what the command committed."""
    db.rollback()
    db.expire_all()
    return db


def count(db: Session) -> int:
    return fresh(db).scalar(select(func.count()).select_from(Installation)) or 0


@pytest.fixture
def admin(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("boss@example.com", profile="Administrator", departments=[department])


@pytest.fixture
def installed(host: Host, db: Session, department: Department) -> Installation:
    installation = install_for(db, host, "ticket_history", [department.id], authorize=False)
    db.commit()
    return installation


def ext(runner: FlaskCliRunner, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(main, ["ext", *args])


def test_help_lists_the_ext_commands(runner: FlaskCliRunner) -> None:
    result = ext(runner, "--help")
    assert result.exit_code == 0
    for command in ("list", "search", "install", "authorize", "uninstall", "upgrade", "restore"):
        assert command in result.output


# ------------------------------------------------------------------------------ reading


def test_search_in_japanese_finds_the_analytics_extensions(runner: FlaskCliRunner) -> None:
    result = ext(runner, "search", "分析")
    assert result.exit_code == 0, result.output
    found = {line.split()[0] for line in result.output.splitlines()}
    assert found == {"customer_insights", "im_dashboard"}


def test_search_filters_by_category_in_json(runner: FlaskCliRunner) -> None:
    result = ext(runner, "search", "--category", "chat", "--json")
    assert [item["id"] for item in json.loads(result.output)] == ["salesiq"]


def test_search_installed_finds_nothing_before_any_install(runner: FlaskCliRunner) -> None:
    result = ext(runner, "search", "--installed")
    assert (result.exit_code, result.output.strip()) == (0, "No extension matches.")


def test_show_prints_scopes_and_terms(runner: FlaskCliRunner) -> None:
    result = ext(runner, "show", "customer_insights")
    assert result.exit_code == 0
    assert "desk.tickets.read" in result.output and "Terms:" in result.output


def test_show_of_an_unknown_extension_exits_2(runner: FlaskCliRunner) -> None:
    assert ext(runner, "show", "no_such_thing").exit_code == 2


def test_list_shows_state_departments_and_pending_consent(
    runner: FlaskCliRunner, installed: Installation
) -> None:
    result = ext(runner, "list")
    assert result.exit_code == 0
    [line] = result.output.splitlines()
    assert line.split()[:4] == [
        str(installed.id),
        "ticket_history",
        "0.2.0",
        "awaiting_authorization",
    ]
    assert "Support" in line and "awaiting consent: desk.accounts.read" in line
    [row] = json.loads(ext(runner, "list", "--json").output)
    assert (row["departments"], row["state"]) == (["Support"], "awaiting_authorization")


# ------------------------------------------------------------------------------ install


def test_install_by_department_and_profile_names(
    runner: FlaskCliRunner, db: Session, department: Department
) -> None:
    result = ext(
        runner,
        "install",
        "ticket_history",
        "--department",
        "support",
        "--profile",
        "Agent",
        "--accept-terms",
        "--setting",
        "page_size=25",
        "--label",
        "First line",
    )
    assert result.exit_code == 0, result.output
    installation = fresh(db).scalars(select(Installation)).one()
    assert f"ext authorize {installation.id}" in result.output
    assert installation.state == InstallationState.AWAITING_AUTHORIZATION
    assert (installation.department_ids, installation.settings) == (
        {department.id},
        {"page_size": 25},
    )
    entry = db.scalars(select(AuditEntry).where(AuditEntry.sub_action == "install")).one()
    assert (entry.actor_agent_id, entry.actor_label) == (None, "cli")


def test_install_as_an_admin_is_audited_as_them(
    runner: FlaskCliRunner, db: Session, department: Department, admin: Agent
) -> None:
    result = ext(
        runner,
        "install",
        "ticket_history",
        "--department",
        str(department.id),
        "--profile",
        "Agent",
        "--accept-terms",
        "--as",
        "BOSS@example.com",
    )
    assert result.exit_code == 0, result.output
    entry = fresh(db).scalars(select(AuditEntry).where(AuditEntry.sub_action == "install")).one()
    assert entry.actor_agent_id == admin.id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--department", "Support", "--profile", "Agent"], "--accept-terms"),
        (["--department", "Nowhere", "--profile", "Agent", "--accept-terms"], "Nowhere"),
        (["--department", "Support", "--accept-terms"], "--profile"),
        (
            ["--department", "Support", "--profile", "Agent", "--accept-terms", "--setting", "x"],
            "NAME=VALUE",
        ),
        (
            [
                *("--department", "Support", "--profile", "Agent", "--accept-terms"),
                *("--setting", "page_size=500"),
            ],
            "--setting page_size",
        ),
        (
            [*("--department", "Support", "--profile", "Agent", "--accept-terms"), "--as", "x@y"],
            "--as",
        ),
    ],
    ids=[
        "terms",
        "unknown-department",
        "no-profile",
        "setting-format",
        "bad-setting",
        "unknown-admin",
    ],
)
def test_bad_install_exits_2_with_a_message_and_stores_nothing(
    runner: FlaskCliRunner, db: Session, department: Department, args: list[str], message: str
) -> None:
    result = ext(runner, "install", "ticket_history", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert count(db) == 0


def test_install_as_an_agent_without_marketplace_permission_exits_2(
    runner: FlaskCliRunner, db: Session, make_agent: Callable[..., Agent], department: Department
) -> None:
    make_agent("agent@example.com", departments=[department])
    result = ext(
        runner,
        *("install", "ticket_history", "--department", "Support", "--profile", "Agent"),
        *("--accept-terms", "--as", "agent@example.com"),
    )
    assert result.exit_code == 2
    assert "marketplace.manage" in result.output
    assert count(db) == 0


def test_install_of_an_unknown_extension_exits_2(
    runner: FlaskCliRunner, db: Session, department: Department
) -> None:
    result = ext(
        runner, "install", "no_such_thing", "--department", "Support", "--profile", "Agent"
    )
    assert result.exit_code == 2
    assert count(db) == 0


# ------------------------------------------------------------------------------ authorize


def test_authorize_grants_every_requested_scope_as_the_admin(
    runner: FlaskCliRunner, db: Session, installed: Installation, admin: Agent
) -> None:
    result = ext(runner, "authorize", str(installed.id), "--as", admin.email)
    assert result.exit_code == 0, result.output
    installation = fresh(db).get(Installation, installed.id)
    assert installation.state == InstallationState.ACTIVE
    assert installation.authorized_by_id == admin.id
    assert set(installation.granted_scopes) == {
        scopes.TICKETS_READ,
        scopes.CONTACTS_READ,
        scopes.ACCOUNTS_READ,
        scopes.THREADS_READ,
        scopes.AGENTS_READ,
    }


def test_authorize_grants_only_the_scopes_named(
    runner: FlaskCliRunner, db: Session, installed: Installation, admin: Agent
) -> None:
    result = ext(
        runner, "authorize", str(installed.id), "--as", admin.email, "--scope", scopes.TICKETS_READ
    )
    assert result.exit_code == 0, result.output
    assert fresh(db).get(Installation, installed.id).granted_scopes == [scopes.TICKETS_READ]


@pytest.mark.parametrize(
    "args",
    [
        ["--scope", scopes.KB_WRITE, "--as", "boss@example.com"],
        [],
        ["--as", "nobody@example.com"],
    ],
    ids=["scope-not-requested", "no-admin", "unknown-admin"],
)
def test_bad_authorize_exits_2_and_changes_nothing(
    runner: FlaskCliRunner, db: Session, installed: Installation, admin: Agent, args: list[str]
) -> None:
    result = ext(runner, "authorize", str(installed.id), *args)
    assert result.exit_code == 2
    assert fresh(db).get(Installation, installed.id).state == (
        InstallationState.AWAITING_AUTHORIZATION
    )


def test_authorize_of_an_unknown_installation_exits_2(runner: FlaskCliRunner, admin: Agent) -> None:
    result = ext(runner, "authorize", "999999", "--as", admin.email)
    assert result.exit_code == 2
    assert "no installation 999999" in result.output


# ------------------------------------------------------------------------------ uninstall


@pytest.mark.parametrize("args", [["--keep-data"], ["--yes"], ["--yes", "--keep-data", "--purge"]])
def test_uninstall_needs_yes_and_one_data_choice(
    runner: FlaskCliRunner, db: Session, installed: Installation, args: list[str]
) -> None:
    result = ext(runner, "uninstall", str(installed.id), *args)
    assert result.exit_code == 2
    assert fresh(db).get(Installation, installed.id).state != InstallationState.ARCHIVED


def test_uninstall_keeping_data_archives_and_restore_brings_it_back(
    runner: FlaskCliRunner, db: Session, installed: Installation
) -> None:
    result = ext(runner, "uninstall", str(installed.id), "--yes", "--keep-data")
    assert result.exit_code == 0, result.output
    assert fresh(db).get(Installation, installed.id).state == InstallationState.ARCHIVED
    result = ext(runner, "restore", str(installed.id))
    assert result.exit_code == 0, result.output
    assert fresh(db).get(Installation, installed.id).state == (
        InstallationState.AWAITING_AUTHORIZATION
    )


def test_restore_says_a_new_oauth_client_must_be_registered(
    runner: FlaskCliRunner, installed: Installation
) -> None:
    ext(runner, "uninstall", str(installed.id), "--yes", "--keep-data")

    result = ext(runner, "restore", str(installed.id))

    assert "Its OAuth clients stay revoked: register a new one" in result.output


def test_uninstall_purging_deletes_the_installation(
    runner: FlaskCliRunner, db: Session, installed: Installation
) -> None:
    result = ext(runner, "uninstall", str(installed.id), "--yes", "--purge")
    assert result.exit_code == 0, result.output
    assert count(db) == 0


def test_restoring_a_live_installation_exits_2(
    runner: FlaskCliRunner, installed: Installation
) -> None:
    result = ext(runner, "restore", str(installed.id))
    assert result.exit_code == 2
    assert "archived" in result.output


# ------------------------------------------------------------------------------ upgrade


class _NoHooks:
    """A test extension that implements no hook."""


@pytest.fixture
def growing(host: Host) -> Iterator[Callable[[str], None]]:
    """``deploy(version)``: (re)load the test extension ``growing`` in that version."""

    def deploy(version: str) -> None:
        if "growing" in host.plugins.loaded:
            host.plugins.unregister_plugin("growing")
        requested = [scopes.TICKETS_READ] + ([scopes.KB_READ] if version != "1.0.0" else [])
        host.plugins.register_plugin(
            _NoHooks(), manifest("growing", version=version, scopes=requested)
        )

    yield deploy
    if "growing" in host.plugins.loaded:
        host.plugins.unregister_plugin("growing")


@pytest.fixture
def growing_installation(
    host: Host, db: Session, department: Department, growing: Callable[[str], None]
) -> Installation:
    growing("1.0.0")
    installation = install_for(db, host, "growing", [department.id])
    db.commit()
    growing("2.0.0")
    return installation


@pytest.mark.parametrize("args", [["{id}"], ["--all"]], ids=["one", "all"])
def test_upgrade_brings_the_deployed_version_and_reports_new_scopes(
    runner: FlaskCliRunner, db: Session, growing_installation: Installation, args: list[str]
) -> None:
    result = ext(runner, "upgrade", *[arg.format(id=growing_installation.id) for arg in args])
    assert result.exit_code == 0, result.output
    assert "to 2.0.0" in result.output and scopes.KB_READ in result.output
    assert fresh(db).get(Installation, growing_installation.id).plugin_version == "2.0.0"


def test_upgrade_with_nothing_newer_says_so(
    runner: FlaskCliRunner, installed: Installation
) -> None:
    result = ext(runner, "upgrade", str(installed.id))
    assert (result.exit_code, result.output.strip()) == (0, "Nothing to upgrade.")


@pytest.mark.parametrize("args", [[], ["1", "--all"]], ids=["neither", "both"])
def test_upgrade_needs_an_installation_or_all(runner: FlaskCliRunner, args: list[str]) -> None:
    assert ext(runner, "upgrade", *args).exit_code == 2


def test_upgrade_of_an_archived_installation_exits_2(
    runner: FlaskCliRunner, host: Host, db: Session, growing_installation: Installation
) -> None:
    lifecycle.uninstall(system_unit(db, host), growing_installation, confirmed=True, keep_data=True)
    db.commit()
    result = ext(runner, "upgrade", str(growing_installation.id))
    assert result.exit_code == 2
    assert "restore it first" in result.output


# ------------------------------------------------------------------------------ OAuth clients


def test_register_client_prints_its_secret_once_and_stores_only_its_hash(
    runner: FlaskCliRunner, installed: Installation, db: Session
) -> None:
    from core.models import OAuthClient

    result = ext(
        runner,
        "register-client",
        str(installed.id),
        "--name",
        "History service",
        "--redirect-uri",
        "https://history.example/callback",
    )
    assert result.exit_code == 0, result.output
    lines = dict(line.split("=", 1) for line in result.output.splitlines() if "=" in line)
    client = (
        fresh(db)
        .scalars(select(OAuthClient).where(OAuthClient.client_id == lines["client_id"]))
        .one()
    )
    assert client.redirect_uris == ["https://history.example/callback"]
    assert client.client_secret_hash is not None
    assert lines["client_secret"] not in client.client_secret_hash


def test_register_client_refuses_a_plain_http_redirect_uri(
    runner: FlaskCliRunner, installed: Installation
) -> None:
    result = ext(
        runner,
        "register-client",
        str(installed.id),
        "--name",
        "History service",
        "--redirect-uri",
        "http://history.example/callback",
    )
    assert result.exit_code == 2
    assert "--redirect-uri" in result.output
