"""The plugin contract stays honest: the guide matches the hooks, the manifest schema, the
context, the scopes and the test fixtures; extensions import only hostapi."""

from __future__ import annotations

import ast
import inspect
import json
import re
from importlib.metadata import entry_points
from pathlib import Path

import pluggy
import pytest
from marshmallow import Schema, fields

import hostapi
from core.plugins.manifest import ManifestSchema, load_manifest
from hostapi import Context, Location, events, hookspecs, scopes, testing
from hostapi._markers import PROJECT_NAME

#: A row of the guide's hook table: | `deskhost_name(arguments)` | called | returns |
_HOOK_ROW = re.compile(r"^\| `(deskhost_[a-z_]+)\(([^)]*)\)` \|(.*)\|(.*)\|\s*$", re.M)


@pytest.fixture(scope="module")
def hook_specs() -> dict[str, inspect.Signature]:
    """Every ``deskhost_*`` hookspec with its signature, walked from a plugin manager."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return {
        name: inspect.signature(getattr(hookspecs, name))
        for name in dir(pm.hook)
        if name.startswith("deskhost_")
    }


@pytest.fixture(scope="module")
def guide(repo_root: Path) -> str:
    """The plugin guide's text."""
    return (repo_root / "docs" / "plugin-guide.md").read_text()


@pytest.fixture(scope="module")
def hook_table(guide: str) -> dict[str, tuple[list[str], str]]:
    """The guide's hook table: hook name → (arguments, what it returns)."""
    return {
        name: ([a.strip() for a in arguments.split(",") if a.strip()], returns.strip())
        for name, arguments, _called, returns in _HOOK_ROW.findall(guide)
    }


def _section(guide: str, heading: str) -> str:
    """The text under the ``## heading`` of the guide, up to the next ``## `` heading."""
    start = guide.index(f"\n## {heading}\n")
    end = guide.find("\n## ", start + 1)
    return guide[start : end if end != -1 else None]


def _testing_fixtures() -> set[str]:
    return {name for name in testing.__all__ if name.startswith("deskhost_")}


# ------------------------------------------------------------------------------ hooks


def test_hook_table_lists_every_hookspec_and_no_other(
    hook_specs: dict[str, inspect.Signature], hook_table: dict[str, tuple[list[str], str]]
) -> None:
    assert sorted(hook_table) == sorted(hook_specs)


def test_hook_table_gives_each_hook_its_arguments_in_order(
    hook_specs: dict[str, inspect.Signature], hook_table: dict[str, tuple[list[str], str]]
) -> None:
    disagreeing = {
        name: (arguments, list(hook_specs[name].parameters))
        for name, (arguments, _returns) in hook_table.items()
        if name in hook_specs and arguments != list(hook_specs[name].parameters)
    }
    assert disagreeing == {}


def test_hook_table_says_nothing_is_returned_exactly_where_the_hookspec_returns_none(
    hook_specs: dict[str, inspect.Signature], hook_table: dict[str, tuple[list[str], str]]
) -> None:
    disagreeing = [
        name
        for name, (_arguments, returns) in hook_table.items()
        if name in hook_specs
        and returns.startswith("nothing") != (hook_specs[name].return_annotation == "None")
    ]
    assert disagreeing == []


def test_every_hook_written_as_a_call_in_the_guide_has_its_arguments(
    hook_specs: dict[str, inspect.Signature], guide: str
) -> None:
    wrong = [
        f"{name}({arguments})"
        for name, arguments in re.findall(r"`(deskhost_[a-z_]+)\(([^)`]*)\)`", guide)
        if name in hook_specs
        and [a.strip() for a in arguments.split(",") if a.strip()]
        != list(hook_specs[name].parameters)
    ]
    assert wrong == []


def test_guide_names_only_hooks_and_testing_fixtures(
    hook_specs: dict[str, inspect.Signature], guide: str
) -> None:
    named = set(re.findall(r"\bdeskhost_[a-z_]+", guide))
    assert named - set(hook_specs) - _testing_fixtures() == set()


def test_every_hookspec_docstring_states_its_return(
    hook_specs: dict[str, inspect.Signature],
) -> None:
    for name in hook_specs:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert ":returns:" in doc, f"{name} has no :returns: line"


# ------------------------------------------------------------------------------ the rest of the API


def _schema_fields(schema: Schema) -> set[str]:
    """Field names of a schema and of the schemas nested in its lists."""
    names = set(schema.fields)
    for field in schema.fields.values():
        inner = getattr(field, "inner", None)
        if isinstance(inner, fields.Nested) and isinstance(inner.schema, Schema):
            names |= set(inner.schema.fields)
    return names


def test_manifest_reference_has_a_row_for_every_manifest_field(guide: str) -> None:
    reference = _section(guide, "The manifest (`manifest.json`)")
    missing = [
        name for name in _schema_fields(ManifestSchema()) if f"| `{name}` |" not in reference
    ]
    assert missing == []


def test_guide_names_the_current_host_api_version_and_its_changelog(guide: str) -> None:
    assert f"Host API version: **{hostapi.HOSTAPI_VERSION}**" in guide
    assert f"### {hostapi.HOSTAPI_VERSION}\n" in _section(guide, "Changelog")


def test_scope_table_lists_every_scope(guide: str) -> None:
    table = _section(guide, "Scopes")
    assert [name for name in scopes.ALL if f"| `{name}` |" not in table] == []


def test_event_table_lists_every_event(guide: str) -> None:
    documented = _event_rows(_section(guide, "Events and payloads"))
    assert sorted(name for name in events.ALL_EVENTS if name not in documented) == []


def _event_rows(section: str) -> set[str]:
    """Event names in the table's first column; ``a.x`` / ``_y`` rows name ``a.y`` too."""
    names: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cell = line.split("|")[1]
        first = ""
        for part in re.findall(r"`([^`]+)`", cell):
            if part.startswith("_") and first:
                names.add(first.rsplit("_", 1)[0] + part)
            elif "." in part:
                first = part
                names.add(part)
    return names


def test_context_section_names_every_context_member(guide: str) -> None:
    section = _section(guide, "The context (`hostapi.Context`)")
    assert [name for name in Context.__abstractmethods__ if f"`{name}" not in section] == []


def test_panel_section_names_every_location(guide: str) -> None:
    section = _section(guide, "Panels and tabs")
    assert [value for value in Location.ALL if f"`{value}`" not in section] == []


# ------------------------------------------------------------------------------ testing kit


def test_every_testing_fixture_is_in_the_guides_fixture_table(guide: str) -> None:
    table = _section(guide, "Testing your extension")
    assert [name for name in _testing_fixtures() if f"| `{name}` |" not in table] == []


def test_no_testing_fixture_shares_a_name_with_a_hook(
    hook_specs: dict[str, inspect.Signature],
) -> None:
    assert _testing_fixtures() & set(hook_specs) == set()


def test_testing_fixtures_are_registered_for_pytest_under_the_module_name() -> None:
    # Named as the module, a conftest's pytest_plugins = ["hostapi.testing"] finds it
    # registered already instead of registering it twice (which pytest refuses).
    registered = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert registered.get("hostapi.testing") == "hostapi.testing"


# ------------------------------------------------------------------------------ extensions


def test_entry_points_list_the_four_bundled_extensions() -> None:
    names = {ep.name for ep in entry_points(group="deskhost.plugins")}
    assert names >= {"customer_insights", "ticket_history", "salesiq", "im_dashboard"}


def test_example_extension_is_not_loaded_by_the_hosts_own_suite() -> None:
    assert "hello_extension" not in {ep.name for ep in entry_points(group="deskhost.plugins")}


def test_example_extension_manifest_is_valid(repo_root: Path) -> None:
    path = repo_root / "examples/hello_extension/src/hello_extension/manifest.json"
    manifest = load_manifest(json.loads(path.read_text()), "hello_extension")
    assert manifest.id == "hello_extension"


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("folder", ["plugins", "examples"])
def test_no_extension_module_imports_core_or_the_marketplace(repo_root: Path, folder: str) -> None:
    offenders = [
        f"{path.relative_to(repo_root)}: {module}"
        for path in sorted((repo_root / folder).rglob("*.py"))
        for module in _imported_modules(path)
        if module.split(".")[0] in {"core", "marketplace_registry"}
    ]
    assert offenders == []
