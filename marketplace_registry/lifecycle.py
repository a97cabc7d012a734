"""The installation lifecycle: install, grant, edits, upgrade, uninstall and restore.

Every function runs in the caller's unit of work (one transaction) and audits what it changed
(who, when, from which IP, before and after). A failure anywhere raises, and the caller's
rollback leaves nothing behind: the extension's own tables included, since DDL is transactional
on both backends (see ``core.db``). The state machine::

    install ─▶ awaiting_authorization ─grant─▶ active ─uninstall(keep)─▶ archived ─restore─▶ …
                                                      └uninstall(purge)─▶ (record deleted)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

import hostapi
from core.errors import Conflict, ValidationFailed
from core.migrate import downgrade_plugin, upgrade_plugin
from core.models import (
    AccessToken,
    Department,
    Installation,
    OAuthAuthorizationCode,
    OAuthClient,
    OutboxEvent,
    PermissionProfile,
    ProfilePermission,
)
from core.models.extensions import InstallationState, OutboxKind
from core.outbox import forget_queued_jobs
from core.plugins import requirements
from core.plugins.manifest import Manifest
from core.services.base import Unit, gather
from hostapi import clock
from marketplace_registry import settings as setting_values

if TYPE_CHECKING:
    from core.host import Host
    from core.plugins.manager import PluginHost

log = logging.getLogger(__name__)

ENTITY = "installation"


# ------------------------------------------------------------------------------ install


def install(
    unit: Unit,
    plugin_id: str,
    *,
    department_ids: Iterable[int],
    profile_ids: Iterable[int],
    terms_accepted: bool,
    settings: Mapping[str, Any] | None = None,
    label: str = "",
) -> Installation:
    """Install a loaded extension for departments and profiles; it then awaits authorization.

    Applies the extension's migrations, creates the custom fields, views, spam rules and
    statuses its manifest requires (see :mod:`core.plugins.requirements`) and calls
    ``deskhost_install``, so a failure of any (or of any check) leaves nothing installed once
    the caller rolls back.

    When the registry index lists the extension, the deployed files must match the listing's
    sha256 (see :meth:`marketplace_registry.catalog.Catalog.verify_distribution`).

    :raises ValidationFailed: naming ``plugin_id``, ``terms_accepted``, ``department_ids``,
        ``profile_ids``, ``settings.<name>``, ``hostapi``, ``sha256`` or
        ``requirements.<list>.<n>.<field>`` (a requirement whose name the desk uses already).
    :raises Conflict: a single-install extension that is installed already.
    """
    session, host = unit.session, _host(unit)
    manifest = _installable_manifest(host.plugins, plugin_id)
    values = gather(
        {
            "terms_accepted": lambda: _require_terms(terms_accepted),
            "department_ids": lambda: _existing(session, Department, department_ids, "department"),
            "profile_ids": lambda: _existing(session, PermissionProfile, profile_ids, "profile"),
            "settings": lambda: setting_values.validate(manifest, settings or {}, partial=False),
            "label": lambda: _label(label),
            "sha256": lambda: _verify_distribution(host, plugin_id),
            "requirements": lambda: requirements.check_requirements(session, manifest),
        }
    )
    _refuse_second_single_install(session, manifest)
    now = clock.now()
    plain, secrets = setting_values.split_secrets(manifest, values["settings"])
    installation = Installation(
        plugin_id=plugin_id,
        plugin_version=manifest.version,
        label=values["label"],
        state=InstallationState.AWAITING_AUTHORIZATION.value,
        granted_scopes=[],
        settings=plain,
        installed_by_id=unit.actor.agent_id,
        terms_accepted_at=now,
        created_at=now,
        updated_at=now,
        departments=values["department_ids"],
        profiles=values["profile_ids"],
    )
    session.add(installation)
    session.flush()
    _apply_migrations(session, host.plugins, plugin_id)
    requirements.create_requirements(unit, installation, manifest)
    context = host.plugins.context_for(session, installation)
    for name, secret in secrets.items():
        context.secret_set(setting_values.secret_key(name), secret)
    host.plugins.call(plugin_id, "deskhost_install", context=context)
    unit.audit("add", ENTITY, installation.id, sub_action="install", after=snapshot(installation))
    return installation


def _installable_manifest(plugins: PluginHost, plugin_id: str) -> Manifest:
    info = plugins.loaded.get(plugin_id)
    if info is not None and not info.builtin:
        return info.manifest
    incompatible = plugins.incompatible.get(plugin_id)
    if incompatible is not None:
        raise ValidationFailed(
            {
                "hostapi": [
                    f"{incompatible.name} {incompatible.version} needs host API "
                    f"{SpecifierSet(incompatible.hostapi)}; this host provides "
                    f"{hostapi.HOSTAPI_VERSION}."
                ]
            }
        )
    raise ValidationFailed(
        {"plugin_id": [f"No extension {plugin_id!r} is installed on this host."]}
    )


def _refuse_second_single_install(session: Session, manifest: Manifest) -> None:
    if not manifest.single_install:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Two admins installing at once would both see none installed: serialise on the id.
        # (SQLite's write lock, taken up front, already does.)
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"deskhost.install.{manifest.id}"},
        )
    if live_installations(session, manifest.id):
        raise Conflict(f"{manifest.name} can be installed only once")


def _require_terms(accepted: bool) -> None:
    if accepted is not True:
        raise ValidationFailed({"terms_accepted": ["Accept the extension's terms to install it."]})


def _label(label: str) -> str:
    if not isinstance(label, str):
        raise ValidationFailed({"label": ["Must be text."]})
    label = label.strip()
    if len(label) > 200:
        raise ValidationFailed({"label": ["At most 200 characters."]})
    return label


def _verify_distribution(host: Host, plugin_id: str) -> None:
    from marketplace_registry.catalog import Catalog
    from marketplace_registry.digest import DistributionRefused

    try:
        Catalog(host).verify_distribution(plugin_id)
    except DistributionRefused as refused:
        raise ValidationFailed({"sha256": [str(refused)]}) from refused


def _existing(session: Session, model: type[Any], ids: Iterable[int], what: str) -> list[Any]:
    field = f"{what}_ids"
    if isinstance(ids, (str, bytes)):
        raise ValidationFailed(f"Give a list of {what} ids.", field)
    try:
        wanted = sorted({int(i) for i in ids})
    except (TypeError, ValueError) as error:
        raise ValidationFailed(f"Give a list of {what} ids.", field) from error
    if not wanted:
        raise ValidationFailed(f"Choose at least one {what}.", field)
    found = list(session.scalars(select(model).where(model.id.in_(wanted)).order_by(model.id)))
    missing = sorted(set(wanted) - {row.id for row in found})
    if missing:
        raise ValidationFailed(f"Unknown {what}: {', '.join(map(str, missing))}.", field)
    return found


def _apply_migrations(session: Session, plugins: PluginHost, plugin_id: str) -> None:
    migrations = plugins.call(plugin_id, "deskhost_migrations")
    if migrations:
        upgrade_plugin(session.connection(), plugin_id, Path(migrations))


# ------------------------------------------------------------------------------ grant


def grant(unit: Unit, installation: Installation, scopes: Iterable[str]) -> list[str]:
    """Record the admin's consent: the installation becomes active with the scopes granted.

    Only scopes the manifest requests can be granted; the result replaces the earlier grant
    (consent after an upgrade covers the old scopes and the new ones). Returns the granted
    scopes. Called by the OAuth callback once the code is exchanged (and by the CLI).

    :raises Conflict: an archived installation (restore it first).
    """
    host = _host(unit)
    if installation.state == InstallationState.ARCHIVED:
        raise Conflict("this installation is archived; restore it first")
    requested = set(host.plugins.manifest(installation.plugin_id).scopes)
    granted = sorted(requested & set(scopes))
    before = snapshot(installation)
    now = clock.now()
    installation.granted_scopes = granted
    installation.state = InstallationState.ACTIVE.value
    installation.authorized_by_id = unit.actor.agent_id
    installation.authorized_at = now
    installation.updated_at = now
    unit.session.flush()
    host.plugins.call(
        installation.plugin_id,
        "deskhost_authorized",
        context=host.plugins.context_for(unit.session, installation),
        scopes=granted,
    )
    unit.audit(
        "update",
        ENTITY,
        installation.id,
        sub_action="authorize",
        before=before,
        after=snapshot(installation),
    )
    return granted


def deny(unit: Unit, installation: Installation) -> None:
    """Record that the admin denied consent: the installation stays inactive."""
    unit.audit("update", ENTITY, installation.id, sub_action="deny", after=snapshot(installation))


def revoke_grant(unit: Unit, installation: Installation) -> None:
    """End an installation's grant (its token was revoked): it awaits authorization again."""
    if installation.state != InstallationState.ACTIVE:
        return
    before = snapshot(installation)
    installation.state = InstallationState.AWAITING_AUTHORIZATION.value
    installation.granted_scopes = []
    installation.updated_at = clock.now()
    _revoke_tokens(unit.session, installation.id, clients=False)
    unit.audit(
        "update",
        ENTITY,
        installation.id,
        sub_action="revoke",
        before=before,
        after=snapshot(installation),
    )


def pending_scopes(host: Host, installation: Installation) -> list[str]:
    """Scopes the loaded manifest requests that the installation was not granted yet."""
    requested = host.plugins.manifest(installation.plugin_id).scopes
    return sorted(set(requested) - set(installation.granted_scopes or ()))


# ------------------------------------------------------------------------------ edits


def update_scope(
    unit: Unit,
    installation: Installation,
    *,
    department_ids: Iterable[int] | None = None,
    profile_ids: Iterable[int] | None = None,
) -> Installation:
    """Change which departments and permission profiles an installation covers.

    Calls ``deskhost_scope_changed`` with the departments added and removed.

    :raises ValidationFailed: on ``department_ids`` or ``profile_ids``.
    """
    session, host = unit.session, _host(unit)
    _require_live(installation)
    fields: dict[str, Any] = {}
    if department_ids is not None:
        fields["department_ids"] = lambda: _existing(
            session, Department, department_ids, "department"
        )
    if profile_ids is not None:
        fields["profile_ids"] = lambda: _existing(
            session, PermissionProfile, profile_ids, "profile"
        )
    values = gather(fields)
    before = snapshot(installation)
    old_departments = installation.department_ids
    if "department_ids" in values:
        installation.departments = values["department_ids"]
    if "profile_ids" in values:
        installation.profiles = values["profile_ids"]
    installation.updated_at = clock.now()
    session.flush()
    after = snapshot(installation)
    if after == before:
        return installation
    added = sorted(installation.department_ids - old_departments)
    removed = sorted(old_departments - installation.department_ids)
    host.plugins.call(
        installation.plugin_id,
        "deskhost_scope_changed",
        context=host.plugins.context_for(session, installation),
        added_department_ids=added,
        removed_department_ids=removed,
    )
    unit.audit("update", ENTITY, installation.id, sub_action="scope", before=before, after=after)
    return installation


def update_settings(
    unit: Unit, installation: Installation, changes: Mapping[str, Any]
) -> Installation:
    """Change some of an installation's settings, validated against the manifest's schema.

    Secret settings are stored encrypted and audited only as "changed".

    :raises ValidationFailed: naming ``settings.<name>``.
    """
    session, host = unit.session, _host(unit)
    _require_live(installation)
    manifest = host.plugins.manifest(installation.plugin_id)
    values = gather({"settings": lambda: setting_values.validate(manifest, changes, partial=True)})
    plain, secrets = setting_values.split_secrets(manifest, values["settings"])
    before = dict(installation.settings or {})
    installation.settings = {**before, **plain}
    installation.updated_at = clock.now()
    context = host.plugins.context_for(session, installation)
    for name, secret in secrets.items():
        context.secret_set(setting_values.secret_key(name), secret)
    session.flush()
    after = dict(installation.settings)
    changed_secrets = sorted(secrets)
    if after != before or changed_secrets:
        unit.audit(
            "update",
            ENTITY,
            installation.id,
            sub_action="settings",
            before={"settings": before},
            after={"settings": after, "secrets_changed": changed_secrets},
        )
    return installation


# ------------------------------------------------------------------------------ upgrade


def needs_upgrade(host: Host, installation: Installation) -> bool:
    """True when the loaded package is newer than the version the installation runs."""
    info = host.plugins.loaded.get(installation.plugin_id)
    return info is not None and Version(info.manifest.version) > Version(
        installation.plugin_version
    )


def upgrade(unit: Unit, installation: Installation) -> bool:
    """Bring an installation to the loaded package's version: migrations, the requirements the
    new version no longer declares released and those it adds created, then
    ``deskhost_upgrade``. Scopes the new version requests wait for fresh consent (see
    :func:`pending_scopes`); the granted ones keep working. Returns whether anything changed.

    :raises ValidationFailed: naming ``requirements.<list>.<n>.<field>`` (a requirement the
        new version adds whose name the desk uses already).
    """
    session, host = unit.session, _host(unit)
    if not needs_upgrade(host, installation):
        return False
    from_version = installation.plugin_version
    _apply_migrations(session, host.plugins, installation.plugin_id)
    manifest = host.plugins.manifest(installation.plugin_id)
    # Released before the new ones are checked: a declaration whose key changed while its
    # name stayed (a view's) would otherwise find its old self holding the name.
    requirements.release_undeclared(unit, installation, manifest)
    requirements.check_requirements(session, manifest, installation.id)
    requirements.create_requirements(unit, installation, manifest)
    installation.plugin_version = manifest.version
    installation.updated_at = clock.now()
    session.flush()
    host.plugins.call(
        installation.plugin_id,
        "deskhost_upgrade",
        context=host.plugins.context_for(session, installation),
        from_version=from_version,
    )
    unit.audit(
        "update",
        ENTITY,
        installation.id,
        sub_action="upgrade",
        before={"plugin_version": from_version},
        after={
            "plugin_version": installation.plugin_version,
            "pending_scopes": pending_scopes(host, installation),
        },
    )
    return True


def upgrade_all(unit: Unit) -> list[Installation]:
    """Upgrade every live installation whose extension was deployed in a newer version."""
    host = _host(unit)
    installations = unit.session.scalars(
        select(Installation)
        .where(Installation.state.in_(InstallationState.live()))
        .order_by(Installation.id)
    )
    return [i for i in list(installations) if needs_upgrade(host, i) and upgrade(unit, i)]


# ------------------------------------------------------------------------------ uninstall


def uninstall(
    unit: Unit, installation: Installation, *, confirmed: bool, keep_data: bool
) -> Installation | None:
    """Uninstall: tell the extension, revoke every token, remove its queued and scheduled jobs.

    With ``keep_data`` the installation is archived with its data and settings (restorable,
    with fresh consent), the objects its manifest required included; otherwise its rows and
    those objects (their values too) are deleted and, with the extension's last
    installation, its tables dropped. Its OAuth clients stay revoked either way (after a
    restore too: an out-of-process extension needs a new one); a purge keeps their rows
    without the installation, for the introspection endpoint. A raising
    ``deskhost_uninstall`` is recorded and the uninstall completes. Returns the archived
    installation, or ``None`` once purged.

    :raises ValidationFailed: ``confirmed`` is not true.
    """
    session, host = unit.session, _host(unit)
    if confirmed is not True:
        raise ValidationFailed({"confirmed": ["Confirm that you want to uninstall."]})
    if installation.state == InstallationState.ARCHIVED and keep_data:
        return installation
    before = snapshot(installation)
    plugin_id, installation_id = installation.plugin_id, installation.id
    _call_uninstall_hook(session, host, installation, purge=not keep_data)
    _revoke_tokens(session, installation_id, clients=True)
    _remove_jobs(session, host, installation_id)
    now = clock.now()
    # Archived first, purged or not: the extension was told, and what the purge changes next
    # (tickets moved out of its statuses, a status removed) must not reach it as events.
    installation.state = InstallationState.ARCHIVED.value
    installation.granted_scopes = []
    installation.archived_at = now
    installation.updated_at = now
    session.flush()
    if keep_data:
        after: dict[str, Any] | None = snapshot(installation)
    else:
        requirements.remove_requirements(unit, installation_id)
        session.delete(installation)
        after = None
    session.flush()
    _forget_permissions_without_installation(session, host.plugins, plugin_id)
    if not keep_data and not _any_installation(session, plugin_id):
        _drop_tables(session, host.plugins, plugin_id)
    unit.audit(
        "delete",
        ENTITY,
        installation_id,
        sub_action="uninstall:keep" if keep_data else "uninstall:purge",
        before=before,
        after=after,
    )
    return installation if keep_data else None


def _call_uninstall_hook(
    session: Session, host: Host, installation: Installation, *, purge: bool
) -> None:
    plugins = host.plugins
    if installation.plugin_id not in plugins.loaded:
        return
    try:
        with session.begin_nested():
            plugins.call(
                installation.plugin_id,
                "deskhost_uninstall",
                context=plugins.context_for(session, installation),
                purge=purge,
            )
    except Exception as error:  # uninstall is failure-tolerant: record and go on
        # A purged installation's rows go with it: keep the record without the link.
        plugins.record_hook_error(
            session,
            None if purge else installation,
            "deskhost_uninstall",
            error,
            plugin_id=installation.plugin_id,
        )


def _revoke_tokens(session: Session, installation_id: int, *, clients: bool) -> None:
    now = clock.now()
    session.execute(
        update(AccessToken)
        .where(AccessToken.installation_id == installation_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(OAuthAuthorizationCode).where(
            OAuthAuthorizationCode.installation_id == installation_id
        )
    )
    if clients:
        session.execute(
            update(OAuthClient)
            .where(OAuthClient.installation_id == installation_id, OAuthClient.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
    session.expire_all()


def _remove_jobs(session: Session, host: Host, installation_id: int) -> None:
    """Delete the installation's jobs not run yet (delayed ones included) and drop any copy
    already handed to RQ, so nothing of it runs after the uninstall commits."""
    pending = list(
        session.scalars(
            select(OutboxEvent.seq).where(
                OutboxEvent.installation_id == installation_id,
                OutboxEvent.kind == OutboxKind.JOB.value,
                OutboxEvent.delivered_at.is_(None),
            )
        )
    )
    if not pending:
        return
    session.execute(delete(OutboxEvent).where(OutboxEvent.seq.in_(pending)))
    forget_queued_jobs(host, pending)


def _forget_permissions_without_installation(
    session: Session, plugins: PluginHost, plugin_id: str
) -> None:
    """An extension's own permissions leave every profile when no live installation is left."""
    if live_installations(session, plugin_id):
        return
    names = plugins.permission_names(plugin_id)
    if names:
        session.execute(delete(ProfilePermission).where(ProfilePermission.permission.in_(names)))


def _drop_tables(session: Session, plugins: PluginHost, plugin_id: str) -> None:
    migrations = (
        plugins.call(plugin_id, "deskhost_migrations") if plugin_id in plugins.loaded else None
    )
    if migrations:
        downgrade_plugin(session.connection(), plugin_id, Path(migrations))


# ------------------------------------------------------------------------------ restore


def restore(unit: Unit, installation: Installation) -> Installation:
    """Bring an archived installation back, with its data and settings; it needs fresh consent.
    The OAuth clients the uninstall revoked stay revoked: an out-of-process extension gets a
    new one registered (the host's own client is made again on consent).

    :raises Conflict: it is not archived, or a single-install extension is installed again.
    :raises ValidationFailed: the extension is no longer installed on this host.
    """
    session, host = unit.session, _host(unit)
    if installation.state != InstallationState.ARCHIVED:
        raise Conflict("only an archived installation can be restored")
    manifest = _installable_manifest(host.plugins, installation.plugin_id)
    _refuse_second_single_install(session, manifest)
    before = snapshot(installation)
    installation.state = InstallationState.AWAITING_AUTHORIZATION.value
    installation.archived_at = None
    installation.updated_at = clock.now()
    session.flush()
    _apply_migrations(session, host.plugins, installation.plugin_id)
    upgrade(unit, installation)
    unit.audit(
        "update",
        ENTITY,
        installation.id,
        sub_action="restore",
        before=before,
        after=snapshot(installation),
    )
    return installation


# ------------------------------------------------------------------------------ queries


def live_installations(session: Session, plugin_id: str) -> list[Installation]:
    """The installations of ``plugin_id`` that are installed (not archived), by id."""
    return list(
        session.scalars(
            select(Installation)
            .where(
                Installation.plugin_id == plugin_id,
                Installation.state.in_(InstallationState.live()),
            )
            .order_by(Installation.id)
        )
    )


def _any_installation(session: Session, plugin_id: str) -> bool:
    count = session.scalar(
        select(func.count()).select_from(Installation).where(Installation.plugin_id == plugin_id)
    )
    return bool(count)


def _require_live(installation: Installation) -> None:
    if installation.state == InstallationState.ARCHIVED:
        raise Conflict("this installation is archived; restore it first")


def snapshot(installation: Installation) -> dict[str, Any]:
    """What the audit log records of an installation (secrets never included)."""
    return {
        "plugin_id": installation.plugin_id,
        "plugin_version": installation.plugin_version,
        "label": installation.label,
        "state": installation.state,
        "department_ids": sorted(installation.department_ids),
        "profile_ids": sorted(installation.profile_ids),
        "granted_scopes": sorted(installation.granted_scopes or ()),
        "settings": dict(installation.settings or {}),
    }


def _host(unit: Unit) -> Host:
    if unit.host is None:
        raise RuntimeError("the installation lifecycle needs a unit with a host")
    return unit.host


def install_and_grant_all(unit: Unit, only: Iterable[str] | None = None) -> list[Installation]:
    """Install every loaded extension (those of ``only``) for all departments and profiles,
    terms accepted, with every scope it requests: the demo, and ``deskhost dev``.

    An extension with a live installation is left alone, unless ``only`` names it: then its
    installation is upgraded to the deployed version, widened to every department and profile
    and granted what it requests (an author's manifest changes between two runs).
    """
    session, host = unit.session, _host(unit)
    department_ids = list(session.scalars(select(Department.id).order_by(Department.id)))
    profile_ids = list(session.scalars(select(PermissionProfile.id).order_by(PermissionProfile.id)))
    named = None if only is None else set(only)
    touched: list[Installation] = []
    for info in host.plugins.extensions():
        if named is not None and info.plugin_id not in named:
            continue
        live = live_installations(session, info.plugin_id)
        if live and named is None:
            continue
        for installation in live or [
            install(
                unit,
                info.plugin_id,
                department_ids=department_ids,
                profile_ids=profile_ids,
                terms_accepted=True,
            )
        ]:
            upgrade(unit, installation)
            update_scope(unit, installation, department_ids=department_ids, profile_ids=profile_ids)
            if installation.state != InstallationState.ACTIVE or pending_scopes(host, installation):
                grant(unit, installation, info.manifest.scopes)
            touched.append(installation)
    return touched
