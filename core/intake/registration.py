"""Automatic registration: the sender of a message on any channel becomes (or is) a contact.

A sender is matched, in this order, by their channel identity (a LINE user id, a WhatsApp
number…), their email address (primary or secondary, any case) and their phone number in
E.164 (phone or mobile, however it was typed). A merged contact is never matched: the match
follows ``merged_into_id`` to the contact that survived. An unknown sender is created.

Concurrent arrivals from one new sender must create one contact, not several. On PostgreSQL
each arrival takes a transaction-scoped advisory lock per normalised key (sorted, so two
arrivals never wait for each other in opposite orders) before looking up; on SQLite the
session must be a write session (``BEGIN IMMEDIATE``, see :mod:`core.db`), which serialises
writers for the whole transaction. This module is the one door every channel uses, the chat
and IM extensions included (a later ``hostapi`` method wraps :func:`match_or_create_contact`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from core.db import WRITE_OPTION
from core.errors import Message, ValidationFailed
from core.models import Contact, ContactIdentity
from core.services import customers
from core.services.base import Unit
from core.services.phones import organisation_region, to_e164

#: Channels whose senders are known by an address of their own: no identity row is needed.
ADDRESS_CHANNELS: frozenset[str] = frozenset({"email", "web_form", "phone", "api"})

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MAX_MERGE_HOPS = 20


@dataclass(frozen=True)
class SenderKeys:
    """A sender's normalised keys: what registration matches on."""

    channel: str
    email: str | None
    phone_e164: str | None
    external_id: str | None

    def lock_names(self) -> list[str]:
        """The advisory-lock names of these keys, sorted (one lock order for everyone)."""
        names = []
        if self.external_id:
            names.append(f"identity:{self.channel}:{self.external_id}")
        if self.email:
            names.append(f"email:{self.email}")
        if self.phone_e164:
            names.append(f"phone:{self.phone_e164}")
        return sorted(names)


def normalise_email(raw: str | None) -> str | None:
    """``raw`` stripped and lower-cased, or None when empty or not an address."""
    if not raw or not raw.strip():
        return None
    value = raw.strip().lower()
    return value if _EMAIL.match(value) and len(value) <= 320 else None


def sender_keys(
    session: Session,
    *,
    channel: str,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
) -> SenderKeys:
    """A sender's keys, normalised (the phone in the organisation's region)."""
    identity = external_id.strip() if external_id and external_id.strip() else None
    return SenderKeys(
        channel=channel,
        email=normalise_email(email),
        phone_e164=to_e164(phone, organisation_region(session)) if phone else None,
        external_id=identity,
    )


def find_contact(session: Session, keys: SenderKeys) -> Contact | None:
    """The contact these keys name (identity, then email, then phone), merges followed."""
    contact: Contact | None = None
    if keys.external_id:
        contact = session.scalar(
            select(Contact)
            .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
            .where(
                ContactIdentity.channel == keys.channel,
                ContactIdentity.external_id == keys.external_id,
            )
        )
    if contact is None and keys.email:
        contact = _first(
            session,
            or_(
                func.lower(Contact.email) == keys.email,
                func.lower(Contact.secondary_email) == keys.email,
            ),
        )
    if contact is None and keys.phone_e164:
        contact = _first(
            session,
            or_(Contact.phone_e164 == keys.phone_e164, Contact.mobile_e164 == keys.phone_e164),
        )
    return survivor(session, contact) if contact is not None else None


def _first(session: Session, condition: object) -> Contact | None:
    # A contact that was not merged wins over one that was; the oldest first among equals.
    return session.scalar(
        select(Contact)
        .where(condition)  # type: ignore[arg-type]
        .order_by(Contact.merged_into_id.is_not(None), Contact.id)
        .limit(1)
    )


def survivor(session: Session, contact: Contact) -> Contact:
    """The contact ``contact`` was merged into (through every merge), or itself."""
    hops = 0
    while contact.merged_into_id is not None and hops < _MAX_MERGE_HOPS:
        following = session.get(Contact, contact.merged_into_id)
        if following is None:
            break
        contact, hops = following, hops + 1
    return contact


def serialise_arrivals(session: Session, keys: SenderKeys) -> None:
    """Make concurrent arrivals of these keys wait for each other until this one commits.

    :raises RuntimeError: on SQLite, when the session is not a write session (its deferred
        transaction would fail with "database is locked" under concurrent arrivals).
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        for name in keys.lock_names():
            digest = hashlib.sha256(name.encode()).digest()
            key = int.from_bytes(digest[:8], "big", signed=True)
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif not connection.get_execution_options().get(WRITE_OPTION):
        raise RuntimeError("registering a sender needs a write session (host.write_sessions)")


def match_or_create_contact(
    unit: Unit,
    *,
    channel: str,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
    name: str = "",
    given_name: str = "",
    family_name: str = "",
) -> tuple[Contact, bool]:
    """The contact who sent a message on ``channel``, and whether it was created just now.

    Matches by channel identity (``external_id``), email, then phone (see the module
    docstring). A new contact's last name is ``name``, else the email's local part, else the
    phone or the identity; the full display name goes into the last name because no rule
    splits every culture's names right. A channel that asks for the name in its parts (the web
    form) gives ``family_name`` and ``given_name``, stored as they are. On chat and IM channels
    the identity is recorded, on a matched contact too, so the next message matches by it first.

    :raises ValidationFailed: none of email, phone or ``external_id`` is usable.
    """
    session = unit.session
    keys = sender_keys(session, channel=channel, email=email, phone=phone, external_id=external_id)
    if not (keys.email or keys.phone_e164 or keys.external_id):
        raise ValidationFailed(
            {"sender": [Message("Give an email address, a phone number or a channel user id.")]}
        )
    serialise_arrivals(session, keys)
    contact = find_contact(session, keys)
    identity = (
        customers.Identity(channel, keys.external_id, " ".join((name or "").split())[:300])
        if keys.external_id and channel not in ADDRESS_CHANNELS
        else None
    )
    if contact is not None:
        if identity is not None:
            _record_identity(unit, contact, identity)
        return contact, False
    created = customers.create_contact(
        unit,
        last_name=" ".join(family_name.split())[:200] or _last_name(name, keys, phone),
        first_name=" ".join(given_name.split())[:200] if family_name.strip() else "",
        email=keys.email,
        phone=phone.strip() if phone and keys.phone_e164 else "",
        identities=[identity] if identity is not None else (),
    )
    return created, True


def _last_name(name: str, keys: SenderKeys, phone: str | None) -> str:
    display = " ".join((name or "").split())[:200]
    if display:
        return display
    if keys.email:
        return keys.email.split("@", 1)[0][:200]
    return (phone or keys.external_id or "").strip()[:200] or "?"


def _record_identity(unit: Unit, contact: Contact, identity: customers.Identity) -> None:
    known = unit.session.scalar(
        select(ContactIdentity.contact_id).where(
            ContactIdentity.channel == identity.channel,
            ContactIdentity.external_id == identity.external_id,
        )
    )
    if known is None:
        customers.add_identity(
            unit,
            contact,
            channel=identity.channel,
            external_id=identity.external_id,
            display_name=identity.display_name,
        )
