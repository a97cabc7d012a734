"""The host's implementation of :class:`hostapi.Context`, bound to one installation.

Reads are direct queries capped by the context's departments and scopes; writes go through the
core services as the system actor ``extension:<plugin id>``, after the context has checked its
own department limits, so every change is validated, audited and emits its event as any other.

A call beyond the installation's granted scopes raises :class:`hostapi.ScopeError` and is
recorded against the installation as a :class:`~core.models.HookError` (hook
``scope_denied``), whether or not the extension catches the error. The record is written in a
transaction of its own once the context's session ends its transaction, committed or rolled
back: the savepoint of a raising hook, or a page that never commits, would otherwise take it
with them, and on SQLite no second writer can start while that session holds the write lock.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from gettext import NullTranslations
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from babel.support import Translations
from flask import has_app_context
from flask_babel import force_locale
from sqlalchemy import (
    ARRAY,
    Integer,
    and_,
    any_,
    bindparam,
    event,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session, SessionTransaction, joinedload, lazyload

from core import crypto
from core.db import AUTOCOMMIT_INFO
from core.errors import Conflict as CoreConflict
from core.errors import Forbidden, Message, ValidationFailed
from core.models import (
    Account,
    Agent,
    Contact,
    ContactIdentity,
    Department,
    HappinessRating,
    HookError,
    Installation,
    InstallationStorage,
    KbArticle,
    KbCategory,
    Organisation,
    OutboxEvent,
    StatusChange,
    Thread,
    Ticket,
    agent_departments,
)
from core.models.extensions import OutboxKind, installation_profiles
from core.models.tickets import StatusType
from core.plugins import records
from core.services.base import Actor, Cursor, Unit, older_than
from core.services.org import LOCALES
from hostapi import (
    AccountRecord,
    AgentRecord,
    Conflict,
    ContactRecord,
    Context,
    DepartmentRecord,
    KbArticleRecord,
    KbCategoryRecord,
    LinkedClient,
    NotFound,
    RatingRecord,
    ScopeError,
    ServiceTerms,
    StatusChangeRecord,
    StatusChoice,
    ThreadRecord,
    TicketChoices,
    TicketHistory,
    TicketQuery,
    TicketRecord,
    clock,
    i18n,
)
from hostapi import scopes as scope

if TYPE_CHECKING:
    from core.host import Host
    from core.plugins.manager import EventInstallation

log = logging.getLogger(__name__)

SECRET_PREFIX = "secret:"
#: The ``hook`` of the HookError that records a call beyond the granted scopes.
SCOPE_DENIED = "scope_denied"
#: Where a session keeps the scope denials its contexts saw, until its transaction ends.
_DENIALS_KEY = "deskhost.scope_denials"


class HostContext(Context):
    """A :class:`hostapi.Context` over one session, for one installation and maybe one agent."""

    def __init__(
        self,
        session: Session,
        host: Host,
        *,
        plugin_id: str,
        installation_id: int | None,
        installation_department_ids: frozenset[int] | None,
        scopes: frozenset[str],
        settings: Mapping[str, Any],
        agent: Agent | None = None,
    ) -> None:
        self._session = session
        self._host = host
        self._plugin_id = plugin_id
        self._installation_id = installation_id
        # None: not limited by an installation (the core's own built-in panels).
        self._installation_department_ids = installation_department_ids
        self._scopes = scopes
        self._settings = MappingProxyType(dict(settings))
        self._agent = agent
        self._organisation: Organisation | None = None
        self._department_ids: frozenset[int] | None = None
        self._denied_scopes: set[str] = set()
        self._translations: NullTranslations | None = None

    @classmethod
    def for_installation(
        cls,
        session: Session,
        host: Host,
        installation: Installation | EventInstallation,
        agent: Agent | None = None,
    ) -> HostContext:
        """A context bound to an installation (and the viewing agent, if any)."""
        return cls(
            session,
            host,
            plugin_id=installation.plugin_id,
            installation_id=installation.id,
            installation_department_ids=installation.department_ids,
            scopes=frozenset(installation.granted_scopes or ()),
            settings=installation.settings or {},
            agent=agent,
        )

    @classmethod
    def for_builtin(
        cls, session: Session, host: Host, plugin_id: str, agent: Agent | None
    ) -> HostContext:
        """A context for the core's own panels: every scope, the agent's departments."""
        return cls(
            session,
            host,
            plugin_id=plugin_id,
            installation_id=None,
            installation_department_ids=None,
            scopes=frozenset(scope.ALL),
            settings={},
            agent=agent,
        )

    # ---------------------------------------------------------------- identity and settings

    @property
    def installation_id(self) -> int:
        """The installation this context is bound to."""
        return self._require_installation()

    @property
    def plugin_id(self) -> str:
        """The extension's manifest id."""
        return self._plugin_id

    @property
    def settings(self) -> Mapping[str, Any]:
        """The installation's settings (read-only)."""
        return self._settings

    @property
    def granted_scopes(self) -> frozenset[str]:
        """Scopes the admin granted."""
        return self._scopes

    @property
    def department_ids(self) -> frozenset[int]:
        """Installation departments, intersected with the viewing agent's when there is one."""
        if self._department_ids is None:
            covered = self._installation_department_ids
            if covered is None:
                covered = frozenset(self._session.scalars(select(Department.id)))
            if self._agent is not None:
                covered = covered & self._agent.department_ids
            self._department_ids = frozenset(covered)
        return self._department_ids

    @property
    def agent(self) -> AgentRecord | None:
        """The viewing agent, if any."""
        return records.agent_record(self._agent) if self._agent is not None else None

    def has_permission(self, permission: str) -> bool:
        """Whether the viewing agent's profile grants ``permission``."""
        return self._agent is not None and self._agent.has_permission(permission)

    @property
    def timezone(self) -> str:
        """The organisation's IANA time zone."""
        return self._org().timezone

    @property
    def week_start(self) -> int:
        """The organisation's first day of the week (0 = Monday)."""
        return self._org().week_start

    def now(self) -> datetime:
        """The host clock's current time."""
        return clock.now()

    # ---------------------------------------------------------------- language

    @property
    def language(self) -> str:
        """The viewing agent's own language, else the organisation's default: the order the
        pages follow for a signed-in agent (the organisation always has a default)."""
        agent_locale = self._agent.locale if self._agent is not None else None
        choices = (agent_locale, self._org().default_locale)
        return next((c for c in choices if c in LOCALES), i18n.DEFAULT_LANGUAGE)

    @property
    def translations(self) -> NullTranslations:
        """The extension's catalog for :attr:`language`, loaded once per context."""
        if self._translations is None:
            package = self._package()
            self._translations = (
                NullTranslations()
                if package is None
                else i18n.load_translations(package, self._plugin_id, self.language)
            )
        return self._translations

    def _package(self) -> str | None:
        """The package of the extension's loaded module (where its catalogs are)."""
        loaded = self._host.plugins.loaded.get(self._plugin_id)
        module = getattr(loaded, "module", None)
        if hasattr(module, "__path__"):
            return str(module.__name__)  # type: ignore[union-attr]
        return getattr(module, "__package__", None) or i18n.package_of(self._plugin_id)

    # ---------------------------------------------------------------- the extension's own data

    @property
    def db(self) -> Session:
        """The session of the current change (the extension's own tables share it)."""
        return self._session

    def storage_get(self, key: str, default: Any = None) -> Any:
        """A stored value, or ``default``."""
        found = self._stored_value(self._storage_key(key))
        return default if found is None else found[0]

    def storage_set(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value."""
        self._put(self._storage_key(key), value, is_secret=False)

    def storage_delete(self, key: str) -> None:
        """Remove a stored value; no error if absent."""
        row = self._storage_row(self._storage_key(key))
        if row is not None:
            self._session.delete(row)
            self._session.flush()

    def secret_set(self, key: str, value: str) -> None:
        """Store a secret encrypted with the host's key."""
        if not isinstance(value, str):
            raise TypeError("a secret must be a string")
        token = crypto.encrypt(self._host.settings.encryption_keys, value)
        self._put(SECRET_PREFIX + key, token, is_secret=True)

    def secret_get(self, key: str) -> str | None:
        """The decrypted secret, or ``None``."""
        found = self._stored_value(SECRET_PREFIX + key)
        if found is None:
            return None
        return crypto.decrypt(self._host.settings.encryption_keys, found[0])

    def secret_hint(self, key: str) -> str | None:
        """The secret masked to its last four characters, or ``None``."""
        value = self.secret_get(key)
        return None if value is None else crypto.mask(value)

    def secret_delete(self, key: str) -> None:
        """Remove a secret; no error if absent."""
        row = self._storage_row(SECRET_PREFIX + key)
        if row is not None:
            self._session.delete(row)
            self._session.flush()

    def _storage_key(self, key: str) -> str:
        if not key or key.startswith(SECRET_PREFIX):
            raise ValueError(f"storage keys may not be empty or start with {SECRET_PREFIX!r}")
        return key

    def _stored_value(self, key: str) -> tuple[Any] | None:
        """A stored value (in a tuple: a value may be ``None``), read as a plain column: webhooks
        read their secret on every delivery."""
        row = self._session.execute(
            select(InstallationStorage.value).where(
                InstallationStorage.installation_id == self._require_installation(),
                InstallationStorage.key == key,
            )
        ).first()
        return None if row is None else (row[0],)

    def _storage_row(self, key: str) -> InstallationStorage | None:
        return self._session.get(InstallationStorage, (self._require_installation(), key))

    def _put(self, key: str, value: Any, *, is_secret: bool) -> None:
        row = self._storage_row(key)
        if row is None:
            row = InstallationStorage(installation_id=self._require_installation(), key=key)
            self._session.add(row)
        row.value, row.is_secret, row.updated_at = value, is_secret, clock.now()
        self._session.flush()

    # ---------------------------------------------------------------- jobs

    def enqueue(
        self, job: str, payload: Mapping[str, Any] | None = None, *, delay: timedelta | None = None
    ) -> str:
        """Write a job row to the outbox; it runs after this transaction commits (without a
        transaction, an autocommit webhook's, once the row is flushed)."""
        installation_id = self._require_installation()
        if self._host.plugins.job_spec(self._plugin_id, job) is None:
            raise ValueError(f"extension {self._plugin_id!r} has no job named {job!r}")
        now = clock.now()
        job_id = str(uuid.uuid4())
        self._session.add(
            OutboxEvent(
                id=job_id,
                kind=OutboxKind.JOB.value,
                name=job,
                payload=dict(payload or {}),
                department_ids=[],
                installation_id=installation_id,
                occurred_at=now,
                available_at=now + delay if delay else None,
            )
        )
        return job_id

    # ---------------------------------------------------------------- tickets

    def get_ticket(self, ticket_id: int) -> TicketRecord | None:
        """A visible ticket, or ``None``."""
        self._need(scope.TICKETS_READ)
        ticket = self._visible_ticket(ticket_id)
        return None if ticket is None else self._ticket(ticket)

    def list_tickets(self, query: TicketQuery) -> list[TicketRecord]:
        """Visible tickets newest first, after the keyset cursor ``query.after``."""
        self._need(scope.TICKETS_READ)
        if not 1 <= query.limit <= 500:
            raise ValidationFailed({"limit": [Message("Give a number from 1 to 500.")]})
        statement = select(*_TICKET_RECORD_COLUMNS).where(*self._ticket_conditions(query))
        if query.after is not None:
            created_at, last_id = query.after
            statement = statement.where(
                older_than(Ticket.created_at, Ticket.id, Cursor(created_at, last_id))
            )
        statement = statement.order_by(Ticket.created_at.desc(), Ticket.id.desc())
        return self._ticket_records(statement.limit(query.limit))

    def count_tickets(self, query: TicketQuery) -> int:
        """How many visible tickets match the query's filters."""
        self._need(scope.TICKETS_READ)
        statement = select(func.count()).select_from(Ticket).where(*self._ticket_conditions(query))
        return self._session.scalar(statement) or 0

    def _ticket_conditions(self, query: TicketQuery) -> list[Any]:
        """The WHERE conditions of a query's filters, within the context's departments."""
        conditions: list[Any] = [Ticket.department_id.in_(self.department_ids)]
        if query.contact_id is not None:
            conditions.append(Ticket.contact_id == query.contact_id)
        if query.account_id is not None:
            conditions.append(Ticket.account_id == query.account_id)
        if query.status_type is not None:
            conditions.append(Ticket.status_type == query.status_type)
        if query.department_id is not None:
            conditions.append(Ticket.department_id == query.department_id)
        if query.overdue is not None:
            now, closed = self.now(), StatusType.CLOSED.value
            conditions.append(
                and_(Ticket.due_at < now, Ticket.status_type != closed)
                if query.overdue
                else or_(
                    Ticket.due_at.is_(None), Ticket.due_at >= now, Ticket.status_type == closed
                )
            )
        if query.search and query.search.strip():
            from core.services.tickets import search_condition

            conditions.append(search_condition(self._session, query.search.strip()))
        return conditions

    def create_ticket(
        self,
        *,
        subject: str,
        department_id: int,
        contact_id: int | None,
        channel: str,
        description: str = "",
        status: str = "Open",
        priority: str = "medium",
        classification: str = "",
        raised_by: str = "customer",
        created_at: datetime | None = None,
    ) -> TicketRecord:
        """Create a ticket in one of the context's departments."""
        from core.services import tickets

        self._need(scope.TICKETS_WRITE)
        if department_id not in self.department_ids:
            raise ValidationFailed({"department_id": [Message("Unknown department.")]})
        ticket = tickets.create_ticket(
            self._unit(),
            subject=subject,
            department_id=department_id,
            contact_id=contact_id,
            channel=channel,
            description=description,
            status=status,
            priority=priority,
            classification=classification,
            raised_by=raised_by,
            created_at=created_at,
        )
        return self._ticket(ticket)

    def change_status(self, ticket_id: int, status: str) -> TicketRecord:
        """Set a visible ticket's status by name."""
        from core.services import tickets

        self._need(scope.TICKETS_WRITE)
        ticket = tickets.change_status(self._unit(), self._ticket_or_raise(ticket_id), status)
        return self._ticket(ticket)

    def link_ticket(
        self, ticket_id: int, *, contact_id: int | None = None, account_id: int | None = None
    ) -> TicketRecord:
        """Link a visible ticket to a contact and/or an account."""
        from core.services import tickets

        self._need(scope.TICKETS_WRITE)
        changes = {
            name: value
            for name, value in (("contact_id", contact_id), ("account_id", account_id))
            if value is not None
        }
        ticket = self._ticket_or_raise(ticket_id)
        if changes:
            ticket = tickets.update_ticket(self._unit(), ticket, **changes)
        return self._ticket(ticket)

    def merge_ticket(self, ticket_id: int, *, into_ticket_id: int) -> TicketRecord:
        """Merge a visible ticket into another visible one."""
        from core.services import ticket_merge

        self._need(scope.TICKETS_WRITE)
        self._need(scope.THREADS_WRITE)
        source = self._ticket_or_raise(ticket_id)
        target = self._ticket_or_raise(into_ticket_id)
        try:
            merged = ticket_merge.merge_ticket(self._unit(), source, target)
        except CoreConflict as error:
            raise Conflict(str(error)) from error
        return self._ticket(merged)

    def status_history(self, ticket_id: int) -> list[StatusChangeRecord]:
        """A visible ticket's status changes, oldest first."""
        self._need(scope.TICKETS_READ)
        ticket = self._ticket_or_raise(ticket_id)
        rows = self._session.scalars(
            select(StatusChange)
            .where(StatusChange.ticket_id == ticket.id)
            .order_by(StatusChange.changed_at, StatusChange.id)
        )
        return [records.status_change_record(row) for row in rows]

    def ratings(self, ticket_id: int) -> list[RatingRecord]:
        """A visible ticket's ratings, oldest first."""
        self._need(scope.TICKETS_READ)
        ticket = self._ticket_or_raise(ticket_id)
        rows = self._session.scalars(
            select(HappinessRating)
            .where(HappinessRating.ticket_id == ticket.id)
            .order_by(HappinessRating.created_at, HappinessRating.id)
        )
        return [records.rating_record(row) for row in rows]

    def ticket_histories(self, ticket_ids: Sequence[int]) -> Mapping[int, TicketHistory]:
        """Visible tickets with their threads, status changes and ratings, in one query.

        Rows are read as plain columns (no ORM objects): a backfill reads millions of them.
        """
        self._need(scope.TICKETS_READ)
        self._need(scope.THREADS_READ)
        wanted = list(dict.fromkeys(int(i) for i in ticket_ids))
        if not wanted:
            return {}
        ids = "array" if self._session.get_bind().dialect.name == "postgresql" else "list"
        # One ticket (an event's) as a plain parameter: PostgreSQL planned the union anew for
        # each array of ids, half a millisecond of every reply.
        one = len(wanted) == 1
        statement = _history_statement("one" if one else ids, ids)
        parameters = {
            "ticket_ids": wanted[0] if one else wanted,
            "department_ids": list(self.department_ids),
        }
        tickets: dict[int, TicketRecord] = {}
        records_of: dict[tuple[str, int], list[Any]] = {}
        for row in _rows(self._session, statement, parameters):
            record = _HISTORY_LAYOUTS[row.record].record(row)
            if row.record == _TICKET_LAYOUT.name:
                tickets[row.ticket_id] = record
            else:
                records_of.setdefault((row.record, row.ticket_id), []).append(record)
        return {
            ticket_id: TicketHistory(
                ticket=tickets[ticket_id],
                threads=tuple(records_of.get(("thread", ticket_id), ())),
                status_changes=tuple(records_of.get(("status_change", ticket_id), ())),
                ratings=tuple(records_of.get(("rating", ticket_id), ())),
            )
            for ticket_id in wanted
            if ticket_id in tickets
        }

    # ---------------------------------------------------------------- threads

    def list_threads(self, ticket_id: int) -> list[ThreadRecord]:
        """A visible ticket's threads, oldest first."""
        self._need(scope.THREADS_READ)
        ticket = self._ticket_or_raise(ticket_id)
        rows = self._session.scalars(
            select(Thread)
            .where(Thread.ticket_id == ticket.id)
            .order_by(Thread.created_at, Thread.id)
        )
        return [records.thread_record(row) for row in rows]

    def add_thread(
        self,
        ticket_id: int,
        *,
        kind: str,
        body: str,
        author_agent_id: int | None = None,
        author_contact_id: int | None = None,
        channel: str | None = None,
        created_at: datetime | None = None,
    ) -> ThreadRecord:
        """Add a thread to a visible ticket."""
        from core.services import tickets

        self._need(scope.THREADS_WRITE)
        thread = tickets.add_thread(
            self._unit(),
            self._ticket_or_raise(ticket_id),
            kind=kind,
            body=body,
            author_agent_id=author_agent_id,
            author_contact_id=author_contact_id,
            channel=channel,
            created_at=created_at,
        )
        return records.thread_record(thread)

    # ---------------------------------------------------------------- customers

    def get_contact(self, contact_id: int) -> ContactRecord | None:
        """A contact (organisation-wide), or ``None``."""
        self._need(scope.CONTACTS_READ)
        contact = self._session.get(Contact, contact_id, options=_CONTACT_RECORD_LOADING)
        return None if contact is None else records.contact_record(contact, self.language)

    def find_contact(
        self,
        *,
        email: str | None = None,
        channel: str | None = None,
        external_id: str | None = None,
    ) -> ContactRecord | None:
        """The live contact with that channel identity, else with that email."""
        self._need(scope.CONTACTS_READ)
        contact = self._find_contact(email=email, channel=channel, external_id=external_id)
        return None if contact is None else records.contact_record(contact, self.language)

    def create_contact(
        self,
        *,
        last_name: str,
        first_name: str = "",
        email: str | None = None,
        phone: str = "",
        identities: Sequence[tuple[str, str]] = (),
    ) -> ContactRecord:
        """Create a contact through the customers service."""
        from core.services import customers

        self._need(scope.CONTACTS_WRITE)
        unit = self._unit()
        contact = customers.create_contact(
            unit,
            last_name=last_name,
            first_name=first_name,
            email=email,
            phone=phone,
            identities=[customers.Identity(*identity) for identity in identities],
        )
        self._session.refresh(contact)
        return records.contact_record(contact, self.language)

    def find_or_create_contact(
        self,
        *,
        last_name: str,
        first_name: str = "",
        email: str | None = None,
        channel: str | None = None,
        external_id: str | None = None,
    ) -> tuple[ContactRecord, bool]:
        """The matching contact, or a new one with that identity; ``True`` when created."""
        self._need(scope.CONTACTS_READ)
        self._need(scope.CONTACTS_WRITE)
        found = self._find_contact(email=email, channel=channel, external_id=external_id)
        if found is not None:
            return records.contact_record(found, self.language), False
        identities = [(channel, external_id)] if channel and external_id else []
        created = self.create_contact(
            last_name=last_name, first_name=first_name, email=email, identities=identities
        )
        return created, True

    def register_sender(
        self,
        *,
        channel: str,
        external_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        name: str = "",
    ) -> tuple[ContactRecord, bool]:
        """The sender's contact, matched or created by the host's registration."""
        from core.intake.registration import match_or_create_contact

        self._need(scope.CONTACTS_READ)
        self._need(scope.CONTACTS_WRITE)
        try:
            contact, created = match_or_create_contact(
                self._unit(),
                channel=channel,
                external_id=external_id,
                email=email,
                phone=phone,
                name=name,
            )
        except ValidationFailed as error:
            raise ValueError("give an external id, an email address or a phone number") from error
        return records.contact_record(contact, self.language), created

    def get_account(self, account_id: int) -> AccountRecord | None:
        """An account (organisation-wide), or ``None``."""
        self._need(scope.ACCOUNTS_READ)
        account = self._session.get(Account, account_id)
        return None if account is None else records.account_record(account)

    # ---------------------------------------------------------------- agents

    def list_agents(
        self, department_id: int | None = None, *, covered_only: bool = False
    ) -> list[AgentRecord]:
        """Active agents of the context's departments (or of one of them); ``covered_only``:
        only those whose permission profile the installation names."""
        self._need(scope.AGENTS_READ)
        departments = self.department_ids
        if department_id is not None:
            departments = departments & {department_id}
        # Plain columns, each agent with every department of theirs (a row each): panels
        # name assignees on every page, and agents as ORM objects brought their profiles.
        members = select(agent_departments.c.agent_id).where(
            agent_departments.c.department_id.in_(departments)
        )
        rows = self._session.execute(
            select(
                Agent.id,
                Agent.name,
                Agent.email,
                Agent.status,
                Agent.locale,
                agent_departments.c.department_id,
            )
            .join(agent_departments, agent_departments.c.agent_id == Agent.id)
            .where(Agent.is_active.is_(True), Agent.id.in_(members))
            .where(
                Agent.profile_id.in_(
                    select(installation_profiles.c.profile_id).where(
                        installation_profiles.c.installation_id == self._installation_id
                    )
                )
                if covered_only and self._installation_id is not None
                else true()
            )
            .order_by(Agent.name, Agent.id)
        )
        agents: dict[int, tuple[Any, list[int]]] = {}
        for row in rows:
            agents.setdefault(row.id, (row, []))[1].append(row.department_id)
        return [
            AgentRecord(
                id=row.id,
                name=row.name,
                email=row.email,
                status=row.status,
                locale=row.locale,
                department_ids=tuple(sorted(department_ids)),
            )
            for row, department_ids in agents.values()
        ]

    def get_agent(self, agent_id: int) -> AgentRecord | None:
        """An active agent of any department, or ``None``."""
        self._need(scope.AGENTS_READ)
        agent = self._session.get(Agent, agent_id)
        if agent is None or not agent.is_active:
            return None
        return AgentRecord(
            id=agent.id,
            name=agent.name,
            email=agent.email,
            status=agent.status,
            locale=agent.locale,
            department_ids=tuple(sorted(agent.department_ids)),
        )

    # ---------------------------------------------------------------- the organisation

    def departments(self) -> list[DepartmentRecord]:
        """The context's departments with their names, ordered by name."""
        rows = self._session.execute(
            select(Department.id, Department.name)
            .where(Department.id.in_(self.department_ids))
            .order_by(Department.name, Department.id)
        )
        return [DepartmentRecord(id=row.id, name=row.name) for row in rows]

    def service_terms(self, account_id: int, *, department_id: int | None) -> ServiceTerms:
        """The contract covering the account's request today and the SLA policy applied."""
        from core.services import contracts

        self._need(scope.ACCOUNTS_READ)
        if self._session.get(Account, account_id) is None:
            raise NotFound(f"account {account_id} not found")
        terms = contracts.service_terms(self._unit(), account_id, department_id=department_id)
        return ServiceTerms(contract_name=terms.contract_name, sla_name=terms.sla_name)

    # ---------------------------------------------------------------- knowledge base

    def kb_categories(self) -> list[KbCategoryRecord]:
        """The categories of the context's departments."""
        self._need(scope.KB_READ)
        rows = self._session.scalars(
            select(KbCategory)
            .where(KbCategory.department_id.in_(self.department_ids))
            .order_by(KbCategory.department_id, KbCategory.name, KbCategory.id)
        )
        return [
            KbCategoryRecord(
                id=row.id,
                department_id=row.department_id,
                name=row.name,
                description=row.description,
            )
            for row in rows
        ]

    def kb_articles(
        self,
        *,
        category_ids: Sequence[int] | None = None,
        status: str | None = None,
        visibility: str | None = None,
        limit: int = 100,
        after: tuple[datetime, int] | None = None,
    ) -> list[KbArticleRecord]:
        """Articles of the context's departments, last changed first."""
        self._need(scope.KB_READ)
        if not 1 <= limit <= 500:
            raise ValidationFailed({"limit": [Message("Give a number from 1 to 500.")]})
        statement = (
            select(KbArticle, KbCategory.department_id)
            .join(KbCategory, KbArticle.category_id == KbCategory.id)
            .where(KbCategory.department_id.in_(self.department_ids))
        )
        if category_ids is not None:
            statement = statement.where(KbArticle.category_id.in_(list(category_ids)))
        if status is not None:
            statement = statement.where(KbArticle.status == status)
        if visibility is not None:
            statement = statement.where(KbArticle.visibility == visibility)
        if after is not None:
            statement = statement.where(
                older_than(KbArticle.updated_at, KbArticle.id, Cursor(after[0], after[1]))
            )
        statement = statement.order_by(KbArticle.updated_at.desc(), KbArticle.id.desc())
        return [
            KbArticleRecord(
                id=article.id,
                category_id=article.category_id,
                department_id=department_id,
                title=article.title,
                body=article.body,
                visibility=article.visibility,
                status=article.status,
                created_at=article.created_at,
                updated_at=article.updated_at,
            )
            for article, department_id in self._session.execute(statement.limit(limit))
        ]

    # ---------------------------------------------------------------- linked products

    def register_linked_client(self, *, name: str, redirect_uri: str) -> LinkedClient:
        """Register a confidential OAuth client of the installation for a linked product, as
        the viewing administrator."""
        from flask import request, url_for

        from core.api import extension_routes
        from marketplace_registry import oauth

        installation = self._session.get(Installation, self._require_installation())
        if self._agent is None or installation is None:
            raise RuntimeError("a linked product's client is registered from an admin's page")
        unit = Unit(
            self._session,
            Actor(agent=self._agent, installation_id=installation.id),
            self._host,
        )
        try:
            client, secret = oauth.register_client(
                unit, installation, name=name, redirect_uris=[redirect_uri], linked_product=True
            )
        except Forbidden as error:
            raise PermissionError(str(error)) from error
        except ValidationFailed as error:
            raise ValueError(str(error)) from error
        return LinkedClient(
            client_id=client.client_id,
            client_secret=secret,
            authorize_url=url_for("oauth.authorize", _external=True),
            token_url=url_for("oauth.token", _external=True),
            api_base=request.host_url.rstrip("/")
            + extension_routes.installation_prefix(self._plugin_id, installation.id),
            scopes=tuple(sorted(installation.granted_scopes or ())),
        )

    def revoke_linked_client(self, client_id: str) -> None:
        """Revoke one of the installation's clients and its tokens."""
        from marketplace_registry import oauth

        oauth.revoke_client(self._session, self._require_installation(), client_id)

    def ticket_choices(self) -> TicketChoices:
        """The active statuses in display order, the priorities and the classifications."""
        from core.services import tickets

        return TicketChoices(
            statuses=tuple(
                StatusChoice(
                    name=status.name,
                    status_type=status.status_type,
                    label=self.status_label(status.name),
                )
                for status in tickets.list_statuses(self._session, include_inactive=False)
            ),
            priorities=tickets.PRIORITIES,
            classifications=tickets.CLASSIFICATIONS,
        )

    def status_label(self, status: str) -> str:
        """A built-in status translated as the host's pages show it (its label table and
        catalog), in :attr:`language`; a custom status as named."""
        from core.web.ui import labels  # the web layer imports this module: import late

        label = labels.STATUSES.get(status)
        if label is None:
            return status
        if has_app_context():
            with force_locale(self.language):
                return str(label)
        # Outside the app (a job) Flask-Babel translates nothing: the label is its msgid.
        return _host_catalog(self.language).gettext(str(label))

    # ---------------------------------------------------------------- helpers

    def _need(self, name: str) -> None:
        if name not in self._scopes:
            self._note_denial(name)
            raise ScopeError(name)

    def _note_denial(self, name: str) -> None:
        """Keep the denial on the session, to be recorded when its transaction ends (once per
        context and scope: a loop of denied calls is one record)."""
        if self._installation_id is None or name in self._denied_scopes:
            return
        self._denied_scopes.add(name)
        log.warning(
            "extension %r (installation %s) used scope %r, which it was not granted",
            self._plugin_id,
            self._installation_id,
            name,
        )
        denial = (self._host, self._installation_id, self._plugin_id, name, clock.now())
        if self._session.in_transaction():
            self._session.info.setdefault(_DENIALS_KEY, []).append(denial)
        else:
            _record([denial])

    def _require_installation(self) -> int:
        if self._installation_id is None:
            raise RuntimeError("this context is not bound to an installation")
        return self._installation_id

    def _unit(self) -> Unit:
        if self._session.info.get(AUTOCOMMIT_INFO):
            # Its locks and savepoints would end with each statement: nothing would keep two
            # arrivals from making one contact twice, or a failed change from half-writing.
            raise RuntimeError(
                "changing desk data needs a transaction, and this webhook runs without one "
                "(Webhook.autocommit): store what arrived and change desk data in a job"
            )
        actor = Actor(
            agent=None,
            label=f"extension:{self._plugin_id}",
            installation_id=self._installation_id,
        )
        return Unit(self._session, actor, self._host)

    def _org(self) -> Organisation:
        if self._organisation is None:
            # Contexts of one session (a page's panels, an event's installations) share the
            # row: once its id is known, the session's identity map answers without a query.
            known = self._session.info.get(_ORGANISATION_ID_KEY)
            organisation = None if known is None else self._session.get(Organisation, known)
            if organisation is None:
                organisation = self._session.scalars(select(Organisation).limit(1)).one()
                self._session.info[_ORGANISATION_ID_KEY] = organisation.id
            self._organisation = organisation
        return self._organisation

    def _ticket(self, ticket: Ticket) -> TicketRecord:
        return records.ticket_record(ticket, self._org().ticket_prefix)

    def _ticket_records(
        self, statement: Any, parameters: Mapping[str, Any] | None = None
    ) -> list[TicketRecord]:
        """The records of a ``select(*_TICKET_RECORD_COLUMNS)``: plain columns, no ORM objects
        (a backfill reads a million tickets through here)."""
        return [
            TicketRecord(
                display_number=f"{row.ticket_prefix}{row.number}",
                **dict(zip(_TICKET_FIELD_NAMES, row, strict=False)),
            )
            for row in _rows(self._session, statement, parameters)
        ]

    def _visible_ticket(self, ticket_id: int) -> Ticket | None:
        # A record needs the ticket's own columns only: without the eager joins (contact,
        # agent… and what they load in turn) a lookup costs a fraction of a millisecond, which
        # matters to extensions that read a ticket's threads, history and ratings per event.
        ticket = self._session.get(Ticket, ticket_id, options=[lazyload("*")])
        if ticket is None or ticket.department_id not in self.department_ids:
            return None
        return ticket

    def _ticket_or_raise(self, ticket_id: int) -> Ticket:
        ticket = self._visible_ticket(ticket_id)
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} not found")
        return ticket

    def _find_contact(
        self, *, email: str | None, channel: str | None, external_id: str | None
    ) -> Contact | None:
        """By channel identity, else by primary email, else by secondary email (1.5), any
        case; a merged contact's match is the contact it was merged into (1.5), as the host
        registers senders."""
        from core.intake.registration import survivor

        found: Contact | None = None
        if channel and external_id:
            found = self._session.scalar(
                select(Contact)
                .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
                .where(
                    ContactIdentity.channel == channel, ContactIdentity.external_id == external_id
                )
            )
        if found is None and email and email.strip():
            wanted = email.strip().lower()
            for column in (Contact.email, Contact.secondary_email):
                found = self._session.scalar(
                    select(Contact)
                    .where(func.lower(column) == wanted)
                    # One not merged wins over one that was; the oldest first among equals.
                    .order_by(Contact.merged_into_id.is_not(None), Contact.id)
                    .limit(1)
                )
                if found is not None:
                    break
        return survivor(self._session, found) if found is not None else None


@functools.lru_cache(maxsize=len(i18n.LANGUAGES))
def _host_catalog(language: str) -> NullTranslations:
    """The host's own catalog (its pages' messages) for ``language``."""
    from core.web.i18n import TRANSLATIONS_DIR

    return Translations.load(str(TRANSLATIONS_DIR), [language], "messages")


#: Where a session keeps its organisation's id (see ``HostContext._org``).
_ORGANISATION_ID_KEY = "deskhost.organisation_id"

#: What a contact's record reads: its channel identities joined (a few rows), its tags in a
#: second select (joined through the association table, SQLite materialised every contact's
#: tags first: 21 ms at 100,000 contacts), not the account (the record has its id). Panels
#: read their ticket's contact on every page.
_CONTACT_RECORD_LOADING = (lazyload(Contact.account), joinedload(Contact.identities))

#: The ticket columns a :class:`TicketRecord` copies (all but the derived display number).
_TICKET_FIELD_NAMES = tuple(f.name for f in fields(TicketRecord) if f.name != "display_number")
#: A ticket record's columns, the organisation's ticket prefix last (read in the same round
#: trip: the display number is prefix and number).
_TICKET_RECORD_COLUMNS = (
    *(getattr(Ticket, name) for name in _TICKET_FIELD_NAMES),
    select(Organisation.ticket_prefix)
    .order_by(Organisation.id)
    .limit(1)
    .scalar_subquery()
    .label("ticket_prefix"),
)


def _rows(session: Session, statement: Any, parameters: Mapping[str, Any] | None = None) -> Any:
    """The rows of a select of plain columns, past the ORM's result machinery (after writing
    out pending changes, which the ORM's own queries would also see)."""
    session.flush()
    return session.connection().execute(statement, parameters)


def _among(column: Any, name: str, given: str) -> Any:
    """``column`` is one of the ids given as ``:name``, ``given`` as

    - ``"one"``: a single id (``= :name``); PostgreSQL plans the statement once and reuses the
      plan;
    - ``"array"``: one array parameter, on PostgreSQL (the statement text stays the same
      whatever the number of ids, so the driver reuses it; the planner, not knowing the
      array's length, may plan each execution anew);
    - ``"list"``: an expanding ``IN``, elsewhere.
    """
    if given == "one":
        return column == bindparam(name)
    if given == "array":
        return column == any_(bindparam(name, type_=ARRAY(Integer)))
    return column.in_(bindparam(name, expanding=True))


@dataclass(frozen=True)
class _HistoryLayout:
    """Where one record type's fields sit in the shared columns of the history select (a
    ticket, its threads, status changes and ratings come in one round trip instead of four: on
    a reply's path, each round trip costs about as much as the query)."""

    #: The name tagging this type's rows.
    name: str
    #: The columns giving the rows' ``ticket_id`` and ``row_id``.
    ticket_id: Any
    row_id: Any
    #: The column carrying each of the record's other fields.
    columns: Mapping[str, Any]
    #: Makes the record from its ticket id, row id and the other fields.
    make: Callable[[int, int, dict[str, Any]], Any]

    @functools.cached_property
    def slots(self) -> dict[str, str]:
        """Each field's shared column: the next free one of the kind of value it holds."""
        used: dict[str, int] = {}
        slots = {}
        for field, column in self.columns.items():
            kind = _SLOT_KINDS[column.type.python_type]
            used[kind] = used.get(kind, 0) + 1
            slots[field] = f"{kind}_{used[kind]}"
        return slots

    @functools.cached_property
    def _positions(self) -> tuple[tuple[str, int], ...]:
        first = len(_HISTORY_KEY_COLUMNS)
        return tuple(
            (field, first + _SHARED_COLUMNS.index(slot)) for field, slot in self.slots.items()
        )

    def select(self, *where: Any) -> Any:
        """This type's rows meeting ``where``, each field in its shared column (the shared
        columns it does not use null)."""
        carried = {slot: self.columns[field] for field, slot in self.slots.items()}
        return select(
            literal(self.name).label("record"),
            self.ticket_id.label("ticket_id"),
            self.row_id.label("row_id"),
            *(
                carried[slot].label(slot) if slot in carried else null().label(slot)
                for slot in _SHARED_COLUMNS
            ),
        ).where(*where)

    def record(self, row: Any) -> Any:
        """The record a row of :meth:`select` holds."""
        return self.make(row[1], row[2], {field: row[at] for field, at in self._positions})


#: The shared columns' names by the kind of value they carry.
_SLOT_KINDS: Mapping[type, str] = {datetime: "at", str: "text", int: "number"}
#: The history select's columns before the shared ones.
_HISTORY_KEY_COLUMNS = ("record", "ticket_id", "row_id")


def _ticket_from(ticket_id: int, _row_id: int, values: dict[str, Any]) -> TicketRecord:
    prefix = values.pop("ticket_prefix")
    return TicketRecord(id=ticket_id, display_number=f"{prefix}{values['number']}", **values)


def _record_layout(name: str, record_type: type[Any], model: type[Any]) -> _HistoryLayout:
    with_id = "id" in record_type.__dataclass_fields__

    def make(ticket_id: int, row_id: int, values: dict[str, Any]) -> Any:
        if with_id:
            values["id"] = row_id
        return record_type(ticket_id=ticket_id, **values)

    columns = {
        f.name: getattr(model, f.name)
        for f in fields(record_type)
        if f.name not in ("id", "ticket_id")
    }
    return _HistoryLayout(name, model.ticket_id, model.id, columns, make)


#: A ticket as a history row, with the organisation's ticket prefix (its display number is
#: prefix and number). It uses the most shared columns of each kind and comes first in the
#: union, so the shared columns take its columns' types (SQLite needs them to read times).
_TICKET_LAYOUT = _HistoryLayout(
    "ticket",
    Ticket.id,
    Ticket.id,
    {
        **{name: getattr(Ticket, name) for name in _TICKET_FIELD_NAMES if name != "id"},
        "ticket_prefix": _TICKET_RECORD_COLUMNS[-1],
    },
    _ticket_from,
)
_SHARED_COLUMNS = tuple(_TICKET_LAYOUT.slots.values())

#: The ticket, then the record types of its history, by the name tagging their rows.
_HISTORY_LAYOUTS = {
    layout.name: layout
    for layout in (
        _TICKET_LAYOUT,
        _record_layout("thread", ThreadRecord, Thread),
        _record_layout("status_change", StatusChangeRecord, StatusChange),
        _record_layout("rating", RatingRecord, HappinessRating),
    )
}
# Every record type's fields fit in the ticket's shared columns (else a column would be typed
# by a later branch of the union, or missing).
assert all(
    set(layout.slots.values()) <= set(_SHARED_COLUMNS) for layout in _HISTORY_LAYOUTS.values()
)


@functools.cache
def _history_statement(tickets: str, departments: str) -> Any:
    """The select ``ticket_histories`` runs: the tickets ``:ticket_ids`` in the departments
    ``:department_ids`` and the records of those tickets, each type in the order the
    single-ticket methods give (by time, then id); the ids given as ``_among`` says. Built once:
    a statement made anew per call costs more than the query on a reply's path."""
    visible = (
        _among(Ticket.id, "ticket_ids", tickets),
        _among(Ticket.department_id, "department_ids", departments),
    )
    visible_ids = select(Ticket.id).where(*visible)
    history = union_all(
        _TICKET_LAYOUT.select(*visible),
        *(
            layout.select(
                _among(layout.ticket_id, "ticket_ids", tickets), layout.ticket_id.in_(visible_ids)
            )
            for layout in _HISTORY_LAYOUTS.values()
            if layout is not _TICKET_LAYOUT
        ),
    )
    columns = history.selected_columns
    # Each record type has one time, in the first shared time column.
    return history.order_by(columns.ticket_id, columns.at_1, columns.row_id)


@event.listens_for(Session, "after_transaction_end")
def _record_scope_denials(session: Session, transaction: SessionTransaction) -> None:
    """Once a session's outermost transaction ends, record the scope denials it saw."""
    if transaction.parent is not None or not session.info.get(_DENIALS_KEY):
        return
    _record(session.info.pop(_DENIALS_KEY))


def _record(denials: list[tuple[Host, int, str, str, datetime]]) -> None:
    """Write scope denials as HookErrors, each in a transaction of its own."""
    for host, installation_id, plugin_id, scope_name, at in denials:
        try:
            with host.transaction() as writer:
                if writer.get(Installation, installation_id) is None:
                    continue  # purged meanwhile: nothing to record it against
                writer.add(
                    HookError(
                        installation_id=installation_id,
                        plugin_id=plugin_id,
                        hook=SCOPE_DENIED,
                        error=f"ScopeError: the extension used the scope {scope_name!r}, "
                        "which this installation was not granted.",
                        at=at,
                    )
                )
        except Exception:  # recording must never break the caller's own work
            log.exception("could not record a scope denial of installation %s", installation_id)
