"""Agents as services: adding without a password, one-time links, deactivation, availability,
profile changes and the list's pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import tokens
from core.errors import Forbidden, ValidationFailed
from core.models import (
    AccessToken,
    Agent,
    AgentLink,
    AuditEntry,
    Department,
    LinkPurpose,
    PermissionProfile,
)
from core.models.org import AgentStatus
from core.services import agent_links, org
from core.services.agent_links import LinkState
from core.services.base import Actor, Unit
from hostapi import clock
from tests.factories import TEST_PASSWORD

UnitFor = Callable[[Agent | None], Unit]


def _profile(db: Session, name: str) -> PermissionProfile:
    return db.scalars(select(PermissionProfile).where(PermissionProfile.name == name)).one()


def _new_agent(
    unit: Unit, db: Session, department: Department, email: str = "new@example.com"
) -> Agent:
    agent = org.create_agent(
        unit,
        email=email,
        name="New Agent",
        profile_id=_profile(db, "Agent").id,
        department_ids=[department.id],
        locale="ja",
    )
    db.commit()
    return agent


def _link_unit(db: Session) -> Unit:
    return Unit(db, Actor(None, "127.0.0.1", "set-password link"), None)


# ----------------------------------------------------------------------- adding an agent


def test_agent_added_without_password_cannot_sign_in(
    unit_for: UnitFor, admin_agent: Agent, department: Department, db: Session
) -> None:
    agent = _new_agent(unit_for(admin_agent), db, department)
    assert agent.password_hash == ""
    assert org.authenticate(db, agent.email, "") is None
    assert org.authenticate(db, agent.email, TEST_PASSWORD) is None


def test_adding_an_agent_gathers_every_bad_field(
    unit_for: UnitFor, admin_agent: Agent, db: Session
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        org.create_agent(
            unit_for(admin_agent),
            email="not an address",
            name=" ",
            profile_id=999,
            department_ids=[999],
            locale="fr",
        )
    assert set(refused.value.errors) == {"email", "name", "profile_id", "department_ids", "locale"}
    assert db.scalar(select(Agent).where(Agent.email == "not an address")) is None


def test_an_agent_without_agent_manage_cannot_add_agents(
    unit_for: UnitFor, make_agent: Callable[..., Agent], department: Department, db: Session
) -> None:
    plain = make_agent("plain@example.com", departments=[department])
    with pytest.raises(Forbidden):
        _new_agent(unit_for(plain), db, department)


def test_an_agent_manager_cannot_make_an_administrator(
    unit_for: UnitFor, make_agent: Callable[..., Agent], department: Department, db: Session
) -> None:
    managers = PermissionProfile(name="Agent managers", description="")
    managers.permissions = []
    db.add(managers)
    db.commit()
    org.update_profile(unit_for(None), managers, permissions=["agent.manage", "ticket.view"])
    db.commit()
    manager = make_agent("manager@example.com", profile="Agent managers", departments=[department])
    with pytest.raises(ValidationFailed) as refused:
        org.update_agent(unit_for(manager), manager, profile_id=_profile(db, "Administrator").id)
    assert "profile_id" in refused.value.errors
    admin = make_agent("admin2@example.com", profile="Administrator", departments=[department])
    with pytest.raises(ValidationFailed) as refused_link:
        agent_links.issue_link(unit_for(manager), admin, LinkPurpose.RESET)
    assert "agent" in refused_link.value.errors


# ------------------------------------------------------------------------- one-time links


def test_a_link_is_stored_only_hashed_and_sets_the_password_once(
    unit_for: UnitFor, admin_agent: Agent, department: Department, db: Session
) -> None:
    agent = _new_agent(unit_for(admin_agent), db, department)
    issued = agent_links.issue_link(unit_for(admin_agent), agent, LinkPurpose.INVITATION)
    db.commit()
    stored = db.scalars(select(AgentLink)).one()
    assert stored.token_hash == agent_links.hash_token(issued.token)
    assert issued.token not in stored.token_hash
    assert stored.expires_at - stored.created_at == timedelta(hours=72)

    agent_links.use_link(_link_unit(db), issued.token, "a brand new password")
    db.commit()
    assert org.authenticate(db, agent.email, "a brand new password") is not None
    assert agent_links.find_link(db, issued.token).state is LinkState.USED
    with pytest.raises(ValidationFailed) as again:
        agent_links.use_link(_link_unit(db), issued.token, "another new password")
    assert "token" in again.value.errors


def test_a_newer_link_replaces_the_older(
    unit_for: UnitFor, admin_agent: Agent, department: Department, db: Session
) -> None:
    agent = _new_agent(unit_for(admin_agent), db, department)
    first = agent_links.issue_link(unit_for(admin_agent), agent, LinkPurpose.INVITATION)
    second = agent_links.issue_link(unit_for(admin_agent), agent, LinkPurpose.INVITATION)
    db.commit()
    assert agent_links.find_link(db, first.token).state is LinkState.REPLACED
    assert agent_links.find_link(db, second.token).state is LinkState.VALID


def test_a_reset_link_expires_after_an_hour(
    unit_for: UnitFor, admin_agent: Agent, make_agent: Callable[..., Agent], db: Session
) -> None:
    agent = make_agent("known@example.com")
    issued = agent_links.issue_link(unit_for(admin_agent), agent, LinkPurpose.RESET)
    db.commit()
    clock.freeze(clock.now() + timedelta(minutes=61))
    try:
        assert agent_links.find_link(db, issued.token).state is LinkState.EXPIRED
        with pytest.raises(ValidationFailed):
            agent_links.use_link(_link_unit(db), issued.token, "a brand new password")
    finally:
        clock.unfreeze()


def test_unknown_and_malformed_tokens_name_no_link(db: Session) -> None:
    for token in ("", "dhl_nothing", "x" * 500, "dhl_" + "y" * 200):
        assert agent_links.find_link(db, token).state is LinkState.UNKNOWN


def test_setting_a_password_from_a_link_ends_the_agents_sessions(
    unit_for: UnitFor, admin_agent: Agent, make_agent: Callable[..., Agent], db: Session
) -> None:
    agent = make_agent("known@example.com")
    before = agent.session_generation
    issued = agent_links.issue_link(unit_for(admin_agent), agent, LinkPurpose.RESET)
    agent_links.use_link(_link_unit(db), issued.token, "a brand new password")
    db.commit()
    assert agent.session_generation == before + 1
    audit = db.scalars(
        select(AuditEntry).where(
            AuditEntry.entity_type == "agent", AuditEntry.sub_action == "password"
        )
    ).one()
    assert audit.actor_label == "set-password link" and audit.ip_address == "127.0.0.1"


def test_a_short_password_is_refused_and_the_link_stays_valid(
    unit_for: UnitFor, admin_agent: Agent, make_agent: Callable[..., Agent], db: Session
) -> None:
    agent = make_agent("known@example.com")
    issued = agent_links.issue_link(unit_for(admin_agent), agent, LinkPurpose.RESET)
    db.commit()
    with pytest.raises(ValidationFailed) as refused:
        agent_links.use_link(_link_unit(db), issued.token, "short")
    assert "password" in refused.value.errors
    db.rollback()
    assert agent_links.find_link(db, issued.token).state is LinkState.VALID


def test_no_link_for_an_inactive_agent(
    unit_for: UnitFor, admin_agent: Agent, make_agent: Callable[..., Agent], db: Session
) -> None:
    agent = make_agent("gone@example.com")
    org.update_agent(unit_for(admin_agent), agent, is_active=False)
    with pytest.raises(ValidationFailed):
        agent_links.issue_link(unit_for(admin_agent), agent, LinkPurpose.RESET)


# ---------------------------------------------------------------------------- deactivation


def test_deactivation_ends_sessions_revokes_tokens_and_closes_links(
    unit_for: UnitFor, admin_agent: Agent, make_agent: Callable[..., Agent], db: Session
) -> None:
    agent = make_agent("leaving@example.com")
    _token, plaintext = tokens.create_personal_token(db, agent, "script", ["desk.tickets.read"])
    issued = agent_links.issue_link(unit_for(admin_agent), agent, LinkPurpose.RESET)
    generation = agent.session_generation
    db.commit()

    org.update_agent(unit_for(admin_agent), agent, is_active=False)
    db.commit()
    assert agent.session_generation == generation + 1
    assert db.scalars(select(AccessToken)).one().revoked_at is not None
    assert tokens.resolve(db, plaintext) is None
    assert agent_links.find_link(db, issued.token).state is LinkState.REPLACED

    org.update_agent(unit_for(admin_agent), agent, is_active=True)
    db.commit()
    assert tokens.resolve(db, plaintext) is None  # reactivation gives no token back


def test_a_deactivated_agents_open_tickets_stay_and_are_listed(
    unit_for: UnitFor,
    admin_agent: Agent,
    make_agent: Callable[..., Agent],
    make_ticket: Callable[..., object],
    department: Department,
    db: Session,
) -> None:
    agent = make_agent("leaving@example.com", departments=[department])
    open_ticket = make_ticket("Still open", assignee_id=agent.id)
    make_ticket("Someone else's", assignee_id=admin_agent.id)
    org.update_agent(unit_for(admin_agent), agent, is_active=False)
    db.commit()
    listed = org.assigned_open_tickets(unit_for(admin_agent), agent)
    assert [t.id for t in listed] == [open_ticket.id]  # type: ignore[attr-defined]
    assert listed[0].assignee_id == agent.id


def test_nobody_deactivates_themselves(unit_for: UnitFor, admin_agent: Agent) -> None:
    with pytest.raises(ValidationFailed) as refused:
        org.update_agent(unit_for(admin_agent), admin_agent, is_active=False)
    assert "is_active" in refused.value.errors


# ---------------------------------------------------------------------------- availability


def test_round_robin_takes_only_available_agents_who_may_answer(
    unit_for: UnitFor,
    make_agent: Callable[..., Agent],
    make_department: Callable[..., Department],
    db: Session,
) -> None:
    sales, billing = make_department("Sales"), make_department("Billing")
    ready = make_agent("ready@example.com", departments=[sales])
    busy = make_agent("busy@example.com", departments=[sales])
    light = make_agent("light@example.com", profile="Light Agent", departments=[sales])
    elsewhere = make_agent("elsewhere@example.com", departments=[billing])
    gone = make_agent("gone@example.com", departments=[sales])
    for agent in (ready, light, elsewhere, gone):
        org.set_status(unit_for(agent), agent, AgentStatus.AVAILABLE.value)
    org.set_status(unit_for(busy), busy, AgentStatus.BUSY.value)
    gone.is_active = False
    db.commit()
    assert org.available_agents(db, sales.id) == [ready]
    assert org.available_agents(db, billing.id) == [elsewhere]


def test_an_agent_sets_only_their_own_availability(
    unit_for: UnitFor, make_agent: Callable[..., Agent]
) -> None:
    one, other = make_agent("one@example.com"), make_agent("other@example.com")
    org.set_status(unit_for(one), one, "away")
    assert one.status == "away"
    with pytest.raises(Forbidden):
        org.set_status(unit_for(one), other, "away")
    with pytest.raises(ValidationFailed):
        org.set_status(unit_for(one), one, "asleep")


# --------------------------------------------------------------------------- profile change


def test_permission_changes_compare_the_two_profiles(db: Session) -> None:
    agent_profile, light = _profile(db, "Agent"), _profile(db, "Light Agent")
    gained, lost = org.permission_changes(db, None, light, agent_profile)
    assert "ticket.reply" in gained and lost == []
    gained, lost = org.permission_changes(db, None, agent_profile, light)
    assert gained == [] and "ticket.reply" in lost


def test_an_administrator_profile_holds_everything(db: Session) -> None:
    gained, lost = org.permission_changes(
        db, None, _profile(db, "Agent"), _profile(db, "Administrator")
    )
    assert {"agent.manage", "setup.manage"} <= set(gained) and lost == []


# ------------------------------------------------------------------------------------- list


def test_agents_page_by_name_with_search_and_activity(
    unit_for: UnitFor, admin_agent: Agent, make_agent: Callable[..., Agent], db: Session
) -> None:
    for index in range(7):
        make_agent(f"staff{index}@example.com", name=f"Staff {index}")
    make_agent("retired@example.com", name="Staff Retired")
    retired = db.scalar(select(Agent).where(Agent.email == "retired@example.com"))
    assert retired is not None
    retired.is_active = False
    db.commit()
    unit = unit_for(admin_agent)
    seen: list[str] = []
    after: org.AgentCursor | None = None
    while True:
        rows = org.page_agents(unit, limit=3, after=after, search="staff")
        if not rows:
            break
        seen += [agent.name for agent in rows]
        after = org.AgentCursor(rows[-1].name, rows[-1].id)
    assert seen == [f"Staff {index}" for index in range(7)]
    inactive = org.page_agents(unit, limit=10, active=False)
    assert [agent.name for agent in inactive] == ["Staff Retired"]
    assert len(org.page_agents(unit, limit=50, active=None, search="STAFF")) == 8


def test_a_bad_cursor_is_a_field_error(unit_for: UnitFor, admin_agent: Agent) -> None:
    with pytest.raises(ValidationFailed) as refused:
        org.page_agents(unit_for(admin_agent), limit=5, after="not-a-cursor")
    assert "after" in refused.value.errors
