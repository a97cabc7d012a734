"""Account contracts: created, changed and deleted in the service and REST (``account.view`` to
read, ``account.edit`` to change, audited), and the rule for the contract a request falls under
with the SLA policy it is served under."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound, ValidationFailed
from core.models import (
    Account,
    AccountContract,
    Agent,
    AuditEntry,
    Department,
    Organisation,
    SlaPolicy,
)
from core.services import contracts, customer_deletion, sla
from core.services.base import Unit
from hostapi import scopes

pytest_plugins = ["tests.api_fixtures"]

UnitFor = Callable[[Agent | None], Unit]

APRIL_1, APRIL_30, MAY_1 = date(2026, 4, 1), date(2026, 4, 30), date(2026, 5, 1)


@pytest.fixture
def acme(make_account: Callable[..., Account]) -> Account:
    """The account the contracts are about."""
    return make_account("Acme")


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    """A second department."""
    return make_department("Sales")


@pytest.fixture
def viewer(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An agent who may view accounts but not edit them ("Agent")."""
    return make_agent("viewer@example.com", name="Viewer", departments=[department])


@pytest.fixture
def make_contract(db: Session, unit_for: UnitFor, acme: Account) -> Callable[..., AccountContract]:
    """``make_contract(name, starts_on, **fields)``: a contract of Acme, made by the system."""

    def make(name: str = "Standard", starts_on: date = APRIL_1, **fields: Any) -> AccountContract:
        contract = contracts.create_contract(
            unit_for(None), acme.id, name=name, starts_on=starts_on, **fields
        )
        db.commit()
        return contract

    return make


def _policy(db: Session, unit_for: UnitFor, name: str, departments: list[Department]) -> SlaPolicy:
    policy = sla.create_policy(
        unit_for(None),
        name=name,
        department_ids=[d.id for d in departments],
        targets={"medium": {"first_response_minutes": 60, "resolution_minutes": 480}},
    )
    db.commit()
    return policy


# ----------------------------------------------------------------------------------- changes


def test_create_contract_is_audited(
    db: Session, unit_for: UnitFor, admin_agent: Agent, acme: Account, department: Department
) -> None:
    contract = contracts.create_contract(
        unit_for(admin_agent),
        acme.id,
        name=" Premium ",
        starts_on=APRIL_1,
        ends_on=APRIL_30,
        department_id=department.id,
    )
    db.commit()
    assert contract.name == "Premium"
    entry = db.scalars(select(AuditEntry).where(AuditEntry.entity_type == "account_contract")).one()
    assert (entry.action, entry.actor_agent_id) == ("add", admin_agent.id)
    assert entry.after == {
        "account_id": acme.id,
        "department_id": department.id,
        "ends_on": "2026-04-30",
        "name": "Premium",
        "notes": "",
        "sla_policy_id": None,
        "starts_on": "2026-04-01",
    }


def test_create_contract_names_every_bad_field(
    unit_for: UnitFor, admin_agent: Agent, acme: Account
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        contracts.create_contract(
            unit_for(admin_agent),
            acme.id,
            name="",
            starts_on=datetime(2026, 4, 1, tzinfo=UTC),  # a time, not a day
            department_id=999_999,
            sla_policy_id=999_999,
            notes="x" * 100_001,
        )
    assert set(failure.value.errors) == {
        "name",
        "starts_on",
        "department_id",
        "sla_policy_id",
        "notes",
    }


def test_a_contract_cannot_end_before_it_starts(
    unit_for: UnitFor, admin_agent: Agent, acme: Account
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        contracts.create_contract(
            unit_for(admin_agent), acme.id, name="Backwards", starts_on=MAY_1, ends_on=APRIL_30
        )
    assert failure.value.errors == {"ends_on": [contracts.ENDS_BEFORE_START]}


def test_moving_the_start_past_the_end_is_refused_on_ends_on(
    unit_for: UnitFor, admin_agent: Agent, make_contract: Callable[..., AccountContract]
) -> None:
    contract = make_contract(ends_on=APRIL_30)
    with pytest.raises(ValidationFailed) as failure:
        contracts.update_contract(unit_for(admin_agent), contract, starts_on=MAY_1)
    assert failure.value.errors == {"ends_on": [contracts.ENDS_BEFORE_START]}


def test_update_contract_is_audited_with_days_as_iso_dates(
    db: Session,
    unit_for: UnitFor,
    admin_agent: Agent,
    make_contract: Callable[..., AccountContract],
) -> None:
    contract = make_contract()
    contracts.update_contract(unit_for(admin_agent), contract, ends_on=APRIL_30, notes="Renewed")
    db.commit()
    entry = db.scalars(
        select(AuditEntry).where(
            AuditEntry.entity_type == "account_contract", AuditEntry.action == "update"
        )
    ).one()
    assert (entry.before, entry.after) == (
        {"ends_on": None, "notes": ""},
        {"ends_on": "2026-04-30", "notes": "Renewed"},
    )


def test_an_agent_without_account_edit_cannot_add_a_contract(
    unit_for: UnitFor, viewer: Agent, acme: Account
) -> None:
    with pytest.raises(Forbidden) as refusal:
        contracts.create_contract(unit_for(viewer), acme.id, name="Nope", starts_on=APRIL_1)
    assert refusal.value.permission == "account.edit"


def test_a_contract_of_another_account_is_not_found(
    unit_for: UnitFor,
    viewer: Agent,
    make_account: Callable[..., Account],
    make_contract: Callable[..., AccountContract],
) -> None:
    other = make_account("Globex")
    with pytest.raises(NotFound):
        contracts.get_contract(unit_for(viewer), make_contract().id, account_id=other.id)


def test_deleting_a_contract_is_audited_with_what_it_said(
    db: Session,
    unit_for: UnitFor,
    admin_agent: Agent,
    make_contract: Callable[..., AccountContract],
) -> None:
    contract = make_contract("Gold")
    contracts.delete_contract(unit_for(admin_agent), contract)
    db.commit()
    assert db.scalars(select(AccountContract)).all() == []
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "delete")).one()
    assert entry.before["name"] == "Gold"


def test_deleting_the_account_deletes_its_contracts(
    db: Session,
    unit_for: UnitFor,
    admin_agent: Agent,
    acme: Account,
    make_contract: Callable[..., AccountContract],
) -> None:
    make_contract()
    customer_deletion.delete_accounts(unit_for(admin_agent), [acme])
    db.commit()
    assert db.scalars(select(AccountContract)).all() == []


# ---------------------------------------------------------------------- the active contract


def _active_on(
    unit: Unit, account: Account, day: date, department: Department | None
) -> AccountContract | None:
    department_id = department.id if department is not None else None
    return contracts.active_contract(unit, account.id, department_id=department_id, day=day)


def test_a_contract_is_active_from_its_first_to_its_last_day(
    unit_for: UnitFor,
    viewer: Agent,
    acme: Account,
    department: Department,
    make_contract: Callable[..., AccountContract],
) -> None:
    contract = make_contract(starts_on=APRIL_1, ends_on=APRIL_30)
    active = {
        day: _active_on(unit_for(viewer), acme, day, department)
        for day in (APRIL_1 - timedelta(days=1), APRIL_1, APRIL_30, MAY_1)
    }
    assert active == {date(2026, 3, 31): None, APRIL_1: contract, APRIL_30: contract, MAY_1: None}


def test_an_open_ended_contract_stays_active(
    unit_for: UnitFor,
    viewer: Agent,
    acme: Account,
    department: Department,
    make_contract: Callable[..., AccountContract],
) -> None:
    contract = make_contract(starts_on=APRIL_1)
    assert _active_on(unit_for(viewer), acme, date(2036, 4, 1), department) == contract


def test_a_contract_for_another_department_does_not_cover_the_request(
    unit_for: UnitFor,
    viewer: Agent,
    acme: Account,
    department: Department,
    sales: Department,
    make_contract: Callable[..., AccountContract],
) -> None:
    make_contract(department_id=sales.id)
    assert _active_on(unit_for(viewer), acme, APRIL_30, department) is None


def test_a_contract_for_every_department_covers_any_department(
    unit_for: UnitFor,
    viewer: Agent,
    acme: Account,
    sales: Department,
    make_contract: Callable[..., AccountContract],
) -> None:
    contract = make_contract(department_id=None)
    assert _active_on(unit_for(viewer), acme, APRIL_30, sales) == contract


def test_a_request_in_no_department_falls_under_contracts_for_every_department_only(
    unit_for: UnitFor,
    viewer: Agent,
    acme: Account,
    department: Department,
    make_contract: Callable[..., AccountContract],
) -> None:
    make_contract("Support only", department_id=department.id)
    everywhere = make_contract("Everywhere", starts_on=date(2026, 1, 1))
    assert _active_on(unit_for(viewer), acme, APRIL_30, None) == everywhere


def test_the_contract_that_started_last_wins(
    unit_for: UnitFor,
    viewer: Agent,
    acme: Account,
    department: Department,
    make_contract: Callable[..., AccountContract],
) -> None:
    make_contract("Old, still running", starts_on=date(2025, 1, 1))
    newest = make_contract("Upgrade", starts_on=APRIL_1, department_id=department.id)
    make_contract("Not yet", starts_on=MAY_1)
    assert _active_on(unit_for(viewer), acme, APRIL_30, department) == newest


def test_another_accounts_contracts_do_not_count(
    unit_for: UnitFor,
    viewer: Agent,
    department: Department,
    make_account: Callable[..., Account],
    make_contract: Callable[..., AccountContract],
) -> None:
    make_contract()
    assert _active_on(unit_for(viewer), make_account("Globex"), APRIL_30, department) is None


def test_today_is_the_organisations_calendar_day(
    db: Session,
    unit_for: UnitFor,
    viewer: Agent,
    acme: Account,
    department: Department,
    make_contract: Callable[..., AccountContract],
    deskhost_clock: ModuleType,
) -> None:
    db.scalars(select(Organisation)).one().timezone = "Asia/Tokyo"
    db.commit()
    deskhost_clock.freeze(datetime(2026, 3, 31, 16, 0, tzinfo=UTC))  # 1 April, 01:00 in Tokyo
    contract = make_contract(starts_on=APRIL_1)
    found = contracts.active_contract(unit_for(viewer), acme.id, department_id=department.id)
    assert found == contract


def test_terms_name_the_contract_and_its_sla_policy(
    db: Session,
    unit_for: UnitFor,
    viewer: Agent,
    acme: Account,
    department: Department,
    make_contract: Callable[..., AccountContract],
) -> None:
    _policy(db, unit_for, "Standard", [department])
    premium = _policy(db, unit_for, "Premium 24x7", [])
    make_contract("Gold", sla_policy_id=premium.id)
    terms = contracts.service_terms(
        unit_for(viewer), acme.id, department_id=department.id, day=APRIL_30
    )
    assert (terms.contract_name, terms.sla_name) == ("Gold", "Premium 24x7")


def test_terms_fall_back_to_the_departments_sla_policy(
    db: Session,
    unit_for: UnitFor,
    viewer: Agent,
    acme: Account,
    department: Department,
    make_contract: Callable[..., AccountContract],
) -> None:
    _policy(db, unit_for, "Standard", [department])
    make_contract("Basic")
    terms = contracts.service_terms(
        unit_for(viewer), acme.id, department_id=department.id, day=APRIL_30
    )
    assert (terms.contract_name, terms.sla_name) == ("Basic", "Standard")


def test_terms_without_a_contract_name_the_departments_sla_policy_only(
    db: Session, unit_for: UnitFor, viewer: Agent, acme: Account, department: Department
) -> None:
    _policy(db, unit_for, "Standard", [department])
    terms = contracts.service_terms(
        unit_for(viewer), acme.id, department_id=department.id, day=APRIL_30
    )
    assert (terms.contract_name, terms.sla_name) == (None, "Standard")


def test_terms_pass_over_an_inactive_contract_policy(
    db: Session,
    unit_for: UnitFor,
    viewer: Agent,
    acme: Account,
    department: Department,
    make_contract: Callable[..., AccountContract],
) -> None:
    _policy(db, unit_for, "Standard", [department])
    retired = _policy(db, unit_for, "Retired", [])
    sla.update_policy(unit_for(None), retired, is_active=False)
    make_contract("Legacy", sla_policy_id=retired.id)
    terms = contracts.service_terms(
        unit_for(viewer), acme.id, department_id=department.id, day=APRIL_30
    )
    assert terms.sla_name == "Standard"


# ------------------------------------------------------------------------------------- REST


def test_rest_creates_lists_and_reads_a_contract(
    client: FlaskClient, sign_in_as, admin_agent: Agent, acme: Account, department: Department
) -> None:
    headers = sign_in_as(admin_agent)
    path = f"/api/v1/accounts/{acme.id}/contracts"
    made = client.post(
        path,
        json={"name": "Premium", "starts_on": "2026-04-01", "department_id": department.id},
        headers=headers,
    )
    assert made.status_code == 201, made.json
    assert (made.json["starts_on"], made.json["ends_on"]) == ("2026-04-01", None)
    assert [c["id"] for c in client.get(path).json["items"]] == [made.json["id"]]
    assert client.get(f"{path}/{made.json['id']}").json["name"] == "Premium"


def test_rest_changes_and_deletes_a_contract(
    client: FlaskClient, sign_in_as, admin_agent: Agent, acme: Account, make_contract
) -> None:
    path = f"/api/v1/accounts/{acme.id}/contracts/{make_contract().id}"
    headers = sign_in_as(admin_agent)
    changed = client.patch(path, json={"ends_on": "2026-04-30"}, headers=headers)
    assert changed.status_code == 200 and changed.json["ends_on"] == "2026-04-30"
    assert client.delete(path, headers=headers).status_code == 204
    assert client.get(path).status_code == 404


def test_rest_names_the_bad_field(
    client: FlaskClient, sign_in_as, admin_agent: Agent, acme: Account
) -> None:
    headers = sign_in_as(admin_agent)
    answer = client.post(
        f"/api/v1/accounts/{acme.id}/contracts",
        json={"name": "Backwards", "starts_on": "2026-05-01", "ends_on": "2026-04-30"},
        headers=headers,
    )
    assert answer.status_code == 422
    assert answer.json["errors"]["json"] == {"ends_on": [contracts.ENDS_BEFORE_START]}


def test_rest_contract_under_another_account_is_404(
    client: FlaskClient, sign_in_as, admin_agent: Agent, make_account, make_contract
) -> None:
    contract_id = make_contract().id
    other = make_account("Globex")
    headers = sign_in_as(admin_agent)
    path = f"/api/v1/accounts/{other.id}/contracts/{contract_id}"
    assert client.get(path).status_code == 404
    assert client.patch(path, json={"name": "Mine"}, headers=headers).status_code == 404


def test_rest_agent_without_account_edit_gets_403(
    client: FlaskClient, sign_in_as, viewer: Agent, acme: Account, make_contract
) -> None:
    path = f"/api/v1/accounts/{acme.id}/contracts/{make_contract().id}"
    headers = sign_in_as(viewer)
    assert client.get(path).status_code == 200
    answer = client.patch(path, json={"name": "Mine"}, headers=headers)
    assert answer.status_code == 403
    assert answer.json["permission"] == "account.edit"


def test_rest_pages_through_more_contracts_than_one_page(
    client: FlaskClient, sign_in_as, viewer: Agent, acme: Account, make_contract
) -> None:
    for number in range(5):
        make_contract(f"Contract {number}")
    sign_in_as(viewer)
    path = f"/api/v1/accounts/{acme.id}/contracts?limit=2"
    names, cursor = [], ""
    for _page in range(3):
        answer = client.get(f"{path}&cursor={cursor}").json
        names += [c["name"] for c in answer["items"]]
        cursor = answer["next_cursor"]
    assert names == [f"Contract {n}" for n in (4, 3, 2, 1, 0)]
    assert cursor is None


def test_rest_changes_need_the_accounts_write_scope(
    client: FlaskClient, bearer_for, admin_agent: Agent, acme: Account
) -> None:
    reading = bearer_for(admin_agent, [scopes.ACCOUNTS_READ])
    path = f"/api/v1/accounts/{acme.id}/contracts"
    assert client.get(path, headers=reading).status_code == 200
    answer = client.post(path, json={"name": "X", "starts_on": "2026-04-01"}, headers=reading)
    assert answer.status_code == 403
    assert answer.json["scope"] == scopes.ACCOUNTS_WRITE
