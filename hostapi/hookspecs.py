"""Hook specifications: the whole set of ``deskhost_*`` hooks an extension may implement.

Hooks are called with keyword arguments only, so an implementation may accept any subset of
the documented arguments. Contribution hooks are called once per loaded extension and return
plain data; the host combines them and applies each installation's scope. Lifecycle and event
hooks are called once per installation, with a :class:`hostapi.Context` bound to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hostapi._markers import hookspec

if TYPE_CHECKING:
    from hostapi.context import Context
    from hostapi.types import ApiRoute, Event, JobSpec, Page, Panel, PermissionSpec, Webhook


# ---------------------------------------------------------------------------- lifecycle


@hookspec
def deskhost_install(context: Context) -> None:
    """Called once when an admin installs the extension, before authorization.

    Runs inside the install transaction: raising aborts the install and leaves nothing behind
    (the extension's migrations included).

    :param context: bound to the new installation (no scopes granted yet).
    :returns: nothing; the return value is ignored.

    .. versionadded:: 1.0
    """


@hookspec
def deskhost_authorized(context: Context, scopes: list[str]) -> None:
    """Called when the admin has consented and the installation becomes active.

    :param context: bound to the installation, with the granted scopes.
    :param scopes: the scopes granted, sorted.
    :returns: nothing; the return value is ignored.

    .. versionadded:: 1.0
    """


@hookspec
def deskhost_scope_changed(
    context: Context,
    added_department_ids: list[int],
    removed_department_ids: list[int],
) -> None:
    """Called after an admin edits an installation's departments or profiles.

    An extension with derived data backfills the added departments here (in a job).

    :param context: bound to the installation, with its new scope.
    :param added_department_ids: departments newly covered.
    :param removed_department_ids: departments no longer covered.
    :returns: nothing; the return value is ignored.

    .. versionadded:: 1.0
    """


@hookspec
def deskhost_upgrade(context: Context, from_version: str) -> None:
    """Called once per installation after the extension's package was upgraded.

    :param context: bound to the installation.
    :param from_version: the manifest version the installation ran before.
    :returns: nothing; the return value is ignored.

    .. versionadded:: 1.0
    """


@hookspec
def deskhost_uninstall(context: Context, purge: bool) -> None:
    """Called when an admin uninstalls; the host then revokes tokens and removes jobs.

    :param context: bound to the installation being removed.
    :param purge: ``True`` when the installation's data is deleted, ``False`` when archived.
    :returns: nothing; the return value is ignored. Raising is logged; uninstall goes on.

    .. versionadded:: 1.0
    """


# ---------------------------------------------------------------------------- contributions


@hookspec
def deskhost_panels() -> list[Panel] | None:
    """Panels and tabs the extension contributes (ticket side panel, contact/account tabs).

    :returns: a list of :class:`hostapi.Panel`; ``None`` means none. Each panel is shown only
        to agents the installation covers, and ticket panels only on its departments' tickets.

    .. versionadded:: 1.0
    """


@hookspec
def deskhost_pages() -> list[Page] | None:
    """Pages (Flask blueprints) the extension adds under ``/ext/<plugin id>/<installation id>/``.

    :returns: a list of :class:`hostapi.Page`; ``None`` means none.

    .. versionadded:: 1.0
    .. versionchanged:: 1.2
       The URL names the installation; the old one without it redirects.
    """


@hookspec
def deskhost_api_routes() -> list[ApiRoute] | None:
    """REST endpoints the extension adds under ``/api/v1/ext/<plugin id>/<installation id>/``.

    Called when the app is built. Each route is authenticated like the host's own API and
    answers 404 to callers the installation does not cover.

    :returns: a list of :class:`hostapi.ApiRoute`; ``None`` means none.

    .. versionadded:: 1.2
    """


@hookspec
def deskhost_webhooks() -> list[Webhook] | None:
    """Incoming webhooks, mounted at ``/hooks/<plugin id>/<installation id>/<name>``.

    :returns: a list of :class:`hostapi.Webhook`; ``None`` means none.

    .. versionadded:: 1.0
    """


@hookspec
def deskhost_jobs() -> list[JobSpec] | None:
    """Background jobs the extension can enqueue, and the periodic ones with their cron.

    :returns: a list of :class:`hostapi.JobSpec`; ``None`` means none.

    .. versionadded:: 1.0
    """


@hookspec
def deskhost_permissions() -> list[PermissionSpec] | None:
    """Custom permissions added to the catalogue; names must start with ``<plugin id>.``.

    :returns: a list of :class:`hostapi.PermissionSpec`; ``None`` means none.

    .. versionadded:: 1.0
    """


@hookspec
def deskhost_migrations() -> str | None:
    """The folder of the extension's own Alembic stream (its tables, prefixed with its id).

    The host applies it at install, never at import, with its own version table.

    :returns: a filesystem path; ``None`` means the extension has no tables.

    .. versionadded:: 1.0
    """


@hookspec
def deskhost_channels() -> list[str] | None:
    """Extra ticket channel names the extension introduces (lowercase identifiers).

    :returns: a list of channel names; ``None`` means none.

    .. versionadded:: 1.0
    """


# ---------------------------------------------------------------------------- domain events


@hookspec
def deskhost_event_sync(context: Context, event: Event) -> None:
    """Called inside the transaction of the change, under a savepoint, for derived data that
    must be exact at once (aggregates).

    Raising rolls back only this call's savepoint; the error is recorded against the
    installation, the change and other extensions go on, and the event is redelivered to
    :func:`deskhost_event` so the extension can repair what it derives.

    For ``ticket.created``, ``ticket.updated``, ``ticket.status_changed``, ``thread.added``
    and ``rating.added`` the change holds the ticket's row (1.2): another change to the same
    ticket waits until this one commits, so what the hook reads of the ticket is complete.

    :param context: bound to one installation covering the event.
    :param event: the domain event (see ``hostapi.events`` for names and payloads).
    :returns: nothing; the return value is ignored.

    .. versionadded:: 1.0
    """


@hookspec
def deskhost_event(context: Context, event: Event, redelivered_after_error: bool) -> None:
    """Called from a job worker after the change committed, at least once per installation.

    Handlers must be idempotent on ``event.id``.

    :param context: bound to one installation covering the event.
    :param event: the domain event.
    :param redelivered_after_error: ``True`` when this installation's synchronous hook raised
        for this event, so derived data for the records concerned must be repaired.
    :returns: nothing; the return value is ignored.

    .. versionadded:: 1.0
    """
