"""``deskhost departments`` and ``deskhost profiles``: the setup an admin scripts.

Commands act as the system (audited as ``cli``) through the same services as the Setup pages,
so every change is checked, audited and emits its event. Departments and profiles are named
by name or id. Bad input ends with a message on stderr and exit code 2; nothing is written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import DeskError, Message, ValidationFailed
from core.host import Host
from core.models import Department, PermissionProfile
from core.services import org as org_service
from core.services.base import Actor, Unit

_Named = TypeVar("_Named", Department, PermissionProfile)


def _host() -> Host:
    return current_app.extensions["deskhost.host"]


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _run(work: Callable[[Unit], str]) -> None:
    """Run ``work`` in one transaction as the CLI; print its message, or fail with exit 2."""
    host = _host()
    try:
        with host.transaction() as session:
            message = work(Unit(session, Actor.system("cli"), host))
    except DeskError as error:
        _fail(_describe(error))
    else:
        click.echo(message)


def _describe(error: DeskError) -> str:
    if isinstance(error, ValidationFailed):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.errors.items())
    return str(error)


def _find(session: Session, model: type[_Named], reference: str, field: str) -> _Named:
    """The record called ``reference``, or whose id it is; a miss is an error on ``field``."""
    record = session.scalar(select(model).where(model.name == reference))
    if record is None and reference.isdigit():
        record = session.get(model, int(reference))
    if record is None:
        missing = (
            Message("No department %(reference)s.", reference=repr(reference))
            if model is Department
            else Message("No profile %(reference)s.", reference=repr(reference))
        )
        raise ValidationFailed({field: [missing]})
    return record


def register(main: click.Group) -> None:
    """Add the setup commands to the ``deskhost`` command."""
    main.add_command(departments)
    main.add_command(profiles)


# ------------------------------------------------------------------------------- departments


@click.group("departments")
def departments() -> None:
    """List, add and deactivate departments."""


@departments.command("list")
@click.option("--all", "include_inactive", is_flag=True, help="Deactivated ones too.")
@with_appcontext
def list_departments(include_inactive: bool) -> None:
    """Departments by name: id, name, state, open tickets, mailbox (tab-separated)."""

    def work(unit: Unit) -> str:
        rows = org_service.list_departments(unit, include_inactive=include_inactive)
        return "\n".join(
            "\t".join(
                (
                    str(d.id),
                    d.name,
                    "active" if d.is_active else "inactive",
                    str(org_service.open_ticket_count(unit.session, d.id)),
                    d.mailbox or "",
                )
            )
            for d in rows
        )

    _run(work)


@departments.command("add")
@click.argument("name")
@click.option("--description", default="", help="What the department handles.")
@click.option("--mailbox", default=None, help="The support address whose mail it takes.")
@with_appcontext
def add_department(name: str, description: str, mailbox: str | None) -> None:
    """Add a department called NAME."""

    def work(unit: Unit) -> str:
        department = org_service.create_department(
            unit, name=name, description=description, mailbox=mailbox
        )
        return f"Department {department.id} {department.name} added."

    _run(work)


@departments.command("deactivate")
@click.argument("department")
@click.option(
    "--move-to",
    "move_to",
    default=None,
    help="Department (name or id) its open tickets move to; needed while it has any.",
)
@with_appcontext
def deactivate_department(department: str, move_to: str | None) -> None:
    """Deactivate DEPARTMENT (name or id), moving its open tickets first."""

    def work(unit: Unit) -> str:
        record = _find(unit.session, Department, department, "department")
        target = None if move_to is None else _find(unit.session, Department, move_to, "move_to").id
        held = org_service.open_ticket_count(unit.session, record.id)
        org_service.deactivate_department(unit, record, move_to_department_id=target)
        moved = f", {held} open tickets moved" if target is not None and held else ""
        return f"Department {record.name} deactivated{moved}."

    _run(work)


# ---------------------------------------------------------------------------------- profiles


@click.group("profiles")
def profiles() -> None:
    """List and clone permission profiles."""


@profiles.command("list")
@with_appcontext
def list_profiles() -> None:
    """Profiles by name: id, name, built-in or custom, agents holding it (tab-separated)."""

    def work(unit: Unit) -> str:
        rows = org_service.list_profiles(unit)
        counts = org_service.profile_agent_counts(unit.session, [p.id for p in rows])
        return "\n".join(
            "\t".join(
                (str(p.id), p.name, "built-in" if p.is_builtin else "custom", str(counts[p.id]))
            )
            for p in rows
        )

    _run(work)


@profiles.command("clone")
@click.argument("source")
@click.argument("name")
@with_appcontext
def clone_profile(source: str, name: str) -> None:
    """Make a custom profile NAME granting what SOURCE (name or id) grants."""

    def work(unit: Unit) -> str:
        record = _find(unit.session, PermissionProfile, source, "profile")
        clone = org_service.clone_profile(unit, record, name=name)
        return f"Profile {clone.id} {clone.name} created from {record.name}."

    _run(work)
