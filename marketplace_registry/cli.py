"""``deskhost ext``: the marketplace from a terminal, for scripted admins, and the checks and
logs of an extension for its author.

Commands act as the system (audited as ``cli``) or, with ``--as EMAIL``, as that agent, who
must hold ``marketplace.manage``; ``authorize`` always needs ``--as``, since consent is a
person's. Bad input ends with a message on stderr and exit code 2, and nothing is written.
``check`` needs no host: it reads an extension where it is, without installing it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import hostapi
from core.errors import DeskError, ValidationFailed
from core.host import Host
from core.models import Agent, Department, Installation, PermissionProfile
from core.models.extensions import InstallationState
from core.permissions import MARKETPLACE_MANAGE
from core.plugins.check import check_plugin
from core.plugins.manager import LoadedPlugin
from core.services.base import Actor, Unit
from marketplace_registry import lifecycle, oauth
from marketplace_registry.catalog import Catalog, CatalogEntry
from marketplace_registry.failures import InstallationFailures, indented, recent_failures

ext = AppGroup("ext", help="Find, install, authorize, upgrade and uninstall extensions.")

#: Command-line options named in messages instead of the service's field names.
OPTIONS = {
    "department_ids": "--department",
    "profile_ids": "--profile",
    "terms_accepted": "--accept-terms",
    "label": "--label",
    "settings": "--setting",
    "name": "--name",
    "redirect_uris": "--redirect-uri",
}

_AS_HELP = "Act as this agent (needs marketplace.manage); default: the system."


def _fail(message: str) -> NoReturn:
    """Print ``message`` and exit with the bad-input code."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _refused(error: DeskError) -> NoReturn:
    """Exit 2 with a service's refusal, naming the command-line options concerned."""
    if isinstance(error, ValidationFailed):
        for field, messages in error.errors.items():
            option = OPTIONS.get(field)
            if option is None and field.startswith("settings."):
                option = f"--setting {field.removeprefix('settings.')}"
            click.echo(f"Error: {option or field}: {' '.join(messages)}", err=True)
        sys.exit(2)
    _fail(str(error))


def _host() -> Host:
    return current_app.extensions["deskhost.host"]


@contextmanager
def _unit(as_email: str | None) -> Iterator[Unit]:
    """A unit of work committed at the end; a refusal rolls it back and exits 2."""
    host = _host()
    try:
        with host.transaction() as session:
            yield Unit(session, _actor(session, as_email), host)
    except DeskError as error:
        _refused(error)


def _actor(session: Session, email: str | None) -> Actor:
    if email is None:
        return Actor.system("cli")
    agent = session.scalar(select(Agent).where(func.lower(Agent.email) == email.strip().lower()))
    if agent is None or not agent.is_active:
        _fail(f"--as: no active agent with the email {email!r}")
    if not agent.has_permission(MARKETPLACE_MANAGE):
        _fail(f"--as: {email} lacks the permission {MARKETPLACE_MANAGE!r}")
    return Actor(agent)


def _installation(session: Session, installation_id: int) -> Installation:
    installation = session.get(Installation, installation_id)
    if installation is None:
        _fail(f"no installation {installation_id}")
    return installation


def _record_ids(
    session: Session,
    model: type[Department | PermissionProfile],
    values: Iterable[str],
    option: str,
) -> list[int]:
    """Ids of the records given by id or by name (case-insensitive); unknown ones refused."""
    ids, unknown = [], []
    for value in values:
        value = value.strip()
        row = (
            session.get(model, int(value))
            if value.isdigit()
            else session.scalar(select(model).where(func.lower(model.name) == value.lower()))
        )
        if row is None:
            unknown.append(value)
        else:
            ids.append(row.id)
    if unknown:
        _fail(f"{option}: unknown: {', '.join(unknown)}")
    return ids


def _settings(pairs: Iterable[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            _fail(f"--setting: give NAME=VALUE, not {pair!r}")
        settings[name.strip()] = value
    return settings


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# ------------------------------------------------------------------------------ reading


@ext.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(as_json: bool) -> None:
    """List installations: id, extension, version, state, departments, pending consent."""
    host = _host()
    with host.sessions() as session:
        rows = [
            _installation_summary(host, installation)
            for installation in session.scalars(select(Installation).order_by(Installation.id))
        ]
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("No installations.")
    for row in rows:
        notes = []
        if row["pending_scopes"]:
            notes.append(f"awaiting consent: {' '.join(row['pending_scopes'])}")
        if row["upgrade_available"]:
            notes.append("upgrade available")
        click.echo(
            f"{row['id']:>4}  {row['plugin_id']:<20} {row['plugin_version']:<10} "
            f"{row['state']:<23} {', '.join(row['departments']) or '-'}"
            + (f"  [{row['label']}]" if row["label"] else "")
            + "".join(f"  ({note})" for note in notes)
        )


def _installation_summary(host: Host, installation: Installation) -> dict[str, Any]:
    live = installation.state != InstallationState.ARCHIVED
    loaded = installation.plugin_id in host.plugins.loaded
    return {
        "id": installation.id,
        "plugin_id": installation.plugin_id,
        "plugin_version": installation.plugin_version,
        "label": installation.label,
        "state": installation.state,
        "departments": sorted(d.name for d in installation.departments),
        "profiles": sorted(p.name for p in installation.profiles),
        "granted_scopes": sorted(installation.granted_scopes or ()),
        "pending_scopes": lifecycle.pending_scopes(host, installation) if live and loaded else [],
        "upgrade_available": live and lifecycle.needs_upgrade(host, installation),
    }


@ext.command("search")
@click.argument("words", nargs=-1)
@click.option("--category", help="A category id: analytics, channels, chat, productivity…")
@click.option(
    "--installed/--not-installed", default=None, help="Only extensions installed, or not."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def search_command(
    words: tuple[str, ...], category: str | None, installed: bool | None, as_json: bool
) -> None:
    """Search the marketplace for WORDS (in English or Japanese; all must match)."""
    host = _host()
    catalog = Catalog(host)
    with host.sessions() as session:
        entries = catalog.search(session, " ".join(words), category=category, installed=installed)
    for message in catalog.errors:
        click.echo(f"Warning: {message}", err=True)
    if as_json:
        _echo_json([_entry_summary(entry) for entry in entries])
        return
    if not entries:
        click.echo("No extension matches.")
    for entry in entries:
        notes = [note for note in _entry_notes(entry) if note]
        click.echo(
            f"{entry.plugin_id:<20} {entry.version:<10} {entry.category:<13} {entry.name}"
            + "".join(f"  [{note}]" for note in notes)
        )


def _entry_notes(entry: CatalogEntry) -> list[str]:
    return [
        "installed" if entry.installed else "",
        "update available" if entry.update_available else "",
        "" if entry.compatible else f"incompatible: needs host API {entry.hostapi}",
        "" if entry.available or not entry.compatible else "not deployed on this host",
    ]


def _entry_summary(entry: CatalogEntry) -> dict[str, Any]:
    return {
        "id": entry.plugin_id,
        "name": entry.name,
        "publisher": entry.publisher,
        "version": entry.version,
        "category": entry.category,
        "description": {"en": entry.description.en, "ja": entry.description.ja},
        "scopes": list(entry.scopes),
        "compatible": entry.compatible,
        "available": entry.available,
        "installed": entry.installed,
        "update_available": entry.update_available,
        "installations": [i.id for i in entry.installations],
    }


@ext.command("show")
@click.argument("plugin_id")
def show_command(plugin_id: str) -> None:
    """Show one extension: what it asks for, where it appears, and its terms; deployed here,
    also its settings, jobs, permissions, webhooks, pages, menu entries and the problems its
    checks found."""
    try:
        listing = Catalog(_host()).get(plugin_id)
    except KeyError:
        _fail(f"no extension {plugin_id!r} in the marketplace")
    click.echo(f"{listing.name} {listing.version} ({listing.plugin_id}) by {listing.publisher}")
    click.echo(listing.description.en)
    click.echo(f"Category: {listing.category}")
    click.echo(f"Host API: {listing.hostapi} (this host: {hostapi.HOSTAPI_VERSION})")
    click.echo("Scopes: " + (", ".join(listing.scopes) or "none"))
    click.echo("Panels: " + (", ".join(listing.panel_locations) or "none"))
    click.echo(f"Installed once only: {'yes' if listing.single_install else 'no'}")
    loaded = _host().plugins.loaded.get(plugin_id)
    if loaded is None:
        click.echo("Not deployed on this host: its settings, jobs and pages are not known here.")
    else:
        for line in _deployed_lines(loaded):
            click.echo(line)
    click.echo(f"Terms:\n{listing.terms.en}")


def _deployed_lines(loaded: LoadedPlugin) -> Iterator[str]:
    """What a deployed extension declares and contributes, and what its checks found."""
    plugins, manifest = _host().plugins, loaded.manifest
    yield "Settings:" + ("" if manifest.settings else " none")
    for setting in manifest.settings:
        notes = [setting.type]
        if setting.default is not None:
            notes.append(f"default {setting.default!r}")
        if setting.required:
            notes.append("required")
        yield f"  {setting.name} ({', '.join(notes)})"
    jobs = plugins.jobs().get(loaded.plugin_id, [])
    yield "Jobs:" + ("" if jobs else " none")
    for job in jobs:
        yield f"  {job.name} ({f'cron {job.cron}' if job.cron else 'when enqueued'})"
    yield "Permissions: " + (", ".join(plugins.permission_names(loaded.plugin_id)) or "none")
    webhooks = plugins.webhooks(loaded.plugin_id)
    yield "Webhooks:" + ("" if webhooks else " none")
    for webhook in webhooks:
        path = f"/hooks/{loaded.plugin_id}/<installation id>/{webhook.name}{webhook.path}"
        yield f"  {webhook.name}: {' '.join(webhook.methods)} {path}"
    pages = plugins.pages(loaded.plugin_id)
    yield "Pages:" + ("" if pages else " none")
    for page in pages:
        prefix = f"/ext/{loaded.plugin_id}/<installation id>{page.blueprint.url_prefix or ''}/"
        notes = [f"permission {page.permission}"] if page.permission else []
        if page.settings_path is not None:
            notes.append(f"settings page {page.settings_path or '(root)'}")
        title = f"{page.title} " if page.title else ""
        yield f"  {title}{prefix}" + "".join(f" ({note})" for note in notes)
    menu = [page for page in pages if page.menu]
    yield "Menu entries:" + ("" if menu else " none")
    for page in menu:
        yield f"  {page.title or manifest.name} -> {page.menu_path or '(root)'}"
    yield "Problems (deskhost ext check):" + ("" if loaded.problems else " none")
    for problem in loaded.problems:
        yield f"  {problem.message} [{problem.code}]"


# ------------------------------------------------------------------------------ changing


@ext.command("install")
@click.argument("plugin_id")
@click.option(
    "--department", "departments", multiple=True, metavar="NAME_OR_ID", help="Repeatable."
)
@click.option("--profile", "profiles", multiple=True, metavar="NAME_OR_ID", help="Repeatable.")
@click.option(
    "--accept-terms", is_flag=True, help="Accept the terms (`deskhost ext show` prints them)."
)
@click.option("--setting", "settings", multiple=True, metavar="NAME=VALUE", help="Repeatable.")
@click.option("--label", default="", help="To tell several installations apart.")
@click.option("--as", "as_email", metavar="EMAIL", help=_AS_HELP)
def install_command(
    plugin_id: str,
    departments: tuple[str, ...],
    profiles: tuple[str, ...],
    accept_terms: bool,
    settings: tuple[str, ...],
    label: str,
    as_email: str | None,
) -> None:
    """Install PLUGIN_ID for departments and permission profiles; it then awaits consent."""
    values = _settings(settings)
    with _unit(as_email) as unit:
        installation = lifecycle.install(
            unit,
            plugin_id,
            department_ids=_record_ids(unit.session, Department, departments, "--department"),
            profile_ids=_record_ids(unit.session, PermissionProfile, profiles, "--profile"),
            terms_accepted=accept_terms,
            settings=values,
            label=label,
        )
        installation_id = installation.id
    click.echo(
        f"Installed {plugin_id} as installation {installation_id}; it awaits authorization: "
        f"deskhost ext authorize {installation_id} --as EMAIL, or open "
        f"/admin/marketplace/installations/{installation_id}/authorize"
    )


@ext.command("authorize")
@click.argument("installation_id", type=int)
@click.option("--as", "as_email", metavar="EMAIL", required=True, help="The consenting admin.")
@click.option(
    "--scope", "scopes", multiple=True, help="Grant only these (repeatable); default: all asked."
)
def authorize_command(installation_id: int, as_email: str, scopes: tuple[str, ...]) -> None:
    """Consent, as the admin --as, to the scopes an installation asks for; it becomes active."""
    host = _host()
    with _unit(as_email) as unit:
        installation = _installation(unit.session, installation_id)
        if installation.plugin_id not in host.plugins.loaded:
            _fail(f"{installation.plugin_id} is not deployed on this host")
        requested = host.plugins.manifest(installation.plugin_id).scopes
        unasked = sorted(set(scopes) - set(requested))
        if unasked:
            _fail(f"--scope: {installation.plugin_id} does not ask for {', '.join(unasked)}")
        granted = lifecycle.grant(unit, installation, scopes or requested)
    click.echo(f"Installation {installation_id} is active with: {' '.join(granted) or 'no scope'}")


@ext.command("register-client")
@click.argument("installation_id", type=int)
@click.option("--name", required=True, help="What the client is, e.g. the extension's service.")
@click.option(
    "--redirect-uri", "redirect_uris", multiple=True, required=True, help="Repeatable; exact."
)
@click.option("--as", "as_email", metavar="EMAIL", help=_AS_HELP)
def register_client_command(
    installation_id: int, name: str, redirect_uris: tuple[str, ...], as_email: str | None
) -> None:
    """Register a confidential OAuth client for an out-of-process extension; prints its
    client id and secret (shown once, stored only hashed)."""
    with _unit(as_email) as unit:
        client, secret = oauth.register_client(
            unit,
            _installation(unit.session, installation_id),
            name=name,
            redirect_uris=redirect_uris,
        )
    click.echo(f"client_id={client.client_id}")
    click.echo(f"client_secret={secret}")
    click.echo("Keep the secret now: it cannot be shown again.")


@ext.command("uninstall")
@click.argument("installation_id", type=int)
@click.option("--yes", is_flag=True, help="Confirm the uninstall.")
@click.option("--keep-data", is_flag=True, help="Archive it with its data (restorable).")
@click.option("--purge", is_flag=True, help="Delete its data (irreversible).")
@click.option("--as", "as_email", metavar="EMAIL", help=_AS_HELP)
def uninstall_command(
    installation_id: int, yes: bool, keep_data: bool, purge: bool, as_email: str | None
) -> None:
    """Uninstall an installation: --yes, and either --keep-data or --purge."""
    if keep_data == purge:
        _fail("choose either --keep-data or --purge")
    if not yes:
        _fail("uninstalling needs confirmation: add --yes")
    with _unit(as_email) as unit:
        lifecycle.uninstall(
            unit, _installation(unit.session, installation_id), confirmed=True, keep_data=keep_data
        )
    outcome = "archived with its data" if keep_data else "purged"
    click.echo(f"Installation {installation_id} is uninstalled and {outcome}.")


@ext.command("upgrade")
@click.argument("installation_id", type=int, required=False)
@click.option("--all", "every", is_flag=True, help="Every installation with a newer version.")
@click.option("--as", "as_email", metavar="EMAIL", help=_AS_HELP)
def upgrade_command(installation_id: int | None, every: bool, as_email: str | None) -> None:
    """Bring an installation (or --all) to the deployed version of its extension."""
    if (installation_id is None) == (not every):
        _fail("give either an INSTALLATION_ID or --all")
    with _unit(as_email) as unit:
        if every:
            upgraded = lifecycle.upgrade_all(unit)
        else:
            installation = _installation(unit.session, installation_id)
            if installation.state == InstallationState.ARCHIVED:
                _fail(f"installation {installation_id} is archived; restore it first")
            upgraded = [installation] if lifecycle.upgrade(unit, installation) else []
        report = [_upgrade_line(unit.host, i) for i in upgraded]
    for line in report or ["Nothing to upgrade."]:
        click.echo(line)


def _upgrade_line(host: Host | None, installation: Installation) -> str:
    pending = lifecycle.pending_scopes(host, installation) if host else []
    line = (
        f"Upgraded installation {installation.id} of {installation.plugin_id} "
        f"to {installation.plugin_version}."
    )
    return line + (f" Awaiting consent: {' '.join(pending)}." if pending else "")


@ext.command("restore")
@click.argument("installation_id", type=int)
@click.option("--as", "as_email", metavar="EMAIL", help=_AS_HELP)
def restore_command(installation_id: int, as_email: str | None) -> None:
    """Restore an archived installation with its data; it then awaits consent again."""
    with _unit(as_email) as unit:
        lifecycle.restore(unit, _installation(unit.session, installation_id))
    click.echo(f"Installation {installation_id} is restored and awaits authorization.")
    click.echo(
        "Its OAuth clients stay revoked: register a new one (deskhost ext register-client) "
        "for each service of the extension that calls the REST API."
    )


# ------------------------------------------------------------------------------ developing


@ext.command("check", with_appcontext=False)
@click.argument("target", required=False, metavar="[PATH]")
def check_command(target: str | None) -> None:
    """Check an extension without installing it: its manifest, and the manifest against its
    hooks, its code and its migrations. PATH: a distribution's or package's folder (default:
    this one) or an installed extension's id. Exit code 2 when a problem is found."""
    try:
        problems = check_plugin(target or ".")
    except LookupError as error:
        _fail(str(error))
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem{'s' if len(problems) > 1 else ''} found.")
        sys.exit(2)
    click.echo(f"ok: {target or '.'} has no problem deskhost ext check can see.")


@ext.command("logs")
@click.argument("plugin_id")
@click.option("--installation", "installation_id", type=int, help="Only this installation.")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=20,
    show_default=True,
    help="Errors and failed jobs shown per installation, newest first.",
)
@click.option("--verbose", is_flag=True, help="Print each error whole (the traceback).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (errors whole).")
def logs_command(
    plugin_id: str, installation_id: int | None, limit: int, verbose: bool, as_json: bool
) -> None:
    """Recent hook errors and failed jobs of an extension, per installation, newest first."""
    host = _host()
    with host.sessions() as session:
        if installation_id is not None:
            installation = _installation(session, installation_id)
            if installation.plugin_id != plugin_id:
                _fail(f"--installation: installation {installation_id} is not of {plugin_id}")
        found = recent_failures(session, plugin_id, installation_id=installation_id, limit=limit)
    if not found and plugin_id not in host.plugins.loaded:
        _fail(f"no extension {plugin_id!r} on this host, and no installation of it")
    if as_json:
        _echo_json([_failures_data(failures) for failures in found])
        return
    if not found:
        click.echo(f"No installation of {plugin_id}.")
    for failures in found:
        for line in _failures_lines(failures, verbose):
            click.echo(line)


def _failures_data(failures: InstallationFailures) -> dict[str, Any]:
    return {
        "installation_id": failures.installation_id,
        "state": failures.state,
        "label": failures.label,
        "hook_errors": [
            {"at": e.at.isoformat(), "hook": e.hook, "event_id": e.event_id, "error": e.error}
            for e in failures.hook_errors
        ],
        "failed_jobs": [
            {
                "job_id": j.job_id,
                "job": j.job,
                "queued_at": j.queued_at.isoformat(),
                "attempts": j.attempts,
                "given_up_at": j.given_up_at.isoformat() if j.given_up_at else None,
                "error": j.error,
            }
            for j in failures.failed_jobs
        ],
    }


def _failures_lines(failures: InstallationFailures, verbose: bool) -> Iterator[str]:
    if failures.installation_id is None:
        yield "Without an installation:"
    else:
        label = f", {failures.label!r}" if failures.label else ""
        yield f"Installation {failures.installation_id} ({failures.state}{label}):"
    if not failures.hook_errors and not failures.failed_jobs:
        yield "  no hook errors, no failed jobs"
        return
    yield "  Hook errors:" + ("" if failures.hook_errors else " none")
    for error in failures.hook_errors:
        event = f"  event {error.event_id}" if error.event_id else ""
        yield f"    {_time(error.at)}  {error.hook}{event}  {error.summary}"
        if verbose:
            yield from indented(error.error, 6)
    yield "  Failed jobs:" + ("" if failures.failed_jobs else " none")
    for job in failures.failed_jobs:
        outcome = f"given up {_time(job.given_up_at)}" if job.given_up_at else "to be retried"
        yield (
            f"    {_time(job.queued_at)}  {job.job}  job {job.job_id}  "
            f"{outcome} after {job.attempts} attempt{'s' if job.attempts != 1 else ''}  "
            f"{job.summary}"
        )
        if verbose:
            yield from indented(job.error, 6)


def _time(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="seconds")


