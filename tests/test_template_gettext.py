"""No template rebinds gettext's ``_``: after ``{% set _ = … %}`` every later ``_()`` breaks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from jinja2 import Environment, nodes

#: Where the host, the registry and the bundled extensions keep their templates.
TEMPLATE_GLOBS = [
    "core/**/templates/**/*.html",
    "marketplace_registry/**/*.html",
    "plugins/**/*.html",
]


def _templates(repo_root: Path) -> list[Path]:
    found = {path for pattern in TEMPLATE_GLOBS for path in repo_root.glob(pattern)}
    return sorted(found)


def _bindings_of_underscore(tree: nodes.Template) -> Iterator[int]:
    """Line numbers where a template assigns, loops over, imports as or takes a parameter ``_``."""
    for name in tree.find_all(nodes.Name):
        # "store": set, for and with targets; "param": macro and call-block arguments.
        if name.name == "_" and name.ctx in ("store", "param"):
            yield name.lineno
    for imported in tree.find_all(nodes.Import):
        if imported.target == "_":
            yield imported.lineno
    for imported in tree.find_all(nodes.FromImport):
        for item in imported.names:
            if (item[1] if isinstance(item, tuple) else item) == "_":
                yield imported.lineno


def test_the_scan_finds_the_templates(repo_root: Path) -> None:
    templates = _templates(repo_root)
    assert repo_root / "core/web/templates/customers/_view_list.html" in templates
    assert any(path.is_relative_to(repo_root / "plugins") for path in templates)


@pytest.mark.parametrize(
    "source",
    [
        "{% set _ = items.append(1) %}",
        "{% for _ in items %}{% endfor %}",
        "{% for key, _ in pairs %}{% endfor %}",
        "{% with _ = 1 %}{% endwith %}",
        "{% macro row(_) %}{% endmacro %}",
        "{% import 'x.html' as _ %}",
        "{% from 'x.html' import gettext as _ %}",
    ],
)
def test_the_scan_recognises_each_way_of_binding_underscore(source: str) -> None:
    tree = Environment(extensions=["jinja2.ext.i18n"]).parse(source)
    assert list(_bindings_of_underscore(tree)) == [1]


def test_the_scan_leaves_calls_of_underscore_alone() -> None:
    tree = Environment(extensions=["jinja2.ext.i18n"]).parse("{{ _('Next') }}{% set keep = 1 %}")
    assert list(_bindings_of_underscore(tree)) == []


def test_no_template_binds_the_gettext_name(repo_root: Path) -> None:
    environment = Environment(extensions=["jinja2.ext.i18n"])
    offenders = [
        f"{path.relative_to(repo_root)}:{line}"
        for path in _templates(repo_root)
        for line in _bindings_of_underscore(environment.parse(path.read_text(encoding="utf-8")))
    ]
    assert offenders == [], "these rebind gettext's _ (use another name): " + ", ".join(offenders)
