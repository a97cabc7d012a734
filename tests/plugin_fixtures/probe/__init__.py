"""Records in its installation's storage what the host does to it: events, jobs, uninstall.

Has a table of its own (Alembic stream), settings with a secret, a custom permission, a job, a
periodic job and a ticket panel: one fixture takes an installation through its whole lifecycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from markupsafe import escape

from hostapi import Context, Event, JobSpec, Location, Panel, PanelTarget, hookimpl

#: Tests set this to make ``deskhost_uninstall`` raise.
FAIL_UNINSTALL = False


class UninstallFailed(RuntimeError):
    """The failure ``deskhost_uninstall`` raises when ``FAIL_UNINSTALL`` is set."""


def _append(context: Context, key: str, item: Any) -> None:
    context.storage_set(key, [*context.storage_get(key, []), item])


def _note(context: Context, payload: Mapping[str, Any]) -> None:
    """The ``note`` job: remember the payload with the installation's greeting and departments."""
    _append(
        context,
        "notes",
        {
            "payload": dict(payload),
            "greeting": context.settings["greeting"],
            "department_ids": sorted(context.department_ids),
        },
    )


def _tick(context: Context, payload: Mapping[str, Any]) -> None:
    """The periodic ``tick`` job: count its runs."""
    context.storage_set("ticks", int(context.storage_get("ticks", 0)) + 1)


def _render(context: Context, target: PanelTarget) -> str:
    return (
        f'<p class="probe-panel" data-installation="{context.installation_id}">'
        f"{escape(context.settings['greeting'])}, ticket {target.id}</p>"
    )


@hookimpl
def deskhost_migrations() -> str:
    """The folder of this plugin's Alembic stream."""
    return str(Path(__file__).with_name("migrations") / "versions")


@hookimpl
def deskhost_event_sync(context: Context, event: Event) -> None:
    """Remember each event's name and id under ``seen``."""
    _append(context, "seen", [event.name, event.id])


@hookimpl
def deskhost_jobs() -> list[JobSpec]:
    """The ``note`` job, and ``tick`` every minute."""
    return [
        JobSpec(name="note", run=_note, timeout_seconds=30, max_retries=0),
        JobSpec(name="tick", run=_tick, cron="* * * * *", timeout_seconds=30, max_retries=0),
    ]


@hookimpl
def deskhost_panels() -> list[Panel]:
    """A ticket panel naming the installation."""
    return [
        Panel(
            key="probe_panel", location=Location.TICKET_RIGHT_PANEL, title="Probe", render=_render
        )
    ]


@hookimpl
def deskhost_uninstall(context: Context, purge: bool) -> None:
    """Remember the uninstall, or fail when told to."""
    if FAIL_UNINSTALL:
        raise UninstallFailed("uninstall refused by the test")
    context.storage_set("uninstalled", {"purge": purge})
