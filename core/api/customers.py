"""``/api/v1/contacts`` and ``/api/v1/accounts``: customers, organisation-wide."""

from __future__ import annotations

from typing import Any

from core.api import schemas
from core.api.auth import scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.api.paging import list_page
from core.models import Account, Contact
from core.services import customers as customer_service
from core.services import merge
from hostapi import scopes

contacts = api_blueprint("api_contacts", __name__, "/contacts", "Contacts (organisation-wide).")
accounts = api_blueprint("api_accounts", __name__, "/accounts", "Accounts (organisation-wide).")

ContactPage = schemas.page_of(schemas.ContactSchema, "ContactPage")
AccountPage = schemas.page_of(schemas.AccountSchema, "AccountPage")


@contacts.route("", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@contacts.arguments(schemas.SearchPageArgsSchema, location="query", as_kwargs=True)
@contacts.response(200, ContactPage)
def list_contacts(limit: int, cursor: str | None, search: str | None) -> dict[str, Any]:
    """List contacts newest first (merged and spam ones left out)."""
    return list_page(customer_service.list_contacts, unit(), limit, cursor, search=search)


@contacts.route("", methods=["POST"])
@scoped(scopes.CONTACTS_WRITE)
@contacts.arguments(schemas.ContactCreateSchema)
@contacts.response(201, schemas.ContactSchema)
def create_contact(data: dict[str, Any]) -> Contact:
    """Create a contact."""
    contact = customer_service.create_contact(unit(), **data)
    commit()
    return contact


@contacts.route("/<bigid:contact_id>", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@contacts.response(200, schemas.ContactSchema)
def get_contact(contact_id: int) -> Contact:
    """Read one contact (a merged one names the contact it was merged into)."""
    return customer_service.get_contact(unit(), contact_id)


@contacts.route("/<bigid:contact_id>", methods=["PATCH"])
@scoped(scopes.CONTACTS_WRITE)
@contacts.arguments(schemas.ContactUpdateSchema)
@contacts.response(200, schemas.ContactSchema)
def update_contact(changes: dict[str, Any], contact_id: int) -> Contact:
    """Change the fields given."""
    work = unit()
    contact = customer_service.update_contact(
        work, customer_service.get_contact(work, contact_id), **changes
    )
    commit()
    return contact


@contacts.route("/<bigid:contact_id>/merge", methods=["POST"])
@scoped(scopes.CONTACTS_WRITE)
@contacts.arguments(schemas.ContactMergeSchema)
@contacts.response(200, schemas.ContactSchema)
def merge_contacts(data: dict[str, Any], contact_id: int) -> Contact:
    """Merge duplicates into this contact: their tickets and history move here.

    The same merge as ``POST /contacts/merge`` with this contact as the survivor.
    """
    work = unit()
    keep = customer_service.get_contact(work, contact_id)
    duplicates = [customer_service.get_contact(work, other) for other in data["contact_ids"]]
    contact = merge.merge_contacts(work, keep, duplicates, data["choices"])
    commit()
    return contact


@accounts.route("", methods=["GET"])
@scoped(scopes.ACCOUNTS_READ)
@accounts.arguments(schemas.SearchPageArgsSchema, location="query", as_kwargs=True)
@accounts.response(200, AccountPage)
def list_accounts(limit: int, cursor: str | None, search: str | None) -> dict[str, Any]:
    """List accounts newest first."""
    return list_page(customer_service.list_accounts, unit(), limit, cursor, search=search)


@accounts.route("", methods=["POST"])
@scoped(scopes.ACCOUNTS_WRITE)
@accounts.arguments(schemas.AccountCreateSchema)
@accounts.response(201, schemas.AccountSchema)
def create_account(data: dict[str, Any]) -> Account:
    """Create an account."""
    account = customer_service.create_account(unit(), **data)
    commit()
    return account


@accounts.route("/<bigid:account_id>", methods=["GET"])
@scoped(scopes.ACCOUNTS_READ)
@accounts.response(200, schemas.AccountSchema)
def get_account(account_id: int) -> Account:
    """Read one account."""
    return customer_service.get_account(unit(), account_id)


@accounts.route("/<bigid:account_id>", methods=["PATCH"])
@scoped(scopes.ACCOUNTS_WRITE)
@accounts.arguments(schemas.AccountUpdateSchema)
@accounts.response(200, schemas.AccountSchema)
def update_account(changes: dict[str, Any], account_id: int) -> Account:
    """Change the fields given."""
    work = unit()
    account = customer_service.update_account(
        work, customer_service.get_account(work, account_id), **changes
    )
    commit()
    return account
