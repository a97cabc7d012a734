"""A desk driven through the host's services with extension hooks on, for Customer Insights'
engine tests: each action is its own committed change, as an agent's request would be."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.host import Host
from core.models import Account, Agent, Contact, Department, Installation, Ticket
from core.plugins.context import HostContext
from core.services import merge as merge_service
from core.services import tickets as ticket_service
from plugins.customer_insights import aggregates, backfill
from plugins.customer_insights.direct import direct_figures
from plugins.customer_insights.metrics import Figures, figures
from plugins.customer_insights.models import CustomerTotals, TicketFacts
from tests.factories import install_for, system_unit

PLUGIN = "customer_insights"

#: The time the desk's history starts.
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """``minutes`` after T0."""
    return T0 + timedelta(minutes=minutes)


class Desk:
    """Changes made through the host's services (so events and synchronous hooks run)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def _change(self, action: Any) -> Any:
        with self.host.transaction() as session:
            return action(session, system_unit(session, self.host))

    def install(self, department_ids: Iterable[int], *, backfilled: bool = True) -> int:
        """Install and authorize Customer Insights; run its backfill unless told not to."""
        ids = list(department_ids)
        installation_id = self._change(
            lambda session, unit: install_for(session, self.host, PLUGIN, ids).id
        )
        if backfilled:
            self.run_backfills(installation_id)
        return installation_id

    def run_backfills(self, installation_id: int) -> None:
        """Work through the installation's pending backfills, as the worker would."""
        with self.host.transaction() as session:
            backfill.run_all(self.context(session, installation_id))

    def edit_departments(self, installation_id: int, department_ids: Iterable[int]) -> None:
        """Change the installation's departments through the marketplace lifecycle."""
        from marketplace_registry import lifecycle

        def edit(session: Any, unit: Any) -> None:
            installation = session.get(Installation, installation_id)
            lifecycle.update_scope(unit, installation, department_ids=list(department_ids))

        self._change(edit)

    def ticket(
        self,
        contact: Contact | None,
        department_id: int,
        minutes: float = 0,
        *,
        raised_by: str = "customer",
        status: str = "Open",
        channel: str = "email",
        account: Account | None = None,
    ) -> int:
        """A new ticket created at T0 + ``minutes``; returns its id."""
        return self._change(
            lambda session, unit: (
                ticket_service.create_ticket(
                    unit,
                    subject="Help",
                    department_id=department_id,
                    channel=channel,
                    contact_id=None if contact is None else contact.id,
                    account_id=None if account is None else account.id,
                    raised_by=raised_by,
                    status=status,
                    created_at=at(minutes),
                ).id
            )
        )

    def thread(
        self, ticket_id: int, kind: str, minutes: float, *, agent: Agent | None = None
    ) -> None:
        """A thread of ``kind`` at T0 + ``minutes``, written by ``agent`` if given."""
        self._change(
            lambda session, unit: ticket_service.add_thread(
                unit,
                session.get(Ticket, ticket_id),
                kind=kind,
                body="…",
                author_agent_id=None if agent is None else agent.id,
                created_at=at(minutes),
            )
        )

    def customer_writes(self, ticket_id: int, minutes: float) -> None:
        """An incoming message from the customer."""
        self.thread(ticket_id, "incoming", minutes)

    def reply(self, ticket_id: int, minutes: float, agent: Agent) -> None:
        """A public reply by ``agent``."""
        self.thread(ticket_id, "outgoing", minutes, agent=agent)

    def status(self, ticket_id: int, status: str, minutes: float) -> None:
        """Change the status at T0 + ``minutes``."""
        self._change(
            lambda session, unit: ticket_service.change_status(
                unit, session.get(Ticket, ticket_id), status, changed_at=at(minutes)
            )
        )

    def rate(self, ticket_id: int, rating: str, minutes: float) -> None:
        """A happiness rating at T0 + ``minutes``."""
        self._change(
            lambda session, unit: ticket_service.add_rating(
                unit, session.get(Ticket, ticket_id), rating, created_at=at(minutes)
            )
        )

    def update(self, ticket_id: int, **changes: Any) -> None:
        """Change ticket fields (department, contact, account…)."""
        self._change(
            lambda session, unit: ticket_service.update_ticket(
                unit, session.get(Ticket, ticket_id), **changes
            )
        )

    def merge_contacts(self, survivor: Contact, *others: Contact) -> None:
        """Merge ``others`` into ``survivor``."""
        self._change(
            lambda session, unit: merge_service.merge_contacts(
                unit,
                session.get(Contact, survivor.id),
                [session.get(Contact, other.id) for other in others],
            )
        )

    def merge_accounts(self, survivor: Account, *others: Account) -> None:
        """Merge ``others`` into ``survivor``."""
        self._change(
            lambda session, unit: merge_service.merge_accounts(
                unit,
                session.get(Account, survivor.id),
                [session.get(Account, other.id) for other in others],
            )
        )

    # ------------------------------------------------------------------------ reading

    def context(
        self, session: Any, installation_id: int, agent: Agent | None = None
    ) -> HostContext:
        """The installation's context on ``session`` (and the agent's, if given)."""
        installation = session.get(Installation, installation_id)
        viewer = None if agent is None else session.get(Agent, agent.id)
        return self.host.plugins.context_for(session, installation, viewer)

    def figures(
        self, installation_id: int, kind: str, customer_id: int, agent: Agent | None = None
    ) -> Figures:
        """The figures the tables give, as ``agent`` (or the installation) sees them."""
        with self.host.sessions() as session:
            return figures(self.context(session, installation_id, agent), kind, customer_id)

    def direct(
        self, installation_id: int, kind: str, customer_id: int, agent: Agent | None = None
    ) -> Figures:
        """The same figures computed from the raw records."""
        with self.host.sessions() as session:
            return direct_figures(self.context(session, installation_id, agent), kind, customer_id)

    def stored(self, installation_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Every facts and totals row of the installation, sorted, without the installation."""
        with self.host.sessions() as session:
            facts = [
                _plain(row, TicketFacts)
                for row in session.scalars(
                    select(TicketFacts)
                    .where(TicketFacts.installation_id == installation_id)
                    .order_by(TicketFacts.ticket_id)
                )
            ]
            totals = sorted(
                _plain(row, CustomerTotals)
                for row in session.scalars(
                    select(CustomerTotals).where(CustomerTotals.installation_id == installation_id)
                )
            )
        return facts, totals

    def rebuild(self, installation_id: int) -> None:
        """Recompute the installation's tables from scratch."""
        with self.host.transaction() as session:
            aggregates.rebuild(self.context(session, installation_id))


def _plain(row: Any, model: Any) -> tuple[Any, ...]:
    values = []
    for column in model.__table__.columns:
        value = getattr(row, column.key)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # SQLite hands times back without their zone
        values.append(value)
    return tuple(values)


def finish_backfills(host: Host) -> None:
    """Run every Customer Insights installation's pending backfills, as the worker would.

    Tickets made by the ``make_ticket`` fixture skip extension hooks (its unit has no host),
    so a test counts them by letting the installation's backfill run after making them.
    """
    with host.transaction() as session:
        for installation in session.scalars(
            select(Installation).where(Installation.plugin_id == PLUGIN)
        ):
            backfill.run_all(host.plugins.context_for(session, installation, None))


@dataclass(frozen=True)
class History:
    """The hand-made history the Customer Insights UI tests read (see ``hand_made_history``)."""

    installation: int
    yamada: Contact
    suzuki: Contact
    acme: Account
    ticket_a: int
    ticket_b: int
    ticket_c: int


def hand_made_history(
    host: Host,
    support: Department,
    sales: Department,
    agent: Agent,
    make_contact: Callable[..., Contact],
    make_account: Callable[..., Account],
) -> History:
    """Customer Insights installed for Support and Sales, and three tickets of Acme's contacts
    (times in minutes after T0; ``agent`` writes the public replies):

    - A (Support, email, Yamada): created 0; reply 135; customer 200 and 230; reply 260;
      closed 300; rated good; due at 100 (passed, but closed: not overdue).
    - B (Support, phone, Yamada): created 0; on hold 10; rated okay; due at 100 (overdue).
    - C (Sales, email, Suzuki): created 0; reply 6000 (4 d 4 h); rated good.

    Yamada: 1 open (on hold), 1 closed; first response 2 h 15 min; response (135 + 60) / 2 =
    97.5 min; resolution 5 h; good 1, okay 1. Acme: 2 open, 1 closed; first response
    (135 + 6000) / 2 min = 2 d 3 h 7.5 min; response (135 + 60 + 6000) / 3 min = 1 d 10 h
    25 min; resolution 5 h; good 2 (66.7 %), okay 1 (33.3 %); 3 public replies; 1 overdue.
    """
    desk = Desk(host)
    acme = make_account("Acme")
    yamada = make_contact("Yamada", account=acme)
    suzuki = make_contact("Suzuki", account=acme)
    installation = desk.install([support.id, sales.id])
    a = desk.ticket(yamada, support.id, 0, account=acme)
    desk.reply(a, 135, agent)
    desk.customer_writes(a, 200)
    desk.customer_writes(a, 230)
    desk.reply(a, 260, agent)
    desk.status(a, "Closed", 300)
    desk.rate(a, "good", 310)
    desk.update(a, due_at=at(100))
    b = desk.ticket(yamada, support.id, 0, channel="phone", account=acme)
    desk.status(b, "On Hold", 10)
    desk.rate(b, "okay", 20)
    desk.update(b, due_at=at(100))
    c = desk.ticket(suzuki, sales.id, 0, account=acme)
    desk.reply(c, 6000, agent)
    desk.rate(c, "good", 6010)
    return History(installation, yamada, suzuki, acme, a, b, c)
