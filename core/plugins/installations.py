"""Installation records: install and authorize (the marketplace completes the lifecycle).

Everything runs in the caller's transaction: a hook that raises during install propagates, and
the caller's rollback leaves nothing behind, the extension's own tables included (DDL is
transactional on both backends, see ``core.db``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, ValidationFailed
from core.migrate import upgrade_plugin
from core.models import Agent, Department, Installation, PermissionProfile
from core.models.extensions import InstallationState
from hostapi import clock

if TYPE_CHECKING:
    from core.host import Host


def install(
    session: Session,
    host: Host,
    plugin_id: str,
    *,
    department_ids: Iterable[int],
    profile_ids: Iterable[int],
    installed_by: Agent | None = None,
) -> Installation:
    """Create an installation awaiting authorization, apply the plugin's schema, call
    ``deskhost_install``.

    :raises ValidationFailed: unknown plugin, departments or profiles (naming the field).
    :raises Conflict: a single-install extension that is already installed.
    """
    plugins = host.plugins
    info = plugins.loaded.get(plugin_id)
    if info is None or info.builtin:
        raise ValidationFailed({"plugin_id": [f"No extension {plugin_id!r} is loaded."]})
    manifest = info.manifest
    departments = _existing(session, Department, department_ids, "department_ids")
    profiles = _existing(session, PermissionProfile, profile_ids, "profile_ids")
    if not departments:
        raise ValidationFailed({"department_ids": ["Choose at least one department."]})
    if not profiles:
        raise ValidationFailed({"profile_ids": ["Choose at least one permission profile."]})
    if manifest.single_install and _live_installations(session, plugin_id):
        raise Conflict(f"{manifest.name} can be installed only once")
    now = clock.now()
    installation = Installation(
        plugin_id=plugin_id,
        plugin_version=manifest.version,
        state=InstallationState.AWAITING_AUTHORIZATION.value,
        granted_scopes=[],
        settings=manifest.setting_defaults(),
        installed_by_id=installed_by.id if installed_by else None,
        created_at=now,
        updated_at=now,
        departments=departments,
        profiles=profiles,
    )
    session.add(installation)
    session.flush()
    migrations = plugins.call(plugin_id, "deskhost_migrations")
    if migrations:
        upgrade_plugin(session.connection(), plugin_id, Path(migrations))
    plugins.call(plugin_id, "deskhost_install", context=plugins.context_for(session, installation))
    return installation


def authorize(
    session: Session, host: Host, installation: Installation, scopes: Iterable[str]
) -> None:
    """Make an installation active with the scopes granted (those it requested and was given)."""
    requested = set(host.plugins.manifest(installation.plugin_id).scopes)
    granted = sorted(requested & set(scopes))
    installation.granted_scopes = granted
    installation.state = InstallationState.ACTIVE.value
    installation.updated_at = clock.now()
    session.flush()
    host.plugins.call(
        installation.plugin_id,
        "deskhost_authorized",
        context=host.plugins.context_for(session, installation),
        scopes=granted,
    )


def install_and_authorize_all(session: Session, host: Host) -> list[Installation]:
    """Install every loaded extension for all departments and profiles, with every scope it
    requests (the demo). Extensions that already have a live installation are left alone."""
    department_ids = list(session.scalars(select(Department.id).order_by(Department.id)))
    profile_ids = list(session.scalars(select(PermissionProfile.id).order_by(PermissionProfile.id)))
    installed: list[Installation] = []
    for info in host.plugins.extensions():
        if _live_installations(session, info.plugin_id):
            continue
        installation = install(
            session, host, info.plugin_id, department_ids=department_ids, profile_ids=profile_ids
        )
        authorize(session, host, installation, info.manifest.scopes)
        installed.append(installation)
    return installed


def _live_installations(session: Session, plugin_id: str) -> list[Installation]:
    return list(
        session.scalars(
            select(Installation).where(
                Installation.plugin_id == plugin_id,
                Installation.state != InstallationState.ARCHIVED.value,
            )
        )
    )


def _existing(session: Session, model: type[Any], ids: Iterable[int], field: str) -> list[Any]:
    wanted = sorted(set(ids))
    found = list(session.scalars(select(model).where(model.id.in_(wanted)).order_by(model.id)))
    missing = sorted(set(wanted) - {row.id for row in found})
    if missing:
        raise ValidationFailed({field: [f"Unknown ids: {', '.join(map(str, missing))}."]})
    return found
