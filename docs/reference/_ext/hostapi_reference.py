"""What the hostapi reference needs beyond autodoc: its type names found, its coverage checked.

- hostapi's modules import the types their signatures name under ``TYPE_CHECKING`` (against
  import cycles), so autodoc could not evaluate those annotations and would print bare names
  (``Context``) that link nowhere. For the build, each such name is given to its module once
  everything is imported: the annotations then name the real classes (``hostapi.Context``).
- A value documented by a ``#:`` comment where it is assigned (``hostapi._markers.hookimpl``)
  keeps that documentation where it is re-exported, instead of its type's docstring.
- A class ``hostapi`` re-exports is documented there (``hostapi.TranscriptMessage``), so a
  reference to one of its members through its own module (``TranscriptMessage.sender``
  written in ``hostapi.types``) is looked up there too.
- hostapi.testing's fixtures (every name starting with ``deskhost_``) are requested by name,
  never called: each is shown as a value (``FixtureDocumenter``). Its classes are what they
  hand out, never built by a test: they are shown without a signature.
- Every public module of hostapi must have a page, and every public name of each (its
  ``__all__``; without one, the names its source defines not starting with ``_``) must be
  documented, under its module or, for a name ``hostapi`` re-exports, under ``hostapi``, with
  some documentation of its own. What is missing is a warning, which ``make docs`` turns into a
  failed build.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import sys
from types import ModuleType
from typing import Any

from docutils.nodes import Element
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.ext.autodoc import FunctionDocumenter, ModuleDocumenter
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docstrings import prepare_docstring

import hostapi

log = logging.getLogger(__name__)


def all_modules() -> list[ModuleType]:
    """``hostapi`` and every module of it, private ones included."""
    names = sorted(f"hostapi.{info.name}" for info in pkgutil.iter_modules(hostapi.__path__))
    return [hostapi, *(importlib.import_module(name) for name in names)]


def public_modules() -> list[ModuleType]:
    """``hostapi`` and each of its modules whose name does not start with ``_``."""
    return [m for m in all_modules() if not m.__name__.rpartition(".")[2].startswith("_")]


def public_names(module: ModuleType) -> list[str]:
    """The module's ``__all__``, else the names its source defines that do not start with
    ``_`` (imported names are not its own)."""
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return list(exported)
    names: list[str] = []
    for statement in ast.parse(inspect.getsource(module)).body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(statement.name)
        elif isinstance(statement, ast.Assign):
            names.extend(t.id for t in statement.targets if isinstance(t, ast.Name))
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            names.append(statement.target.id)
    return [name for name in dict.fromkeys(names) if not name.startswith("_")]


def give_type_checking_imports() -> None:
    """Give each hostapi module the names it imports only under ``if TYPE_CHECKING:``."""
    for module in all_modules():
        for statement in ast.parse(inspect.getsource(module)).body:
            if not (
                isinstance(statement, ast.If)
                and isinstance(statement.test, ast.Name)
                and statement.test.id == "TYPE_CHECKING"
            ):
                continue
            for imported in statement.body:
                if not isinstance(imported, ast.ImportFrom) or imported.module is None:
                    continue
                source = importlib.import_module(imported.module)
                for alias in imported.names:
                    name = alias.asname or alias.name
                    if not hasattr(module, name):
                        setattr(module, name, getattr(source, alias.name))


def _doc_comment(name: str, value: object) -> list[str]:
    """The ``#:`` comment on the assignment of ``value`` to ``name`` in a hostapi module."""
    for module in all_modules():
        if getattr(module, name, None) is not value:
            continue
        comment = ModuleAnalyzer.for_module(module.__name__).find_attr_docs().get(("", name))
        if comment:
            return list(comment)
    return []


def _own_documentation(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    """A value's own documentation rather than its type's docstring."""
    if what not in ("data", "attribute") or type(obj).__doc__ is None:
        return
    if [line.rstrip() for line in lines if line.strip()] == [
        line.rstrip() for line in prepare_docstring(type(obj).__doc__) if line.strip()
    ]:
        lines[:] = _doc_comment(name.rpartition(".")[2], obj)


class FixtureDocumenter(FunctionDocumenter):
    """A fixture of hostapi.testing, documented as a value: its signature lists the fixtures
    it builds on, which a test never passes."""

    objtype = "fixture"
    directivetype = "data"
    priority = FunctionDocumenter.priority + 1

    @classmethod
    def can_document_member(cls, member: Any, membername: str, isattr: bool, parent: Any) -> bool:
        """The module's members named ``deskhost_…``."""
        return (
            isinstance(parent, ModuleDocumenter)
            and parent.modname == "hostapi.testing"
            and membername.startswith("deskhost_")
        )

    def format_signature(self, **kwargs: Any) -> str:
        """None: a test names a fixture, it never calls one."""
        return ""


def _no_signature_for_testing_classes(
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str, str] | None:
    if what == "class" and name.startswith("hostapi.testing."):
        return "", ""
    return None


def _through_the_package(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: Element
) -> Element | None:
    """Resolve ``hostapi.<module>.<Name>.<member>`` as ``hostapi.<Name>.<member>`` where
    ``hostapi`` re-exports that very ``Name``."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    module = node.get("py:module") or ""
    for candidate in (target, f"{module}.{target}"):
        match = re.fullmatch(r"(hostapi\.\w+)\.(\w+)(\..+)?", candidate)
        if match is None or match[2] not in hostapi.__all__:
            continue
        source = sys.modules.get(match[1])
        if source is None or getattr(source, match[2], None) is not getattr(hostapi, match[2]):
            continue
        found = env.get_domain("py").resolve_xref(
            env,
            node["refdoc"],
            app.builder,
            node["reftype"],
            f"hostapi.{match[2]}{match[3] or ''}",
            node,
            contnode,
        )
        if found is not None:
            return found
    return None


def undocumented(objects: set[str], modules: set[str]) -> list[str]:
    """The public modules and names of hostapi that are neither in ``objects`` nor (modules)
    in ``modules``, by their full names."""
    missing: list[str] = []
    for module in public_modules():
        if module.__name__ not in modules:
            missing.append(module.__name__)
        for name in public_names(module):
            value: Any = getattr(module, name, None)
            if value is None and not hasattr(module, name):
                documented = False  # in __all__, yet not defined
            elif isinstance(value, ModuleType):
                documented = value.__name__ in modules
            else:
                documented = f"{module.__name__}.{name}" in objects or (
                    name in hostapi.__all__ and f"hostapi.{name}" in objects
                )
            if not documented:
                missing.append(f"{module.__name__}.{name}")
    return missing


def _check_documentation(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    """Warn where a public name of a hostapi module is shown without a word about it."""
    module_name, _, short = name.rpartition(".")
    if any(line.strip() for line in lines) or not module_name.startswith("hostapi"):
        return
    module = next((m for m in public_modules() if m.__name__ == module_name), None)
    if module is not None and short in public_names(module):
        log.warning(
            "%s has no documentation (a docstring, or a #: comment where it is assigned)",
            name,
            type="hostapi",
            subtype="undocumented",
        )


def _check_coverage(app: Sphinx, env: BuildEnvironment) -> None:
    domain: Any = env.get_domain("py")
    for name in undocumented(set(domain.objects), set(domain.modules)):
        log.warning(
            "%s is public but not in the reference (add it to a page of docs/reference)",
            name,
            type="hostapi",
            subtype="coverage",
        )


def setup(app: Sphinx) -> dict[str, Any]:
    """Resolve the annotations; register the documentation and coverage checks."""
    give_type_checking_imports()
    app.connect("autodoc-process-docstring", _own_documentation)
    app.connect("autodoc-process-docstring", _check_documentation, priority=900)
    app.setup_extension("sphinx.ext.autodoc")
    app.add_autodocumenter(FixtureDocumenter)
    app.connect("autodoc-process-signature", _no_signature_for_testing_classes)
    app.connect("missing-reference", _through_the_package)
    app.connect("env-check-consistency", _check_coverage)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
