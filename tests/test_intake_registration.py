"""Automatic registration: a sender on any channel is matched or becomes one contact."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.host import Host
from core.intake import email_in
from core.intake.registration import match_or_create_contact
from core.models import Contact, ContactIdentity, Department, Ticket
from core.services.base import Actor, Unit
from tests.intake_helpers import WorkIn, raw_email

pytest_plugins = ["tests.intake_fixtures"]


def _contacts(db: Session) -> list[Contact]:
    db.rollback()
    return list(db.scalars(select(Contact).order_by(Contact.id)))


def test_unknown_email_sender_becomes_a_contact_named_from_the_display_name(
    work_in: WorkIn, db: Session
) -> None:
    with work_in() as unit:
        contact, created = match_or_create_contact(
            unit, channel="email", email="Hanako@Example.com", name="Yamada Hanako"
        )
    assert created
    [stored] = _contacts(db)
    assert (stored.id, stored.email, stored.last_name) == (
        contact.id,
        "hanako@example.com",
        "Yamada Hanako",
    )


def test_without_a_name_the_last_name_is_the_email_local_part(work_in: WorkIn) -> None:
    with work_in() as unit:
        contact, _ = match_or_create_contact(unit, channel="web_form", email="k.sato@example.jp")
    assert contact.last_name == "k.sato"


def test_known_email_matches_in_any_case_including_the_secondary_address(
    work_in: WorkIn, make_contact: Callable[..., Contact], db: Session
) -> None:
    known = make_contact(email="primary@example.com")
    known.secondary_email = "Other@Example.com"
    db.commit()
    with work_in() as unit:
        by_primary, created_1 = match_or_create_contact(
            unit, channel="email", email="PRIMARY@example.com"
        )
        by_secondary, created_2 = match_or_create_contact(
            unit, channel="email", email="other@example.com"
        )
    assert (by_primary.id, by_secondary.id, created_1, created_2) == (
        known.id,
        known.id,
        False,
        False,
    )


def test_phone_matches_however_the_number_is_typed(work_in: WorkIn, db: Session) -> None:
    with work_in() as unit:
        first, _ = match_or_create_contact(unit, channel="phone", phone="03-1234-5678")
    with work_in() as unit:
        again, created = match_or_create_contact(unit, channel="phone", phone="+81 3 1234 5678")
    assert (again.id, created) == (first.id, False)
    assert _contacts(db)[0].phone_e164 == "+81312345678"


def test_same_person_by_email_then_by_phone_in_another_format_is_one_contact(
    work_in: WorkIn, host: Host, db: Session, department: Department
) -> None:
    with work_in() as unit:
        email_in.receive_email(unit, raw_email(sender="Ken Ito <ken@example.com>"))
    with work_in() as unit:
        contact = unit.session.scalar(select(Contact))
        # The agent adds the number the customer gave in their mail signature.
        contact.phone, contact.phone_e164 = "090-1234-5678", "+819012345678"
    with work_in() as unit:
        called, created = match_or_create_contact(unit, channel="phone", phone="+819012345678")
    assert not created
    assert [c.id for c in _contacts(db)] == [called.id]


def test_chat_identity_is_recorded_and_matched_first(work_in: WorkIn, db: Session) -> None:
    with work_in() as unit:
        first, _ = match_or_create_contact(
            unit, channel="line", external_id="U123", name="Taro", email="taro@example.com"
        )
    with work_in() as unit:
        # Same LINE user, no email this time: the identity alone finds them.
        again, created = match_or_create_contact(unit, channel="line", external_id="U123")
    assert (again.id, created) == (first.id, False)
    identity = db.scalar(select(ContactIdentity))
    assert (identity.channel, identity.external_id) == ("line", "U123")


def test_merged_contact_is_never_matched_the_survivor_is(
    work_in: WorkIn, make_contact: Callable[..., Contact], db: Session
) -> None:
    survivor = make_contact(email="kept@example.com")
    merged = make_contact(email="old@example.com")
    merged.merged_into_id = survivor.id
    db.commit()
    with work_in() as unit:
        contact, created = match_or_create_contact(unit, channel="email", email="old@example.com")
    assert (contact.id, created) == (survivor.id, False)


def test_a_sender_without_any_address_is_refused_and_nothing_is_stored(
    work_in: WorkIn, db: Session
) -> None:
    with pytest.raises(ValidationFailed) as refused, work_in() as unit:
        match_or_create_contact(unit, channel="phone", phone="not a number")
    assert list(refused.value.errors) == ["sender"]
    assert _contacts(db) == []


def test_registration_refuses_a_read_session_on_sqlite(
    host: Host, backend_name: str, db: Session
) -> None:
    if backend_name != "sqlite":
        pytest.skip("PostgreSQL serialises with advisory locks in any session")
    with host.sessions() as session, pytest.raises(RuntimeError, match="write session"):
        match_or_create_contact(
            Unit(session, Actor.system("test"), host), channel="email", email="a@example.com"
        )


def test_concurrent_messages_from_one_new_sender_create_one_contact(
    host: Host, db: Session, department: Department
) -> None:
    arrivals = 8
    start = threading.Barrier(arrivals)
    failures: list[BaseException] = []

    def deliver(number: int) -> None:
        raw = raw_email(
            sender="New Customer <new@example.com>",
            subject=f"Question {number}",
            message_id=f"<q{number}@mail.example>",
        )
        try:
            start.wait(timeout=30)
            with host.write_sessions() as session, session.begin():
                email_in.receive_email(Unit(session, Actor.system("mail"), host), raw)
        except BaseException as error:  # reported below: a thread's failure fails the test
            failures.append(error)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(arrivals)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len(_contacts(db)) == 1
    assert db.scalar(select(func.count()).select_from(Ticket)) == arrivals
