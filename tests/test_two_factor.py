"""Two-factor sign-in, the service: TOTP codes (skew, replay), recovery codes, switching it on
and off, an agent manager's reset, and what each change leaves in the audit log and outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import crypto
from core.errors import Conflict, Forbidden, ValidationFailed
from core.host import Host
from core.models import (
    Agent,
    AgentTwoFactor,
    AuditEntry,
    Department,
    OutboxEvent,
    RecoveryCode,
)
from core.services import two_factor
from core.services.base import Actor, Unit
from hostapi import clock, events
from tests.factories import TEST_PASSWORD

#: A moment in the middle of a 30-second step, so that ±1 step is unambiguous.
START = datetime(2026, 12, 6, 9, 0, 10, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    """The host's clock stopped at :data:`START` (the tests move it)."""
    clock.freeze(START)
    yield
    clock.unfreeze()


@pytest.fixture
def unit_as(db: Session, host: Host) -> Callable[[Agent], Unit]:
    """A unit acting as ``agent`` with the host (its encryption keys)."""
    return lambda agent: Unit(session=db, actor=Actor(agent, ip_address="192.0.2.7"), host=host)


@pytest.fixture
def agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An ordinary agent of "Support"."""
    return make_agent("kenji@example.com", name="Kenji", departments=[department])


def code_at(secret: str, moment: datetime) -> str:
    """What the agent's authenticator app shows at ``moment``."""
    return pyotp.TOTP(secret).at(moment)


def enrol(db: Session, unit: Unit, agent: Agent) -> tuple[str, list[str]]:
    """Switch two-factor on for ``agent`` as the enrolment page does; its secret and codes."""
    secret = two_factor.begin_enrolment(unit, agent)
    codes = two_factor.confirm_enrolment(unit, agent, code_at(secret, clock.now()))
    db.commit()
    return secret, codes


# ----------------------------------------------------------------------------------- TOTP codes


def test_a_code_is_accepted_once_and_refused_when_replayed(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    secret, _codes = enrol(db, unit_as(agent), agent)
    clock.advance(timedelta(seconds=30))
    code = code_at(secret, clock.now())
    assert two_factor.verify_sign_in(unit_as(agent), agent, code) is True
    assert two_factor.verify_sign_in(unit_as(agent), agent, code) is False


def test_the_enrolment_code_cannot_be_used_to_sign_in(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    secret = two_factor.begin_enrolment(unit_as(agent), agent)
    code = code_at(secret, clock.now())
    two_factor.confirm_enrolment(unit_as(agent), agent, code)
    assert two_factor.verify_sign_in(unit_as(agent), agent, code) is False


@pytest.mark.parametrize("skew_seconds", [-30, 30])
def test_a_code_one_step_off_is_accepted(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent, skew_seconds: int
) -> None:
    secret, _codes = enrol(db, unit_as(agent), agent)
    clock.advance(timedelta(minutes=5))
    phone_time = clock.now() + timedelta(seconds=skew_seconds)
    assert two_factor.verify_sign_in(unit_as(agent), agent, code_at(secret, phone_time)) is True


@pytest.mark.parametrize("skew_seconds", [-60, 60])
def test_a_code_two_steps_off_is_refused(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent, skew_seconds: int
) -> None:
    secret, _codes = enrol(db, unit_as(agent), agent)
    clock.advance(timedelta(minutes=5))
    phone_time = clock.now() + timedelta(seconds=skew_seconds)
    assert two_factor.verify_sign_in(unit_as(agent), agent, code_at(secret, phone_time)) is False


def test_an_older_code_is_refused_once_a_newer_one_was_used(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    secret, _codes = enrol(db, unit_as(agent), agent)
    clock.advance(timedelta(minutes=5))
    newer = code_at(secret, clock.now() + timedelta(seconds=30))
    older = code_at(secret, clock.now())
    assert two_factor.verify_sign_in(unit_as(agent), agent, newer) is True
    assert two_factor.verify_sign_in(unit_as(agent), agent, older) is False


def test_the_secret_is_stored_encrypted(
    db: Session, host: Host, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    secret, _codes = enrol(db, unit_as(agent), agent)
    stored = db.get(AgentTwoFactor, agent.id)
    assert stored is not None and secret not in stored.secret_encrypted
    assert crypto.decrypt(host.settings.encryption_keys, stored.secret_encrypted) == secret


def test_a_wrong_first_code_leaves_two_factor_off(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    secret = two_factor.begin_enrolment(unit_as(agent), agent)
    wrong = code_at(secret, clock.now() + timedelta(minutes=3))
    with pytest.raises(ValidationFailed) as refused:
        two_factor.confirm_enrolment(unit_as(agent), agent, wrong)
    assert refused.value.errors == {"code": [two_factor.WRONG_CODE]}
    assert two_factor.state(db, agent).enrolling
    assert not two_factor.is_enabled(db, agent.id)


def test_nobody_enrols_someone_else(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent, admin_agent: Agent
) -> None:
    with pytest.raises(ValidationFailed):
        two_factor.begin_enrolment(unit_as(admin_agent), agent)
    assert db.get(AgentTwoFactor, agent.id) is None


# ------------------------------------------------------------------------------ recovery codes


def test_ten_recovery_codes_are_made_and_stored_only_hashed(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    _secret, codes = enrol(db, unit_as(agent), agent)
    assert len(set(codes)) == two_factor.RECOVERY_CODE_COUNT == 10
    assert two_factor.state(db, agent).recovery_codes_left == 10
    stored = set(db.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10 and not stored & set(codes)


def test_a_recovery_code_signs_in_once(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    _secret, codes = enrol(db, unit_as(agent), agent)
    typed = codes[3].upper().replace("-", " ")  # as read out over the phone
    assert two_factor.verify_sign_in(unit_as(agent), agent, typed) is True
    assert two_factor.verify_sign_in(unit_as(agent), agent, codes[3]) is False
    assert two_factor.state(db, agent).recovery_codes_left == 9
    used = db.scalar(
        select(AuditEntry).where(AuditEntry.sub_action == "two_factor_recovery_code_used")
    )
    assert used is not None and used.after == {"recovery_codes_left": 9}


def test_regenerating_recovery_codes_invalidates_the_old_ones(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    _secret, old = enrol(db, unit_as(agent), agent)
    two_factor.verify_sign_in(unit_as(agent), agent, old[0])
    new = two_factor.regenerate_recovery_codes(unit_as(agent), agent, TEST_PASSWORD)
    assert not set(new) & set(old)
    assert two_factor.state(db, agent).recovery_codes_left == 10
    assert two_factor.verify_sign_in(unit_as(agent), agent, old[1]) is False
    assert two_factor.verify_sign_in(unit_as(agent), agent, new[1]) is True
    event = db.scalars(select(OutboxEvent).order_by(OutboxEvent.seq.desc())).first()
    assert event is not None and event.payload["changes"] == {"two_factor_recovery_codes": None}


def test_regenerating_needs_a_right_code_or_password(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    _secret, old = enrol(db, unit_as(agent), agent)
    with pytest.raises(ValidationFailed) as refused:
        two_factor.regenerate_recovery_codes(unit_as(agent), agent, "not the password")
    assert refused.value.errors == {"proof": [two_factor.WRONG_PROOF]}
    assert two_factor.verify_sign_in(unit_as(agent), agent, old[0]) is True


# ----------------------------------------------------------------------- switching on and off


def test_enabling_is_audited_without_the_secret_and_emits_agent_updated(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    generation = agent.session_generation
    secret, codes = enrol(db, unit_as(agent), agent)
    entry = db.scalar(select(AuditEntry).where(AuditEntry.sub_action == "two_factor"))
    assert entry is not None and entry.before == {"two_factor": False}
    assert entry.after == {"two_factor": True, "recovery_codes": 10}
    every_entry = " ".join(str((e.before, e.after)) for e in db.scalars(select(AuditEntry)))
    assert secret not in every_entry and codes[0] not in every_entry
    event = db.scalar(select(OutboxEvent).where(OutboxEvent.name == events.AGENT_UPDATED))
    assert event is not None
    assert event.payload == {"agent_id": agent.id, "changes": {"two_factor": [False, True]}}
    assert agent.session_generation == generation + 1  # sessions signed in by password alone end


def test_disabling_needs_a_code_or_the_password_and_ends_sessions(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    secret, _codes = enrol(db, unit_as(agent), agent)
    with pytest.raises(ValidationFailed):
        two_factor.disable_two_factor(unit_as(agent), agent, "123456")
    clock.advance(timedelta(seconds=30))
    generation = agent.session_generation
    two_factor.disable_two_factor(unit_as(agent), agent, code_at(secret, clock.now()))
    db.commit()
    assert not two_factor.is_enabled(db, agent.id)
    assert db.get(AgentTwoFactor, agent.id) is None
    assert two_factor.state(db, agent).recovery_codes_left == 0
    assert agent.session_generation == generation + 1
    event = db.scalars(select(OutboxEvent).order_by(OutboxEvent.seq.desc())).first()
    assert event is not None and event.payload["changes"] == {"two_factor": [True, False]}


def test_a_profile_that_requires_two_factor_keeps_it_on(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    enrol(db, unit_as(agent), agent)
    agent.profile.requires_two_factor = True
    db.commit()
    with pytest.raises(ValidationFailed) as refused:
        two_factor.disable_two_factor(unit_as(agent), agent, TEST_PASSWORD)
    assert "two_factor" in refused.value.errors
    assert two_factor.is_enabled(db, agent.id)


def test_must_enrol_follows_the_profile(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent
) -> None:
    assert not two_factor.must_enrol(db, agent)
    agent.profile.requires_two_factor = True
    db.commit()
    assert two_factor.must_enrol(db, agent)
    enrol(db, unit_as(agent), agent)
    assert not two_factor.must_enrol(db, agent)


# -------------------------------------------------------------------------------- admin reset


def test_an_agent_manager_resets_a_lost_phone(
    db: Session, unit_as: Callable[[Agent], Unit], agent: Agent, admin_agent: Agent
) -> None:
    _secret, codes = enrol(db, unit_as(agent), agent)
    generation = agent.session_generation
    two_factor.reset_two_factor(unit_as(admin_agent), agent)
    db.commit()
    assert not two_factor.is_enabled(db, agent.id)
    assert two_factor.verify_sign_in(unit_as(agent), agent, codes[0]) is False
    assert agent.session_generation == generation + 1
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "reset"))
    assert entry is not None and entry.actor_agent_id == admin_agent.id
    assert entry.entity_id == str(agent.id) and entry.after == {"two_factor": False}
    event = db.scalars(select(OutboxEvent).order_by(OutboxEvent.seq.desc())).first()
    assert event is not None and event.payload["changes"] == {"two_factor": [True, False]}


def test_reset_needs_agent_manage(
    db: Session,
    unit_as: Callable[[Agent], Unit],
    agent: Agent,
    make_agent: Callable[..., Agent],
) -> None:
    enrol(db, unit_as(agent), agent)
    colleague = make_agent("colleague@example.com", name="Colleague")
    with pytest.raises(Forbidden):
        two_factor.reset_two_factor(unit_as(colleague), agent)
    assert two_factor.is_enabled(db, agent.id)


def test_reset_of_an_agent_without_two_factor_is_a_conflict(
    unit_as: Callable[[Agent], Unit], agent: Agent, admin_agent: Agent
) -> None:
    with pytest.raises(Conflict):
        two_factor.reset_two_factor(unit_as(admin_agent), agent)
