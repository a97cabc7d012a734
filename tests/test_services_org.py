"""Organisation services: settings, departments, profiles, agents and sign-in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, ValidationFailed
from core.models import Agent, AuditEntry, Department
from core.services import org
from core.services.base import Unit

UnitFor = Callable[[Agent | None], Unit]
PASSWORD = "a long enough password"


@pytest.fixture
def new_agent(db: Session, unit_for: UnitFor, department: Department) -> Agent:
    """An agent created through the service, committed."""
    agent = org.create_agent(
        unit_for(None),
        email="Kenji@Example.com",
        name="Kenji",
        password=PASSWORD,
        profile_name="Agent",
        department_ids=[department.id],
    )
    db.commit()
    return agent


def test_created_agent_signs_in_with_their_password(db: Session, new_agent: Agent) -> None:
    assert org.authenticate(db, "kenji@example.com", PASSWORD) is new_agent
    assert new_agent.password_hash != PASSWORD


def test_wrong_password_or_unknown_email_does_not_sign_in(db: Session, new_agent: Agent) -> None:
    assert org.authenticate(db, "kenji@example.com", "wrong password!") is None
    assert org.authenticate(db, "nobody@example.com", PASSWORD) is None


def test_inactive_agent_cannot_sign_in(db: Session, new_agent: Agent, unit_for: UnitFor) -> None:
    org.update_agent(unit_for(None), new_agent, is_active=False)
    db.commit()
    assert org.authenticate(db, "kenji@example.com", PASSWORD) is None


def test_agent_creation_reports_every_bad_field(unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        org.create_agent(
            unit_for(None),
            email="nope",
            name="",
            password="short",
            profile_name="Nobody",
            department_ids=[999],
        )
    assert set(failure.value.errors) == {
        "email",
        "name",
        "password",
        "profile_name",
        "department_ids",
    }


def test_duplicate_agent_email_is_refused(new_agent: Agent, unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        org.create_agent(
            unit_for(None),
            email="kenji@example.com",
            name="K2",
            password=PASSWORD,
            profile_name="Agent",
        )
    assert "email" in failure.value.errors


def test_agent_without_agent_manage_cannot_create_agents(
    new_agent: Agent, unit_for: UnitFor
) -> None:
    with pytest.raises(Forbidden):
        org.create_agent(
            unit_for(new_agent),
            email="x@example.com",
            name="X",
            password=PASSWORD,
            profile_name="Agent",
        )


def test_agent_sets_their_own_status_but_not_anothers(
    new_agent: Agent, admin_agent: Agent, unit_for: UnitFor
) -> None:
    assert org.set_status(unit_for(new_agent), new_agent, "available").status == "available"
    with pytest.raises(Forbidden):
        org.set_status(unit_for(new_agent), admin_agent, "away")


def test_own_password_change_needs_the_current_password(
    db: Session, new_agent: Agent, unit_for: UnitFor
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        org.set_password(
            unit_for(new_agent), new_agent, "another long password", current_password="wrong"
        )
    assert "current_password" in failure.value.errors
    org.set_password(
        unit_for(new_agent), new_agent, "another long password", current_password=PASSWORD
    )
    assert org.authenticate(db, "kenji@example.com", "another long password") is new_agent


def test_locale_must_be_english_or_japanese(new_agent: Agent, unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed):
        org.set_locale(unit_for(new_agent), new_agent, "fr")
    assert org.set_locale(unit_for(new_agent), new_agent, "ja").locale == "ja"


def test_profile_permissions_must_be_known(unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        org.create_profile(unit_for(None), name="Odd", permissions=["ticket.view", "fly"])
    assert failure.value.errors == {"permissions": ["Unknown permission: fly."]}


def test_profile_update_audits_permission_lists(db: Session, unit_for: UnitFor) -> None:
    unit = unit_for(None)
    profile = org.create_profile(unit, name="Viewer", permissions=["ticket.view"])
    org.update_profile(unit, profile, permissions=["ticket.view", "contact.view"])
    entry = db.scalars(
        select(AuditEntry).where(
            AuditEntry.entity_type == "permission_profile", AuditEntry.action == "update"
        )
    ).one()
    assert entry.before == {"permissions": ["ticket.view"]}
    assert entry.after == {"permissions": ["contact.view", "ticket.view"]}


def test_department_names_are_unique(make_department, unit_for: UnitFor) -> None:
    make_department("Sales")
    with pytest.raises(ValidationFailed) as failure:
        org.create_department(unit_for(None), name="sales")
    assert "name" in failure.value.errors


def test_timezone_must_exist(unit_for: UnitFor) -> None:
    with pytest.raises(ValidationFailed) as failure:
        org.update_organisation(unit_for(None), timezone="Mars/Olympus")
    assert failure.value.errors == {"timezone": ["Unknown time zone."]}


def test_organisation_settings_change_is_audited(db: Session, unit_for: UnitFor) -> None:
    org.update_organisation(unit_for(None), timezone="Asia/Tokyo", ticket_prefix="JP-")
    entry = db.scalars(select(AuditEntry).where(AuditEntry.entity_type == "organisation")).one()
    assert entry.after == {"timezone": "Asia/Tokyo", "ticket_prefix": "JP-"}
