"""Setup services: the organisation's phone region, departments' deactivation with a move of
their open tickets, permission profiles (built-in read-only, clone, delete) and statuses."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import permissions
from core.bootstrap import ensure_baseline
from core.errors import Conflict, Forbidden, ValidationFailed
from core.models import (
    Agent,
    AuditEntry,
    Department,
    OutboxEvent,
    PermissionProfile,
    StatusChange,
    Ticket,
    TicketStatus,
)
from core.services import org, tickets
from core.services.base import Unit
from hostapi import events

UnitFor = Callable[[Agent | None], Unit]


def _profile(db: Session, name: str) -> PermissionProfile:
    return db.scalars(select(PermissionProfile).where(PermissionProfile.name == name)).one()


def _events(db: Session, name: str) -> list[OutboxEvent]:
    return list(db.scalars(select(OutboxEvent).where(OutboxEvent.name == name)))


# ------------------------------------------------------------------------------ organisation


def test_phone_region_is_set_in_capitals_and_announced(db: Session, unit_for: UnitFor) -> None:
    org.update_organisation(unit_for(None), phone_region="us")
    assert org.get_organisation(db).phone_region == "US"
    (event,) = _events(db, events.ORGANISATION_UPDATED)
    assert event.payload["changes"]["phone_region"][1] == "US"


def test_unknown_phone_region_is_refused_with_the_other_bad_fields(unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        org.update_organisation(unit_for(None), phone_region="XX", timezone="Mars/Olympus")
    assert set(failure.value.errors) == {"phone_region", "timezone"}


def test_organisation_changes_need_setup_permission(
    unit_for: UnitFor, make_agent: Callable[..., Agent]
) -> None:
    with pytest.raises(Forbidden):
        org.update_organisation(unit_for(make_agent()), phone_region="US")


# ------------------------------------------------------------------------------- departments


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    return make_department("Sales")


def test_deactivation_is_refused_while_open_tickets_remain(
    db: Session, unit_for: UnitFor, department: Department, make_ticket: Callable[..., Ticket]
) -> None:
    make_ticket(status="On Hold")
    with pytest.raises(ValidationFailed) as failure:
        org.deactivate_department(unit_for(None), department)
    assert "is_active" in failure.value.errors
    assert department.is_active


def test_patching_is_active_off_is_refused_the_same_way(
    unit_for: UnitFor, department: Department, make_ticket: Callable[..., Ticket]
) -> None:
    make_ticket()
    with pytest.raises(ValidationFailed) as failure:
        org.update_department(unit_for(None), department, is_active=False)
    assert "is_active" in failure.value.errors


def test_department_with_only_closed_tickets_deactivates_and_keeps_them(
    db: Session, unit_for: UnitFor, department: Department, make_ticket: Callable[..., Ticket]
) -> None:
    closed = make_ticket(status="Closed")
    org.deactivate_department(unit_for(None), department)
    db.commit()
    assert not department.is_active
    assert closed.department_id == department.id
    (event,) = _events(db, events.DEPARTMENT_UPDATED)
    assert event.payload["changes"] == {"is_active": [True, False]}


def test_deactivation_moves_open_tickets_each_audited_and_announced_to_both(
    db: Session,
    unit_for: UnitFor,
    department: Department,
    sales: Department,
    make_ticket: Callable[..., Ticket],
    admin_agent: Agent,
) -> None:
    admin_agent.departments = [department, sales]
    db.commit()
    open_ones = [make_ticket(), make_ticket(status="On Hold")]
    closed = make_ticket(status="Resolved")
    org.deactivate_department(unit_for(admin_agent), department, move_to_department_id=sales.id)
    db.commit()
    assert [t.department_id for t in open_ones] == [sales.id, sales.id]
    assert closed.department_id == department.id
    moves = _events(db, events.TICKET_UPDATED)
    assert sorted(e.payload["ticket_id"] for e in moves) == sorted(t.id for t in open_ones)
    assert all(e.department_ids == sorted([department.id, sales.id]) for e in moves)
    audited = db.scalars(
        select(AuditEntry.entity_id).where(
            AuditEntry.entity_type == "ticket", AuditEntry.action == "update"
        )
    )
    assert sorted(audited) == sorted(str(t.id) for t in open_ones)
    assert not department.is_active


def test_moving_needs_to_see_both_departments(
    db: Session,
    unit_for: UnitFor,
    department: Department,
    sales: Department,
    make_ticket: Callable[..., Ticket],
    admin_agent: Agent,
) -> None:
    make_ticket()
    with pytest.raises(ValidationFailed) as failure:
        org.deactivate_department(unit_for(admin_agent), department, move_to_department_id=sales.id)
    assert "move_to_department_id" in failure.value.errors


@pytest.mark.parametrize("target", ["self", "inactive", "missing"])
def test_move_target_must_be_another_active_department(
    db: Session,
    unit_for: UnitFor,
    department: Department,
    sales: Department,
    make_ticket: Callable[..., Ticket],
    target: str,
) -> None:
    make_ticket()
    if target == "inactive":
        sales.is_active = False
        db.commit()
    target_id = {"self": department.id, "inactive": sales.id, "missing": 99_999}[target]
    with pytest.raises(ValidationFailed) as failure:
        org.deactivate_department(unit_for(None), department, move_to_department_id=target_id)
    assert "move_to_department_id" in failure.value.errors
    assert db.scalar(select(func.count()).where(Ticket.department_id == department.id)) == 1


def test_deactivated_department_reactivates(
    db: Session, unit_for: UnitFor, department: Department
) -> None:
    org.deactivate_department(unit_for(None), department)
    org.update_department(unit_for(None), department, is_active=True)
    assert department.is_active


def test_department_list_pages_by_name_including_inactive(
    db: Session, unit_for: UnitFor, make_department: Callable[..., Department]
) -> None:
    for number in range(5):
        make_department(f"Team {number}").is_active = number % 2 == 0
    db.commit()
    unit = unit_for(None)
    first = org.list_departments(unit, include_inactive=True, limit=3)
    cursor = org.encode_name_cursor(first[-1].name, first[-1].id)
    rest = org.list_departments(unit, include_inactive=True, after=cursor, limit=3)
    assert [d.name for d in first + rest] == [f"Team {n}" for n in range(5)]
    assert len(org.list_departments(unit)) == 3


def test_malformed_department_cursor_is_a_field_error(unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        org.list_departments(unit_for(None), after="%%%", cursor_field="cursor")
    assert "cursor" in failure.value.errors


# ---------------------------------------------------------------------------------- profiles


def test_baseline_marks_the_default_profiles_built_in(db: Session) -> None:
    ensure_baseline(db)
    built_in = set(db.scalars(select(PermissionProfile.name).where(PermissionProfile.is_builtin)))
    assert built_in == set(permissions.DEFAULT_PROFILES)


def test_built_in_profile_cannot_be_changed(db: Session, unit_for: UnitFor) -> None:
    with pytest.raises(Conflict):
        org.update_profile(unit_for(None), _profile(db, "Agent"), name="Renamed")


def test_clone_grants_what_the_source_grants_and_is_custom(db: Session, unit_for: UnitFor) -> None:
    source = _profile(db, "Agent")
    clone = org.clone_profile(unit_for(None), source, name="Tier 2")
    assert clone.permission_names == source.permission_names
    assert not clone.is_builtin and not clone.is_admin
    assert _events(db, events.PROFILE_CREATED)[0].payload == {"profile_id": clone.id}


def test_clone_of_the_administrator_lists_every_permission_explicitly(
    db: Session, unit_for: UnitFor
) -> None:
    clone = org.clone_profile(unit_for(None), _profile(db, "Administrator"), name="Deputy")
    assert clone.permission_names == permissions.ALL_NAMES
    assert not clone.is_admin


def test_clone_needs_a_free_name(db: Session, unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        org.clone_profile(unit_for(None), _profile(db, "Agent"), name="light agent")
    assert "name" in failure.value.errors


def test_cloned_profile_is_edited_with_two_factor(db: Session, unit_for: UnitFor) -> None:
    clone = org.clone_profile(unit_for(None), _profile(db, "Light Agent"), name="Viewers")
    org.update_profile(
        unit_for(None),
        clone,
        permissions=[permissions.TICKET_VIEW, permissions.KB_VIEW],
        requires_two_factor=True,
    )
    assert clone.permission_names == {permissions.TICKET_VIEW, permissions.KB_VIEW}
    assert clone.requires_two_factor


def test_unused_custom_profile_is_deleted_and_announced(db: Session, unit_for: UnitFor) -> None:
    clone = org.clone_profile(unit_for(None), _profile(db, "Agent"), name="Temporary")
    profile_id = clone.id
    org.delete_profile(unit_for(None), clone)
    db.commit()
    assert db.get(PermissionProfile, profile_id) is None
    (event,) = _events(db, events.PROFILE_DELETED)
    assert event.payload == {"profile_id": profile_id, "name": "Temporary"}


def test_profile_in_use_is_not_deleted_and_the_refusal_counts_its_agents(
    db: Session, unit_for: UnitFor, make_agent: Callable[..., Agent]
) -> None:
    clone = org.clone_profile(unit_for(None), _profile(db, "Agent"), name="Busy")
    db.commit()
    make_agent("a@example.com", profile="Busy")
    make_agent("b@example.com", profile="Busy").is_active = False
    db.commit()
    with pytest.raises(Conflict, match="2 agents use this profile"):
        org.delete_profile(unit_for(None), clone)


def test_built_in_profile_is_not_deleted(db: Session, unit_for: UnitFor) -> None:
    with pytest.raises(Conflict):
        org.delete_profile(unit_for(None), _profile(db, "Light Agent"))


def test_profile_changes_need_agent_management(
    db: Session, unit_for: UnitFor, make_agent: Callable[..., Agent]
) -> None:
    with pytest.raises(Forbidden):
        org.clone_profile(unit_for(make_agent()), _profile(db, "Agent"), name="Mine")


def test_catalogue_groups_every_core_permission_by_area_with_descriptions(db: Session) -> None:
    groups = org.permission_catalogue(db, None)
    assert [g.area for g in groups] == list(permissions.AREAS)
    names = [p.name for g in groups for p in g.permissions]
    assert sorted(names) == sorted(permissions.ALL_NAMES)
    assert all(p.description and p.description_ja for g in groups for p in g.permissions)


# ---------------------------------------------------------------------------------- statuses


def _status(db: Session, name: str) -> TicketStatus:
    return db.scalars(select(TicketStatus).where(TicketStatus.name == name)).one()


def test_created_status_is_announced(db: Session, unit_for: UnitFor) -> None:
    status = tickets.create_status(unit_for(None), name="Awaiting parts", status_type="on_hold")
    (event,) = _events(db, events.STATUS_CREATED)
    assert event.payload == {"status_id": status.id}


def test_status_names_are_unique_ignoring_case(db: Session, unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        tickets.create_status(unit_for(None), name="on hold", status_type="bad")
    assert set(failure.value.errors) == {"name", "status_type"}


def test_rename_carries_the_new_name_to_tickets_and_their_history(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket]
) -> None:
    status = tickets.create_status(unit_for(None), name="Waiting", status_type="on_hold")
    ticket = make_ticket()
    tickets.change_status(unit_for(None), ticket, "Waiting")
    tickets.change_status(unit_for(None), ticket, "Open")
    tickets.change_status(unit_for(None), ticket, "Waiting")
    db.commit()
    tickets.update_status(unit_for(None), status, name="Waiting for customer")
    db.commit()
    db.refresh(ticket)
    assert ticket.status == "Waiting for customer"
    history = list(db.scalars(select(StatusChange).order_by(StatusChange.id)))
    assert [(c.from_status, c.to_status) for c in history[1:]] == [
        ("Open", "Waiting for customer"),
        ("Waiting for customer", "Open"),
        ("Open", "Waiting for customer"),
    ]
    (event,) = _events(db, events.STATUS_UPDATED)
    assert event.payload == {
        "status_id": status.id,
        "changes": {"name": ["Waiting", "Waiting for customer"]},
    }


def test_type_changes_only_while_no_ticket_has_the_status(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket]
) -> None:
    status = tickets.create_status(unit_for(None), name="Parked", status_type="on_hold")
    tickets.update_status(unit_for(None), status, status_type="closed")
    assert status.status_type == "closed"
    make_ticket(status="Parked")
    with pytest.raises(ValidationFailed) as failure:
        tickets.update_status(unit_for(None), status, status_type="open")
    assert "status_type" in failure.value.errors


def test_built_in_status_keeps_its_name_and_type(db: Session, unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed):
        tickets.update_status(unit_for(None), _status(db, "Open"), name="Neu")


def test_hidden_status_is_no_choice_but_stays_on_its_tickets(
    db: Session, unit_for: UnitFor, make_ticket: Callable[..., Ticket]
) -> None:
    status = tickets.create_status(unit_for(None), name="Legacy", status_type="open")
    ticket = make_ticket(status="Legacy")
    tickets.update_status(unit_for(None), status, is_active=False)
    db.commit()
    assert ticket.status == "Legacy"
    with pytest.raises(ValidationFailed):
        make_ticket(status="Legacy")
    assert "Legacy" not in [s.name for s in tickets.status_choices(db)]
    assert "Legacy" in [s.name for s in tickets.status_choices(db, current="Legacy")]


def test_moving_a_status_swaps_it_with_its_neighbour_and_announces_both(
    db: Session, unit_for: UnitFor
) -> None:
    before = [s.name for s in tickets.list_statuses(db)]
    tickets.move_status(unit_for(None), _status(db, "Escalated"), "up")
    after = [s.name for s in tickets.list_statuses(db)]
    assert after[:2] == [before[1], before[0]] and after[2:] == before[2:]
    assert len(_events(db, events.STATUS_UPDATED)) == 2


def test_moving_the_first_status_up_changes_nothing(db: Session, unit_for: UnitFor) -> None:
    first = tickets.list_statuses(db)[0]
    tickets.move_status(unit_for(None), first, "up")
    assert tickets.list_statuses(db)[0] is first
    assert _events(db, events.STATUS_UPDATED) == []


def test_status_changes_need_setup_permission(
    db: Session, unit_for: UnitFor, make_agent: Callable[..., Agent]
) -> None:
    with pytest.raises(Forbidden):
        tickets.move_status(unit_for(make_agent()), _status(db, "Open"), "down")
