"""Factories for arranging data in tests (they write through the models, committed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from core.host import Host
from core.models import (
    Account,
    Agent,
    Contact,
    Department,
    Installation,
    PermissionProfile,
    Ticket,
)
from core.services.base import Actor, Unit
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
            profile=db.scalars(
                select(PermissionProfile).where(PermissionProfile.name == profile)
            ).one(),
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


# ---------------------------------------------------------------- service-level fixtures


@pytest.fixture
def department(db: Session) -> Department:
    """The "Support" department (created on first use)."""
    existing = db.scalar(select(Department).where(Department.name == "Support"))
    if existing is not None:
        # End the read: on SQLite, a snapshot held open makes this session's next write fail
        # once another session has committed.
        db.commit()
        return existing
    created = Department(name="Support", created_at=clock.now())
    db.add(created)
    db.commit()
    return created


@pytest.fixture
def admin_agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An administrator who belongs to the "Support" department."""
    return make_agent(
        "admin@example.com", name="Admin", profile="Administrator", departments=[department]
    )


@pytest.fixture
def support_manager(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """A Support Manager (not an administrator) of the "Support" department."""
    return make_agent(
        "manager@example.com",
        name="Mana Manager",
        profile="Support Manager",
        departments=[department],
    )


@pytest.fixture
def unit_for(db: Session) -> Callable[[Agent | None], Unit]:
    """A service unit on the test session acting as ``agent`` (``None``: the system actor).

    The host is ``None``, so no extension hook runs; events still reach the outbox.
    """

    def make(agent: Agent | None) -> Unit:
        actor = Actor(agent) if agent is not None else Actor.system("test")
        return Unit(session=db, actor=actor, host=None)

    return make


@pytest.fixture
def make_ticket(
    db: Session, department: Department, unit_for: Callable[[Agent | None], Unit]
) -> Callable[..., Ticket]:
    """Create a ticket through ``core.services.tickets.create_ticket``, committed.

    Defaults: the "Support" department, channel email, created by the system actor; any
    keyword of ``create_ticket`` may be given, and ``department``/``contact`` as records.
    """
    from core.services import tickets

    def make(
        subject: str = "The printer is on fire",
        *,
        department: Department = department,
        contact: Contact | None = None,
        actor: Agent | None = None,
        **fields: Any,
    ) -> Ticket:
        fields.setdefault("channel", "email")
        if contact is not None:
            fields["contact_id"] = contact.id
        ticket = tickets.create_ticket(
            unit_for(actor), subject=subject, department_id=department.id, **fields
        )
        db.commit()
        return ticket

    return make


def system_unit(session: Session, host: Host | None) -> Unit:
    """A unit acting as the system on ``session``, with ``host`` for extension hooks."""
    return Unit(session=session, actor=Actor.system("test"), host=host)


def install_for(
    session: Session,
    host: Host,
    plugin_id: str,
    department_ids: Iterable[int],
    *,
    profile_ids: Iterable[int] | None = None,
    scopes: Iterable[str] | None = None,
    authorize: bool = True,
) -> Installation:
    """Install ``plugin_id`` (terms accepted) for departments and profiles (default: every
    profile), then grant ``scopes`` (default: every scope it requests) unless not
    ``authorize``. Runs in ``session``; the caller commits."""
    from marketplace_registry import lifecycle

    unit = system_unit(session, host)
    if profile_ids is None:
        profile_ids = list(session.scalars(select(PermissionProfile.id)))
    installation = lifecycle.install(
        unit,
        plugin_id,
        department_ids=department_ids,
        profile_ids=profile_ids,
        terms_accepted=True,
    )
    if authorize:
        requested = host.plugins.manifest(plugin_id).scopes
        lifecycle.grant(unit, installation, requested if scopes is None else scopes)
    return installation


def ticket_panel_html(
    app: Flask,
    host: Host,
    plugin_id: str,
    agent_id: int,
    ticket_id: int,
    query_string: str = "",
) -> str | None:
    """The HTML of ``plugin_id``'s ticket panel as the agent sees it on the ticket's page
    (with ``query_string``), or ``None`` when not shown (a panel that failed to render fails
    the test)."""
    from core.web.extensions import panels_for
    from hostapi import Location, PanelTarget

    with app.test_request_context(query_string=query_string), host.sessions() as session:
        agent = session.get(Agent, agent_id)
        shown = panels_for(
            session, host, Location.TICKET_RIGHT_PANEL, PanelTarget("ticket", ticket_id), agent
        )
    html = next((str(p.html) for p in shown if p.plugin_id == plugin_id), None)
    assert html is None or "panel-error" not in html
    return html


@pytest.fixture
def upload_customers(db: Session) -> Callable[..., Any]:
    """``upload_customers(content, filename="contacts.csv", **options)``: a customer import
    uploaded through ``core.customer_import.runner.create_import`` as the system, committed;
    ``start=True`` also queues it (without enqueuing: tests run it with ``run_import``)."""
    from core.customer_import import runner

    def upload(
        content: bytes | str, filename: str = "contacts.csv", *, start: bool = False, **options: Any
    ) -> Any:
        data = content.encode() if isinstance(content, str) else content
        unit = Unit(session=db, actor=Actor.system("test"), host=None)
        options.setdefault("entity", "contact")
        record = runner.create_import(unit, filename=filename, content=data, **options)
        if start:
            runner.start(unit, record)
        db.commit()
        return record

    return upload


def ticket_in(db: Session, department_name: str, subject: str) -> Ticket:
    """A new email ticket in the department ``department_name`` (made if missing), committed."""
    from core.services import tickets

    department = db.scalar(select(Department).where(Department.name == department_name))
    if department is None:
        department = Department(name=department_name, created_at=clock.now())
        db.add(department)
        db.flush()
    ticket = tickets.create_ticket(
        Unit(db, Actor.system("test"), None),
        subject=subject,
        department_id=department.id,
        channel="email",
    )
    db.commit()
    return ticket
