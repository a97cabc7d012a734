"""pytest fixtures for extension developers: a real host, and your plugin installed on it.

Enable with ``pytest_plugins = ["hostapi.testing"]`` in your ``conftest.py``. Importing this
module has no side effects; the host is built only when a test asks for a fixture.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hostapi.context import Context

__all__ = ["deskhost_host", "deskhost_session", "installed"]


@pytest.fixture(scope="session")
def deskhost_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A host on a throwaway SQLite database with the core schema and its baseline."""
    from core.bootstrap import ensure_baseline
    from core.config import Settings
    from core.host import Host
    from core.migrate import upgrade_core

    instance = tmp_path_factory.mktemp("deskhost")
    host = Host(
        Settings.from_env(
            {
                "DESKHOST_INSTANCE_DIR": str(instance),
                "DATABASE_URL": "",
                "REDIS_URL": "",
                "SECRET_KEY": "test",
                "DESKHOST_ENCRYPTION_KEY": "",
            }
        )
    )
    upgrade_core(host.engine)
    with host.transaction() as session:
        ensure_baseline(session)
    yield host
    host.dispose()


@pytest.fixture
def deskhost_session(deskhost_host: Any) -> Iterator[Session]:
    """A session on the test host; commit to make changes visible to other sessions."""
    with deskhost_host.sessions() as session:
        yield session


@pytest.fixture
def installed(deskhost_host: Any, deskhost_session: Session) -> Iterator[Callable[..., Context]]:
    """``installed(plugin, departments=("Support",), scopes=None, manifest=None) -> Context``.

    Registers ``plugin`` (a module with ``manifest.json`` beside it, or any object with
    ``manifest`` given), installs it for the named departments (created if missing) and every
    permission profile, grants ``scopes`` (default: every scope it requests) and returns a
    context bound to the installation, on ``deskhost_session``. Cleaned up after the test.
    """
    from sqlalchemy import delete, select

    from core.models import Department, Installation, PermissionProfile
    from core.services.base import Actor, Unit
    from hostapi import clock
    from marketplace_registry import lifecycle

    plugins = deskhost_host.plugins
    registered: list[str] = []
    created: list[int] = []

    def install(
        plugin: ModuleType | object,
        departments: Iterable[str] = ("Support",),
        scopes: Iterable[str] | None = None,
        manifest: Mapping[str, Any] | None = None,
    ) -> Context:
        data = manifest if manifest is not None else _manifest_beside(plugin)
        plugin_id = str(data["id"])
        if plugin_id not in plugins.loaded:
            plugins.register_plugin(plugin, data)
            registered.append(plugin_id)
        session = deskhost_session
        department_ids = []
        for name in departments:
            department = session.scalar(select(Department).where(Department.name == name))
            if department is None:
                department = Department(name=name, created_at=clock.now())
                session.add(department)
                session.flush()
            department_ids.append(department.id)
        unit = Unit(session, Actor.system("test"), deskhost_host)
        installation = lifecycle.install(
            unit,
            plugin_id,
            department_ids=department_ids,
            profile_ids=list(session.scalars(select(PermissionProfile.id))),
            terms_accepted=True,
        )
        requested = plugins.manifest(plugin_id).scopes
        lifecycle.grant(unit, installation, requested if scopes is None else scopes)
        session.commit()
        created.append(installation.id)
        return plugins.context_for(session, installation)

    yield install
    deskhost_session.rollback()
    if created:
        deskhost_session.execute(delete(Installation).where(Installation.id.in_(created)))
        deskhost_session.commit()
    for plugin_id in registered:
        plugins.unregister_plugin(plugin_id)


def _manifest_beside(plugin: ModuleType | object) -> Mapping[str, Any]:
    name = getattr(plugin, "__name__", None)
    if not isinstance(plugin, ModuleType) or name is None:
        raise TypeError("give the manifest= of a plugin that is not a module")
    package = name if hasattr(plugin, "__path__") else plugin.__package__
    text = importlib.resources.files(package).joinpath("manifest.json").read_text("utf-8")
    return json.loads(text)
