"""``/api/v1/marketplace/extensions`` and ``/api/v1/installations``: the marketplace over REST.

Who may call (said in each operation's ``security`` and in :data:`ACCESS`): an agent holding
``marketplace.manage``, from a signed-in session (with the CSRF header on changes), or — to
read only — with a personal access token carrying ``desk.settings.read``. Changes are
session-only: the scope vocabulary has no scope for managing extensions, and a token made for
reading tickets must not install, reconfigure or purge extensions. An extension's own OAuth
token is refused (403) everywhere here: extensions never manage installations.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import marshmallow as ma
from flask import Response, current_app
from flask_smorest import Blueprint, abort
from marshmallow import fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.api.auth import (
    BEARER_SCHEME,
    CSRF_SCHEME,
    SESSION_SCHEME,
    principal,
    require_scope,
    unit,
)
from core.api.blueprint import api_blueprint, commit
from core.api.schemas import Id, StrictSchema, Text
from core.errors import Forbidden, NotFound, ValidationFailed
from core.host import Host
from core.models import Installation
from core.models.extensions import InstallationState
from core.permissions import MARKETPLACE_MANAGE
from core.tokens import TokenKind
from core.web.database import db_session
from hostapi import scopes
from marketplace_registry import lifecycle
from marketplace_registry import settings as setting_values
from marketplace_registry.admin_views import authorize_url
from marketplace_registry.catalog import CATEGORIES, Catalog, CatalogEntry

F = TypeVar("F", bound=Callable[..., Any])

ACCESS = (
    "Needs the `marketplace.manage` permission. Reading: a signed-in session, or a personal "
    "access token with `desk.settings.read`. Changing: a signed-in session with the CSRF header "
    "only (no token scope covers managing extensions; scripts on the host use `deskhost ext`). "
    "An extension's OAuth token is always refused (403)."
)

extensions = api_blueprint(
    "api_marketplace",
    __name__,
    "/marketplace/extensions",
    "The marketplace catalog: extensions deployed on this host and listed by the registry "
    "index, searchable in English and Japanese. " + ACCESS,
)
installations = api_blueprint(
    "api_installations",
    __name__,
    "/installations",
    "Installations of extensions: install for departments and permission profiles (terms "
    "accepted), edit them, upgrade, uninstall (keeping or purging the data) and restore. "
    "Consent is given on `authorize_url` in a browser. " + ACCESS,
)


def _managing(*, change: bool) -> Callable[[F], F]:
    """Guard a view: marketplace managers only; tokens refused for changes, and always for
    extensions. Put it right under ``@blp.route``, before the body is parsed."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = principal()
            if caller.token is not None:
                if caller.token.kind != TokenKind.PERSONAL:
                    abort(403, message="An extension's token cannot manage installations.")
                if change:
                    abort(
                        403,
                        message="Change installations from a signed-in session or with "
                        "`deskhost ext`; a token can only read them.",
                    )
                require_scope(scopes.SETTINGS_READ)
            if not caller.agent.has_permission(MARKETPLACE_MANAGE):
                raise Forbidden(MARKETPLACE_MANAGE)
            return view(*args, **kwargs)

        security = (
            [{SESSION_SCHEME: [], CSRF_SCHEME: []}]
            if change
            else [{BEARER_SCHEME: [scopes.SETTINGS_READ]}, {SESSION_SCHEME: []}]
        )
        return cast(F, Blueprint.doc(security=security)(wrapper))

    return decorator


# ------------------------------------------------------------------------------ schemas


class LocalizedTextSchema(ma.Schema):
    """A text in English and Japanese."""

    en = fields.String()
    ja = fields.String()


class LiveInstallationSummarySchema(ma.Schema):
    """An installation of a listed extension that is not archived."""

    id = fields.Integer()
    plugin_version = fields.String()
    state = fields.String()


def _category_labels(entry: CatalogEntry) -> dict[str, str]:
    label = CATEGORIES.get(entry.category)
    return (
        {"en": label.en, "ja": label.ja} if label else {"en": entry.category, "ja": entry.category}
    )


class ExtensionSchema(ma.Schema):
    """One extension of the marketplace."""

    id = fields.String(attribute="plugin_id", metadata={"description": "The manifest id."})
    name = fields.String()
    publisher = fields.String()
    version = fields.String(metadata={"description": "The newest version known."})
    category = fields.String()
    category_label = fields.Function(
        _category_labels, metadata={"description": "The category's label, `{en, ja}`."}
    )
    description = fields.Nested(LocalizedTextSchema)
    scopes = fields.List(fields.String(), metadata={"description": "The scopes it requests."})
    panel_locations = fields.List(fields.String())
    terms = fields.Nested(LocalizedTextSchema)
    hostapi = fields.String(metadata={"description": "The host API range it needs."})
    compatible = fields.Boolean(metadata={"description": "This host's API is in that range."})
    available = fields.Boolean(
        metadata={"description": "Deployed on this host (so installable, if compatible)."}
    )
    loaded_version = fields.String(allow_none=True)
    registry_version = fields.String(allow_none=True)
    distribution = fields.String(allow_none=True)
    sha256 = fields.String(allow_none=True)
    single_install = fields.Boolean()
    installed = fields.Boolean(metadata={"description": "It has a live installation."})
    update_available = fields.Boolean(
        metadata={"description": "An installation runs an older version than the listing's."}
    )
    installations = fields.List(fields.Nested(LiveInstallationSummarySchema))


class ExtensionListArgsSchema(StrictSchema):
    """Search and filters of the marketplace."""

    q = fields.String(
        load_default="",
        metadata={"description": "Words matched in name, descriptions and category (en, ja)."},
    )
    category = fields.String(load_default=None, metadata={"description": "A category id."})
    installed = fields.Boolean(
        load_default=None,
        allow_none=True,
        metadata={"description": "true: with a live installation; false: without."},
    )


class ExtensionListSchema(ma.Schema):
    """The matching extensions (one page), and why the registry index could not be used."""

    items = fields.List(fields.Nested(ExtensionSchema), required=True)
    next_cursor = fields.String(allow_none=True, metadata={"description": "Always null."})
    registry_errors = fields.List(fields.String())


STATES = [state.value for state in InstallationState]


class InstallationSchema(ma.Schema):
    """An installation of an extension."""

    id = fields.Integer()
    plugin_id = fields.String()
    plugin_version = fields.String()
    label = fields.String()
    state = fields.String(metadata={"description": " | ".join(STATES)})
    department_ids = fields.List(fields.Integer())
    profile_ids = fields.List(fields.Integer())
    granted_scopes = fields.List(fields.String())
    pending_scopes = fields.List(
        fields.String(), metadata={"description": "Requested but not consented to yet."}
    )
    settings = fields.Dict(metadata={"description": "Plain settings (secrets never included)."})
    secret_settings = fields.Dict(
        metadata={"description": "Secret settings by name: masked (`••••1a2b`) or null if unset."}
    )
    upgrade_available = fields.Boolean(
        metadata={"description": "A newer version is deployed: `POST …/upgrade` applies it."}
    )
    authorize_url = fields.String(
        allow_none=True,
        metadata={"description": "Where an admin gives consent in a browser (null if archived)."},
    )
    installed_by_id = fields.Integer(allow_none=True)
    terms_accepted_at = fields.AwareDateTime(allow_none=True)
    authorized_by_id = fields.Integer(allow_none=True)
    authorized_at = fields.AwareDateTime(allow_none=True)
    archived_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class InstallationListArgsSchema(StrictSchema):
    """Filters of the installation list."""

    plugin_id = fields.String(load_default=None)
    state = fields.String(load_default=None, validate=validate.OneOf(STATES))


class InstallationListSchema(ma.Schema):
    """Installations, by id (one page)."""

    items = fields.List(fields.Nested(InstallationSchema), required=True)
    next_cursor = fields.String(allow_none=True, metadata={"description": "Always null."})


class InstallationCreateSchema(StrictSchema):
    """A new installation: where it applies, its settings, and the terms accepted."""

    plugin_id = Text(required=True, min_length=1, max_length=100)
    department_ids = fields.List(Id(), required=True)
    profile_ids = fields.List(Id(), required=True)
    terms_accepted = fields.Boolean(
        required=True, metadata={"description": "Must be true: the admin accepts the terms."}
    )
    settings = fields.Dict(
        load_default=dict, metadata={"description": "By name, as the manifest's schema says."}
    )
    label = Text(
        load_default="", max_length=200, metadata={"description": "To tell several apart."}
    )


class InstallationUpdateSchema(StrictSchema):
    """What to change: fields left out stay as they are; settings left out too."""

    department_ids = fields.List(Id())
    profile_ids = fields.List(Id())
    settings = fields.Dict(metadata={"description": "Only the settings to change."})


class UninstallArgsSchema(StrictSchema):
    """The confirmation and the data choice of an uninstall (query string or JSON body)."""

    confirmed = fields.Boolean(
        load_default=None, allow_none=True, metadata={"description": "Must be true."}
    )
    keep_data = fields.Boolean(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Required. true: archive with the data (restorable); false: purge "
            "the data (tables dropped with the extension's last installation; irreversible)."
        },
    )


# ------------------------------------------------------------------------------ extensions


@extensions.route("", methods=["GET"])
@_managing(change=False)
@extensions.arguments(ExtensionListArgsSchema, location="query", as_kwargs=True)
@extensions.response(200, ExtensionListSchema)
def list_extensions(q: str, category: str | None, installed: bool | None) -> dict[str, Any]:
    """Search the marketplace (every term must match), by name."""
    catalog = Catalog(_host())
    items = catalog.search(db_session(), q, category=category, installed=installed)
    return {"items": items, "next_cursor": None, "registry_errors": catalog.errors}


@extensions.route("/<plugin_id>", methods=["GET"])
@_managing(change=False)
@extensions.response(200, ExtensionSchema)
def get_extension(plugin_id: str) -> CatalogEntry:
    """One extension of the marketplace, with its live installations."""
    found = [e for e in Catalog(_host()).search(db_session()) if e.plugin_id == plugin_id]
    if not found:
        raise NotFound("extension not found")
    return found[0]


# ------------------------------------------------------------------------------ installations


@installations.route("", methods=["GET"])
@_managing(change=False)
@installations.arguments(InstallationListArgsSchema, location="query", as_kwargs=True)
@installations.response(200, InstallationListSchema)
def list_installations(plugin_id: str | None, state: str | None) -> dict[str, Any]:
    """Every installation (archived ones included), by id."""
    session = db_session()
    query = select(Installation).order_by(Installation.id)
    if plugin_id is not None:
        query = query.where(Installation.plugin_id == plugin_id)
    if state is not None:
        query = query.where(Installation.state == state)
    items = [installation_view(_host(), session, i) for i in session.scalars(query)]
    return {"items": items, "next_cursor": None}


@installations.route("", methods=["POST"])
@_managing(change=True)
@installations.arguments(InstallationCreateSchema)
@installations.response(201, InstallationSchema)
def create_installation(data: dict[str, Any]) -> dict[str, Any]:
    """Install an extension; it awaits authorization (open `authorize_url` to consent).

    422 names the field refused (`terms_accepted`, `department_ids`, `settings.<name>`,
    `hostapi`, `sha256`…); 409 when a single-install extension is installed already.
    """
    work = unit()
    installation = lifecycle.install(work, data.pop("plugin_id"), **data)
    commit()
    return installation_view(_host(), work.session, installation)


@installations.route("/<id:installation_id>", methods=["GET"])
@_managing(change=False)
@installations.response(200, InstallationSchema)
def get_installation(installation_id: int) -> dict[str, Any]:
    """One installation."""
    session = db_session()
    return installation_view(_host(), session, _installation(session, installation_id))


@installations.route("/<id:installation_id>", methods=["PATCH"])
@_managing(change=True)
@installations.arguments(InstallationUpdateSchema)
@installations.response(200, InstallationSchema)
def update_installation(changes: dict[str, Any], installation_id: int) -> dict[str, Any]:
    """Change departments, profiles or settings (409 for an archived installation)."""
    work = unit()
    installation = _installation(work.session, installation_id)
    if "department_ids" in changes or "profile_ids" in changes:
        lifecycle.update_scope(
            work,
            installation,
            department_ids=changes.get("department_ids"),
            profile_ids=changes.get("profile_ids"),
        )
    if "settings" in changes:
        lifecycle.update_settings(work, installation, changes["settings"])
    commit()
    return installation_view(_host(), work.session, installation)


@installations.route("/<id:installation_id>/upgrade", methods=["POST"])
@_managing(change=True)
@installations.response(200, InstallationSchema)
def upgrade_installation(installation_id: int) -> dict[str, Any]:
    """Upgrade an installation to the deployed version of its extension.

    Nothing happens when it runs that version already. Scopes the new version requests appear
    in `pending_scopes` until an admin consents; the granted ones keep working.
    """
    work = unit()
    installation = _installation(work.session, installation_id)
    lifecycle.upgrade(work, installation)
    commit()
    return installation_view(_host(), work.session, installation)


@installations.route("/<id:installation_id>/restore", methods=["POST"])
@_managing(change=True)
@installations.response(200, InstallationSchema)
def restore_installation(installation_id: int) -> dict[str, Any]:
    """Restore an archived installation with its data and settings.

    It then awaits authorization. 409 when it is not archived, or when a single-install
    extension has been installed again meanwhile.
    """
    work = unit()
    installation = _installation(work.session, installation_id)
    lifecycle.restore(work, installation)
    commit()
    return installation_view(_host(), work.session, installation)


@installations.route("/<id:installation_id>", methods=["DELETE"])
@_managing(change=True)
@installations.arguments(UninstallArgsSchema, location="query", arg_name="query")
@installations.arguments(UninstallArgsSchema, location="json", required=False, arg_name="body")
@installations.response(200, InstallationSchema)
@installations.alt_response(204, description="Purged: the installation no longer exists.")
def uninstall_installation(
    installation_id: int, query: dict[str, Any], body: dict[str, Any]
) -> Any:
    """Uninstall an installation (needs `confirmed=true` and a `keep_data` choice).

    `keep_data=true` archives it with its data (200; restorable); `keep_data=false` purges its
    data (204; irreversible). Either way its tokens are revoked and its jobs removed. Give the
    two fields in the query string or a JSON body.
    """
    given = {**query, **{k: v for k, v in body.items() if v is not None}}
    if given.get("keep_data") is None:
        raise ValidationFailed(
            {"keep_data": ["Say whether to keep the data (true) or purge it (false)."]}
        )
    work = unit()
    installation = _installation(work.session, installation_id)
    kept = lifecycle.uninstall(
        work,
        installation,
        confirmed=given.get("confirmed") is True,
        keep_data=given["keep_data"],
    )
    commit()
    if kept is None:
        return Response(status=204)
    return installation_view(_host(), work.session, kept)


# ------------------------------------------------------------------------------ helpers


def installation_view(host: Host, session: Session, installation: Installation) -> dict[str, Any]:
    """What the API answers about an installation (secrets only masked)."""
    info = host.plugins.loaded.get(installation.plugin_id)
    live = installation.state != InstallationState.ARCHIVED
    secret_settings: dict[str, str | None] = {}
    if info is not None:
        names = [s.name for s in info.manifest.settings if s.type == "secret"]
        if names:
            context = host.plugins.context_for(session, installation)
            secret_settings = {
                name: context.secret_hint(setting_values.secret_key(name)) for name in names
            }
    return {
        "id": installation.id,
        "plugin_id": installation.plugin_id,
        "plugin_version": installation.plugin_version,
        "label": installation.label,
        "state": installation.state,
        "department_ids": sorted(installation.department_ids),
        "profile_ids": sorted(installation.profile_ids),
        "granted_scopes": sorted(installation.granted_scopes or ()),
        "pending_scopes": lifecycle.pending_scopes(host, installation)
        if live and info is not None
        else [],
        "settings": dict(installation.settings or {}),
        "secret_settings": secret_settings,
        "upgrade_available": live and lifecycle.needs_upgrade(host, installation),
        "authorize_url": authorize_url(installation.id) if live else None,
        "installed_by_id": installation.installed_by_id,
        "terms_accepted_at": installation.terms_accepted_at,
        "authorized_by_id": installation.authorized_by_id,
        "authorized_at": installation.authorized_at,
        "archived_at": installation.archived_at,
        "created_at": installation.created_at,
        "updated_at": installation.updated_at,
    }


def _installation(session: Session, installation_id: int) -> Installation:
    installation = session.get(Installation, installation_id)
    if installation is None:
        raise NotFound("installation not found")
    return installation


def _host() -> Host:
    return current_app.extensions["deskhost.host"]
