"""Reading an extension's source (never running it) for what its manifest must cover.

:func:`read_sources` finds, with where each is (``file:line``): the context methods called
(on a name ``context`` or ``ctx``, a parameter annotated ``Context``, or
``current_context()``), the permissions asked with a literal name (``….has_permission("x")``)
and the settings read with one (``context.settings["x"]``, ``context.settings.get("x")``).
What goes by another name is not seen.

Parsing is the cost, so what one file holds is kept per version of it
(:mod:`core.plugins.readings`).
"""

from __future__ import annotations

import ast
import dis
import functools
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from core.plugins.readings import READINGS
from hostapi import scopes as scope_names

#: The names a context goes by in extension code, besides parameters annotated ``Context``.
CONTEXT_NAMES = frozenset({"context", "ctx"})


@dataclass(frozen=True)
class SourceFacts:
    """What the checks read in an extension's source: (name, ``file:line``) pairs."""

    context_calls: tuple[tuple[str, str], ...] = ()
    permissions: tuple[tuple[str, str], ...] = ()
    settings: tuple[tuple[str, str], ...] = ()


@functools.cache
def context_method_scopes() -> Mapping[str, frozenset[str]]:
    """Each context method that needs scopes → the scopes it checks, read from the host's own
    implementation (its ``self._need(scope.X)`` calls), so that the two cannot drift apart."""
    from core.plugins import context

    found = READINGS.read("context-scopes", Path(context.__file__), _read_context_scopes)
    return {name: frozenset(needed) for name, needed in found.items()}


def _read_context_scopes(_path: Path) -> dict[str, list[str]]:
    from core.plugins.context import HostContext

    found: dict[str, list[str]] = {}
    for name, method in vars(HostContext).items():
        if name.startswith("_") or not inspect.isfunction(method):
            continue
        if "_need" not in method.__code__.co_names:
            continue
        # Compiled, ``self._need(scope.X)`` loads ``_need``, the global ``scope``, then ``X``.
        code = list(dis.get_instructions(method))
        needed = {
            getattr(scope_names, code[i + 2].argval)
            for i, instruction in enumerate(code[:-2])
            if instruction.opname in ("LOAD_ATTR", "LOAD_METHOD")
            and instruction.argval == "_need"
            and code[i + 1].opname == "LOAD_GLOBAL"
            and code[i + 2].opname == "LOAD_ATTR"
        }
        if needed:
            found[name] = sorted(needed)
    return found


def source_files(module: ModuleType) -> list[Path]:
    """A plugin module's Python files; its tests and migrations left out."""
    location = getattr(module, "__file__", None)
    if location is None:
        return []
    if not hasattr(module, "__path__"):
        return [Path(location)]
    package = Path(location).parent
    return sorted(
        path
        for path in package.rglob("*.py")
        if not {"tests", "migrations", "__pycache__"} & set(path.relative_to(package).parts)
        and not path.name.startswith("test_")
        and path.name != "conftest.py"
    )


def read_sources(paths: Iterable[Path], root: Path) -> SourceFacts:
    """What ``paths`` hold (each named relative to ``root``), parsing only the files not read
    before in their present version."""
    readings = [
        (path.relative_to(root).as_posix(), READINGS.read("sources", path, _read)) for path in paths
    ]
    return SourceFacts(
        **{
            kind: tuple(
                (name, f"{file}:{line}")
                for file, reading in readings
                for name, line in reading[kind]
            )
            for kind in ("context_calls", "permissions", "settings")
        }
    )


# ------------------------------------------------------------------------------ parsing


def _read(path: Path) -> dict[str, list[tuple[str, int]]]:
    """One file's facts with their line numbers, as JSON values."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        tree = ast.Module(body=[], type_ignores=[])  # importing it fails first, and says why
    reader = _Reader()
    reader.visit(tree)
    return {
        "context_calls": reader.calls,
        "permissions": reader.permissions,
        "settings": reader.settings,
    }


class _Reader(ast.NodeVisitor):
    """Context calls, permissions asked and settings read, with literal names."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.permissions: list[tuple[str, int]] = []
        self.settings: list[tuple[str, int]] = []
        self._names = [CONTEXT_NAMES]

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        annotated = {a.arg for a in arguments if _names_context(a.annotation)}
        self._names.append(self._names[-1] | annotated)
        self.generic_visit(node)
        self._names.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def _is_context(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self._names[-1]
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            return name == "current_context"
        return False

    def _is_settings(self, node: ast.expr) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "settings"
            and self._is_context(node.value)
        )

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            literal = literal_text(node.args[0]) if node.args else None
            if self._is_context(func.value):
                self.calls.append((func.attr, node.lineno))
            if func.attr == "has_permission" and literal:
                self.permissions.append((literal, node.lineno))
            if func.attr == "get" and self._is_settings(func.value) and literal:
                self.settings.append((literal, node.lineno))
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        literal = literal_text(node.slice)
        if self._is_settings(node.value) and literal:
            self.settings.append((literal, node.lineno))
        self.generic_visit(node)


def literal_text(node: ast.expr) -> str | None:
    """The value of a string literal, else ``None``."""
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _names_context(annotation: ast.expr | None) -> bool:
    """True for an annotation naming ``Context`` (``hostapi.Context``, ``Context | None``…)."""
    if annotation is None:
        return False
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name) and node.id == "Context":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "Context":
            return True
        text = literal_text(node)
        if text and text.replace(" ", "").split("|")[0].rpartition(".")[2] == "Context":
            return True
    return False
