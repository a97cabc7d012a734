"""Checking an extension against itself: its manifest, its hooks and its source, without a host.

What the manifest announces and what the hooks contribute are compared (panels, jobs and
their cron, permissions, scopes, settings, the pages menu entries and settings links go to),
the source is read (never run) for the context methods it calls, the permissions it asks about
and the settings it reads (``core.plugins.sources``), and the extension's Alembic stream for
one head whose schema matches its models (``core.plugins.streams``). Loading never fails on
these problems: the host keeps them on the loaded plugin and logs them, and
``deskhost ext check`` prints them and exits 2.

Nothing here touches a database, and nothing is installed: a folder's extension is imported
from where it is. What is read of each file is kept per version of it
(``core.plugins.readings``), so that the host's checks at load parse only what changed.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.resources
import sys
import tomllib
from collections.abc import Iterator
from configparser import ConfigParser
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, RequestRedirect, Rule

from core.permissions import CATALOGUE
from core.plugins.manifest import Manifest, ManifestError, load_manifest
from core.plugins.readings import READINGS
from core.plugins.requirements import requirement_problems
from core.plugins.sources import SourceFacts, context_method_scopes, read_sources, source_files
from core.plugins.streams import model_tables, read_stream, schema_differences
from hostapi import hookspecs
from hostapi._markers import PROJECT_NAME

#: Where installed extensions are found (as ``core.plugins.manager.ENTRY_POINT_GROUP``, which
#: imports this module).
ENTRY_POINT_GROUP = "deskhost.plugins"

# The kinds of problem, as ``Problem.code``.
IMPORT = "import"
MANIFEST = "manifest"
HOOK = "hook"
PANEL_MISSING = "panel-missing"
PANEL_UNDECLARED = "panel-undeclared"
PANEL_LOCATION = "panel-location"
PERMISSION_UNDECLARED = "permission-undeclared"
PERMISSION_UNLISTED = "permission-unlisted"
JOB_MISSING = "job-missing"
JOB_UNDECLARED = "job-undeclared"
JOB_CRON = "job-cron"
SCOPE_MISSING = "scope-missing"
SETTING_UNDECLARED = "setting-undeclared"
MENU_PAGE = "menu-page"
SETTINGS_PAGE = "settings-page"
MIGRATIONS = "migrations"
MIGRATIONS_HEAD = "migrations-head"
REQUIREMENTS = "requirements"
#: The checks themselves failed (the host loads the extension all the same).
CHECK_FAILED = "check-failed"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an extension: the plugin it is about, its kind and what it is."""

    plugin: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.plugin}: {self.message} [{self.code}]"


# ------------------------------------------------------------------------------ entry points


def check_plugin(target: ModuleType | str | Path) -> list[Problem]:
    """Check a plugin module, or every extension in a folder, or an installed plugin by id.

    A folder is a distribution (its ``deskhost.plugins`` entry points in ``pyproject.toml``
    or ``setup.cfg``, else the packages holding a ``manifest.json``, in ``src/`` or not) or
    one package holding a ``manifest.json``; it is imported from there, not installed.

    :raises LookupError: when ``target`` is neither a folder nor an installed plugin's id.
    """
    if isinstance(target, ModuleType):
        return check_module(target)
    path = Path(target)
    if path.is_dir():
        return _check_folder(path.resolve())
    entry_point = _installed(str(target))
    if entry_point is None:
        raise LookupError(f"{target}: neither a folder nor an installed extension's id")
    try:
        module = entry_point.load()
    except Exception as error:  # the extension's own import, whatever it raises
        return [Problem(entry_point.name, IMPORT, f"importing it raised {error!r}")]
    return check_module(module, plugin_name=entry_point.name)


def check_module(
    module: ModuleType,
    manifest: Manifest | None = None,
    *,
    plugin_name: str | None = None,
    cache_file: Path | None = None,
) -> list[Problem]:
    """Check an imported plugin module (against its manifest, when already validated).

    :param cache_file: where what is read of files is kept across processes
        (:mod:`core.plugins.readings`).
    """
    name = plugin_name or module.__name__
    if manifest is None:
        try:
            manifest = load_manifest(_manifest_text(module), name)
        except ManifestError as error:
            return [
                Problem(error.plugin, MANIFEST, f"manifest field {path!r}: {' '.join(messages)}")
                for path, messages in error.errors.items()
            ]
        except (OSError, ValueError) as error:
            return [Problem(name, MANIFEST, str(error))]
    if cache_file is not None:
        READINGS.attach(cache_file)
    problems = _Checker(module, manifest).problems()
    if cache_file is not None:
        READINGS.save(cache_file)
    return problems


def _installed(plugin_id: str) -> importlib.metadata.EntryPoint | None:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=plugin_id)
    return next(iter(found), None)


def _manifest_text(module: ModuleType) -> bytes:
    package = module.__name__ if hasattr(module, "__path__") else module.__package__
    if not package:
        raise ValueError("no package to read manifest.json from")
    resource = importlib.resources.files(package).joinpath("manifest.json")
    if not resource.is_file():
        raise ValueError("manifest.json is missing")
    return resource.read_bytes()


def _check_folder(folder: Path) -> list[Problem]:
    modules = _declared_modules(folder) or _package_modules(folder)
    if not modules:
        raise LookupError(
            f"{folder}: no deskhost.plugins entry point and no package with a manifest.json"
        )
    problems: list[Problem] = []
    for name, (root, module_name) in modules.items():
        with _imported_from(root, module_name) as (module, error):
            if module is None:
                problems.append(Problem(name, IMPORT, f"importing {module_name} raised {error!r}"))
            else:
                problems.extend(check_module(module, plugin_name=name))
    return problems


def _declared_modules(folder: Path) -> dict[str, tuple[Path, str]]:
    """Plugin name → (import root, module) from a distribution's entry points."""
    declared: dict[str, str] = {}
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        data = tomllib.loads(pyproject.read_text())
        declared = dict(data.get("project", {}).get("entry-points", {}).get(ENTRY_POINT_GROUP, {}))
    setup_cfg = folder / "setup.cfg"
    if not declared and setup_cfg.is_file():
        config = ConfigParser()
        config.read(setup_cfg)
        lines = config.get("options.entry_points", ENTRY_POINT_GROUP, fallback="")
        for line in lines.splitlines():
            name, _, value = line.partition("=")
            if value.strip():
                declared[name.strip()] = value.strip()
    root = folder / "src" if (folder / "src").is_dir() else folder
    return {name: (root, value.partition(":")[0].strip()) for name, value in declared.items()}


def _package_modules(folder: Path) -> dict[str, tuple[Path, str]]:
    """Packages holding a manifest.json: the folder itself, or its (``src/``) children."""
    if (folder / "manifest.json").is_file():
        packages = [folder]
    else:
        root = folder / "src" if (folder / "src").is_dir() else folder
        packages = sorted(p.parent for p in root.glob("*/manifest.json"))
    found = {}
    for package in packages:
        # A package inside packages (plugins/ticket_history) imports by its dotted name.
        root, parts = package.parent, [package.name]
        while (root / "__init__.py").is_file():
            root, parts = root.parent, [root.name, *parts]
        found[package.name] = (root, ".".join(parts))
    return found


@contextlib.contextmanager
def _imported_from(
    root: Path, module_name: str
) -> Iterator[tuple[ModuleType | None, BaseException | None]]:
    """``module_name`` imported from ``root``; the modules of that name imported before stay
    as they were (the same files already imported are used as they are)."""
    top = module_name.partition(".")[0]
    already = sys.modules.get(module_name)
    if already is not None and _is_under(already, root):
        yield already, None
        return
    ours = {n: m for n, m in sys.modules.items() if n == top or n.startswith(f"{top}.")}
    for name in ours:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        try:
            module = importlib.import_module(module_name)
        except Exception as error:  # the extension's own import, whatever it raises
            yield None, error
        else:
            yield module, None
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == top or n.startswith(f"{top}.")]:
            del sys.modules[name]
        sys.modules.update(ours)


def _is_under(module: ModuleType, root: Path) -> bool:
    location = getattr(module, "__file__", None)
    return location is not None and Path(location).resolve().is_relative_to(root)


# ------------------------------------------------------------------------------ the checks


class _Checker:
    """The checks of one plugin module against its manifest."""

    def __init__(self, module: ModuleType, manifest: Manifest) -> None:
        self.module = module
        self.manifest = manifest
        self.found: list[Problem] = []
        self._contributions: dict[str, list[Any]] = {}
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)

    def add(self, code: str, message: str) -> None:
        self.found.append(Problem(self.manifest.id, code, message))

    def problems(self) -> list[Problem]:
        try:
            self.pm.register(self.module, name=self.manifest.id)
        except pluggy.PluginValidationError as error:
            self.add(HOOK, str(error))
            return self.found
        unknown = sorted(
            c.name for c in self.pm.get_hookcallers(self.module) or [] if not c.has_spec()
        )
        for hook in unknown:
            self.add(HOOK, f"{hook} is not a deskhost hook (no specification)")
        sources = read_sources(source_files(self.module), _package_folder(self.module))
        self._panels()
        self._permissions(sources)
        self._jobs()
        self._scopes(sources)
        self._settings(sources)
        self._page_paths()
        self._migrations()
        for message in requirement_problems(self.manifest):
            self.add(REQUIREMENTS, f"manifest field {message}")
        return self.found

    def contributed(self, hook: str) -> list[Any]:
        """What the plugin's contribution ``hook`` returns, once (nothing when it raises)."""
        if hook not in self._contributions:
            result = self.call(hook)
            self._contributions[hook] = list(result or [])
        return self._contributions[hook]

    def call(self, hook: str) -> Any:
        """The plugin's result of ``hook``; ``None``, noted as a problem, when it raises."""
        caller = getattr(self.pm.hook, hook)
        if not caller.get_hookimpls():
            return None
        try:
            results = caller()
        except Exception as error:  # the extension's hook, whatever it raises
            self.add(HOOK, f"{hook} raised {error!r}")
            return None
        return results[0] if results else None

    def _panels(self) -> None:
        declared = {p.key: p.location for p in self.manifest.panels}
        given = {p.key: p.location for p in self.contributed("deskhost_panels")}
        for key in sorted(declared.keys() - given.keys()):
            self.add(
                PANEL_MISSING,
                f"panel {key!r} ({declared[key]}) is in the manifest, "
                "but deskhost_panels gives no Panel with that key",
            )
        for key in sorted(given.keys() - declared.keys()):
            self.add(
                PANEL_UNDECLARED,
                f"Panel {key!r} ({given[key]}) from deskhost_panels is not in the manifest's "
                "panels",
            )
        for key in sorted(declared.keys() & given.keys()):
            if declared[key] != given[key]:
                self.add(
                    PANEL_LOCATION,
                    f"panel {key!r} is at {declared[key]} in the manifest, "
                    f"but its Panel is at {given[key]}",
                )

    def _permissions(self, sources: SourceFacts) -> None:
        listed = {p.name for p in self.manifest.permissions}
        hooked = {spec.name for spec in self.contributed("deskhost_permissions")}
        for name in sorted(hooked - listed):
            self.add(
                PERMISSION_UNLISTED,
                f"permission {name!r} from deskhost_permissions is not in the manifest's "
                "permissions (the marketplace shows those before install)",
            )
        known = listed | hooked | {p.name for p in CATALOGUE}
        used: dict[str, str] = {}
        for panel in self.contributed("deskhost_panels"):
            if panel.permission:
                used.setdefault(panel.permission, f"Panel {panel.key!r}")
        for page in self.contributed("deskhost_pages"):
            if page.permission:
                used.setdefault(page.permission, f"the Page of blueprint {page.blueprint.name!r}")
        for name, where in sources.permissions:
            used.setdefault(name, f"has_permission() at {where}")
        for name in sorted(used.keys() - known):
            self.add(
                PERMISSION_UNDECLARED,
                f"permission {name!r}, used by {used[name]}, is declared neither in the "
                "manifest nor by deskhost_permissions, nor is it one of the host's",
            )

    def _jobs(self) -> None:
        declared = {job.name: job for job in self.manifest.jobs}
        given = {spec.name: spec for spec in self.contributed("deskhost_jobs")}
        for name in sorted(declared.keys() - given.keys()):
            self.add(
                JOB_MISSING,
                f"job {name!r} is in the manifest, but deskhost_jobs gives no JobSpec of that name",
            )
        for name in sorted(given.keys() - declared.keys()):
            self.add(
                JOB_UNDECLARED, f"job {name!r} from deskhost_jobs is not in the manifest's jobs"
            )
        for name in sorted(declared.keys() & given.keys()):
            in_manifest, in_code = _cron(declared[name].cron), _cron(given[name].cron)
            if in_manifest != in_code:
                self.add(
                    JOB_CRON,
                    f"job {name!r} runs on cron {in_code or 'none'} (its JobSpec), "
                    f"but the manifest says {in_manifest or 'none'}",
                )

    def _scopes(self, sources: SourceFacts) -> None:
        asked = set(self.manifest.scopes)
        needed: dict[str, list[str]] = {}
        needs = context_method_scopes()
        for method, where in sources.context_calls:
            for scope in needs.get(method, ()):
                needed.setdefault(scope, []).append(f"context.{method}() at {where}")
        for route in self.contributed("deskhost_api_routes"):
            for scope in route.scopes:
                needed.setdefault(scope, []).append(f"ApiRoute {route.name!r}")
        for scope in sorted(needed.keys() - asked):
            users = needed[scope]
            more = f" and {len(users) - 3} more" if len(users) > 3 else ""
            self.add(
                SCOPE_MISSING,
                f"scope {scope!r} is needed by {', '.join(users[:3])}{more}, "
                "but the manifest does not ask for it",
            )

    def _settings(self, sources: SourceFacts) -> None:
        declared = {s.name for s in self.manifest.settings}
        read: dict[str, str] = {}
        for name, where in sources.settings:
            read.setdefault(name, where)
        for name in sorted(read.keys() - declared):
            self.add(
                SETTING_UNDECLARED,
                f"setting {name!r}, read at {read[name]}, is not in the manifest's settings",
            )

    def _page_paths(self) -> None:
        for page in self.contributed("deskhost_pages"):
            for code, wanted, path in (
                (MENU_PAGE, page.menu, page.menu_path),
                (SETTINGS_PAGE, page.settings_path is not None, page.settings_path or ""),
            ):
                if wanted and not _serves(page.blueprint, path):
                    what = "menu entry" if code == MENU_PAGE else "settings page"
                    self.add(
                        code,
                        f"the {what} of blueprint {page.blueprint.name!r} goes to "
                        f"{path or '(its root)'!r}, where none of its views answers GET",
                    )

    def _migrations(self) -> None:
        folder = self.call("deskhost_migrations")
        if not folder:
            return
        stream = read_stream(Path(folder))
        for message in stream.problems:
            self.add(MIGRATIONS, message)
        if stream.problems or stream.schema is None:
            return
        models = model_tables(self.module)
        if models is None:
            return
        for message in schema_differences(stream.head or "", stream.schema, models):
            self.add(MIGRATIONS_HEAD, message)


def _package_folder(module: ModuleType) -> Path:
    """The folder source files are named relative to: the package's, or the module's."""
    return Path(module.__file__ or ".").parent


def _cron(expression: str | None) -> str | None:
    return " ".join(expression.split()) if expression else None


# ------------------------------------------------------------------------------ menu pages


def _serves(blueprint: Any, page_path: str) -> bool:
    """True when one of the blueprint's views answers GET at ``page_path`` (relative to the
    installation's pages), read from the rules it recorded, without registering it."""
    target = "/" + page_path.lstrip("/")
    rules = [
        path
        for path, methods in _blueprint_rules(blueprint, blueprint.url_prefix)
        if methods is None or "GET" in methods
    ]
    # Most are plain paths; one without its trailing slash is redirected to it by the app.
    if target in rules or (not target.endswith("/") and f"{target}/" in rules):
        return True
    variable = Map()
    for number, path in enumerate(rules):
        if "<" in path:
            # A converter the host's app adds (``id``) is unknown here: not a page's target.
            with contextlib.suppress(LookupError, ValueError):
                variable.add(Rule(path, endpoint=str(number)))
    try:
        variable.bind("localhost").match(target, method="GET")
    except RequestRedirect:
        return True
    except HTTPException:
        return False
    return True


def _blueprint_rules(blueprint: Any, prefix: str | None) -> list[tuple[str, list[str] | None]]:
    """(path, methods) of each view a blueprint and the blueprints in it add, under ``prefix``."""
    recorder = _RuleRecorder(prefix or "")
    for deferred in blueprint.deferred_functions:
        with contextlib.suppress(Exception):  # setup other than a rule needs a real app
            deferred(recorder)
    rules = recorder.rules
    for child, options in blueprint._blueprints:
        child_prefix = options.get("url_prefix", child.url_prefix) or ""
        rules += _blueprint_rules(child, _joined(prefix or "", child_prefix))
    return rules


@dataclass
class _RuleRecorder:
    """Stands in for Flask's blueprint setup state: keeps the rules a blueprint adds."""

    url_prefix: str
    rules: list[tuple[str, list[str] | None]] = field(default_factory=list)

    def add_url_rule(
        self, rule: str, endpoint: str | None = None, view_func: Any = None, **options: Any
    ) -> None:
        methods = options.get("methods") or getattr(view_func, "methods", None)
        self.rules.append((_joined(self.url_prefix, rule), list(methods) if methods else None))


def _joined(prefix: str, rule: str) -> str:
    if not rule:
        return prefix or "/"
    return "/".join((prefix.rstrip("/"), rule.lstrip("/"))) if prefix else rule
