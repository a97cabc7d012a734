"""``deskhost ext logs`` (an extension's recorded hook errors and failed jobs, per installation)
and what ``deskhost ext show`` and ``deskhost plugins`` tell of a deployed extension."""

from __future__ import annotations

import json
import sys
import traceback
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import Result
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from core.cli import main
from core.host import Host
from core.models import Department, HookError, Installation, OutboxEvent
from core.models.extensions import OutboxKind
from tests.factories import install_for
from tests.plugin_fixtures import GROUP, manifest

PLUGIN = "ticket_history"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def logs(runner: FlaskCliRunner, *args: str) -> Result:
    return runner.invoke(main, ["ext", "logs", *args])


def raised(message: str) -> str:
    """The traceback of a ``ValueError(message)``, as the host records it."""
    try:
        raise ValueError(message)
    except ValueError as error:
        return "".join(traceback.format_exception(error))


@pytest.fixture
def installation(host: Host, db: Session, department: Department) -> Installation:
    installation = install_for(db, host, PLUGIN, [department.id])
    db.commit()
    return installation


def add_hook_error(
    db: Session, installation: Installation | None, minutes: int, message: str, **fields: object
) -> HookError:
    """A hook error ``minutes`` after START."""
    row = HookError(
        installation_id=installation.id if installation else None,
        plugin_id=PLUGIN,
        hook=str(fields.pop("hook", "deskhost_event_sync")),
        error=raised(message),
        at=START + timedelta(minutes=minutes),
        **fields,
    )
    db.add(row)
    db.commit()
    return row


def add_failed_job(
    db: Session, installation: Installation, job: str, error: str, *, given_up: bool
) -> OutboxEvent:
    row = OutboxEvent(
        id=str(uuid.uuid4()),
        kind=OutboxKind.JOB.value,
        name=job,
        payload={},
        installation_id=installation.id,
        occurred_at=START,
        attempts=4 if given_up else 1,
        last_error=error,
        delivered_at=START + timedelta(minutes=5) if given_up else None,
    )
    db.add(row)
    db.commit()
    return row


# ------------------------------------------------------------------------------ ext logs


def test_logs_list_hook_errors_newest_first_with_their_exception(
    runner: FlaskCliRunner, db: Session, installation: Installation
) -> None:
    add_hook_error(db, installation, 1, "first", event_id="e-1")
    add_hook_error(db, installation, 2, "second", hook="job:rebuild")

    result = logs(runner, PLUGIN)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"Installation {installation.id} (active):"
    newer, older = (line for line in lines if "ValueError" in line)
    assert newer.endswith("job:rebuild  ValueError: second")
    assert older.endswith("deskhost_event_sync  event e-1  ValueError: first")
    assert "Traceback" not in result.output


def test_logs_list_failed_jobs_given_up_or_to_be_retried(
    runner: FlaskCliRunner, db: Session, installation: Installation
) -> None:
    given_up = add_failed_job(
        db,
        installation,
        "rebuild",
        "Traceback (most recent call last):\nKeyError: 'x'",
        given_up=True,
    )
    retried = add_failed_job(db, installation, "backfill", "timeout", given_up=False)

    output = logs(runner, PLUGIN).output

    assert f"backfill  job {retried.id}  to be retried after 1 attempt  timeout" in output
    assert f"rebuild  job {given_up.id}  given up 2026-12-01 09:05:00" in output
    assert "after 4 attempts  KeyError: 'x'" in output and "Traceback" not in output
    assert output.index("backfill") < output.index("rebuild")


def test_logs_verbose_print_each_error_whole(
    runner: FlaskCliRunner, db: Session, installation: Installation
) -> None:
    add_hook_error(db, installation, 1, "first")
    output = logs(runner, PLUGIN, "--verbose").output
    assert "Traceback (most recent call last):" in output
    assert "raise ValueError(message)" in output


def test_logs_limit_keeps_the_newest(
    runner: FlaskCliRunner, db: Session, installation: Installation
) -> None:
    for minute in range(5):
        add_hook_error(db, installation, minute, f"number {minute}")
    output = logs(runner, PLUGIN, "--limit", "2").output
    assert "number 4" in output and "number 3" in output and "number 2" not in output


def test_logs_of_one_installation_leave_out_the_others(
    runner: FlaskCliRunner, host: Host, db: Session, department: Department
) -> None:
    first = install_for(db, host, PLUGIN, [department.id])
    second = install_for(db, host, PLUGIN, [department.id])
    db.commit()
    add_hook_error(db, first, 1, "of the first")
    add_hook_error(db, second, 1, "of the second")

    output = logs(runner, PLUGIN, "--installation", str(second.id)).output

    assert "of the second" in output and "of the first" not in output


def test_logs_say_when_an_installation_has_no_failure(
    runner: FlaskCliRunner, installation: Installation
) -> None:
    assert logs(runner, PLUGIN).output.splitlines() == [
        f"Installation {installation.id} (active):",
        "  no hook errors, no failed jobs",
    ]


def test_logs_show_errors_recorded_without_an_installation(
    runner: FlaskCliRunner, db: Session
) -> None:
    add_hook_error(db, None, 1, "orphaned")
    output = logs(runner, PLUGIN).output
    assert output.startswith("Without an installation:")
    assert "ValueError: orphaned" in output


def test_logs_in_json_carry_whole_errors(
    runner: FlaskCliRunner, db: Session, installation: Installation
) -> None:
    add_hook_error(db, installation, 1, "first", event_id="e-1")
    job = add_failed_job(db, installation, "rebuild", "boom", given_up=True)

    (found,) = json.loads(logs(runner, PLUGIN, "--json").output)

    assert found["installation_id"] == installation.id
    (error,) = found["hook_errors"]
    assert error["event_id"] == "e-1" and error["error"].startswith("Traceback")
    assert found["failed_jobs"][0] | {"queued_at": None, "given_up_at": None} == {
        "job_id": job.id,
        "job": "rebuild",
        "queued_at": None,
        "attempts": 4,
        "given_up_at": None,
        "error": "boom",
    }


def test_logs_refuse_an_installation_of_another_extension(
    runner: FlaskCliRunner, installation: Installation
) -> None:
    result = logs(runner, "customer_insights", "--installation", str(installation.id))
    assert result.exit_code == 2
    assert f"installation {installation.id} is not of customer_insights" in result.output


def test_logs_refuse_an_unknown_extension(runner: FlaskCliRunner) -> None:
    result = logs(runner, "no_such_extension")
    assert result.exit_code == 2
    assert "no extension 'no_such_extension'" in result.output


# ------------------------------------------------------------------------------ ext show


def test_show_lists_settings_jobs_permissions_webhooks_pages_and_menu(
    runner: FlaskCliRunner,
) -> None:
    result = runner.invoke(main, ["ext", "show", "im_dashboard"])

    assert result.exit_code == 0, result.output
    output = result.output
    assert "  reopen_window_hours (integer, default 24)" in output
    assert "  process_events (cron * * * * *)" in output
    assert "  send_message (when enqueued)" in output
    assert "Permissions: im_dashboard.manage_channels" in output
    assert "  line: POST /hooks/im_dashboard/<installation id>/line" in output
    assert "  IM channels /ext/im_dashboard/<installation id>/channels/ (permission " in output
    menu = output.split("Menu entries:\n")[1].split("Problems")[0]
    assert "  IM inbox -> inbox/\n" in menu and "  IM channels -> channels/\n" in menu
    assert "Problems (deskhost ext check): none" in output


@pytest.fixture
def mismatched(host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A deployed extension whose manifest announces a job its hooks do not give."""
    package = tmp_path / "mismatched"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "manifest.json").write_text(
        json.dumps(manifest("mismatched", jobs=[{"name": "cleanup"}]))
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    host.plugins.load_entry_points([EntryPoint(name="mismatched", value="mismatched", group=GROUP)])
    yield "job 'cleanup' is in the manifest, but deskhost_jobs gives no JobSpec of that name"
    host.plugins.unregister_plugin("mismatched")
    sys.modules.pop("mismatched", None)


def test_show_lists_the_problems_found_at_load(runner: FlaskCliRunner, mismatched: str) -> None:
    output = runner.invoke(main, ["ext", "show", "mismatched"]).output
    assert f"Problems (deskhost ext check):\n  {mismatched} [job-missing]\n" in output


def test_plugins_command_lists_the_problems_found_at_load(
    runner: FlaskCliRunner, mismatched: str
) -> None:
    output = runner.invoke(main, ["plugins"]).output
    assert f"mismatched 1.0.0\n  problem: {mismatched} [job-missing]\n" in output
