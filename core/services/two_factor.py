"""Two-factor sign-in: an authenticator app's codes (TOTP) and single-use recovery codes.

Codes follow RFC 6238 as every authenticator app computes them: HMAC-SHA1, 30-second steps,
6 digits. A code of the step before or after the current one is accepted too (a phone's clock
a little off, a code typed as it changed), and the step of every accepted code is remembered:
that code and any older one are refused from then on, so a code read over a shoulder or from
a proxy's log cannot be used a second time. The time comes from :mod:`hostapi.clock`.

The secret is stored encrypted with the host's key (:mod:`core.crypto`) and is shown to the
agent only while they enrol. Recovery codes are shown once, when made; only their SHA-256 is
stored (they are random, so a slow hash adds nothing), and each works once.

Who may do what: an agent enrols, regenerates recovery codes and switches two-factor off for
themselves (the last two need a current code or their password); an agent manager resets an
agent's two-factor when the phone is lost (:func:`reset_two_factor`), which also ends their
sessions. A profile may require two-factor (``PermissionProfile.requires_two_factor``): its
agents are sent to enrolment when they sign in and cannot switch it off themselves.

Sessions: enabling and switching off end the agent's *other* sessions (the web layer starts
the current one again). Sessions signed in before enrolment were made with the password alone;
and whoever switches two-factor off may be someone holding a stolen session and password, so
the owner's sessions end and they notice. A reset ends every session of the agent.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from core import crypto
from core import permissions as catalogue
from core.errors import Conflict, Message, ValidationFailed
from core.models import Agent, AgentTwoFactor, RecoveryCode
from core.services import org
from core.services.base import Unit
from hostapi import clock, events

#: Seconds per code (RFC 6238's default, what every authenticator app assumes).
STEP_SECONDS = 30
#: Digits per code.
DIGITS = 6
#: Steps accepted on either side of the current one.
TOLERANCE_STEPS = 1
#: Recovery codes made at a time.
RECOVERY_CODE_COUNT = 10
#: Letters and digits that cannot be misread for one another (no 0/o, 1/l/i).
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 10
_TOTP_SHAPE = re.compile(rf"^[0-9]{{{DIGITS}}}$")

WRONG_CODE = Message("The code is not right, or it was already used.")
WRONG_PROOF = Message("The code or password is not right.")


@dataclass(frozen=True)
class TwoFactorState:
    """What an agent's two-factor sign-in looks like now (never the secret)."""

    enabled: bool
    enrolling: bool
    enabled_at: datetime | None
    recovery_codes_left: int


# ------------------------------------------------------------------------------------- reading


def state(session: Session, agent: Agent) -> TwoFactorState:
    """Whether ``agent`` has two-factor on, is enrolling, and how many recovery codes are left."""
    record = session.get(AgentTwoFactor, agent.id)
    enabled = record is not None and record.confirmed_at is not None
    left = (
        session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.agent_id == agent.id, RecoveryCode.used_at.is_(None))
        )
        if enabled
        else 0
    )
    return TwoFactorState(
        enabled=enabled,
        enrolling=record is not None and record.confirmed_at is None,
        enabled_at=record.confirmed_at if record is not None else None,
        recovery_codes_left=left or 0,
    )


def is_enabled(session: Session, agent_id: int) -> bool:
    """True when the agent signs in with a second factor."""
    confirmed = session.scalar(
        select(AgentTwoFactor.confirmed_at).where(AgentTwoFactor.agent_id == agent_id)
    )
    return confirmed is not None


def must_enrol(session: Session, agent: Agent) -> bool:
    """True when ``agent``'s profile requires two-factor and they have not set it up yet."""
    return agent.profile.requires_two_factor and not is_enabled(session, agent.id)


def enrolment_secret(unit: Unit, agent: Agent) -> str | None:
    """The secret of the agent's unfinished enrolment (to show as a QR code), else ``None``."""
    _require_self(unit, agent)
    record = unit.session.get(AgentTwoFactor, agent.id)
    if record is None or record.confirmed_at is not None:
        return None
    return crypto.decrypt(_keys(unit), record.secret_encrypted)


def provisioning_uri(secret: str, agent: Agent, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=agent.email, issuer_name=issuer or "deskhost"
    )


# ------------------------------------------------------------------------------------ enrolment


def begin_enrolment(unit: Unit, agent: Agent) -> str:
    """Make a new secret for the agent to add to their authenticator app; returns it.

    Nothing changes at sign-in until :func:`confirm_enrolment`; starting again replaces an
    unfinished enrolment's secret.

    :raises Conflict: two-factor is already on.
    """
    _require_self(unit, agent)
    record = unit.session.get(AgentTwoFactor, agent.id)
    if record is not None and record.confirmed_at is not None:
        raise Conflict(Message("Two-factor sign-in is already on."))
    secret = pyotp.random_base32()
    encrypted = crypto.encrypt(_keys(unit), secret)
    if record is None:
        unit.session.add(
            AgentTwoFactor(agent_id=agent.id, secret_encrypted=encrypted, created_at=clock.now())
        )
    else:
        record.secret_encrypted = encrypted
        record.last_used_step = None
        record.created_at = clock.now()
    unit.session.flush()
    return secret


def confirm_enrolment(unit: Unit, agent: Agent, code: str) -> list[str]:
    """Turn two-factor on once ``code`` shows the app has the secret; returns the recovery codes
    (shown this once) and ends the agent's other sessions.

    :raises Conflict: no enrolment was started, or two-factor is already on.
    :raises ValidationFailed: on ``code`` when it is not the app's current code.
    """
    _require_self(unit, agent)
    record = unit.session.get(AgentTwoFactor, agent.id)
    if record is None or record.confirmed_at is not None:
        raise Conflict(
            Message("Start the set-up first.") if record is None else Message("Already on.")
        )
    if not _accept_totp(unit, record, code):
        raise ValidationFailed({"code": [WRONG_CODE]})
    record.confirmed_at = clock.now()
    codes = _replace_recovery_codes(unit.session, agent)
    org.end_sessions(agent)
    unit.session.flush()
    unit.audit(
        "update",
        "agent",
        agent.id,
        sub_action="two_factor",
        before={"two_factor": False},
        after={"two_factor": True, "recovery_codes": len(codes)},
    )
    unit.emit(
        events.AGENT_UPDATED, {"agent_id": agent.id, "changes": {"two_factor": [False, True]}}
    )
    return codes


def regenerate_recovery_codes(unit: Unit, agent: Agent, proof: str) -> list[str]:
    """New recovery codes for the agent (the old ones stop working); ``proof`` is a current
    code or the password.

    :raises Conflict: two-factor is off.
    :raises ValidationFailed: on ``proof`` when it is neither.
    """
    _require_self(unit, agent)
    record = _enabled_record(unit.session, agent)
    _check_proof(unit, agent, record, proof)
    codes = _replace_recovery_codes(unit.session, agent)
    unit.session.flush()
    unit.audit(
        "update",
        "agent",
        agent.id,
        sub_action="two_factor_recovery_codes",
        after={"recovery_codes": len(codes)},
    )
    unit.emit(
        events.AGENT_UPDATED,
        {"agent_id": agent.id, "changes": {"two_factor_recovery_codes": None}},
    )
    return codes


def disable_two_factor(unit: Unit, agent: Agent, proof: str) -> None:
    """Switch the agent's two-factor off (``proof``: a current code or the password) and end
    their other sessions.

    :raises Conflict: two-factor is off.
    :raises ValidationFailed: on ``proof`` when it is neither; on ``two_factor`` when the
        agent's profile requires it.
    """
    _require_self(unit, agent)
    record = _enabled_record(unit.session, agent)
    if agent.profile.requires_two_factor:
        raise ValidationFailed(
            {"two_factor": [Message("Your permission profile requires two-factor sign-in.")]}
        )
    _check_proof(unit, agent, record, proof)
    _switch_off(unit, agent, record, action="update")


def reset_two_factor(unit: Unit, agent: Agent) -> None:
    """An agent manager's reset of someone's two-factor (a lost phone): secret and recovery
    codes go, and every session of the agent ends. They enrol again at their next sign-in
    when their profile requires it.

    :raises Conflict: the agent has no two-factor set up (nor started).
    """
    unit.actor.require(catalogue.AGENT_MANAGE)
    record = unit.session.get(AgentTwoFactor, agent.id)
    if record is None:
        raise Conflict(Message("This agent has not set up two-factor sign-in."))
    _switch_off(unit, agent, record, action="reset")


# ------------------------------------------------------------------------------------- sign-in


def verify_sign_in(unit: Unit, agent: Agent, code: str) -> bool:
    """True when ``code`` is the agent's current authenticator code or an unused recovery code
    (which is used up, and the use audited); the second step of signing in."""
    record = unit.session.get(AgentTwoFactor, agent.id)
    if record is None or record.confirmed_at is None:
        return False
    if _accept_totp(unit, record, code):
        return True
    if not _use_recovery_code(unit.session, agent, code):
        return False
    unit.audit(
        "update",
        "agent",
        agent.id,
        sub_action="two_factor_recovery_code_used",
        after={"recovery_codes_left": state(unit.session, agent).recovery_codes_left},
    )
    return True


# ------------------------------------------------------------------------------------- helpers


def _require_self(unit: Unit, agent: Agent) -> None:
    # Only the agent holds their phone: nobody enrols or unenrols someone else.
    if unit.actor.agent_id != agent.id:
        raise ValidationFailed(
            {"agent": [Message("Only the agent can change their own two-factor.")]}
        )


def _keys(unit: Unit) -> tuple[str, ...]:
    if unit.host is None:
        raise RuntimeError("two-factor sign-in needs the host's encryption keys")
    return tuple(unit.host.settings.encryption_keys)


def _enabled_record(session: Session, agent: Agent) -> AgentTwoFactor:
    record = session.get(AgentTwoFactor, agent.id)
    if record is None or record.confirmed_at is None:
        raise Conflict(Message("Two-factor sign-in is off."))
    return record


def _accept_totp(unit: Unit, record: AgentTwoFactor, code: str) -> bool:
    """Accept ``code`` when it is the code of a step near now newer than the last accepted one,
    recording its step in the same statement (two requests with one code: one wins)."""
    typed = "".join(str(code or "").split())
    if not _TOTP_SHAPE.match(typed):
        return False
    totp = pyotp.TOTP(
        crypto.decrypt(_keys(unit), record.secret_encrypted), digits=DIGITS, interval=STEP_SECONDS
    )
    current = totp.timecode(clock.now())
    matching = [
        step
        for step in range(current - TOLERANCE_STEPS, current + TOLERANCE_STEPS + 1)
        if hmac.compare_digest(totp.generate_otp(step), typed)
    ]
    if not matching:
        return False
    step = matching[-1]
    taken = unit.session.execute(
        update(AgentTwoFactor)
        .where(
            AgentTwoFactor.agent_id == record.agent_id,
            or_(AgentTwoFactor.last_used_step.is_(None), AgentTwoFactor.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    unit.session.expire(record, ["last_used_step"])
    return taken.rowcount == 1


def _check_proof(unit: Unit, agent: Agent, record: AgentTwoFactor, proof: str) -> None:
    """A current code, or the agent's password (passwords are never six digits long)."""
    typed = str(proof or "")
    if _TOTP_SHAPE.match("".join(typed.split())):
        accepted = _accept_totp(unit, record, typed)
    else:
        accepted = bool(agent.password_hash) and check_password_hash(agent.password_hash, typed)
    if not accepted:
        raise ValidationFailed({"proof": [WRONG_PROOF]})


def _normal_recovery_code(code: str) -> str:
    return "".join(ch for ch in str(code or "").lower() if ch.isalnum())


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(_normal_recovery_code(code).encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def _replace_recovery_codes(session: Session, agent: Agent) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.agent_id == agent.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    now = clock.now()
    session.add_all(
        RecoveryCode(agent_id=agent.id, code_hash=_recovery_hash(code), created_at=now)
        for code in codes
    )
    return codes


def _use_recovery_code(session: Session, agent: Agent, code: str) -> bool:
    """Use up one of the agent's unused recovery codes; ``False`` when ``code`` is none."""
    if len(_normal_recovery_code(code)) != _RECOVERY_LENGTH:
        return False
    code_id = session.scalar(
        select(RecoveryCode.id).where(
            RecoveryCode.agent_id == agent.id,
            RecoveryCode.code_hash == _recovery_hash(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if code_id is None:
        return False
    # Used up in one statement that still wants it unused: two requests with it, one wins.
    used = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == code_id, RecoveryCode.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return used.rowcount == 1


def _switch_off(unit: Unit, agent: Agent, record: AgentTwoFactor, *, action: str) -> None:
    """Remove the agent's secret and recovery codes, end their sessions, audit it as ``action``
    and tell extensions (an unconfirmed enrolment was not on: it reads ``false`` before)."""
    was_enabled = record.confirmed_at is not None
    _remove(unit.session, record)
    org.end_sessions(agent)
    unit.session.flush()
    unit.audit(
        action,
        "agent",
        agent.id,
        sub_action="two_factor",
        before={"two_factor": was_enabled},
        after={"two_factor": False},
    )
    unit.emit(
        events.AGENT_UPDATED,
        {"agent_id": agent.id, "changes": {"two_factor": [was_enabled, False]}},
    )


def _remove(session: Session, record: AgentTwoFactor) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.agent_id == record.agent_id))
    session.delete(record)
