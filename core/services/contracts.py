"""Account contracts: what an account bought, from when to when, for which department, under
which SLA policy.

Contracts are account data, organisation-wide like the accounts themselves: reading them needs
``account.view``, changing them ``account.edit``, and every change is audited
(``account_contract``). A contract is *active* on a day from its ``starts_on`` to its
``ends_on``, both included (no ``ends_on``: open-ended); days are the organisation's calendar
days. :func:`active_contract` finds the contract an account's request in a department falls
under, and :func:`service_terms` adds the SLA policy it is served under, for a chat window or
a ticket panel to show "contract" and "SLA" by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from core import permissions
from core.errors import Message, NotFound, ValidationFailed
from core.models import AccountContract, Department, SlaPolicy
from core.models.types import id_maximum
from core.services import customers, sla
from core.services.base import (
    Cursor,
    Unit,
    apply_changes,
    check_limit,
    clean_text,
    gather,
    jsonable,
    newest_first,
    refuse_unknown_fields,
    split_changes,
)
from hostapi import clock

#: The lengths of the contract's text columns.
MAX_NAME = 200
MAX_NOTES = 100_000
#: What :func:`update_contract` changes.
UPDATABLE: frozenset[str] = frozenset(
    {"name", "department_id", "sla_policy_id", "starts_on", "ends_on", "notes"}
)
UNKNOWN_DEPARTMENT = Message("Unknown department.")
UNKNOWN_POLICY = Message("Unknown SLA policy.")
GIVE_A_DATE = Message("Give a date.")
ENDS_BEFORE_START = Message("The contract cannot end before it starts.")


def today(session: Session) -> date:
    """Today in the organisation's time zone: the day contracts are active on by default."""
    return clock.now().astimezone(ZoneInfo(sla.organisation_timezone(session))).date()


# ------------------------------------------------------------------------------- field checks


def _department(session: Session, value: object) -> int | None:
    if value is None:
        return None
    department = (
        session.get(Department, value)
        if isinstance(value, int)
        and not isinstance(value, bool)
        and 0 < value <= id_maximum(Department)
        else None
    )
    if department is None:
        raise ValidationFailed({"department_id": [UNKNOWN_DEPARTMENT]})
    return department.id


def _policy(session: Session, value: object) -> int | None:
    if value is None:
        return None
    policy = (
        session.get(SlaPolicy, value)
        if isinstance(value, int)
        and not isinstance(value, bool)
        and 0 < value <= id_maximum(SlaPolicy)
        else None
    )
    if policy is None:
        raise ValidationFailed({"sla_policy_id": [UNKNOWN_POLICY]})
    return policy.id


def _day(value: object, field: str) -> date:
    # A datetime is a date too, and would compare with neither.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationFailed({field: [GIVE_A_DATE]})
    return value


def _end(value: object, starts_on: object) -> date | None:
    if value is None:
        return None
    ends_on = _day(value, "ends_on")
    # A bad start is refused on its own field; the end is compared with a valid one only.
    if isinstance(starts_on, date) and not isinstance(starts_on, datetime) and ends_on < starts_on:
        raise ValidationFailed({"ends_on": [ENDS_BEFORE_START]})
    return ends_on


def _checks(session: Session, given: Mapping[str, Any]) -> dict[str, Callable[[], Any]]:
    """Each field's check of the contract ``given`` describes (its whole state after the change:
    the end is checked against the start)."""
    return {
        "name": lambda: clean_text(given["name"], "name", max_length=MAX_NAME, required=True),
        "department_id": lambda: _department(session, given["department_id"]),
        "sla_policy_id": lambda: _policy(session, given["sla_policy_id"]),
        "starts_on": lambda: _day(given["starts_on"], "starts_on"),
        "ends_on": lambda: _end(given["ends_on"], given["starts_on"]),
        "notes": lambda: clean_text(given["notes"], "notes", max_length=MAX_NOTES),
    }


def _snapshot(contract: AccountContract) -> dict[str, Any]:
    return {name: jsonable(getattr(contract, name)) for name in ("account_id", *sorted(UPDATABLE))}


# ------------------------------------------------------------------------------------ changes


def create_contract(
    unit: Unit,
    account_id: int,
    *,
    name: str,
    starts_on: date,
    ends_on: date | None = None,
    department_id: int | None = None,
    sla_policy_id: int | None = None,
    notes: str = "",
) -> AccountContract:
    """Add a contract to an account: for ``department_id`` (``None``: every department), under
    ``sla_policy_id`` if given, active from ``starts_on`` to ``ends_on`` (``None``: no end).

    :raises NotFound: no such account.
    :raises ValidationFailed: naming each bad field (an end before the start on ``ends_on``).
    """
    account = customers.get_account(unit, account_id)
    unit.actor.require(permissions.ACCOUNT_EDIT)
    given = {
        "name": name,
        "department_id": department_id,
        "sla_policy_id": sla_policy_id,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "notes": notes,
    }
    values = gather(_checks(unit.session, given))
    now = clock.now()
    contract = AccountContract(**values, account_id=account.id, created_at=now, updated_at=now)
    unit.session.add(contract)
    unit.session.flush()
    unit.audit("add", "account_contract", contract.id, after=_snapshot(contract))
    return contract


def update_contract(unit: Unit, contract: AccountContract, **changes: Any) -> AccountContract:
    """Change the fields given of a contract (``ends_on=None`` makes it open-ended).

    :raises ValidationFailed: naming each bad field; a new start after the contract's end is
        refused on ``ends_on``.
    """
    unit.actor.require(permissions.ACCOUNT_EDIT)
    refuse_unknown_fields(changes, UPDATABLE)
    state = {name: getattr(contract, name) for name in UPDATABLE} | changes
    checked = set(changes) | ({"ends_on"} if "starts_on" in changes else set())
    values = gather(
        {name: check for name, check in _checks(unit.session, state).items() if name in checked}
    )
    changed = apply_changes(contract, values)
    if changed:
        contract.updated_at = clock.now()
        unit.session.flush()
        before, after = split_changes(changed)
        unit.audit("update", "account_contract", contract.id, before=before, after=after)
    return contract


def delete_contract(unit: Unit, contract: AccountContract) -> None:
    """Delete a contract (its audit entry keeps what it said)."""
    unit.actor.require(permissions.ACCOUNT_EDIT)
    unit.audit("delete", "account_contract", contract.id, before=_snapshot(contract))
    unit.session.delete(contract)
    unit.session.flush()


# ------------------------------------------------------------------------------------ reading


def get_contract(unit: Unit, contract_id: int, *, account_id: int | None = None) -> AccountContract:
    """The contract ``contract_id`` (of the account ``account_id``, when given).

    :raises NotFound: no such contract, or it is another account's.
    :raises Forbidden: the actor may not view accounts.
    """
    unit.actor.require(permissions.ACCOUNT_VIEW)
    contract = (
        unit.session.get(AccountContract, contract_id)
        if 0 < contract_id <= id_maximum(AccountContract)
        else None
    )
    if contract is None or account_id not in (None, contract.account_id):
        raise NotFound("contract not found")
    return contract


def list_contracts(
    unit: Unit, account_id: int, *, limit: int = 50, before: Cursor | str | None = None
) -> list[AccountContract]:
    """An account's contracts, newest first, one page at a time; ``before`` is the
    :class:`Cursor` of the previous page's last one.

    :raises NotFound: no such account.
    """
    customers.get_account(unit, account_id)
    check_limit(limit)
    query = select(AccountContract).where(AccountContract.account_id == account_id)
    query = newest_first(
        query, AccountContract.created_at, AccountContract.id, Cursor.parse(before), limit
    )
    return list(unit.session.scalars(query))


def active_contract(
    unit: Unit, account_id: int, *, department_id: int | None, day: date | None = None
) -> AccountContract | None:
    """The account's contract that covers a request in ``department_id`` on ``day``.

    A contract covers it when active that day (``starts_on <= day``, and ``day <= ends_on``
    unless open-ended) and made for that department or for every department; of several, the
    one that started last wins (then the one added last). ``department_id=None`` (a request
    in no particular department) is covered by contracts for every department only. ``day``
    defaults to today in the organisation's time zone (:func:`today`). ``None`` when no
    contract covers it, or the account does not exist.
    """
    unit.actor.require(permissions.ACCOUNT_VIEW)
    on = day if day is not None else today(unit.session)
    covers: ColumnElement[bool] = AccountContract.department_id.is_(None)
    if department_id is not None:
        covers = or_(covers, AccountContract.department_id == department_id)
    return unit.session.scalar(
        select(AccountContract)
        .where(
            AccountContract.account_id == account_id,
            covers,
            AccountContract.starts_on <= on,
            or_(AccountContract.ends_on.is_(None), AccountContract.ends_on >= on),
        )
        .order_by(AccountContract.starts_on.desc(), AccountContract.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class ServiceTerms:
    """What an account's request in a department is served under: the contract that covers it
    (:func:`active_contract`) and the SLA policy that applies."""

    contract: AccountContract | None
    sla_policy: SlaPolicy | None

    @property
    def contract_name(self) -> str | None:
        """The contract's name; ``None`` without a contract."""
        return self.contract.name if self.contract is not None else None

    @property
    def sla_name(self) -> str | None:
        """The SLA policy's name; ``None`` when no policy applies."""
        return self.sla_policy.name if self.sla_policy is not None else None


def service_terms(
    unit: Unit, account_id: int, *, department_id: int | None, day: date | None = None
) -> ServiceTerms:
    """The contract covering an account's request in ``department_id`` on ``day`` and the SLA
    policy it is served under: the contract's own when it names an active one, else the active
    policy covering the department (``None`` when neither applies)."""
    contract = active_contract(unit, account_id, department_id=department_id, day=day)
    policy = contract.sla_policy if contract is not None else None
    if policy is not None and not policy.is_active:
        policy = None
    if policy is None and department_id is not None:
        policy = sla.policy_for_department(unit.session, department_id)
    return ServiceTerms(contract, policy)
