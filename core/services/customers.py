"""Customers: contacts, accounts, channel identities, tags and products.

Contacts and accounts are organisation-wide (not department-scoped), so their events carry no
departments. Merged contacts are kept, pointing at the contact they were merged into.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, delete, insert, or_, select
from sqlalchemy.orm import Session

from core import permissions
from core.errors import Message, NotFound, ValidationFailed
from core.models import (
    Account,
    Agent,
    Contact,
    ContactIdentity,
    Product,
    Tag,
    account_products,
    contact_products,
)
from core.names import NAME_ORDERS, NameOrder, name_matches
from core.services.base import (
    Cursor,
    Unit,
    apply_changes,
    check_limit,
    clean_email,
    clean_external_id,
    clean_text,
    flush_new,
    gather,
    jsonable,
    newest_first,
    refuse_unknown_fields,
    require_aware,
    split_changes,
)
from core.services.fields import clean_custom_values, custom_value_search
from core.services.phones import organisation_region, phone_matches, to_e164
from core.services.products import create_product as create_product
from hostapi import clock, events

CONTACT_FIELDS: dict[str, int] = {
    "first_name": 200,
    "last_name": 200,
    "phone": 50,
    "mobile": 50,
    "title": 200,
    "description": 100_000,
}
CONTACT_UPDATABLE: frozenset[str] = frozenset(
    {
        *CONTACT_FIELDS,
        "name_order",
        "email",
        "secondary_email",
        "account_id",
        "owner_id",
        "is_spam",
        "custom_fields",
    }
)
ACCOUNT_FIELDS: dict[str, int] = {
    "name": 300,
    "website": 500,
    "phone": 50,
    "industry": 100,
    "description": 100_000,
}
ACCOUNT_UPDATABLE: frozenset[str] = frozenset({*ACCOUNT_FIELDS, "owner_id", "custom_fields"})


# ------------------------------------------------------------------------------- validation


def _owner(session: Session, owner_id: int | None) -> int | None:
    if owner_id is not None and session.get(Agent, owner_id) is None:
        raise ValidationFailed({"owner_id": [Message("Unknown agent.")]})
    return owner_id


def _account_ref(session: Session, account_id: int | None) -> int | None:
    if account_id is not None and session.get(Account, account_id) is None:
        raise ValidationFailed({"account_id": [Message("Unknown account.")]})
    return account_id


def contact_checks(session: Session, fields: dict[str, Any]) -> dict[str, Any]:
    """Checks of built-in contact fields, by name, for :func:`~core.services.base.gather`."""
    checks: dict[str, Any] = {}
    for name, value in fields.items():
        if name in CONTACT_FIELDS:
            checks[name] = lambda n=name, v=value: clean_text(
                v, n, max_length=CONTACT_FIELDS[n], required=n == "last_name"
            )
        elif name in ("email", "secondary_email"):
            checks[name] = lambda n=name, v=value: clean_email(v, n)
        elif name == "account_id":
            checks[name] = lambda v=value: _account_ref(session, v)
        elif name == "owner_id":
            checks[name] = lambda v=value: _owner(session, v)
        elif name == "is_spam":
            checks[name] = lambda v=value: bool(v)
        elif name == "name_order":
            checks[name] = lambda v=value: _name_order(v)
    return checks


def _name_order(value: object) -> str:
    if value not in NAME_ORDERS:
        raise ValidationFailed(
            {"name_order": [Message("Choose one of: %(choices)s.", choices=", ".join(NAME_ORDERS))]}
        )
    return str(value)


def _custom_check(
    unit: Unit, entity: str, record: Contact | Account, changes: dict[str, Any]
) -> Callable[[], dict[str, Any]]:
    """The check of an update's ``custom_fields``: the given keys merged into the record's."""
    values = changes["custom_fields"]
    return lambda: clean_custom_values(
        unit.session, entity, values, existing=record.custom_fields or {}
    )


def _normalise_phones(session: Session, record: Contact | Account) -> None:
    """Keep the E.164 columns that registration and duplicate search match on in step."""
    mobile = record.mobile if isinstance(record, Contact) else ""
    # The region is read only for a number to read (a chat's new contact often has none).
    region = organisation_region(session) if (record.phone or mobile) else ""
    record.phone_e164 = to_e164(record.phone, region)
    if isinstance(record, Contact):
        record.mobile_e164 = to_e164(mobile, region)


# ----------------------------------------------------------------------------------- contacts


def create_contact(
    unit: Unit,
    *,
    last_name: str,
    first_name: str = "",
    name_order: str = NameOrder.AUTO.value,
    email: str | None = None,
    secondary_email: str | None = None,
    phone: str = "",
    mobile: str = "",
    title: str = "",
    description: str = "",
    account_id: int | None = None,
    owner_id: int | None = None,
    tags: Iterable[str] = (),
    external_id: str | None = None,
    created_at: datetime | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    identities: Iterable[Identity] = (),
) -> Contact:
    """Create a contact (``last_name`` required; email lower-cased and checked), known on the
    channels of ``identities`` from the start (each checked as :func:`add_identity` checks it).

    ``name_order`` is how the name is shown (:mod:`core.names`): ``auto`` unless the rule
    would order this contact's name wrongly.

    ``custom_fields`` (values by field key) are checked with
    :func:`core.services.fields.clean_custom_values`, required ones included; without them
    (automatic registration) required custom fields are not asked for.
    """
    unit.actor.require(permissions.CONTACT_CREATE)
    fields = {
        "last_name": last_name,
        "first_name": first_name,
        "name_order": name_order,
        "email": email,
        "secondary_email": secondary_email,
        "phone": phone,
        "mobile": mobile,
        "title": title,
        "description": description,
        "account_id": account_id,
        "owner_id": owner_id,
    }
    checks = contact_checks(unit.session, fields)
    checks["tags"] = lambda: tag_names(tags)
    checks["external_id"] = lambda: clean_external_id(unit.session, Contact, external_id)
    checks["created_at"] = lambda: require_aware(created_at, "created_at")
    if custom_fields is not None:
        checks["custom_fields"] = lambda: clean_custom_values(
            unit.session, "contact", custom_fields
        )
        fields["custom_fields"] = custom_fields
    values = gather(checks)
    known_as = [_identity_values(unit.session, identity, None) for identity in identities]
    now = created_at or clock.now()
    contact = Contact(
        **{name: values[name] for name in fields},
        external_id=values["external_id"],
        created_at=now,
        updated_at=now,
    )
    contact.tags = [_tag(unit.session, name) for name in values["tags"]]
    contact.identities = [ContactIdentity(**identity) for identity in known_as]
    _normalise_phones(unit.session, contact)
    flush_new(unit.session, contact)
    after = {name: jsonable(values[name]) for name in fields}
    if known_as:
        after["identities"] = [_identity_label(identity) for identity in known_as]
    unit.audit("add", "contact", contact.id, after=after)
    unit.emit(events.CONTACT_CREATED, {"contact_id": contact.id})
    return contact


def get_contact(unit: Unit, contact_id: int) -> Contact:
    """The contact ``contact_id`` (merged ones included: see ``merged_into_id``).

    :raises NotFound: no such contact.
    """
    unit.actor.require(permissions.CONTACT_VIEW)
    contact = unit.session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    return contact


def list_contacts(
    unit: Unit,
    *,
    search: str | None = None,
    account_id: int | None = None,
    tag: str | None = None,
    include_spam: bool = False,
    include_merged: bool = False,
    limit: int = 50,
    before: Cursor | str | None = None,
) -> list[Contact]:
    """Contacts newest first, one page at a time; ``search`` matches names, emails, phones."""
    unit.actor.require(permissions.CONTACT_VIEW)
    check_limit(limit)
    cursor = Cursor.parse(before)
    query = select(Contact)
    if not include_spam:
        query = query.where(Contact.is_spam.is_(False))
    if not include_merged:
        query = query.where(Contact.merged_into_id.is_(None))
    if account_id is not None:
        query = query.where(Contact.account_id == account_id)
    if tag:
        query = query.where(Contact.tags.any(Tag.name == tag.strip().lower()))
    if search and search.strip():
        pattern = _like(search.strip())
        query = query.where(
            or_(
                contact_search(unit.session, search.strip()),
                *custom_value_search(unit.session, "contact", Contact.custom_fields, pattern),
            )
        )
    query = newest_first(query, Contact.created_at, Contact.id, cursor, limit)
    return list(unit.session.scalars(query))


def contact_search(session: Session, term: str) -> ColumnElement[bool]:
    """Contacts whose name (either order, see :func:`core.names.name_matches`), email or phone
    (typed in any form, see :func:`core.services.phones.phone_matches`) matches ``term``."""
    pattern = _like(term)
    conditions = [
        name_matches(Contact.first_name, Contact.last_name, term),
        *(
            column.ilike(pattern, escape="\\")
            for column in (Contact.email, Contact.phone, Contact.mobile)
        ),
    ]
    phone = phone_matches(
        term, organisation_region(session), Contact.phone_e164, Contact.mobile_e164
    )
    if phone is not None:
        conditions.append(phone)
    return or_(*conditions)


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def update_contact(unit: Unit, contact: Contact, **changes: Any) -> Contact:
    """Change a contact's fields (see ``CONTACT_UPDATABLE``); a no-op writes nothing."""
    unit.actor.require(permissions.CONTACT_EDIT)
    refuse_unknown_fields(changes, CONTACT_UPDATABLE)
    checks = contact_checks(unit.session, changes)
    if "custom_fields" in changes:
        checks["custom_fields"] = _custom_check(unit, "contact", contact, changes)
    values = gather(checks)
    changed = apply_changes(contact, values)
    if changed:
        _normalise_phones(unit.session, contact)
        _record_contact_change(unit, contact, changed)
    return contact


def _record_contact_change(
    unit: Unit, contact: Contact, changed: dict[str, list[Any]], sub_action: str = ""
) -> None:
    contact.updated_at = clock.now()
    unit.session.flush()
    before, after = split_changes(changed)
    unit.audit("update", "contact", contact.id, sub_action=sub_action, before=before, after=after)
    unit.emit(events.CONTACT_UPDATED, {"contact_id": contact.id, "changes": changed})


# --------------------------------------------------------------------------------- identities


def find_contact_by_identity(unit: Unit, channel: str, external_id: str) -> Contact | None:
    """The contact known on ``channel`` as ``external_id`` (a LINE user id, a phone…), or None.

    A merged contact's identities moved to the contact it was merged into, so this finds
    the kept one.
    """
    unit.actor.require(permissions.CONTACT_VIEW)
    return unit.session.scalar(
        select(Contact)
        .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
        .where(ContactIdentity.channel == channel, ContactIdentity.external_id == external_id)
    )


class Identity(NamedTuple):
    """How a contact is known on a channel: a LINE user id, a Telegram chat…"""

    channel: str
    external_id: str
    display_name: str = ""


def add_identity(
    unit: Unit, contact: Contact, *, channel: str, external_id: str, display_name: str = ""
) -> ContactIdentity:
    """Record how ``contact`` is known on a channel; one identity belongs to one contact."""
    unit.actor.require(permissions.CONTACT_EDIT)
    values = _identity_values(
        unit.session, Identity(channel, external_id, display_name), contact.id
    )
    identity = ContactIdentity(contact_id=contact.id, **values)
    unit.session.add(identity)
    unit.session.flush()
    unit.session.expire(contact, ["identities"])
    _record_contact_change(
        unit, contact, {"identities": [None, _identity_label(values)]}, sub_action="identity"
    )
    return identity


def _identity_values(
    session: Session, identity: Identity, contact_id: int | None
) -> dict[str, str]:
    """An identity's columns, checked: cleaned, and linked to no contact yet (``contact_id``:
    the contact it is for, named in the message when it is linked to that one already)."""
    values = gather(
        {
            "channel": lambda: clean_text(
                identity.channel, "channel", max_length=40, required=True
            ),
            "external_id": lambda: clean_text(
                identity.external_id, "external_id", max_length=300, required=True
            ),
            "display_name": lambda: clean_text(
                identity.display_name, "display_name", max_length=300
            ),
        }
    )
    owner = session.scalar(
        select(ContactIdentity.contact_id).where(
            ContactIdentity.channel == values["channel"],
            ContactIdentity.external_id == values["external_id"],
        )
    )
    if owner is not None:
        message = (
            Message("Already linked to this contact.")
            if owner == contact_id
            else Message("Already linked to another contact.")
        )
        raise ValidationFailed({"external_id": [message]})
    return values


def _identity_label(values: Mapping[str, str]) -> str:
    return f"{values['channel']}:{values['external_id']}"


# --------------------------------------------------------------------------------------- tags


def tag_names(names: Iterable[str]) -> list[str]:
    """Tag names cleaned: trimmed, lower-cased, unique, in order."""
    if isinstance(names, str):
        raise ValidationFailed({"tags": [Message("Give a list of tag names.")]})
    cleaned = []
    for name in names:
        value = clean_text(name, "tags", max_length=100, required=True).lower()
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


def _tag(session: Session, name: str) -> Tag:
    tag = session.scalar(select(Tag).where(Tag.name == name))
    if tag is None:
        tag = Tag(name=name)
        session.add(tag)
    return tag


def set_tags(unit: Unit, contact: Contact, names: Iterable[str]) -> Contact:
    """Replace a contact's tags (names are lower-cased; missing tags are created)."""
    unit.actor.require(permissions.CONTACT_EDIT)
    wanted = gather({"tags": lambda: tag_names(names)})["tags"]
    before = sorted(t.name for t in contact.tags)
    if before == sorted(wanted):
        return contact
    contact.tags = [_tag(unit.session, name) for name in wanted]
    _record_contact_change(unit, contact, {"tags": [before, sorted(wanted)]}, sub_action="tags")
    return contact


# ----------------------------------------------------------------------------------- accounts


def account_checks(session: Session, fields: dict[str, Any]) -> dict[str, Any]:
    """Checks of built-in account fields, by name, for :func:`~core.services.base.gather`."""
    checks: dict[str, Any] = {}
    for name, value in fields.items():
        if name in ACCOUNT_FIELDS:
            checks[name] = lambda n=name, v=value: clean_text(
                v, n, max_length=ACCOUNT_FIELDS[n], required=n == "name"
            )
        elif name == "owner_id":
            checks[name] = lambda v=value: _owner(session, v)
    return checks


def create_account(
    unit: Unit,
    *,
    name: str,
    website: str = "",
    phone: str = "",
    industry: str = "",
    description: str = "",
    owner_id: int | None = None,
    external_id: str | None = None,
    created_at: datetime | None = None,
    custom_fields: Mapping[str, Any] | None = None,
) -> Account:
    """Create an account (a customer organisation); ``custom_fields`` as for contacts."""
    unit.actor.require(permissions.ACCOUNT_CREATE)
    fields = {
        "name": name,
        "website": website,
        "phone": phone,
        "industry": industry,
        "description": description,
        "owner_id": owner_id,
    }
    checks = account_checks(unit.session, fields)
    checks["external_id"] = lambda: clean_external_id(unit.session, Account, external_id)
    checks["created_at"] = lambda: require_aware(created_at, "created_at")
    if custom_fields is not None:
        checks["custom_fields"] = lambda: clean_custom_values(
            unit.session, "account", custom_fields
        )
        fields["custom_fields"] = custom_fields
    values = gather(checks)
    now = created_at or clock.now()
    account = Account(
        **{n: values[n] for n in fields},
        external_id=values["external_id"],
        created_at=now,
        updated_at=now,
    )
    _normalise_phones(unit.session, account)
    flush_new(unit.session, account)
    unit.audit("add", "account", account.id, after={n: values[n] for n in fields})
    unit.emit(events.ACCOUNT_CREATED, {"account_id": account.id})
    return account


def get_account(unit: Unit, account_id: int) -> Account:
    """The account ``account_id``.

    :raises NotFound: no such account.
    """
    unit.actor.require(permissions.ACCOUNT_VIEW)
    account = unit.session.get(Account, account_id)
    if account is None:
        raise NotFound("account not found")
    return account


def list_accounts(
    unit: Unit,
    *,
    search: str | None = None,
    limit: int = 50,
    before: Cursor | str | None = None,
) -> list[Account]:
    """Accounts newest first, one page at a time (merged ones left out); ``search`` matches
    the name and text custom fields."""
    unit.actor.require(permissions.ACCOUNT_VIEW)
    check_limit(limit)
    cursor = Cursor.parse(before)
    query = select(Account).where(Account.merged_into_id.is_(None))
    if search and search.strip():
        pattern = _like(search.strip())
        query = query.where(
            or_(
                Account.name.ilike(pattern, escape="\\"),
                *custom_value_search(unit.session, "account", Account.custom_fields, pattern),
            )
        )
    query = newest_first(query, Account.created_at, Account.id, cursor, limit)
    return list(unit.session.scalars(query))


def update_account(unit: Unit, account: Account, **changes: Any) -> Account:
    """Change an account's fields (see ``ACCOUNT_UPDATABLE``); a no-op writes nothing."""
    unit.actor.require(permissions.ACCOUNT_EDIT)
    refuse_unknown_fields(changes, ACCOUNT_UPDATABLE)
    checks = account_checks(unit.session, changes)
    if "custom_fields" in changes:
        checks["custom_fields"] = _custom_check(unit, "account", account, changes)
    changed = apply_changes(account, gather(checks))
    if changed:
        _normalise_phones(unit.session, account)
        account.updated_at = clock.now()
        unit.session.flush()
        before, after = split_changes(changed)
        unit.audit("update", "account", account.id, before=before, after=after)
        unit.emit(events.ACCOUNT_UPDATED, {"account_id": account.id, "changes": changed})
    return account


# ----------------------------------------------------------------------------------- products

#: Why an inactive product cannot be linked.
INACTIVE_PRODUCT = Message("This product is inactive and cannot be linked.")


def list_products(
    unit: Unit, *, contact_id: int | None = None, account_id: int | None = None
) -> list[Product]:
    """Products by name; only those linked to a contact or an account when one is given."""
    query = select(Product).order_by(Product.name)
    if contact_id is not None:
        unit.actor.require(permissions.CONTACT_VIEW)
        query = query.join(contact_products).where(contact_products.c.contact_id == contact_id)
    elif account_id is not None:
        unit.actor.require(permissions.ACCOUNT_VIEW)
        query = query.join(account_products).where(account_products.c.account_id == account_id)
    return list(unit.session.scalars(query))


def link_product(
    unit: Unit, product: Product, *, contact: Contact | None = None, account: Account | None = None
) -> None:
    """Link a product to a contact or an account (linking twice changes nothing).

    An inactive product is refused (on ``product``) unless it is linked already.
    """
    table, column, record, entity = _product_link(unit, contact, account)
    exists = unit.session.scalar(
        select(table.c.product_id).where(table.c.product_id == product.id, column == record.id)
    )
    if exists is None:
        if not product.is_active:
            raise ValidationFailed({"product": [INACTIVE_PRODUCT]})
        unit.session.execute(
            insert(table).values({"product_id": product.id, column.key: record.id})
        )
        unit.audit(
            "update",
            entity,
            record.id,
            sub_action="product",
            before={"product_id": None},
            after={"product_id": product.id},
        )
        _emit_product_link(unit, product, column.key, record.id, linked=True)


def unlink_product(
    unit: Unit, product: Product, *, contact: Contact | None = None, account: Account | None = None
) -> None:
    """Remove a product from a contact or an account."""
    table, column, record, entity = _product_link(unit, contact, account)
    result = unit.session.execute(
        delete(table).where(table.c.product_id == product.id, column == record.id)
    )
    if result.rowcount:
        unit.audit(
            "update",
            entity,
            record.id,
            sub_action="product",
            before={"product_id": product.id},
            after={"product_id": None},
        )
        _emit_product_link(unit, product, column.key, record.id, linked=False)


def _emit_product_link(
    unit: Unit, product: Product, column: str, record_id: int, *, linked: bool
) -> None:
    ids = {"contact_id": None, "account_id": None} | {column: record_id}
    unit.emit(events.PRODUCT_LINKED, {"product_id": product.id, **ids, "linked": linked})


def _product_link(unit: Unit, contact: Contact | None, account: Account | None) -> Any:
    if (contact is None) == (account is None):
        raise ValidationFailed({"_schema": [Message("Give either a contact or an account.")]})
    if contact is not None:
        unit.actor.require(permissions.CONTACT_EDIT)
        return contact_products, contact_products.c.contact_id, contact, "contact"
    unit.actor.require(permissions.ACCOUNT_EDIT)
    return account_products, account_products.c.account_id, account, "account"
