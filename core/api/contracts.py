"""``/api/v1/accounts/<id>/contracts``: an account's contracts.

Reading takes the ``desk.accounts.read`` scope and the ``account.view`` permission, changes
``desk.accounts.write`` and ``account.edit``, as the account's other parts do. A contract of
another account answers 404.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from core.api import schemas
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.api.paging import list_page
from core.models import AccountContract
from core.services import contracts as contract_service
from hostapi import scopes

account_contracts = api_blueprint(
    "api_account_contracts",
    __name__,
    "/accounts",
    "Contracts of accounts: what each covers (a department or all), when, under which SLA.",
)


class ContractSchema(ma.Schema):
    """A contract of an account, active from ``starts_on`` to ``ends_on`` (both included)."""

    id = fields.Integer()
    account_id = fields.Integer()
    name = fields.String()
    department_id = fields.Integer(
        allow_none=True, metadata={"description": "The department it covers; null: every one."}
    )
    sla_policy_id = fields.Integer(allow_none=True)
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True, metadata={"description": "Null: open-ended."})
    notes = fields.String()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class ContractUpdateSchema(schemas.StrictSchema):
    """Changes to a contract: only the fields given change (``ends_on: null`` removes the end)."""

    name = schemas.Text(min_length=1, max_length=contract_service.MAX_NAME)
    department_id = schemas.Id(allow_none=True)
    sla_policy_id = schemas.Id(allow_none=True)
    starts_on = fields.Date()
    ends_on = fields.Date(allow_none=True)
    notes = schemas.Text(max_length=contract_service.MAX_NOTES)


class ContractCreateSchema(ContractUpdateSchema):
    """A new contract; ``department_id`` null covers every department."""

    name = schemas.Text(required=True, min_length=1, max_length=contract_service.MAX_NAME)
    department_id = schemas.Id(load_default=None, allow_none=True)
    sla_policy_id = schemas.Id(load_default=None, allow_none=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(load_default=None, allow_none=True)
    notes = schemas.Text(load_default="", max_length=contract_service.MAX_NOTES)


ContractPage = schemas.page_of(ContractSchema, "ContractPage")


@account_contracts.route("/<bigid:account_id>/contracts", methods=["GET"])
@scoped(scopes.ACCOUNTS_READ)
@account_contracts.arguments(schemas.PageArgsSchema, location="query", as_kwargs=True)
@account_contracts.response(200, ContractPage)
def list_contracts(limit: int, cursor: str | None, account_id: int) -> dict[str, Any]:
    """List the account's contracts, newest first."""
    return list_page(contract_service.list_contracts, unit(), limit, cursor, account_id=account_id)


@account_contracts.route("/<bigid:account_id>/contracts", methods=["POST"])
@scoped(scopes.ACCOUNTS_WRITE)
@account_contracts.arguments(ContractCreateSchema)
@account_contracts.response(201, ContractSchema)
def create_contract(data: dict[str, Any], account_id: int) -> AccountContract:
    """Add a contract to the account (needs ``account.edit``)."""
    contract = contract_service.create_contract(unit(), account_id, **data)
    commit()
    return contract


@account_contracts.route("/<bigid:account_id>/contracts/<id:contract_id>", methods=["GET"])
@scoped(scopes.ACCOUNTS_READ)
@account_contracts.response(200, ContractSchema)
def get_contract(account_id: int, contract_id: int) -> AccountContract:
    """Read one contract of the account."""
    return contract_service.get_contract(unit(), contract_id, account_id=account_id)


@account_contracts.route("/<bigid:account_id>/contracts/<id:contract_id>", methods=["PATCH"])
@scoped(scopes.ACCOUNTS_WRITE)
@account_contracts.arguments(ContractUpdateSchema)
@account_contracts.response(200, ContractSchema)
def update_contract(changes: dict[str, Any], account_id: int, contract_id: int) -> AccountContract:
    """Change a contract of the account (needs ``account.edit``)."""
    work = unit()
    contract = contract_service.update_contract(
        work, contract_service.get_contract(work, contract_id, account_id=account_id), **changes
    )
    commit()
    return contract


@account_contracts.route("/<bigid:account_id>/contracts/<id:contract_id>", methods=["DELETE"])
@scoped(scopes.ACCOUNTS_WRITE)
@account_contracts.response(204)
def delete_contract(account_id: int, contract_id: int) -> None:
    """Delete a contract of the account (needs ``account.edit``)."""
    work = unit()
    contract_service.delete_contract(
        work, contract_service.get_contract(work, contract_id, account_id=account_id)
    )
    commit()
