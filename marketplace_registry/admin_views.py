"""The administrators' marketplace pages: find and install extensions, manage installations.

Every page needs the ``marketplace.manage`` permission (403 otherwise; admins hold every
permission). Changes go through :mod:`marketplace_registry.lifecycle` as the signed-in admin from
the request's IP, one commit per request; a refused change re-renders its form with the
messages (422, or 409 for a conflict) and stores nothing. Consent itself is the OAuth views'
(``/admin/marketplace/installations/<id>/authorize``), which come back to the installation page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, gettext, lazy_gettext
from packaging.version import InvalidVersion, Version
from sqlalchemy import select
from sqlalchemy.orm import Session

import hostapi
from core.errors import DeskError, Forbidden, NotFound, ValidationFailed
from core.host import Host
from core.models import Agent, AuditEntry, Department, Installation, PermissionProfile
from core.models.extensions import InstallationState
from core.permissions import MARKETPLACE_MANAGE
from core.plugins import requirements
from core.plugins.manifest import LocalizedText, Manifest
from core.services.base import Unit
from core.web.database import db_session
from core.web.extensions import covers
from core.web.security import current_agent
from core.web.ui.units import request_unit
from hostapi import Location, scopes
from marketplace_registry import lifecycle
from marketplace_registry import settings as setting_values
from marketplace_registry.catalog import CATEGORIES, Catalog, Listing, category_label
from marketplace_registry.digest import DistributionRefused

log = logging.getLogger(__name__)

blueprint = Blueprint("marketplace_admin", __name__, url_prefix="/admin/marketplace")

#: The ``installed`` filter of the marketplace page.
INSTALLED_FILTERS: dict[str, bool] = {"yes": True, "no": False}

STATE_LABELS = {
    InstallationState.AWAITING_AUTHORIZATION.value: lazy_gettext("Awaiting authorization"),
    InstallationState.ACTIVE.value: lazy_gettext("Active"),
    InstallationState.ARCHIVED.value: lazy_gettext("Archived"),
    InstallationState.FAILED.value: lazy_gettext("Failed"),
}

LOCATION_LABELS = {
    Location.TICKET_RIGHT_PANEL: lazy_gettext("Beside tickets"),
    Location.CONTACT_SUBTAB: lazy_gettext("A tab of contact pages"),
    Location.ACCOUNT_SUBTAB: lazy_gettext("A tab of account pages"),
    Location.TOP_BAR: lazy_gettext("The top bar"),
    Location.BACKGROUND: lazy_gettext("In the background (nothing shown)"),
}

#: The audit log's ``sub_action`` of an installation, in words.
AUDIT_ACTIONS = {
    "install": lazy_gettext("Installed"),
    "authorize": lazy_gettext("Authorized"),
    "deny": lazy_gettext("Consent denied"),
    "revoke": lazy_gettext("Authorization revoked"),
    "scope": lazy_gettext("Departments and profiles changed"),
    "settings": lazy_gettext("Settings changed"),
    "upgrade": lazy_gettext("Upgraded"),
    "uninstall:keep": lazy_gettext("Uninstalled, data kept"),
    "uninstall:purge": lazy_gettext("Uninstalled, data purged"),
    "restore": lazy_gettext("Restored"),
}

#: What the audit entries of an installation record (``lifecycle.snapshot`` and others).
AUDIT_FIELDS = {
    "plugin_id": lazy_gettext("Extension"),
    "plugin_version": lazy_gettext("Version"),
    "label": lazy_gettext("Label"),
    "state": lazy_gettext("State"),
    "department_ids": lazy_gettext("Departments"),
    "profile_ids": lazy_gettext("Permission profiles"),
    "granted_scopes": lazy_gettext("Granted scopes"),
    "pending_scopes": lazy_gettext("Scopes awaiting consent"),
    "secrets_changed": lazy_gettext("Secret settings changed"),
}

# The lifecycle's fixed messages, so that a Japanese page does not show them in English; a
# message not listed here (one naming ids or versions) is shown as the service wrote it.
_SERVICE_MESSAGES = {
    "Accept the extension's terms to install it.": lazy_gettext(
        "Accept the extension's terms to install it."
    ),
    "Choose at least one department.": lazy_gettext("Choose at least one department."),
    "Choose at least one profile.": lazy_gettext("Choose at least one permission profile."),
    "Confirm that you want to uninstall.": lazy_gettext("Confirm that you want to uninstall."),
    "This setting is required.": lazy_gettext("This setting is required."),
    "Must be a whole number.": lazy_gettext("Must be a whole number."),
    "Must be true or false.": lazy_gettext("Must be true or false."),
    "Must be text.": lazy_gettext("Must be text."),
    "At most 200 characters.": lazy_gettext("At most 200 characters."),
    "At most 4000 characters.": lazy_gettext("At most 4000 characters."),
}


def init_app(app: Flask) -> None:
    """Register the marketplace's admin pages."""
    app.register_blueprint(blueprint)


@blueprint.before_request
def _require_marketplace_manager() -> ResponseReturnValue | None:
    """Every page: signed in (else to the login page) and allowed to manage the marketplace."""
    agent = current_agent()
    if agent is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not agent.has_permission(MARKETPLACE_MANAGE):
        raise Forbidden(MARKETPLACE_MANAGE)
    return None


@blueprint.context_processor
def _helpers() -> dict[str, Any]:
    locale = _locale()
    return {
        "in_locale": lambda text: text.get(locale) if isinstance(text, LocalizedText) else text,
        "scope_label": lambda scope: _scope_label(scope, locale),
        "state_label": lambda state: STATE_LABELS.get(str(state), state),
        "location_label": lambda location: LOCATION_LABELS.get(location, location),
        "category_label": lambda category: category_label(category, locale),
        "authorize_url": authorize_url,
        "notices": get_flashed_messages(with_categories=True),
    }


def authorize_url(installation_id: int) -> str:
    """Where the admin starts consent for an installation (the OAuth views' page)."""
    return url_for("marketplace_admin.installation", installation_id=installation_id) + "/authorize"


# ------------------------------------------------------------------------------ marketplace


@blueprint.get("")
def index() -> ResponseReturnValue:
    """The marketplace: every extension, by keyword, category and installed or not."""
    catalog = Catalog(_host())
    filters = {
        "q": request.args.get("q", "").strip(),
        "category": request.args.get("category", ""),
        "installed": request.args.get("installed", ""),
    }
    entries = catalog.search(
        db_session(),
        filters["q"],
        category=filters["category"] or None,
        installed=INSTALLED_FILTERS.get(filters["installed"]),
    )
    known = dict.fromkeys([*CATEGORIES, *sorted({item.category for item in catalog.listings()})])
    return render_template(
        "marketplace/index.html",
        entries=entries,
        filters=filters,
        categories=list(known),
        registry_errors=catalog.errors,
        hostapi_version=hostapi.HOSTAPI_VERSION,
    )


@blueprint.get("/<plugin_id>")
def detail(plugin_id: str) -> ResponseReturnValue:
    """One extension: what it does and asks for, its terms, its installations here."""
    catalog = Catalog(_host())
    listing = _listing(catalog, plugin_id)
    session = db_session()
    return render_template(
        "marketplace/detail.html",
        listing=listing,
        installations=_installations_of(session, plugin_id),
        refusal=_install_refusal(catalog, listing, session),
        hostapi_version=hostapi.HOSTAPI_VERSION,
    )


@blueprint.route("/<plugin_id>/install", methods=["GET", "POST"])
def install(plugin_id: str) -> ResponseReturnValue:
    """The install form: departments, profiles, settings and the terms to accept."""
    host = _host()
    catalog = Catalog(host)
    listing = _listing(catalog, plugin_id)
    session = db_session()
    refusal = _install_refusal(catalog, listing, session)
    if refusal is not None:
        status = 409 if request.method == "POST" else 200
        return render_template("marketplace/install.html", listing=listing, refusal=refusal), status
    manifest = host.plugins.manifest(plugin_id)
    if request.method == "GET":
        return _render_install(listing, manifest, form=None)
    form = request.form
    installation, refused = _commit_or_refuse(
        lambda unit: lifecycle.install(
            unit,
            plugin_id,
            department_ids=form.getlist("department_ids"),
            profile_ids=form.getlist("profile_ids"),
            terms_accepted=form.get("terms_accepted") == "on",
            settings=_settings_from_form(manifest, form),
            label=form.get("label", ""),
        )
    )
    if refused is not None:
        return _render_install(listing, manifest, form=form, refused=refused)
    flash(gettext("%(name)s is installed. Authorize it to start it.", name=manifest.name))
    return redirect(url_for(".installation", installation_id=installation.id))


def _render_install(
    listing: Listing,
    manifest: Manifest,
    *,
    form: Mapping[str, Any] | None,
    refused: Refusal | None = None,
) -> ResponseReturnValue:
    session = db_session()
    chosen = _chosen_ids(form) if form is not None else {"department_ids": [], "profile_ids": []}
    page = render_template(
        "marketplace/install.html",
        listing=listing,
        manifest=manifest,
        departments=_departments(session),
        profiles=_profiles(session),
        chosen=chosen,
        settings=_setting_fields(manifest, dict(manifest.setting_defaults()), form, hints={}),
        label=form.get("label", "") if form is not None else "",
        terms_accepted=form is not None and form.get("terms_accepted") == "on",
        requirement_lines=requirements.requirement_lines(
            manifest, requirements.desk_locale(session)
        ),
        errors=refused.errors if refused else {},
    )
    return page, refused.status if refused else 200


# ------------------------------------------------------------------------------ installations


@dataclass(frozen=True)
class InstallationRow:
    """An installation as the lists show it."""

    installation: Installation
    name: str
    pending_scopes: list[str]
    update_available: bool
    can_upgrade: bool


@blueprint.get("/installations")
def installations() -> ResponseReturnValue:
    """Installed extensions, and the archived ones that can be restored."""
    host = _host()
    catalog = Catalog(host)
    session = db_session()
    rows = [
        _row(host, catalog, installation)
        for installation in session.scalars(
            select(Installation).order_by(Installation.plugin_id, Installation.id)
        )
    ]
    archived = InstallationState.ARCHIVED.value
    return render_template(
        "marketplace/installations.html",
        live=[row for row in rows if row.installation.state != archived],
        archived=[row for row in rows if row.installation.state == archived],
    )


@blueprint.get("/installations/<id:installation_id>")
def installation(installation_id: int) -> ResponseReturnValue:
    """One installation: its state, scopes, departments, profiles, settings and history."""
    return _render_installation(_installation(installation_id))


@blueprint.post("/installations/<id:installation_id>/scope")
def edit_scope(installation_id: int) -> ResponseReturnValue:
    """Change the departments and permission profiles an installation covers."""
    installation = _installation(installation_id)
    form = request.form
    _, refused = _commit_or_refuse(
        lambda unit: lifecycle.update_scope(
            unit,
            installation,
            department_ids=form.getlist("department_ids"),
            profile_ids=form.getlist("profile_ids"),
        )
    )
    if refused is not None:
        return _render_installation(
            _installation(installation_id), scope_form=form, scope_refused=refused
        )
    flash(gettext("Departments and profiles saved."))
    return redirect(url_for(".installation", installation_id=installation_id))


@blueprint.post("/installations/<id:installation_id>/settings")
def edit_settings(installation_id: int) -> ResponseReturnValue:
    """Change an installation's settings; a blank secret keeps the stored one."""
    installation = _installation(installation_id)
    manifest = _loaded_manifest(installation)
    form = request.form
    _, refused = _commit_or_refuse(
        lambda unit: lifecycle.update_settings(
            unit, installation, _settings_from_form(manifest, form)
        )
    )
    if refused is not None:
        return _render_installation(
            _installation(installation_id), settings_form=form, settings_refused=refused
        )
    flash(gettext("Settings saved."))
    return redirect(url_for(".installation", installation_id=installation_id))


@blueprint.post("/installations/<id:installation_id>/upgrade")
def upgrade(installation_id: int) -> ResponseReturnValue:
    """Bring an installation to the deployed version (new scopes then wait for consent)."""
    installation = _installation(installation_id)
    upgraded, refused = _commit_or_refuse(lambda unit: lifecycle.upgrade(unit, installation))
    if refused is not None:
        return _render_installation(_installation(installation_id), action_refused=refused)
    if upgraded:
        flash(gettext("Upgraded to version %(version)s.", version=installation.plugin_version))
    else:
        flash(gettext("This installation already runs the deployed version."))
    return redirect(url_for(".installation", installation_id=installation_id))


@blueprint.post("/installations/<id:installation_id>/restore")
def restore(installation_id: int) -> ResponseReturnValue:
    """Bring an archived installation back with its data; it then needs fresh consent."""
    installation = _installation(installation_id)
    _, refused = _commit_or_refuse(lambda unit: lifecycle.restore(unit, installation))
    if refused is not None:
        return _render_installation(_installation(installation_id), action_refused=refused)
    flash(gettext("Restored. Authorize it again to start it."))
    flash(
        gettext(
            "Its OAuth clients stay revoked: register a new client for each service of the "
            "extension that calls the REST API."
        )
    )
    return redirect(url_for(".installation", installation_id=installation_id))


#: The data choices of the uninstall page.
DATA_CHOICES = ("keep", "purge")


@blueprint.route("/installations/<id:installation_id>/uninstall", methods=["GET", "POST"])
def uninstall(installation_id: int) -> ResponseReturnValue:
    """Confirm an uninstall, keeping the extension's data (restorable) or purging it."""
    installation = _installation(installation_id)
    if request.method == "GET":
        return _render_uninstall(installation)
    form = request.form
    choice = form.get("data", "")
    if choice not in DATA_CHOICES:
        errors = {"data": [gettext("Choose whether to keep or purge the data.")]}
        return _render_uninstall(installation, form=form, refused=Refusal(errors, 422))
    name = _name(Catalog(_host()), installation.plugin_id)
    _, refused = _commit_or_refuse(
        lambda unit: lifecycle.uninstall(
            unit,
            installation,
            confirmed=form.get("confirmed") == "on",
            keep_data=choice == "keep",
        )
    )
    if refused is not None:
        return _render_uninstall(_installation(installation_id), form=form, refused=refused)
    if choice == "keep":
        flash(
            gettext("%(name)s is uninstalled; its data is kept and it can be restored.", name=name)
        )
    else:
        flash(gettext("%(name)s is uninstalled and its data purged.", name=name))
    return redirect(url_for(".installations"))


def _render_uninstall(
    installation: Installation,
    *,
    form: Mapping[str, Any] | None = None,
    refused: Refusal | None = None,
) -> ResponseReturnValue:
    archived = installation.state == InstallationState.ARCHIVED
    page = render_template(
        "marketplace/uninstall.html",
        installation=installation,
        name=_name(Catalog(_host()), installation.plugin_id),
        archived=archived,
        choice=(form or {}).get("data", "purge" if archived else "keep"),
        owned=requirements.owned_objects(db_session(), installation.id),
        errors=refused.errors if refused else {},
    )
    return page, refused.status if refused else 200


@dataclass(frozen=True)
class SettingsPage:
    """A link to an extension's own settings page (``Page.settings_path``)."""

    title: str
    #: ``None`` while the signed-in admin cannot open it (see :func:`_settings_pages`).
    url: str | None


def _settings_pages(host: Host, installation: Installation) -> list[SettingsPage]:
    """The extension's own settings pages for ``installation``, titled in the admin's language.

    An extension's pages exist for the agents an active installation covers: for another
    admin, or before consent, the page lists them without links and says why.
    """
    if installation.plugin_id not in host.plugins.loaded:
        return []
    agent = current_agent()
    reachable = (
        installation.state == InstallationState.ACTIVE
        and agent is not None
        and covers(installation, agent)
    )
    japanese = str(get_locale() or "").startswith("ja")
    prefix = f"/ext/{installation.plugin_id}/{installation.id}/"
    return [
        SettingsPage(
            title=(page.title_ja if japanese else None) or page.title or gettext("Settings"),
            url=prefix + page.settings_path.lstrip("/") if reachable else None,
        )
        for page in host.plugins.pages(installation.plugin_id)
        if page.settings_path is not None
    ]


def _render_installation(
    installation: Installation,
    *,
    scope_form: Mapping[str, Any] | None = None,
    scope_refused: Refusal | None = None,
    settings_form: Mapping[str, Any] | None = None,
    settings_refused: Refusal | None = None,
    action_refused: Refusal | None = None,
) -> ResponseReturnValue:
    host, session = _host(), db_session()
    catalog = Catalog(host)
    info = host.plugins.loaded.get(installation.plugin_id)
    manifest = info.manifest if info is not None else None
    archived = installation.state == InstallationState.ARCHIVED
    chosen = (
        _chosen_ids(scope_form)
        if scope_form is not None
        else {
            "department_ids": sorted(installation.department_ids),
            "profile_ids": sorted(installation.profile_ids),
        }
    )
    settings = (
        _setting_fields(
            manifest,
            dict(installation.settings or {}),
            settings_form,
            hints=_secret_hints(host, session, manifest, installation),
        )
        if manifest is not None
        else []
    )
    refused = scope_refused or settings_refused or action_refused
    page = render_template(
        "marketplace/installation.html",
        installation=installation,
        row=_row(host, catalog, installation),
        manifest=manifest,
        archived=archived,
        departments=_departments(session),
        profiles=_profiles(session),
        chosen=chosen,
        settings=settings,
        settings_pages=[] if archived else _settings_pages(host, installation),
        history=audit_history(session, installation, manifest),
        scope_errors=scope_refused.errors if scope_refused else {},
        settings_errors=settings_refused.errors if settings_refused else {},
        action_errors=action_refused.errors if action_refused else {},
    )
    return page, refused.status if refused else 200


def _row(host: Host, catalog: Catalog, installation: Installation) -> InstallationRow:
    live = installation.state != InstallationState.ARCHIVED
    loaded = installation.plugin_id in host.plugins.loaded
    try:
        listed_version = catalog.get(installation.plugin_id).version
    except KeyError:
        listed_version = None
    return InstallationRow(
        installation=installation,
        name=_name(catalog, installation.plugin_id),
        pending_scopes=lifecycle.pending_scopes(host, installation) if live and loaded else [],
        update_available=listed_version is not None
        and _older(installation.plugin_version, listed_version),
        can_upgrade=live and lifecycle.needs_upgrade(host, installation),
    )


# ------------------------------------------------------------------------------ audit history


@dataclass(frozen=True)
class Change:
    """One field an audited action changed, as text; ``None``: the entry has no such side
    (an install has nothing before it, a purge nothing after)."""

    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class AuditRow:
    """One audit entry of an installation, for its page."""

    at: datetime
    who: str
    ip_address: str
    action: str
    changes: list[Change]


def audit_history(
    session: Session, installation: Installation, manifest: Manifest | None
) -> list[AuditRow]:
    """What was done to an installation, newest first: who, when, from where, what changed."""
    entries = list(
        session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.entity_type == lifecycle.ENTITY,
                AuditEntry.entity_id == str(installation.id),
            )
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        )
    )
    agent_ids = {entry.actor_agent_id for entry in entries if entry.actor_agent_id is not None}
    agents = {
        agent.id: agent for agent in session.scalars(select(Agent).where(Agent.id.in_(agent_ids)))
    }
    names = {
        "department_ids": {d.id: d.name for d in _departments(session)},
        "profile_ids": {p.id: p.name for p in _profiles(session)},
    }
    setting_labels = {s.name: s.label.get(_locale()) for s in manifest.settings} if manifest else {}
    rows = []
    for entry in entries:
        agent = agents.get(entry.actor_agent_id) if entry.actor_agent_id else None
        who = (
            f"{agent.name} <{agent.email}>"
            if agent is not None
            else gettext("System (%(label)s)", label=entry.actor_label or "system")
        )
        rows.append(
            AuditRow(
                at=entry.at,
                who=who,
                ip_address=entry.ip_address or "—",
                action=str(AUDIT_ACTIONS.get(entry.sub_action, entry.sub_action or entry.action)),
                changes=_changes(entry.before, entry.after, names, setting_labels),
            )
        )
    return rows


def _changes(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    names: Mapping[str, Mapping[int, str]],
    setting_labels: Mapping[str, str],
) -> list[Change]:
    old, new = _flat(before or {}), _flat(after or {})
    changes = []
    for key in dict.fromkeys([*old, *new]):
        old_text, new_text = _shown(key, old.get(key), names), _shown(key, new.get(key), names)
        if old_text == new_text:
            continue
        if key.startswith("settings."):
            name = key.removeprefix("settings.")
            label = gettext("Setting: %(name)s", name=setting_labels.get(name, name))
        else:
            label = str(AUDIT_FIELDS.get(key, key))
        changes.append(
            Change(
                label,
                old_text if before is not None else None,
                new_text if after is not None else None,
            )
        )
    return changes


def _flat(record: Mapping[str, Any]) -> dict[str, Any]:
    """Settings one by one (``settings.page_size``), so an edit shows what it changed."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "settings" and isinstance(value, Mapping):
            flat.update({f"settings.{name}": setting for name, setting in value.items()})
        else:
            flat[key] = value
    return flat


def _shown(key: str, value: Any, names: Mapping[str, Mapping[int, str]]) -> str:
    if value is None or value == [] or value == "":
        return "—"
    if key in names and isinstance(value, list):
        return ", ".join(names[key].get(item, f"#{item}") for item in value)
    if key == "state":
        return str(STATE_LABELS.get(value, value))
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


# ------------------------------------------------------------------------------ forms


@dataclass(frozen=True)
class SettingField:
    """One setting of the manifest's schema, with the value the form shows."""

    name: str
    type: str
    label: str
    value: Any
    #: (value, label) of each choice of a ``choice`` setting.
    choices: tuple[tuple[str, str], ...]
    minimum: int | None
    maximum: int | None
    required: bool
    secret_hint: str | None

    @property
    def input_name(self) -> str:
        """The form field's name; errors come back under the same key."""
        return f"settings.{self.name}"


def _setting_fields(
    manifest: Manifest,
    values: Mapping[str, Any],
    form: Mapping[str, Any] | None,
    *,
    hints: Mapping[str, str | None],
) -> list[SettingField]:
    fields = []
    for setting in manifest.settings:
        value = values.get(setting.name)
        if form is not None and setting.type == "boolean":
            value = f"settings.{setting.name}" in form
        elif form is not None and setting.type != "secret":
            value = form.get(f"settings.{setting.name}", "")
        fields.append(
            SettingField(
                name=setting.name,
                type=setting.type,
                label=setting.label.get(_locale()),
                value=None if setting.type == "secret" else value,
                choices=tuple((c, setting.choice_label(c, _locale())) for c in setting.choices),
                minimum=setting.minimum,
                maximum=setting.maximum,
                required=setting.required,
                secret_hint=hints.get(setting.name),
            )
        )
    return fields


def _settings_from_form(manifest: Manifest, form: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a form sent: an unticked box is false, a blank secret is left as it is."""
    values: dict[str, Any] = {}
    for setting in manifest.settings:
        field = f"settings.{setting.name}"
        if setting.type == "boolean":
            values[setting.name] = field in form
        elif setting.type == "secret":
            if form.get(field, ""):
                values[setting.name] = form[field]
        else:
            values[setting.name] = form.get(field, "")
    return values


def _secret_hints(
    host: Host, session: Session, manifest: Manifest | None, installation: Installation
) -> dict[str, str | None]:
    secrets = [s.name for s in manifest.settings if s.type == "secret"] if manifest else []
    if not secrets:
        return {}
    context = host.plugins.context_for(session, installation)
    return {name: context.secret_hint(setting_values.secret_key(name)) for name in secrets}


def _chosen_ids(form: Any) -> dict[str, list[int]]:
    """The department and profile ids ticked in a posted form (anything else ignored)."""
    return {
        field: [int(value) for value in form.getlist(field) if value.isdigit()]
        for field in ("department_ids", "profile_ids")
    }


# ------------------------------------------------------------------------------ changes


@dataclass(frozen=True)
class Refusal:
    """Why a change was not made: messages by form field, and the HTTP status to answer."""

    errors: dict[str, list[str]]
    status: int


def _commit_or_refuse(change: Callable[[Unit], Any]) -> tuple[Any, Refusal | None]:
    """Run one lifecycle change as the signed-in admin and commit it; roll back a refusal."""
    unit = request_unit()
    try:
        result = change(unit)
    except ValidationFailed as refused:
        unit.session.rollback()
        return None, Refusal(_translated(refused.errors), refused.status_code)
    except DeskError as refused:  # a conflict with the installation's state
        unit.session.rollback()
        return None, Refusal({"_schema": [str(refused)]}, refused.status_code)
    except Exception as error:  # the extension's own migrations or hooks failed
        unit.session.rollback()
        log.exception("marketplace change failed in the extension's code")
        message = gettext("The extension failed, and nothing was changed: %(error)s", error=error)
        return None, Refusal({"_schema": [message]}, 500)
    unit.session.commit()
    return result, None


def _translated(errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {
        field: [str(_SERVICE_MESSAGES.get(message, message)) for message in messages]
        for field, messages in errors.items()
    }


# ------------------------------------------------------------------------------ lookups


def _host() -> Host:
    return current_app.extensions["deskhost.host"]


def _locale() -> str:
    return str(get_locale() or "en")


def _scope_label(scope: str, locale: str) -> str:
    words = scopes.ALL.get(scope)
    if words is None:
        return scope
    return words[1] if locale.startswith("ja") else words[0]


def _listing(catalog: Catalog, plugin_id: str) -> Listing:
    try:
        return catalog.get(plugin_id)
    except KeyError as missing:
        raise NotFound("extension not found") from missing


def _name(catalog: Catalog, plugin_id: str) -> str:
    try:
        return catalog.get(plugin_id).name
    except KeyError:
        return plugin_id


def _installation(installation_id: int) -> Installation:
    installation = db_session().get(Installation, installation_id)
    if installation is None:
        raise NotFound("installation not found")
    return installation


def _installations_of(session: Session, plugin_id: str) -> list[Installation]:
    return list(
        session.scalars(
            select(Installation)
            .where(Installation.plugin_id == plugin_id)
            .order_by(Installation.id)
        )
    )


def _loaded_manifest(installation: Installation) -> Manifest:
    info = _host().plugins.loaded.get(installation.plugin_id)
    if info is None:
        raise ValidationFailed(
            {"plugin_id": [gettext("This extension is no longer deployed on this host.")]}
        )
    return info.manifest


def _departments(session: Session) -> list[Department]:
    return list(session.scalars(select(Department).order_by(Department.name)))


def _profiles(session: Session) -> list[PermissionProfile]:
    return list(session.scalars(select(PermissionProfile).order_by(PermissionProfile.name)))


def _older(installed: str, listed: str) -> bool:
    try:
        return Version(installed) < Version(listed)
    except InvalidVersion:
        return False


def _install_refusal(catalog: Catalog, listing: Listing, session: Session) -> str | None:
    """Why the extension cannot be installed now, in words; ``None`` when it can."""
    if not listing.compatible:
        return gettext(
            "%(name)s %(version)s needs host API %(needed)s; this host provides %(provided)s.",
            name=listing.name,
            version=listing.version,
            needed=listing.hostapi,
            provided=hostapi.HOSTAPI_VERSION,
        )
    if not listing.available:
        return gettext(
            "%(name)s is not deployed on this host: the operator installs %(distribution)s "
            "%(version)s with pip first.",
            name=listing.name,
            distribution=listing.distribution or listing.plugin_id,
            version=listing.version,
        )
    if listing.single_install and lifecycle.live_installations(session, listing.plugin_id):
        return gettext(
            "%(name)s can be installed only once, and it is installed.", name=listing.name
        )
    try:
        catalog.verify_distribution(listing.plugin_id)
    except DistributionRefused as refused:
        return gettext("The deployed package cannot be verified: %(reason)s", reason=str(refused))
    return None
