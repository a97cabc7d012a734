"""Who an installation reaches: each bundled extension × agent in or out of its department ×
profile in or out × ticket scope granted or not.

An installation's ticket panels exist only for agents of its profiles and departments, on
tickets of its departments; what its context reads is the installation's departments ∩ the
agent's, capped by the granted scopes. Outside, nothing shows and nothing is found.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Department, PermissionProfile, Ticket
from core.web.extensions import panels_for
from hostapi import Location, PanelTarget, ScopeError
from hostapi import scopes as scope
from tests.factories import install_for

BUNDLED = ("customer_insights", "ticket_history", "salesiq", "im_dashboard")
#: The bundled extensions that put a panel beside tickets (the others have no ticket panel).
WITH_TICKET_PANEL = {"customer_insights", "ticket_history"}


@dataclass(frozen=True)
class Case:
    """One cell of the matrix."""

    plugin_id: str
    in_department: bool
    in_profile: bool
    tickets_granted: bool

    @property
    def reaches_agent(self) -> bool:
        return self.in_department and self.in_profile


CASES = [
    Case(plugin_id, *flags)
    for plugin_id in BUNDLED
    for flags in itertools.product((True, False), repeat=3)
]


@dataclass(frozen=True)
class World:
    """Two departments, an installation covering "Support" for the Agent profile."""

    installation_id: int
    agent: Agent
    support_ticket: Ticket
    sales_ticket: Ticket


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    host: Host,
    db: Session,
    department: Department,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., Ticket],
) -> World:
    case: Case = request.param
    support, sales = department, make_department("Sales")
    agent_profile = db.scalars(
        select(PermissionProfile).where(PermissionProfile.name == "Agent")
    ).one()
    manager_profile = db.scalars(
        select(PermissionProfile).where(PermissionProfile.name == "Support Manager")
    ).one()
    agent = make_agent(
        "agent@example.com",
        profile="Agent" if case.in_profile else "Support Manager",
        departments=[support if case.in_department else sales],
    )
    requested = host.plugins.manifest(case.plugin_id).scopes
    granted = [s for s in requested if case.tickets_granted or s != scope.TICKETS_READ]
    installation = install_for(
        db,
        host,
        case.plugin_id,
        [support.id],
        profile_ids=[agent_profile.id],
        scopes=granted,
    )
    db.commit()
    assert manager_profile.id not in installation.profile_ids
    return World(
        installation_id=installation.id,
        agent=agent,
        support_ticket=make_ticket(department=support),
        sales_ticket=make_ticket("Invoice question", department=sales),
    )


def _case_id(case: Case) -> str:
    return "-".join(
        (
            case.plugin_id,
            "in-dept" if case.in_department else "out-dept",
            "in-profile" if case.in_profile else "out-profile",
            "granted" if case.tickets_granted else "not-granted",
        )
    )


@pytest.mark.parametrize("world", CASES, ids=_case_id, indirect=True)
def test_ticket_panels_reach_only_agents_the_installation_covers(
    world: World, host: Host, db: Session, request: pytest.FixtureRequest
) -> None:
    case: Case = request.node.callspec.params["world"]
    declared = [
        p for p in host.plugins.panels(case.plugin_id) if p.location == Location.TICKET_RIGHT_PANEL
    ]
    assert bool(declared) == (case.plugin_id in WITH_TICKET_PANEL)
    for ticket in (world.support_ticket, world.sales_ticket):
        shown = [
            panel
            for panel in panels_for(
                db, host, Location.TICKET_RIGHT_PANEL, PanelTarget("ticket", ticket.id), world.agent
            )
            if panel.plugin_id == case.plugin_id
        ]
        covered = case.reaches_agent and ticket is world.support_ticket
        assert len(shown) == (len(declared) if covered else 0)


@pytest.mark.parametrize("world", CASES, ids=_case_id, indirect=True)
def test_context_reads_tickets_only_within_departments_and_granted_scopes(
    world: World, host: Host, db: Session, request: pytest.FixtureRequest
) -> None:
    from core.models import Installation

    case: Case = request.node.callspec.params["world"]
    installation = db.get(Installation, world.installation_id)
    context = host.plugins.context_for(db, installation, world.agent)
    if not case.tickets_granted:
        with pytest.raises(ScopeError):
            context.get_ticket(world.support_ticket.id)
        return
    found = context.get_ticket(world.support_ticket.id)
    assert (found is not None) == case.in_department
    assert context.get_ticket(world.sales_ticket.id) is None
    # Without an agent (jobs and event hooks) it covers the installation's departments.
    unattended = host.plugins.context_for(db, installation)
    assert unattended.get_ticket(world.support_ticket.id) is not None
    assert unattended.get_ticket(world.sales_ticket.id) is None
