"""The plugin contract stays honest: the guide matches the hooks; plugins import only hostapi."""

from __future__ import annotations

import ast
import inspect
import re
from importlib.metadata import entry_points
from pathlib import Path

import pluggy
import pytest

from hostapi import hookspecs
from hostapi._markers import PROJECT_NAME


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


def test_every_hookspec_is_documented_in_the_guide_with_its_arguments(
    hook_specs: dict[str, inspect.Signature], guide: str
) -> None:
    for name, signature in hook_specs.items():
        documented = re.search(rf"`{name}\(([^)]*)\)`", guide)
        assert documented, f"{name} is missing from docs/plugin-guide.md"
        arguments = [a.strip() for a in documented.group(1).split(",") if a.strip()]
        assert arguments == list(signature.parameters), f"{name}: guide and hookspec disagree"


def test_guide_names_no_hook_that_does_not_exist(
    hook_specs: dict[str, inspect.Signature], guide: str
) -> None:
    # Hooks are written as calls in the guide; fixtures such as deskhost_host are not hooks.
    assert set(re.findall(r"(deskhost_[a-z_]+)\(", guide)) <= set(hook_specs)


def test_every_hookspec_docstring_states_its_return(
    hook_specs: dict[str, inspect.Signature],
) -> None:
    for name in hook_specs:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert ":returns:" in doc, f"{name} has no :returns: line"


def test_entry_points_list_the_four_bundled_extensions() -> None:
    names = {ep.name for ep in entry_points(group="deskhost.plugins")}
    assert names >= {"customer_insights", "ticket_history", "salesiq", "im_dashboard"}


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_no_plugin_module_imports_core_or_the_marketplace(repo_root: Path) -> None:
    offenders = [
        f"{path.relative_to(repo_root)}: {module}"
        for path in sorted((repo_root / "plugins").rglob("*.py"))
        for module in _imported_modules(path)
        if module.split(".")[0] in {"core", "marketplace_registry"}
    ]
    assert offenders == []
