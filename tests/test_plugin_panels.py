"""Panels: shown only where an installation covers the agent and the ticket; failures contained."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Contact, Department, PermissionProfile, Ticket
from core.services import tickets
from core.services.base import Actor, Unit
from core.web.extensions import RenderedPanel, panels_for
from hostapi import Context, Location, Panel, PanelTarget, hookimpl
from tests.factories import install_for
from tests.plugin_fixtures import manifest


def _fine(context: Context, target: PanelTarget) -> str:
    return f"<p>ticket {target.id} seen by installation {context.installation_id}</p>"


def _broken(context: Context, target: PanelTarget) -> str:
    raise RuntimeError("panel exploded")


class Panels:
    """A plugin with a working and a broken ticket panel."""

    @hookimpl
    def deskhost_panels(self) -> list[Panel]:
        return [
            Panel(key="fine", location=Location.TICKET_RIGHT_PANEL, title="Fine", render=_fine),
            Panel(
                key="broken",
                location=Location.TICKET_RIGHT_PANEL,
                title="Broken",
                render=_broken,
                order=200,
            ),
        ]


@pytest.fixture
def panels_plugin(host: Host) -> Iterator[None]:
    """The ``panels`` test plugin registered on the host."""
    host.plugins.register_plugin(Panels(), manifest("panels"))
    yield
    host.plugins.unregister_plugin("panels")


def _activate(host: Host, department: Department, profile_name: str = "Agent") -> int:
    with host.transaction() as session:
        profile = session.scalars(
            select(PermissionProfile).where(PermissionProfile.name == profile_name)
        ).one()
        return install_for(
            session,
            host,
            "panels",
            [department.id],
            profile_ids=[profile.id],
            scopes=["desk.tickets.read"],
        ).id


def _ticket(host: Host, department: Department, contact_id: int | None = None) -> int:
    with host.transaction() as session:
        return tickets.create_ticket(
            Unit(session, Actor.system("test"), None),
            subject="Where is my order?",
            department_id=department.id,
            channel="email",
            contact_id=contact_id,
        ).id


def _panels(
    app: Flask, host: Host, location: str, target: PanelTarget, agent_id: int
) -> list[RenderedPanel]:
    with app.test_request_context(), host.sessions() as session:
        agent = session.get(Agent, agent_id)
        return panels_for(session, host, location, target, agent)


@pytest.mark.usefixtures("panels_plugin")
def test_agent_of_a_covered_department_and_profile_sees_the_panel(
    app: Flask,
    host: Host,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
) -> None:
    support = make_department("Support")
    installation_id = _activate(host, support)
    agent = make_agent(departments=[support])
    target = PanelTarget("ticket", _ticket(host, support))

    shown = _panels(app, host, Location.TICKET_RIGHT_PANEL, target, agent.id)

    assert [(p.key, p.installation_id) for p in shown] == [
        ("fine", installation_id),
        ("broken", installation_id),
    ]


@pytest.mark.usefixtures("panels_plugin")
def test_raising_panel_shows_an_error_box_and_the_others_render(
    app: Flask,
    host: Host,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
) -> None:
    support = make_department("Support")
    _activate(host, support)
    agent = make_agent(departments=[support])
    target = PanelTarget("ticket", _ticket(host, support))

    shown = {
        p.key: p.html for p in _panels(app, host, Location.TICKET_RIGHT_PANEL, target, agent.id)
    }

    assert f"ticket {target.id}" in shown["fine"]
    assert 'class="panel-error"' in shown["broken"]
    assert "exploded" not in shown["broken"]


@pytest.mark.usefixtures("panels_plugin")
def test_agent_outside_the_installation_departments_sees_no_panel(
    app: Flask,
    host: Host,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
) -> None:
    support, sales = make_department("Support"), make_department("Sales")
    _activate(host, support)
    agent = make_agent(departments=[sales])
    target = PanelTarget("ticket", _ticket(host, sales))

    assert _panels(app, host, Location.TICKET_RIGHT_PANEL, target, agent.id) == []


@pytest.mark.usefixtures("panels_plugin")
def test_agent_of_another_profile_sees_no_panel(
    app: Flask,
    host: Host,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
) -> None:
    support = make_department("Support")
    _activate(host, support, profile_name="Agent")
    admin = make_agent("admin@example.com", profile="Administrator", departments=[support])
    target = PanelTarget("ticket", _ticket(host, support))

    assert _panels(app, host, Location.TICKET_RIGHT_PANEL, target, admin.id) == []


@pytest.mark.usefixtures("panels_plugin")
def test_ticket_panel_appears_only_on_tickets_of_the_installation_departments(
    app: Flask,
    host: Host,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
) -> None:
    support, sales = make_department("Support"), make_department("Sales")
    _activate(host, support)
    agent = make_agent(departments=[support, sales])
    target = PanelTarget("ticket", _ticket(host, sales))

    assert _panels(app, host, Location.TICKET_RIGHT_PANEL, target, agent.id) == []


def test_builtin_tickets_tab_lists_the_contact_tickets_the_agent_may_see(
    app: Flask,
    host: Host,
    db: Session,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
    make_contact: Callable[..., Contact],
) -> None:
    support, sales = make_department("Support"), make_department("Sales")
    contact = make_contact()
    visible = _ticket(host, support, contact.id)
    hidden = _ticket(host, sales, contact.id)
    agent = make_agent(departments=[support])

    tabs = _panels(app, host, Location.CONTACT_SUBTAB, PanelTarget("contact", contact.id), agent.id)

    (tab,) = [tab for tab in tabs if tab.plugin_id == "core_customer_tickets"]
    assert tab.title == "Tickets"
    assert f'href="/tickets/{visible}"' in tab.html
    assert f'href="/tickets/{hidden}"' not in tab.html
    assert db.get(Ticket, hidden) is not None


class CountedTabs:
    """A plugin with two contact tabs that count, recording which tabs rendered."""

    def __init__(self) -> None:
        self.rendered: list[str] = []

    def _render(self, key: str) -> Callable[[Context, PanelTarget], str]:
        def render(context: Context, target: PanelTarget) -> str:
            self.rendered.append(key)
            return f"<p>{key} of contact {target.id}</p>"

        return render

    @hookimpl
    def deskhost_panels(self) -> list[Panel]:
        return [
            Panel(
                key=key,
                location=Location.CONTACT_SUBTAB,
                title=key.title(),
                render=self._render(key),
                order=order,
                count=count,
            )
            for key, order, count in (
                ("notes", 1, lambda context, target: 3),
                ("calls", 2, lambda context, target: None),
            )
        ]


def test_tabs_render_only_the_selected_one_and_every_count(
    app: Flask,
    host: Host,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
    make_contact: Callable[..., Contact],
) -> None:
    support = make_department("Support")
    plugin = CountedTabs()
    host.plugins.register_plugin(plugin, manifest("counted"))
    try:
        with host.transaction() as session:
            profile = session.scalars(
                select(PermissionProfile).where(PermissionProfile.name == "Agent")
            ).one()
            installation_id = install_for(
                session,
                host,
                "counted",
                [support.id],
                profile_ids=[profile.id],
                scopes=["desk.contacts.read"],
            ).id
        agent = make_agent(departments=[support])
        target = PanelTarget("contact", make_contact().id)

        with app.test_request_context(), host.sessions() as session:
            shown = panels_for(
                session,
                host,
                Location.CONTACT_SUBTAB,
                target,
                session.get(Agent, agent.id),
                as_tabs=True,
                selected=f"counted.calls.{installation_id}",
            )
    finally:
        host.plugins.unregister_plugin("counted")

    mine = {tab.key: tab for tab in shown if tab.plugin_id == "counted"}
    assert plugin.rendered == ["calls"]
    assert (mine["notes"].count, mine["notes"].html) == (3, "")
    assert mine["calls"].count is None
    assert f"calls of contact {target.id}" in mine["calls"].html
