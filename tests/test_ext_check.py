"""``deskhost ext check``: an extension checked without installing it, one mismatch at a time.

Each test writes a small extension package (``manifest.json`` and hooks) in a temporary folder;
the clean one has no problem, and each test breaks one thing and sees it named.
"""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.cli import main
from core.host import Host
from core.plugins import check
from core.plugins.check import Problem, check_plugin
from core.plugins.manager import PluginHost
from core.plugins.sources import context_method_scopes
from hostapi import Context, Location, scopes
from tests.plugin_fixtures import GROUP, manifest

PLUGIN = "checked"
TITLE = {"en": "Notes", "ja": "メモ"}

HEADER = """\
from flask import Blueprint

from hostapi import (
    ApiRoute, Context, JobSpec, Location, Page, Panel, PermissionSpec, hookimpl,
)


def render(context, target):
    return ""


def run(context, payload):
    pass
"""

WellFormed = Callable[..., Path]


@pytest.fixture
def extension(tmp_path: Path) -> WellFormed:
    """Writes the package ``checked``: its manifest (fields override the test manifest's),
    ``__init__.py`` (the header above and ``hooks``) and any other ``files``."""

    def write(hooks: str = "", files: dict[str, str] | None = None, **fields: object) -> Path:
        package = tmp_path / PLUGIN
        package.mkdir()
        (package / "manifest.json").write_text(json.dumps(manifest(PLUGIN, **fields)))
        (package / "__init__.py").write_text(HEADER + textwrap.dedent(hooks))
        for name, text in (files or {}).items():
            (package / name).parent.mkdir(parents=True, exist_ok=True)
            (package / name).write_text(textwrap.dedent(text))
        return package

    return write


def problems(package: Path, code: str | None = None) -> list[Problem]:
    """The problems found in ``package`` (of one kind)."""
    return [p for p in check_plugin(package) if code is None or p.code == code]


def messages(package: Path, code: str) -> list[str]:
    return [p.message for p in problems(package, code)]


def panel(key: str = "notes", location: str = Location.TICKET_RIGHT_PANEL) -> dict[str, object]:
    return {"key": key, "location": location, "title": TITLE}


PANEL_HOOK = """
@hookimpl
def deskhost_panels():
    return [Panel(key="notes", location=Location.TICKET_RIGHT_PANEL, title="Notes", render=render)]
"""


def test_matching_extension_has_no_problem(extension: WellFormed) -> None:
    package = extension(PANEL_HOOK, panels=[panel()])
    assert problems(package) == []


# ------------------------------------------------------------------------------ manifest


def test_manifest_schema_errors_are_each_named_with_their_field(extension: WellFormed) -> None:
    package = extension(version="one", panels=[panel(location="desk.nowhere")])
    found = messages(package, check.MANIFEST)
    assert any("'version'" in message for message in found)
    assert any("'panels.0.location'" in message for message in found)


def test_missing_manifest_is_named(extension: WellFormed) -> None:
    package = extension()
    (package / "manifest.json").unlink()
    with pytest.raises(LookupError, match=r"manifest\.json"):
        check_plugin(package)


def test_extension_failing_to_import_is_named(extension: WellFormed) -> None:
    package = extension("import deskhost_dependency_that_is_not_installed\n")
    assert "deskhost_dependency_that_is_not_installed" in messages(package, check.IMPORT)[0]


def test_hook_without_specification_is_named(extension: WellFormed) -> None:
    package = extension("@hookimpl\ndef deskhost_no_such_hook():\n    pass\n")
    assert "deskhost_no_such_hook" in messages(package, check.HOOK)[0]


def test_requirements_the_host_could_not_create_are_named(extension: WellFormed) -> None:
    waiting = {"key": "waiting", "name": {"en": "Waiting", "ja": "待ち"}, "type": "on_hold"}
    package = extension(requirements={"statuses": [waiting]}, single_install=False)
    assert messages(package, check.REQUIREMENTS) == [
        "manifest field single_install: An extension that declares requirements is installed "
        "once: set it to true."
    ]


# ------------------------------------------------------------------------------ panels


def test_manifest_panel_without_a_panel_is_named(extension: WellFormed) -> None:
    package = extension(panels=[panel()])
    assert messages(package, check.PANEL_MISSING) == [
        "panel 'notes' (desk.ticket.detail.rightpanel) is in the manifest, "
        "but deskhost_panels gives no Panel with that key"
    ]


def test_panel_the_manifest_does_not_declare_is_named(extension: WellFormed) -> None:
    package = extension(PANEL_HOOK)
    assert "Panel 'notes'" in messages(package, check.PANEL_UNDECLARED)[0]


def test_panel_at_another_location_than_declared_is_named(extension: WellFormed) -> None:
    package = extension(PANEL_HOOK, panels=[panel(location=Location.CONTACT_SUBTAB)])
    assert messages(package, check.PANEL_LOCATION) == [
        "panel 'notes' is at desk.contact.detail.subtab in the manifest, "
        "but its Panel is at desk.ticket.detail.rightpanel"
    ]


# ------------------------------------------------------------------------------ permissions


def test_panel_permission_declared_nowhere_is_named(extension: WellFormed) -> None:
    package = extension(
        PANEL_HOOK.replace("render=render", 'render=render, permission="checked.see_notes"'),
        panels=[panel()],
    )
    (found,) = messages(package, check.PERMISSION_UNDECLARED)
    assert "'checked.see_notes', used by Panel 'notes'" in found


def test_permission_asked_in_code_and_declared_nowhere_is_named(extension: WellFormed) -> None:
    package = extension(
        """
        def may_edit(context: Context) -> bool:
            return context.has_permission("checked.edit_notes")
        """
    )
    (found,) = messages(package, check.PERMISSION_UNDECLARED)
    assert "'checked.edit_notes', used by has_permission() at __init__.py:" in found


def test_host_permission_and_declared_permission_are_known(extension: WellFormed) -> None:
    package = extension(
        """
        def may_edit(context: Context) -> bool:
            return context.has_permission("ticket.edit") and context.has_permission("checked.x")
        """,
        permissions=[{"name": "checked.x"}],
    )
    assert problems(package) == []


def test_hook_permission_missing_from_the_manifest_is_named(extension: WellFormed) -> None:
    package = extension(
        """
        @hookimpl
        def deskhost_permissions():
            return [PermissionSpec(name="checked.export", label="Export notes")]
        """
    )
    assert "'checked.export'" in messages(package, check.PERMISSION_UNLISTED)[0]


# ------------------------------------------------------------------------------ jobs


def jobs_hook(cron: str | None = None) -> str:
    """``deskhost_jobs`` giving the job ``cleanup`` (on ``cron``)."""
    return f'@hookimpl\ndef deskhost_jobs():\n    return [JobSpec("cleanup", run, cron={cron!r})]\n'


def test_manifest_job_without_a_job_spec_is_named(extension: WellFormed) -> None:
    package = extension(jobs=[{"name": "cleanup"}])
    assert messages(package, check.JOB_MISSING) == [
        "job 'cleanup' is in the manifest, but deskhost_jobs gives no JobSpec of that name"
    ]


def test_job_spec_missing_from_the_manifest_is_named(extension: WellFormed) -> None:
    package = extension(jobs_hook())
    assert messages(package, check.JOB_UNDECLARED) == [
        "job 'cleanup' from deskhost_jobs is not in the manifest's jobs"
    ]


def test_cron_differing_between_manifest_and_job_spec_is_named(extension: WellFormed) -> None:
    package = extension(jobs_hook("0 * * * *"), jobs=[{"name": "cleanup", "cron": "*/5 * * * *"}])
    assert messages(package, check.JOB_CRON) == [
        "job 'cleanup' runs on cron 0 * * * * (its JobSpec), but the manifest says */5 * * * *"
    ]


def test_cron_spelled_with_other_spaces_is_the_same(extension: WellFormed) -> None:
    package = extension(jobs_hook("0  * * * *"), jobs=[{"name": "cleanup", "cron": "0 * * * *"}])
    assert problems(package) == []


# ------------------------------------------------------------------------------ scopes


def test_context_call_needing_a_scope_not_asked_for_is_named(extension: WellFormed) -> None:
    package = extension(
        """
        def thread_count(context, ticket_id):
            return len(context.list_threads(ticket_id))
        """
    )
    (found,) = messages(package, check.SCOPE_MISSING)
    assert found.startswith("scope 'desk.threads.read' is needed by context.list_threads() at")
    assert found.endswith("but the manifest does not ask for it")


def test_context_parameter_of_another_name_is_seen_by_its_annotation(
    extension: WellFormed,
) -> None:
    package = extension(
        """
        def owner(desk: "Context", account_id: int):
            return desk.get_account(account_id)
        """
    )
    assert "'desk.accounts.read'" in messages(package, check.SCOPE_MISSING)[0]


def test_scope_needed_in_another_module_of_the_package_is_named(
    extension: WellFormed,
) -> None:
    package = extension(
        files={"kb.py": "def articles(context):\n    return context.kb_articles()\n"}
    )
    assert "context.kb_articles() at kb.py:2" in messages(package, check.SCOPE_MISSING)[0]


def test_endpoint_scope_not_asked_for_is_named(extension: WellFormed) -> None:
    package = extension(
        """
        @hookimpl
        def deskhost_api_routes():
            return [
                ApiRoute(
                    name="agents", path="/agents", handle=run, summary="Agents.",
                    scopes=("desk.agents.read",),
                )
            ]
        """
    )
    assert "ApiRoute 'agents'" in messages(package, check.SCOPE_MISSING)[0]


def test_scope_asked_for_is_no_problem(extension: WellFormed) -> None:
    package = extension(
        "def thread_count(context, ticket_id):\n    return context.list_threads(ticket_id)\n",
        scopes=[scopes.THREADS_READ],
    )
    assert problems(package) == []


def test_scopes_of_context_methods_are_read_from_the_host() -> None:
    needs = context_method_scopes()
    assert needs["get_ticket"] == {scopes.TICKETS_READ}
    assert needs["merge_ticket"] == {scopes.TICKETS_WRITE, scopes.THREADS_WRITE}
    assert needs["kb_articles"] == {scopes.KB_READ}
    assert "storage_get" not in needs
    assert set(needs) <= set(dir(Context))


# ------------------------------------------------------------------------------ settings


def test_setting_read_but_not_declared_is_named(extension: WellFormed) -> None:
    package = extension(
        """
        def greeting(context):
            return context.settings.get("greeting") or context.settings["salutation"]
        """,
        settings=[{"name": "greeting", "type": "string", "label": TITLE}],
    )
    (found,) = messages(package, check.SETTING_UNDECLARED)
    assert found.startswith("setting 'salutation', read at __init__.py:")


# ------------------------------------------------------------------------------ pages

PAGE_HOOK = """
pages = Blueprint("checked_pages", __name__, url_prefix="/notes")
pages.add_url_rule("/", "index", lambda: "")
pages.add_url_rule("/<int:note_id>", "note", lambda note_id: "")
pages.add_url_rule("/import", "upload", lambda: "", methods=["POST"])


@hookimpl
def deskhost_pages():
    return [Page(blueprint=pages, title="Notes", {fields})]
"""


@pytest.mark.parametrize("path", ["notes/", "notes", "notes/7"])
def test_menu_entry_to_a_view_is_no_problem(extension: WellFormed, path: str) -> None:
    package = extension(PAGE_HOOK.replace("{fields}", f'menu=True, menu_path="{path}"'))
    assert problems(package) == []


@pytest.mark.parametrize("path", ["", "notes/import", "notes/7/edit"])
def test_menu_entry_to_no_view_answering_get_is_named(extension: WellFormed, path: str) -> None:
    package = extension(PAGE_HOOK.replace("{fields}", f'menu=True, menu_path="{path}"'))
    (found,) = messages(package, check.MENU_PAGE)
    assert found.startswith("the menu entry of blueprint 'checked_pages' goes to")


def test_settings_page_to_no_view_is_named(extension: WellFormed) -> None:
    package = extension(PAGE_HOOK.replace("{fields}", 'settings_path="settings/"'))
    assert "settings page" in messages(package, check.SETTINGS_PAGE)[0]


# ------------------------------------------------------------------------------ migrations

MIGRATIONS_HOOK = """
from pathlib import Path

from checked import models  # noqa: F401  (what the check compares the stream's head with)


@hookimpl
def deskhost_migrations():
    return str(Path(__file__).with_name("versions"))
"""

MODELS = """
from sqlalchemy import Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


class Note(Base):
    __tablename__ = "checked_note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(200))
"""


def revision(number: int, revises: int | None, upgrade: str = "pass") -> str:
    """A revision file of the stream."""
    down = f'"checked_{revises:04d}"' if revises else "None"
    return (
        f'import sqlalchemy as sa\nfrom alembic import op\n\nrevision = "checked_{number:04d}"\n'
        f"down_revision = {down}\n\n\ndef upgrade():\n    {upgrade}\n"
    )


CREATE_NOTES = (
    'op.create_table("checked_note", sa.Column("id", sa.Integer(), primary_key=True), '
    'sa.Column("installation_id", sa.Integer()))'
)


def stream(*revisions: str) -> dict[str, str]:
    files = {f"versions/checked_{n:04d}.py": text for n, text in enumerate(revisions, 1)}
    return {"models.py": MODELS, **files}


def test_stream_whose_head_matches_the_models_is_no_problem(extension: WellFormed) -> None:
    add_text = 'op.add_column("checked_note", sa.Column("text", sa.String(200)))'
    package = extension(
        MIGRATIONS_HOOK, files=stream(revision(1, None, CREATE_NOTES), revision(2, 1, add_text))
    )
    assert problems(package) == []


def test_column_of_the_models_missing_from_the_head_is_named(extension: WellFormed) -> None:
    package = extension(MIGRATIONS_HOOK, files=stream(revision(1, None, CREATE_NOTES)))
    assert messages(package, check.MIGRATIONS_HEAD) == [
        "column checked_note.text is in the model, but not in the stream's head 'checked_0001'"
    ]


def test_table_of_the_models_dropped_by_the_head_is_named(extension: WellFormed) -> None:
    drop = 'op.drop_table("checked_note")'
    package = extension(
        MIGRATIONS_HOOK, files=stream(revision(1, None, CREATE_NOTES), revision(2, 1, drop))
    )
    assert messages(package, check.MIGRATIONS_HEAD) == [
        "table 'checked_note' is in the models, but the stream's head 'checked_0002' has no "
        "such table"
    ]


def test_stream_with_two_heads_is_named(extension: WellFormed) -> None:
    package = extension(
        MIGRATIONS_HOOK,
        files=stream(revision(1, None, CREATE_NOTES), revision(2, 1), revision(3, 1)),
    )
    assert messages(package, check.MIGRATIONS) == [
        "the stream has 2 heads (checked_0002, checked_0003): merge them into one"
    ]


def test_revision_revising_one_not_in_the_stream_is_named(extension: WellFormed) -> None:
    package = extension(
        MIGRATIONS_HOOK, files=stream(revision(1, None, CREATE_NOTES), revision(2, 7))
    )
    assert "revises 'checked_0007', which is not in the stream" in " ".join(
        messages(package, check.MIGRATIONS)
    )


def test_migrations_folder_that_does_not_exist_is_named(extension: WellFormed) -> None:
    package = extension(MIGRATIONS_HOOK, files={"models.py": MODELS})
    assert "not a folder" in messages(package, check.MIGRATIONS)[0]


# ------------------------------------------------------------------------------ the command


def ext_check(*args: str) -> object:
    return CliRunner().invoke(main, ["ext", "check", *args])


def test_check_command_names_every_problem_and_exits_2(extension: WellFormed) -> None:
    package = extension(
        jobs_hook()
        + "def count(context, ticket_id):\n    return len(context.list_threads(ticket_id))\n",
        panels=[panel()],
    )
    result = ext_check(str(package))

    assert result.exit_code == 2
    for problem in check_plugin(package):
        assert str(problem) in result.output
    assert "3 problems found." in result.output


def test_check_command_says_ok_for_a_matching_extension(extension: WellFormed) -> None:
    result = ext_check(str(extension()))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok:")


def test_check_command_checks_the_distribution_in_the_current_folder(
    extension: WellFormed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extension(jobs=[{"name": "cleanup"}])
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "checked"\n\n[project.entry-points."{GROUP}"]\nchecked = "checked"\n'
    )
    monkeypatch.chdir(tmp_path)
    result = ext_check()
    assert result.exit_code == 2
    assert "checked: job 'cleanup' is in the manifest" in result.output


def test_check_command_checks_an_installed_extension_by_id() -> None:
    result = ext_check("ticket_history")
    assert result.exit_code == 0, result.output


def test_check_command_refuses_what_is_neither_a_folder_nor_an_extension() -> None:
    result = ext_check("no_such_extension")
    assert result.exit_code == 2
    assert "neither a folder nor an installed extension" in result.output


def test_bundled_extensions_and_the_example_check_clean(repo_root: Path) -> None:
    assert check_plugin(repo_root) == []
    assert check_plugin(repo_root / "examples" / "hello_extension") == []


def test_check_leaves_no_module_of_the_checked_extension_behind(extension: WellFormed) -> None:
    check_plugin(extension(MIGRATIONS_HOOK, files=stream(revision(1, None, CREATE_NOTES))))
    assert not [name for name in sys.modules if name.partition(".")[0] == PLUGIN]


# ------------------------------------------------------------------------------ at load


@pytest.fixture
def importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test's extension importable as ``checked``, forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [n for n in sys.modules if n.partition(".")[0] == PLUGIN]:
        del sys.modules[name]


@pytest.mark.usefixtures("importable")
def test_host_loads_a_mismatched_extension_and_keeps_its_problems(
    host: Host, extension: WellFormed, caplog: pytest.LogCaptureFixture
) -> None:
    extension(jobs=[{"name": "cleanup"}])
    plugin_host = PluginHost(host)
    with caplog.at_level(logging.WARNING, logger="core.plugins.manager"):
        plugin_host.load_entry_points([EntryPoint(name=PLUGIN, value=PLUGIN, group=GROUP)])

    (problem,) = plugin_host.loaded[PLUGIN].problems
    assert problem.code == check.JOB_MISSING
    assert str(problem) in caplog.text


def test_host_finds_no_problem_in_the_bundled_extensions(host: Host) -> None:
    assert {p: i.problems for p, i in host.plugins.loaded.items() if i.problems} == {}
