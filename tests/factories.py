"""Factories for arranging data in tests (they write through the models, committed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from core.models import Account, Agent, Contact, Department, PermissionProfile
from hostapi import clock

# Hashing is deliberately slow in production; tests use a cheap method for speed.
TEST_PASSWORD = "correct horse battery staple"
_TEST_HASH = generate_password_hash(TEST_PASSWORD, method="pbkdf2:sha256:1000")


@pytest.fixture
def make_department(db: Session) -> Callable[..., Department]:
    """Create a department."""

    def make(name: str = "Support") -> Department:
        department = Department(name=name, created_at=clock.now())
        db.add(department)
        db.commit()
        return department

    return make


@pytest.fixture
def make_agent(db: Session) -> Callable[..., Agent]:
    """Create an agent with a profile (by name) in some departments; password TEST_PASSWORD."""

    def make(
        email: str = "agent@example.com",
        *,
        name: str = "Test Agent",
        profile: str = "Agent",
        departments: Iterable[Department] = (),
        locale: str | None = None,
    ) -> Agent:
        agent = Agent(
            email=email,
            name=name,
            password_hash=_TEST_HASH,
            profile=db.scalars(select(PermissionProfile).where(PermissionProfile.name == profile))
            .one(),
            departments=list(departments),
            locale=locale,
            created_at=clock.now(),
        )
        db.add(agent)
        db.commit()
        return agent

    return make


@pytest.fixture
def make_account(db: Session) -> Callable[..., Account]:
    """Create an account."""

    def make(name: str = "Acme") -> Account:
        now = clock.now()
        account = Account(name=name, created_at=now, updated_at=now)
        db.add(account)
        db.commit()
        return account

    return make


@pytest.fixture
def make_contact(db: Session) -> Callable[..., Contact]:
    """Create a contact."""

    def make(
        last_name: str = "Yamada",
        *,
        first_name: str = "Hanako",
        email: str | None = "hanako@example.com",
        account: Account | None = None,
    ) -> Contact:
        now = clock.now()
        contact = Contact(
            first_name=first_name,
            last_name=last_name,
            email=email,
            account_id=account.id if account else None,
            created_at=now,
            updated_at=now,
        )
        db.add(contact)
        db.commit()
        return contact

    return make
