"""Property: whatever the sequence of ticket events, Customer Insights' kept tables equal a
rebuild from scratch, and the figures they give equal a direct computation from the raw
threads, for every customer and every viewer.

Profiles: ``INSIGHTS_PROPERTY_PROFILE=ci`` (the default, what ``make test`` runs: sized to
stay under three minutes per backend) or ``dev`` (a handful of examples while working).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationFailed
from core.host import Host
from core.models import Account, Agent, Contact, Department, Installation, PermissionProfile
from hostapi import clock
from marketplace_registry import lifecycle
from tests.factories import system_unit
from tests.insights_helpers import Desk

PROFILES = {
    "ci": settings(
        max_examples=35,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    ),
    "dev": settings(
        max_examples=5,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    ),
}
PROFILE = PROFILES[os.environ.get("INSIGHTS_PROPERTY_PROFILE", "ci")]

STATUSES = ("Open", "Escalated", "On Hold", "Resolved", "Closed")
#: Departments 0 and 1 are the installation's; 2 is outside it.
DEPARTMENTS = 3
CONTACTS = 3
ACCOUNT_OF_CONTACT = (0, 0, 1)

_minutes = st.integers(min_value=0, max_value=600)
#: Steps name tickets by their index (modulo the number made), so a few get many events.
_ticket = st.integers(min_value=0, max_value=3)
_customer = st.integers(0, CONTACTS - 1)
_department = st.integers(0, DEPARTMENTS - 1)
#: The arguments of each kind of step.
_ARGUMENTS = {
    "create": st.tuples(
        _customer,
        _department,
        st.sampled_from(("customer", "agent")),
        st.sampled_from(STATUSES),
        _minutes,
    ),
    "incoming": st.tuples(_ticket, _minutes),
    "reply": st.tuples(_ticket, _minutes),
    "comment": st.tuples(_ticket, _minutes),
    "notification": st.tuples(_ticket, _minutes),
    "status": st.tuples(_ticket, st.sampled_from(STATUSES), _minutes),
    "rate": st.tuples(_ticket, st.sampled_from(("good", "okay", "bad")), _minutes),
    "move": st.tuples(_ticket, _department),
    "give": st.tuples(_ticket, _customer),
    "merge_contacts": st.tuples(_customer, _customer),
    "merge_accounts": st.tuples(st.integers(0, 1), st.integers(0, 1)),
}
# Conversations and status changes carry most figures, so they come most often.
_KINDS = [*_ARGUMENTS, "incoming", "incoming", "reply", "reply", "reply", "status", "status"]


def _step(kind: str) -> st.SearchStrategy[tuple[Any, ...]]:
    return _ARGUMENTS[kind].map(lambda arguments: (kind, *arguments))


# A few tickets first, then anything.
_steps = st.builds(
    lambda first, then: [*first, *then],
    st.lists(_step("create"), min_size=1, max_size=4),
    st.lists(st.sampled_from(_KINDS).flatmap(_step), min_size=4, max_size=30),
)

_names = itertools.count()


class _World:
    """One example's own departments, customers, agents and installation."""

    def __init__(self, host: Host, db: Session) -> None:
        self.desk = Desk(host)
        n = next(_names)
        now = clock.now()
        self.departments = [
            Department(name=f"D{n}-{i}", created_at=now) for i in range(DEPARTMENTS)
        ]
        self.accounts = [
            Account(name=f"A{n}-{i}", created_at=now, updated_at=now) for i in range(2)
        ]
        db.add_all([*self.departments, *self.accounts])
        db.flush()
        self.contacts = [
            Contact(
                first_name="C",
                last_name=f"{n}-{i}",
                account_id=self.accounts[ACCOUNT_OF_CONTACT[i]].id,
                created_at=now,
                updated_at=now,
            )
            for i in range(CONTACTS)
        ]
        profile = db.scalars(
            select(PermissionProfile).where(PermissionProfile.name == "Agent")
        ).one()
        self.replier = Agent(
            email=f"replier{n}@example.com",
            name="Replier",
            password_hash="-",
            profile=profile,
            departments=list(self.departments),
            created_at=now,
        )
        self.one_department_agent = Agent(
            email=f"single{n}@example.com",
            name="Single",
            password_hash="-",
            profile=profile,
            departments=[self.departments[0]],
            created_at=now,
        )
        db.add_all([*self.contacts, self.replier, self.one_department_agent])
        db.commit()
        self.merged_contacts: set[int] = set()
        self.merged_accounts: set[int] = set()
        self.tickets: list[int] = []
        self.installation = self.desk.install([d.id for d in self.departments[:2]])

    def play(self, step: tuple[Any, ...]) -> None:
        """Apply one step; a step the desk refuses (a merged contact…) is skipped."""
        name, *args = step
        desk = self.desk
        if name == "create":
            contact, department, raised_by, status, minutes = args
            if contact in self.merged_contacts:
                return
            self.tickets.append(
                desk.ticket(
                    self.contacts[contact],
                    self.departments[department].id,
                    minutes,
                    raised_by=raised_by,
                    status=status,
                )
            )
            return
        if name == "merge_contacts":
            kept, gone = args
            if kept == gone or {kept, gone} & self.merged_contacts:
                return
            desk.merge_contacts(self.contacts[kept], self.contacts[gone])
            self.merged_contacts.add(gone)
            return
        if name == "merge_accounts":
            kept, gone = args
            if kept == gone or {kept, gone} & self.merged_accounts:
                return
            desk.merge_accounts(self.accounts[kept], self.accounts[gone])
            self.merged_accounts.add(gone)
            return
        if not self.tickets:
            return
        ticket = self.tickets[args[0] % len(self.tickets)]
        if name == "incoming":
            desk.customer_writes(ticket, args[1])
        elif name == "reply":
            desk.reply(ticket, args[1], self.replier)
        elif name in ("comment", "notification"):
            desk.thread(ticket, name, args[1], agent=self.replier if name == "comment" else None)
        elif name == "status":
            desk.status(ticket, args[1], args[2])
        elif name == "rate":
            desk.rate(ticket, args[1], args[2])
        elif name == "move":
            desk.update(ticket, department_id=self.departments[args[1]].id)
        elif name == "give":
            if args[1] in self.merged_contacts:
                return
            desk.update(ticket, contact_id=self.contacts[args[1]].id)

    def check(self) -> None:
        """Kept == rebuilt == direct, for every customer and viewer."""
        desk, installation = self.desk, self.installation
        customers = [("contact", c.id) for c in self.contacts] + [
            ("account", a.id) for a in self.accounts
        ]
        for viewer in (None, self.replier, self.one_department_agent):
            for kind, customer_id in customers:
                assert desk.figures(installation, kind, customer_id, viewer) == desk.direct(
                    installation, kind, customer_id, viewer
                ), (kind, customer_id, viewer and viewer.email)
        kept = desk.stored(installation)
        desk.rebuild(installation)
        assert desk.stored(installation) == kept

    def uninstall(self) -> None:
        """Archive the installation, so later examples' events do not reach it (archiving,
        unlike purging, keeps the tables rather than migrating them down and up again)."""
        with self.desk.host.transaction() as session:
            lifecycle.uninstall(
                system_unit(session, self.desk.host),
                session.get(Installation, self.installation),
                confirmed=True,
                keep_data=True,
            )


@PROFILE
@given(steps=_steps)
def test_kept_figures_equal_a_rebuild_and_the_direct_computation(
    host: Host, db: Session, steps: list[tuple[Any, ...]]
) -> None:
    world = _World(host, db)
    try:
        for step in steps:
            # A step the desk refuses writes nothing; the sequence goes on.
            with contextlib.suppress(ValidationFailed):
                world.play(step)
        world.check()
    finally:
        world.uninstall()
