"""Loading extensions and calling their hooks, one plugin (and one installation) at a time.

Extensions come from the ``deskhost.plugins`` entry points, each module with its
``manifest.json`` beside it. A plugin that fails to import, has a bad manifest, implements a
hook that has no specification or needs another host API version is recorded in
:attr:`PluginHost.errors` and logged; the host runs on without it. What ``deskhost ext check``
finds in a loaded one (its manifest and hooks disagreeing…) is kept in
:attr:`LoadedPlugin.problems` and logged as warnings; it loads all the same.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import logging
import threading
import time
import traceback
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session, SessionTransaction, object_session

from core.models import HookError, Installation, OutboxEvent
from core.models.extensions import InstallationState, installation_departments
from core.plugins.check import CHECK_FAILED, Problem, check_module
from core.plugins.manifest import Manifest, ManifestError, hostapi_mismatch, load_manifest
from core.services import tickets as ticket_services
from hostapi import ApiRoute, JobSpec, Panel, Webhook, clock, hookspecs
from hostapi import scopes as scope_names
from hostapi._markers import PROJECT_NAME
from hostapi.types import Event, Page

if TYPE_CHECKING:
    from core.host import Host
    from core.models import Agent
    from core.plugins.context import HostContext

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "deskhost.plugins"

#: Which granted scope makes an installation receive a customer event, by name prefix.
#: Where events without departments go: every active installation granted the scope.
#: (Activities and attachments of a ticket carry its department and go by department.)
ORGANISATION_EVENT_SCOPES = {
    "contact.": scope_names.CONTACTS_READ,
    "account.": scope_names.ACCOUNTS_READ,
    "activity.": scope_names.CONTACTS_READ,
    "attachment.": scope_names.CONTACTS_READ,
    "product.": scope_names.CONTACTS_READ,
    "department.": scope_names.SETTINGS_READ,
    "profile.": scope_names.SETTINGS_READ,
    "organisation.": scope_names.SETTINGS_READ,
    "status.": scope_names.SETTINGS_READ,
    # A policy or hours of departments go to those departments' installations; one for all of
    # them names none.
    "sla_policy.": scope_names.SETTINGS_READ,
    "business_hours.": scope_names.SETTINGS_READ,
    "agent.": scope_names.AGENTS_READ,
}


@dataclass(frozen=True)
class EventInstallation:
    """An active installation an event (or a webhook's delivery) goes to: what dispatching it
    and binding a context need, read as plain columns. Every change of a ticket asks for them:
    loading the installations and their departments as ORM objects cost a reply a fifth of a
    millisecond more than the query."""

    id: int
    plugin_id: str
    granted_scopes: tuple[str, ...]
    settings: Mapping[str, Any]
    department_ids: frozenset[int]


#: The active installations with each of their departments (a row per department; one row
#: with none for an installation without), by id.
_ACTIVE_INSTALLATIONS = (
    select(
        Installation.id,
        Installation.plugin_id,
        Installation.granted_scopes,
        Installation.settings,
        installation_departments.c.department_id,
    )
    .outerjoin(
        installation_departments, installation_departments.c.installation_id == Installation.id
    )
    .where(Installation.state == InstallationState.ACTIVE)
    .order_by(Installation.id)
)
_ACTIVE_INSTALLATION = _ACTIVE_INSTALLATIONS.where(Installation.id == bindparam("installation_id"))
_INSTALLATIONS_OF_DEPARTMENTS = _ACTIVE_INSTALLATIONS.where(
    Installation.id.in_(
        select(installation_departments.c.installation_id).where(
            installation_departments.c.department_id.in_(
                bindparam("department_ids", expanding=True)
            )
        )
    )
)


#: How long a process takes an installation a webhook found active to stay as it was.
WEBHOOK_INSTALLATION_SECONDS = 2.0


class _RememberedInstallations:
    """Active installations as found at a moment, each for ``WEBHOOK_INSTALLATION_SECONDS``;
    all forgotten when a transaction changing an installation commits in this process."""

    def __init__(self) -> None:
        self._found: dict[int, tuple[float, EventInstallation]] = {}
        self._lock = threading.Lock()
        _EVERY_REMEMBERED.add(self)

    def get(self, installation_id: int) -> EventInstallation | None:
        with self._lock:
            found = self._found.get(installation_id)
        if found is None or time.monotonic() - found[0] >= WEBHOOK_INSTALLATION_SECONDS:
            return None
        return found[1]

    def keep(self, installation: EventInstallation) -> None:
        with self._lock:
            self._found[installation.id] = (time.monotonic(), installation)

    def forget(self) -> None:
        with self._lock:
            self._found.clear()


_EVERY_REMEMBERED: weakref.WeakSet[_RememberedInstallations] = weakref.WeakSet()
_INSTALLATIONS_CHANGED = "deskhost.installations_changed"


@event.listens_for(Installation, "after_insert")
@event.listens_for(Installation, "after_update")
@event.listens_for(Installation, "after_delete")
def _note_installation_change(_mapper: Any, _connection: Any, installation: Installation) -> None:
    # On the model, not on every flush of every session: only writes of installations pay.
    session = object_session(installation)
    if session is not None:
        session.info[_INSTALLATIONS_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_changed_installations(session: Session) -> None:
    if session.info.pop(_INSTALLATIONS_CHANGED, False):
        for remembered in list(_EVERY_REMEMBERED):
            remembered.forget()


@event.listens_for(Session, "after_transaction_end")
def _drop_rolled_back_changes(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # committed (forgotten above) or rolled back
        session.info.pop(_INSTALLATIONS_CHANGED, None)


def _event_installations(rows: Iterable[Any]) -> list[EventInstallation]:
    """The installations of rows of ``_ACTIVE_INSTALLATIONS``, in their order."""
    gathered: dict[int, tuple[Any, set[int]]] = {}
    for row in rows:
        _, departments = gathered.setdefault(row.id, (row, set()))
        if row.department_id is not None:
            departments.add(row.department_id)
    return [
        EventInstallation(
            id=row.id,
            plugin_id=row.plugin_id,
            granted_scopes=tuple(row.granted_scopes or ()),
            settings=row.settings or {},
            department_ids=frozenset(departments),
        )
        for row, departments in gathered.values()
    ]


@dataclass(frozen=True)
class LoadedPlugin:
    """A registered extension: its module, manifest, distribution and the hooks it implements."""

    plugin_id: str
    module: Any
    manifest: Manifest
    dist_name: str | None
    dist_version: str | None
    hooks: tuple[str, ...]
    builtin: bool = False
    #: What ``deskhost ext check`` finds wrong with it, checked as it was loaded.
    problems: tuple[Problem, ...] = ()


class PluginHost:
    """The pluggy manager of one host, with per-plugin hook callers and event dispatch."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        #: plugin id → what was loaded.
        self.loaded: dict[str, LoadedPlugin] = {}
        #: plugin (or entry point) name → why it was not loaded.
        self.errors: dict[str, str] = {}
        #: plugin id → manifest of an extension installed on this host for another host API.
        self.incompatible: dict[str, Manifest] = {}
        self._callers: dict[tuple[str, str], pluggy.HookCaller] = {}
        self._contributions: dict[tuple[str, str], list[Any]] = {}
        self._webhook_installations = _RememberedInstallations()
        from core.plugins import builtin

        for module, manifest in builtin.DEFAULT_PLUGINS:
            self.register_plugin(module, manifest, builtin=True)

    # ------------------------------------------------------------------------------ loading

    def load_entry_points(
        self, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None
    ) -> None:
        """Load every ``deskhost.plugins`` entry point (or the ones given, in tests)."""
        if entry_points is None:
            entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        for entry_point in entry_points:
            try:
                module = entry_point.load()
                manifest = load_manifest(
                    _read_manifest(module), entry_point.name, require_compatible=False
                )
                mismatch = hostapi_mismatch(manifest)
                if mismatch:
                    # Known but not registered: the marketplace explains why it can't install.
                    self.incompatible[manifest.id] = manifest
                    raise ManifestError(manifest.id, {"hostapi": [mismatch]})
                dist = entry_point.dist
                info = self.register_plugin(
                    module,
                    manifest,
                    dist_name=dist.name if dist else None,
                    dist_version=dist.version if dist else None,
                )
            except Exception as error:  # any failure of one plugin is recorded, never raised
                self._record_load_error(entry_point.name, error)
            else:
                self._record_problems(info)

    def register_plugin(
        self,
        plugin: ModuleType | object,
        manifest: Manifest | Mapping[str, Any],
        *,
        dist_name: str | None = None,
        dist_version: str | None = None,
        builtin: bool = False,
    ) -> LoadedPlugin:
        """Validate and register one plugin object (tests, built-in plugins, entry points).

        :raises ManifestError: for a bad manifest.
        :raises pluggy.PluginValidationError: for a hook without specification or with
            arguments its specification does not have.
        """
        if not isinstance(manifest, Manifest):
            manifest = load_manifest(manifest, getattr(plugin, "__name__", repr(plugin)))
        plugin_id = manifest.id
        if plugin_id in self.loaded:
            raise ValueError(f"plugin {plugin_id!r} is already registered")
        self.pm.register(plugin, name=plugin_id)
        unknown = [
            caller.name for caller in self.pm.get_hookcallers(plugin) or [] if not caller.has_spec()
        ]
        if unknown:
            self.pm.unregister(plugin)
            raise pluggy.PluginValidationError(
                plugin,
                f"plugin {plugin_id!r}: no hook specification for {', '.join(sorted(unknown))}",
            )
        info = LoadedPlugin(
            plugin_id=plugin_id,
            module=plugin,
            manifest=manifest,
            dist_name=dist_name,
            dist_version=dist_version,
            hooks=tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])),
            builtin=builtin,
        )
        self.loaded[plugin_id] = info
        self.errors.pop(plugin_id, None)
        self._forget_cached_callers()
        try:
            self._register_vocabulary(info)
        except ValueError:
            self.unregister_plugin(plugin_id)
            raise
        return info

    def permission_names(self, plugin_id: str) -> list[str]:
        """The custom permissions a loaded plugin declares (manifest and hook), sorted."""
        if plugin_id not in self.loaded:
            return []
        names = {p.name for p in self.loaded[plugin_id].manifest.permissions}
        names |= {spec.name for spec in self._contributed(plugin_id, "deskhost_permissions")}
        return sorted(names)

    def _register_vocabulary(self, info: LoadedPlugin) -> None:
        """Check a plugin's permission names and add its channels to the known ones."""
        prefix = f"{info.plugin_id}."
        names = self.permission_names(info.plugin_id)
        misnamed = [name for name in names if not name.startswith(prefix)]
        if misnamed:
            raise ValueError(
                f"plugin {info.plugin_id!r}: permission names must start with {prefix!r}: "
                + ", ".join(misnamed)
            )
        ticket_services.register_channels(self._contributed(info.plugin_id, "deskhost_channels"))

    def unregister_plugin(self, plugin_id: str) -> None:
        """Remove a registered plugin (tests)."""
        info = self.loaded.pop(plugin_id)
        self.pm.unregister(info.module, name=plugin_id)
        self._forget_cached_callers()

    def _record_problems(self, info: LoadedPlugin) -> None:
        """Check a loaded extension as ``deskhost ext check`` does; keep and log what is found."""
        try:
            problems = check_module(info.module, info.manifest, cache_file=self._sources_cache)
        except Exception as error:  # a failing check never stops an extension from loading
            problems = [Problem(info.plugin_id, CHECK_FAILED, f"the checks failed: {error!r}")]
        self.loaded[info.plugin_id] = replace(info, problems=tuple(problems))
        for problem in problems:
            log.warning("extension %s", problem)

    @property
    def _sources_cache(self) -> Path:
        """Where what the checks read of extensions' source is kept across processes."""
        return self.host.settings.instance_dir / "cache" / "extension-sources.json"

    def _record_load_error(self, name: str, error: BaseException) -> None:
        message = str(error) if isinstance(error, ManifestError) else f"{name}: {error!r}"
        self.errors[name] = message
        log.error("extension %r was not loaded: %s", name, message, exc_info=error)

    def _forget_cached_callers(self) -> None:
        # A subset caller excludes the plugins known when it was built, so registering another
        # plugin would leak it into every cached caller: rebuild them.
        self._callers.clear()
        self._contributions.clear()

    # ------------------------------------------------------------------------------ lookups

    def manifest(self, plugin_id: str) -> Manifest:
        """The manifest of a loaded plugin.

        :raises KeyError: when no plugin with that id is loaded.
        """
        return self.loaded[plugin_id].manifest

    def extensions(self) -> list[LoadedPlugin]:
        """The loaded plugins that can be installed (built-in ones excluded), by id."""
        return [info for _, info in sorted(self.loaded.items()) if not info.builtin]

    def implements(self, plugin_id: str, hook: str) -> bool:
        """True when the plugin implements ``hook``."""
        info = self.loaded.get(plugin_id)
        return info is not None and hook in info.hooks

    def hook_caller(self, plugin_id: str, hook: str) -> pluggy.HookCaller:
        """A caller of ``hook`` that runs only ``plugin_id``'s implementation (cached)."""
        key = (plugin_id, hook)
        caller = self._callers.get(key)
        if caller is None:
            others = [info.module for pid, info in self.loaded.items() if pid != plugin_id]
            caller = self._callers[key] = self.pm.subset_hook_caller(hook, remove_plugins=others)
        return caller

    def call(self, plugin_id: str, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of ``hook``; its result, or ``None`` if it has none."""
        if not self.implements(plugin_id, hook):
            return None
        results = self.hook_caller(plugin_id, hook)(**kwargs)
        return results[0] if results else None

    def _contributed(self, plugin_id: str, hook: str) -> list[Any]:
        key = (plugin_id, hook)
        if key not in self._contributions:
            self._contributions[key] = list(self.call(plugin_id, hook) or [])
        return self._contributions[key]

    def panels(self, plugin_id: str) -> list[Panel]:
        """The panels a plugin contributes (``deskhost_panels``), cached."""
        return self._contributed(plugin_id, "deskhost_panels")

    def pages(self, plugin_id: str) -> list[Page]:
        """The pages a plugin contributes (``deskhost_pages``)."""
        return self._contributed(plugin_id, "deskhost_pages")

    def api_routes(self, plugin_id: str) -> list[ApiRoute]:
        """The REST endpoints a plugin contributes (``deskhost_api_routes``)."""
        return self._contributed(plugin_id, "deskhost_api_routes")

    def webhooks(self, plugin_id: str) -> list[Webhook]:
        """The webhooks a plugin contributes (``deskhost_webhooks``)."""
        return self._contributed(plugin_id, "deskhost_webhooks")

    def jobs(self) -> dict[str, list[JobSpec]]:
        """Every plugin's jobs (``deskhost_jobs``), by plugin id."""
        return {pid: self._contributed(pid, "deskhost_jobs") for pid in sorted(self.loaded)}

    def job_spec(self, plugin_id: str, name: str) -> JobSpec | None:
        """One job of one plugin by name, or ``None``."""
        if plugin_id not in self.loaded:
            return None
        return next(
            (j for j in self._contributed(plugin_id, "deskhost_jobs") if j.name == name), None
        )

    # ------------------------------------------------------------------------------ contexts

    def context_for(
        self,
        session: Session,
        installation: Installation | EventInstallation,
        agent: Agent | None = None,
    ) -> HostContext:
        """A context bound to ``installation`` (and the viewing agent, if any)."""
        from core.plugins.context import HostContext

        return HostContext.for_installation(session, self.host, installation, agent)

    # ------------------------------------------------------------------------------ events

    def active_installation(
        self, session: Session, installation_id: int
    ) -> EventInstallation | None:
        """The installation if it is active (as plain columns, in one query: a webhook asks on
        every delivery), else ``None``."""
        # On the connection: the ORM's handling of a statement costs more than this query.
        rows = session.connection().execute(
            _ACTIVE_INSTALLATION, {"installation_id": installation_id}
        )
        found = _event_installations(rows)
        return found[0] if found else None

    def webhook_installation(
        self, session: Session, installation_id: int
    ) -> EventInstallation | None:
        """The installation a webhook's delivery is for, if active: as
        :meth:`active_installation`, remembered by this process for
        ``WEBHOOK_INSTALLATION_SECONDS`` (a busy webhook asks hundreds of times a second).

        A change of an installation committed in this process takes effect at once; one
        committed in another (an uninstall, other departments or settings) within that time.
        """
        remembered = self._webhook_installations.get(installation_id)
        if remembered is not None:
            return remembered
        found = self.active_installation(session, installation_id)
        if found is not None:
            self._webhook_installations.keep(found)
        return found

    def installations_for(self, session: Session, event: Event) -> list[EventInstallation]:
        """The active installations an event goes to, by id.

        Events with departments (tickets and what hangs off them) go to installations covering
        one of them; the others (customers, setup) to every active installation granted the
        matching read scope (``ORGANISATION_EVENT_SCOPES``).
        """
        if event.department_ids:
            parameters = {"department_ids": list(event.department_ids)}
            return _event_installations(session.execute(_INSTALLATIONS_OF_DEPARTMENTS, parameters))
        scope = next(
            (s for prefix, s in ORGANISATION_EVENT_SCOPES.items() if event.name.startswith(prefix)),
            None,
        )
        if scope is None:
            return []
        return [
            installation
            for installation in _event_installations(session.execute(_ACTIVE_INSTALLATIONS))
            if scope in installation.granted_scopes
        ]

    def dispatch_sync(self, session: Session, event: Event) -> None:
        """Run ``deskhost_event_sync`` for each installation concerned, each under a savepoint.

        A raising hook rolls back only its savepoint; it is logged, recorded as a
        :class:`HookError` and noted on the outbox row so the asynchronous delivery tells that
        installation ``redelivered_after_error=True``. The change and the others go on.
        """
        implementers = {
            impl.plugin_name for impl in self.pm.hook.deskhost_event_sync.get_hookimpls()
        } & {pid for pid, info in self.loaded.items() if not info.builtin}
        if not implementers:
            return
        # Flush the change first, so a failure of the change itself is not blamed on a hook.
        session.flush()
        failed: list[int] = []
        for installation in self.installations_for(session, event):
            if installation.plugin_id not in implementers:
                continue
            try:
                with session.begin_nested():
                    context = self.context_for(session, installation)
                    self.hook_caller(installation.plugin_id, "deskhost_event_sync")(
                        context=context, event=event
                    )
            except Exception as error:  # one extension never stops the change
                failed.append(installation.id)
                self.record_hook_error(
                    session, installation, "deskhost_event_sync", error, event_id=event.id
                )
        if failed:
            row = _outbox_row(session, event.id)
            if row is not None:
                row.sync_failed_installation_ids = sorted(
                    set(row.sync_failed_installation_ids or []) | set(failed)
                )

    def call_event_hook(
        self,
        session: Session,
        installation: Installation | EventInstallation,
        event: Event,
        redelivered_after_error: bool,
    ) -> None:
        """Run one installation's asynchronous ``deskhost_event`` (worker side); raises on error."""
        if not self.implements(installation.plugin_id, "deskhost_event"):
            return
        self.hook_caller(installation.plugin_id, "deskhost_event")(
            context=self.context_for(session, installation),
            event=event,
            redelivered_after_error=redelivered_after_error,
        )

    def record_hook_error(
        self,
        session: Session,
        installation: Installation | EventInstallation | None,
        hook: str,
        error: BaseException,
        *,
        event_id: str | None = None,
        plugin_id: str | None = None,
    ) -> HookError:
        """Log a raising hook and add a :class:`HookError` row to ``session``."""
        plugin_id = plugin_id or (installation.plugin_id if installation else "?")
        log.error(
            "hook %s of extension %r (installation %s) raised",
            hook,
            plugin_id,
            installation.id if installation else None,
            exc_info=error,
        )
        record = HookError(
            installation_id=installation.id if installation else None,
            plugin_id=plugin_id,
            hook=hook,
            event_id=event_id,
            error="".join(traceback.format_exception(error)),
            at=clock.now(),
        )
        session.add(record)
        return record


def _read_manifest(module: ModuleType) -> bytes:
    """The ``manifest.json`` beside a plugin module (inside it, for a package)."""
    package = module.__name__ if hasattr(module, "__path__") else module.__package__
    if not package:
        raise ManifestError(module.__name__, {"(manifest)": ["No package to read it from."]})
    resource = importlib.resources.files(package).joinpath("manifest.json")
    if not resource.is_file():
        raise ManifestError(module.__name__, {"(manifest)": ["manifest.json is missing."]})
    return resource.read_bytes()


def _outbox_row(session: Session, event_id: str) -> OutboxEvent | None:
    for pending in session.new:
        if isinstance(pending, OutboxEvent) and pending.id == event_id:
            return pending
    return session.scalar(select(OutboxEvent).where(OutboxEvent.id == event_id))


__all__ = ["ENTRY_POINT_GROUP", "LoadedPlugin", "PluginHost"]
