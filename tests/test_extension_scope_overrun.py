"""An extension that uses more than its installation was granted, at run time: the call raises
:class:`hostapi.ScopeError`, the overrun is recorded against the installation (a HookError,
``scope_denied``), and nothing else suffers — the change that ran the hook is kept, and the
other installations' hooks, deliveries and panels go on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Department, HookError, Ticket
from core.plugins.context import SCOPE_DENIED
from core.services import tickets
from core.services.base import Actor, Unit
from core.web.extensions import panels_for
from hostapi import Context, Event, Location, Panel, PanelTarget, ScopeError, hookimpl, scopes
from hostapi.testing import InstalledExtension
from tests.plugin_fixtures import manifest

GRANTED = [scopes.TICKETS_READ]


@pytest.fixture
def deskhost_host(host: Host) -> Host:
    """Run hostapi.testing's fixtures on this run's host (both backends)."""
    return host


def _overrun(context: Context) -> None:
    """What a greedy extension does: write a contact with only ticket reading granted."""
    context.create_contact(email="greedy@example.com", first_name="G", last_name="Reedy")


class Greedy:
    """Exceeds its grant from its synchronous and asynchronous event hooks and its panel."""

    @hookimpl
    def deskhost_event_sync(self, context: Context, event: Event) -> None:
        _overrun(context)

    @hookimpl
    def deskhost_event(self, context: Context, event: Event, redelivered_after_error: bool) -> None:
        _overrun(context)

    @hookimpl
    def deskhost_panels(self) -> list[Panel]:
        def render(context: Context, target: PanelTarget) -> str:
            _overrun(context)
            return "<p>never</p>"

        return [Panel(key="greedy", location=Location.TICKET_RIGHT_PANEL, title="G", render=render)]


class Quiet:
    """Exceeds its grant but catches the ScopeError and carries on."""

    @hookimpl
    def deskhost_event_sync(self, context: Context, event: Event) -> None:
        try:
            _overrun(context)
        except ScopeError:
            context.storage_set("fell_back", True)


class Polite:
    """Stays within its grant: records every event it sees and shows a panel."""

    @hookimpl
    def deskhost_event_sync(self, context: Context, event: Event) -> None:
        context.storage_set("sync_seen", [*context.storage_get("sync_seen", []), event.name])

    @hookimpl
    def deskhost_event(self, context: Context, event: Event, redelivered_after_error: bool) -> None:
        context.storage_set("async_seen", [*context.storage_get("async_seen", []), event.name])

    @hookimpl
    def deskhost_panels(self) -> list[Panel]:
        return [
            Panel(
                key="polite",
                location=Location.TICKET_RIGHT_PANEL,
                title="P",
                render=lambda context, target: f"<p>polite on {target.id}</p>",
            )
        ]


@pytest.fixture
def reader(deskhost_session: Session) -> Session:
    """A session for checking what was recorded (closed before the tables are emptied)."""
    return deskhost_session


@pytest.fixture
def install(
    deskhost_installation: Callable[..., InstalledExtension],
) -> Callable[[Any, str], InstalledExtension]:
    """``install(plugin, plugin_id)``: installed on Support, granted ticket reading only."""

    def make(plugin: Any, plugin_id: str) -> InstalledExtension:
        return deskhost_installation(
            plugin, manifest=manifest(plugin_id, scopes=GRANTED), departments=["Support"]
        )

    return make


@pytest.fixture
def greedy_and_polite(
    install: Callable[[Any, str], InstalledExtension],
) -> Iterator[tuple[InstalledExtension, InstalledExtension]]:
    """The greedy extension installed before the polite one."""
    yield install(Greedy(), "greedy"), install(Polite(), "polite")


def _create_ticket(host: Host) -> int:
    with host.transaction() as session:
        department = session.scalars(select(Department).where(Department.name == "Support")).one()
        unit = Unit(session, Actor.system("test"), host)
        return tickets.create_ticket(
            unit, subject="Printer on fire", department_id=department.id, channel="email"
        ).id


def _denials(session: Session, installation: InstalledExtension) -> list[HookError]:
    session.rollback()
    return list(
        session.scalars(
            select(HookError).where(
                HookError.installation_id == installation.id, HookError.hook == SCOPE_DENIED
            )
        )
    )


def test_a_call_beyond_the_grant_raises_scope_error_naming_the_scope(
    install: Callable[[Any, str], InstalledExtension],
) -> None:
    context = install(Polite(), "polite").context()
    with pytest.raises(ScopeError, match=scopes.CONTACTS_WRITE):
        _overrun(context)


def test_a_call_beyond_the_grant_is_recorded_against_the_installation(
    install: Callable[[Any, str], InstalledExtension], reader: Session
) -> None:
    installation = install(Polite(), "polite")
    context = installation.context()
    with pytest.raises(ScopeError):
        _overrun(context)
    with pytest.raises(ScopeError):
        _overrun(context)  # the same overrun again: one record
    context.db.rollback()
    (denial,) = _denials(reader, installation)
    assert denial.plugin_id == "polite"
    assert scopes.CONTACTS_WRITE in denial.error and "ScopeError" in denial.error


def test_sync_hook_beyond_its_grant_keeps_the_change_and_the_other_installations(
    host: Host,
    reader: Session,
    greedy_and_polite: tuple[InstalledExtension, InstalledExtension],
) -> None:
    greedy, polite = greedy_and_polite
    ticket_id = _create_ticket(host)
    reader.rollback()
    assert reader.get(Ticket, ticket_id) is not None
    assert polite.stored()["sync_seen"] == ["ticket.created"]
    assert len(_denials(reader, greedy)) == 1
    raised = reader.scalars(
        select(HookError).where(
            HookError.installation_id == greedy.id, HookError.hook == "deskhost_event_sync"
        )
    ).one()
    assert "ScopeError" in raised.error
    assert _denials(reader, polite) == []


def test_an_overrun_the_extension_catches_is_recorded_all_the_same(
    host: Host, reader: Session, install: Callable[[Any, str], InstalledExtension]
) -> None:
    quiet = install(Quiet(), "quiet")
    _create_ticket(host)
    assert quiet.stored()["fell_back"] is True
    assert len(_denials(reader, quiet)) == 1


def test_async_delivery_beyond_the_grant_is_recorded_and_the_others_are_delivered(
    host: Host,
    reader: Session,
    greedy_and_polite: tuple[InstalledExtension, InstalledExtension],
    deskhost_run_jobs: Callable[[], int],
) -> None:
    greedy, polite = greedy_and_polite
    _create_ticket(host)
    deskhost_run_jobs()
    assert polite.stored()["async_seen"] == ["ticket.created"]
    reader.rollback()
    hooks = set(
        reader.scalars(select(HookError.hook).where(HookError.installation_id == greedy.id))
    )
    assert {"deskhost_event", SCOPE_DENIED} <= hooks


def test_panel_beyond_its_grant_shows_an_error_box_beside_the_others_and_is_recorded(
    host: Host,
    reader: Session,
    greedy_and_polite: tuple[InstalledExtension, InstalledExtension],
    make_agent: Callable[..., Agent],
    db: Session,
    app: Any,
) -> None:
    greedy, _polite = greedy_and_polite
    ticket_id = _create_ticket(host)
    support = db.scalars(select(Department).where(Department.name == "Support")).one()
    agent_id = make_agent("viewer@example.com", departments=[support]).id
    with app.test_request_context(), host.sessions() as session:
        viewer = session.get(Agent, agent_id)
        shown = {
            p.plugin_id: str(p.html)
            for p in panels_for(
                session,
                host,
                Location.TICKET_RIGHT_PANEL,
                PanelTarget("ticket", ticket_id),
                viewer,
            )
        }
    assert "panel-error" in shown["greedy"]
    assert f"polite on {ticket_id}" in shown["polite"]
    assert len(_denials(reader, greedy)) >= 1
