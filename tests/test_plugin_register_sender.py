"""Host API 1.4: ``Context.register_sender`` gives extensions the host's own registration of a
message's sender (the one email and the web form use): matched by channel identity, email,
then phone in E.164, else created, the identity recorded for the next message."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Contact, ContactIdentity, Department, Installation
from core.services import customers
from hostapi import Context, ScopeError, scopes
from tests.factories import install_for, system_unit
from tests.plugin_fixtures import manifest

PLUGIN = "chatter"
CONTACT_SCOPES = [scopes.CONTACTS_READ, scopes.CONTACTS_WRITE]


@pytest.fixture
def loaded(host: Host) -> Iterator[None]:
    host.plugins.register_plugin(object(), manifest(PLUGIN, scopes=CONTACT_SCOPES))
    yield
    host.plugins.unregister_plugin(PLUGIN)


@pytest.fixture
def installation(loaded: None, db: Session, host: Host, department: Department) -> Installation:
    installed = install_for(db, host, PLUGIN, [department.id])
    db.commit()
    return installed


@pytest.fixture
def in_transaction(host: Host, installation: Installation) -> Callable[..., object]:
    """``in_transaction(action)``: run ``action(context)`` in a write transaction of its own,
    as a webhook or a job does; returns what it returned."""

    def run(action: Callable[[Context], object]) -> object:
        with host.transaction() as session:
            return action(host.plugins.context_for(session, installation))

    return run


def _register(**keys: str) -> Callable[[Context], object]:
    return lambda context: context.register_sender(**keys)


def test_a_new_sender_is_created_with_their_identity_and_matched_by_it_next_time(
    in_transaction: Callable[..., object], db: Session
) -> None:
    first, created = in_transaction(_register(channel="line", external_id="U4af49806", name="Rin"))
    again, created_again = in_transaction(_register(channel="line", external_id="U4af49806"))

    assert (created, created_again) == (True, False)
    assert first.id == again.id and first.display_name == "Rin"
    identity = db.scalars(select(ContactIdentity).where(ContactIdentity.contact_id == first.id))
    assert [(i.channel, i.external_id) for i in identity] == [("line", "U4af49806")]


def test_a_known_email_matches_in_any_case_and_gains_the_identity(
    in_transaction: Callable[..., object], db: Session, make_contact: Callable[..., Contact]
) -> None:
    known = make_contact(email="hanako@example.com")

    found, created = in_transaction(
        _register(channel="telegram", external_id="7001", email="Hanako@Example.COM")
    )

    assert (found.id, created) == (known.id, False)
    again, _ = in_transaction(_register(channel="telegram", external_id="7001"))
    assert again.id == known.id


def test_a_known_phone_matches_however_it_is_typed(
    in_transaction: Callable[..., object], db: Session, host: Host
) -> None:
    known = customers.create_contact(
        system_unit(db, host), last_name="Sato", email=None, phone="+81 90-1234-5678"
    )
    db.commit()

    found, created = in_transaction(
        _register(channel="whatsapp", external_id="819012345678", phone="+819012345678")
    )

    assert (found.id, created) == (known.id, False)


def test_a_sender_without_any_key_is_refused(in_transaction: Callable[..., object]) -> None:
    with pytest.raises(ValueError, match="external id"):
        in_transaction(_register(channel="line", name="Nobody"))


def test_registering_needs_both_contact_scopes(
    db: Session, host: Host, department: Department, loaded: None
) -> None:
    installation = install_for(db, host, PLUGIN, [department.id], scopes=[scopes.CONTACTS_READ])
    db.commit()

    with host.transaction() as session, pytest.raises(ScopeError):
        host.plugins.context_for(session, installation).register_sender(
            channel="line", external_id="U1"
        )
