"""The context object every hook receives, bound to one installation.

What it reaches follows the installation's visibility: with a viewing agent, tickets (and threads,
ratings, status history) in the intersection of the installation's departments and the agent's;
without one (jobs, event hooks), the installation's departments. Contacts and accounts are
organisation-wide. Every method is further capped by the installation's granted scopes and
raises :class:`ScopeError` when a scope is missing. A record outside the visible set is
reported as absent (``None``), never as forbidden.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from gettext import NullTranslations
from types import MappingProxyType
from typing import Any

from flask import has_request_context, request
from sqlalchemy.orm import Session

from hostapi import i18n
from hostapi.types import (
    CUSTOMER,
    AccountRecord,
    AgentRecord,
    ChatTranscript,
    ContactRecord,
    DepartmentRecord,
    KbArticleRecord,
    KbCategoryRecord,
    LinkedClient,
    RatingRecord,
    ServiceTerms,
    StatusChangeRecord,
    ThreadRecord,
    TicketChoices,
    TicketHistory,
    TicketQuery,
    TicketRecord,
    TranscriptMessage,
)


class ScopeError(PermissionError):
    """The installation's grant does not include a scope the call needs."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"this installation was not granted the scope {scope!r}")
        self.scope = scope


class Conflict(Exception):
    """What was asked cannot be done in the record's present state (an :class:`ApiRoute`'s
    handler raising it answers 409 with its message) (1.5).

    .. versionchanged:: 1.6
       ``status_code`` (409), the HTTP status the host answers it with.
    """

    status_code = 409


class NotFound(LookupError):
    """The record does not exist or is outside what this context may see.

    .. versionchanged:: 1.6
       ``status_code`` (404), the HTTP status the host answers it with.
    """

    status_code = 404


class Context(abc.ABC):
    """Everything an extension may do with the host, for one installation."""

    # ---------------------------------------------------------------- identity and settings

    @property
    @abc.abstractmethod
    def installation_id(self) -> int:
        """The installation this context is bound to."""

    @property
    @abc.abstractmethod
    def plugin_id(self) -> str:
        """The extension's manifest id."""

    @property
    @abc.abstractmethod
    def settings(self) -> Mapping[str, Any]:
        """The installation's settings, validated against the manifest's settings schema."""

    @property
    @abc.abstractmethod
    def granted_scopes(self) -> frozenset[str]:
        """Scopes the admin granted on the consent page."""

    @property
    @abc.abstractmethod
    def department_ids(self) -> frozenset[int]:
        """Departments whose tickets this context reaches (see the module docstring)."""

    @property
    @abc.abstractmethod
    def agent(self) -> AgentRecord | None:
        """The agent viewing a panel or page; ``None`` in jobs and event hooks."""

    @abc.abstractmethod
    def has_permission(self, permission: str) -> bool:
        """Whether the viewing agent's profile grants ``permission`` (1.4): one of the host's
        (``"ticket.view"``) or one your extension adds (``"<your id>.<name>"``);
        administrators hold every one. ``False`` without an agent (jobs, event hooks)."""

    @property
    @abc.abstractmethod
    def timezone(self) -> str:
        """The organisation's IANA time zone name."""

    @property
    def week_start(self) -> int:
        """The organisation's first day of the week (1.4): 0 = Monday … 6 = Sunday. This
        default (for contexts written against 1.0) says Monday."""
        return 0

    @abc.abstractmethod
    def now(self) -> datetime:
        """The current time from the host's clock (aware, UTC)."""

    @property
    def query_args(self) -> Mapping[str, str]:
        """The query arguments of the request the host is serving: the page a panel or tab
        is rendered on (the ticket's, contact's or account's), or an extension page's,
        endpoint's or webhook's own request; a name given twice keeps its first value.
        Empty where there is no request (jobs, and the event hooks a worker calls).

        .. versionadded:: 1.2
        """
        if not has_request_context():
            return MappingProxyType({})
        return MappingProxyType(request.args.to_dict(flat=True))

    # ---------------------------------------------------------------- language (1.2)

    @property
    def language(self) -> str:
        """The language to write in, one of :data:`hostapi.i18n.LANGUAGES`: the viewing agent's
        page language, else (and in jobs and event hooks) the organisation's default.

        .. versionadded:: 1.2
        """
        # The host's context knows the organisation's default; this fallback knows the agent.
        agent = self.agent
        locale = agent.locale if agent is not None else None
        return locale if locale in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE

    @property
    def translations(self) -> NullTranslations:
        """The extension's own catalog (gettext domain: its plugin id) for :attr:`language`;
        it gives the source text for messages it lacks, and for every message when the
        extension ships no catalog for that language.

        .. versionadded:: 1.2
        """
        package = i18n.package_of(self.plugin_id)
        if package is None:
            return NullTranslations()
        return i18n.load_translations(package, self.plugin_id, self.language)

    def gettext(self, message: str, **variables: Any) -> str:
        """``message`` translated into :attr:`language` by the extension's catalog, with its
        ``%(name)s`` placeholders filled from ``variables`` (when any are given).

        .. versionadded:: 1.2
        """
        text = self.translations.gettext(message)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, num: int, **variables: Any) -> str:
        """The singular or plural form for ``num``, translated; ``%(num)s`` is ``num``.

        .. versionadded:: 1.2
        """
        variables.setdefault("num", num)
        return self.translations.ngettext(singular, plural, num) % variables

    def pgettext(self, msgctxt: str, message: str, **variables: Any) -> str:
        """``message`` translated in the message context ``msgctxt`` (the same English word
        meaning two things), placeholders filled as by :meth:`gettext`.

        .. versionadded:: 1.2
        """
        text = self.translations.pgettext(msgctxt, message)
        return text % variables if variables else text

    def npgettext(
        self, msgctxt: str, singular: str, plural: str, num: int, **variables: Any
    ) -> str:
        """:meth:`ngettext` in the message context ``msgctxt``.

        .. versionadded:: 1.2
        """
        variables.setdefault("num", num)
        return self.translations.npgettext(msgctxt, singular, plural, num) % variables

    # ---------------------------------------------------------------- the extension's own data

    @property
    @abc.abstractmethod
    def db(self) -> Session:
        """A session for the extension's own tables, in the transaction of the current change
        (in a webhook with ``autocommit`` on PostgreSQL, none: each statement commits)."""

    @abc.abstractmethod
    def storage_get(self, key: str, default: Any = None) -> Any:
        """A value from per-installation storage."""

    @abc.abstractmethod
    def storage_set(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value for this installation."""

    @abc.abstractmethod
    def storage_delete(self, key: str) -> None:
        """Remove a stored value (no error if absent)."""

    @abc.abstractmethod
    def secret_set(self, key: str, value: str) -> None:
        """Store a secret (channel token, app secret) encrypted at rest."""

    @abc.abstractmethod
    def secret_get(self, key: str) -> str | None:
        """Read a secret back in full (for use; never show it to users)."""

    @abc.abstractmethod
    def secret_hint(self, key: str) -> str | None:
        """A masked form of a secret for display, such as ``••••1a2b``."""

    @abc.abstractmethod
    def secret_delete(self, key: str) -> None:
        """Remove a secret (1.4); no error if absent."""

    # ---------------------------------------------------------------- jobs

    @abc.abstractmethod
    def enqueue(
        self, job: str, payload: Mapping[str, Any] | None = None, *, delay: timedelta | None = None
    ) -> str:
        """Queue one of the extension's jobs (by :class:`JobSpec` name) through the outbox.

        :returns: the job id. The job runs after the current transaction commits, at least once
            (in a webhook with ``autocommit`` on PostgreSQL, once its row is flushed).
        """

    # ---------------------------------------------------------------- tickets (desk.tickets.*)

    @abc.abstractmethod
    def get_ticket(self, ticket_id: int) -> TicketRecord | None:
        """A visible ticket, or ``None``. Needs ``desk.tickets.read``."""

    @abc.abstractmethod
    def list_tickets(self, query: TicketQuery) -> list[TicketRecord]:
        """Visible tickets newest first, keyset-paginated. Needs ``desk.tickets.read``."""

    def count_tickets(self, query: TicketQuery) -> int:
        """How many visible tickets match ``query``'s filters (its ``limit`` and ``after``
        aside). Needs ``desk.tickets.read``. This default (for contexts written against 1.0)
        pages through :meth:`list_tickets`.

        .. versionadded:: 1.5
        """
        count, page = 0, replace(query, limit=500, after=None)
        while records := self.list_tickets(page):
            count += len(records)
            page = replace(page, after=(records[-1].created_at, records[-1].id))
        return count

    @abc.abstractmethod
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
        """Create a ticket in one of the context's departments. Needs ``desk.tickets.write``."""

    @abc.abstractmethod
    def change_status(self, ticket_id: int, status: str) -> TicketRecord:
        """Set a ticket's status by name. Needs ``desk.tickets.write``."""

    @abc.abstractmethod
    def link_ticket(
        self, ticket_id: int, *, contact_id: int | None = None, account_id: int | None = None
    ) -> TicketRecord:
        """Link a ticket to a contact and/or an account. Needs ``desk.tickets.write``."""

    def merge_ticket(self, ticket_id: int, *, into_ticket_id: int) -> TicketRecord:
        """Merge a visible ticket into another (1.5): its description, threads and time entries
        move to the other at their own times, it is closed and marked merged, and the
        ``ticket.merged`` event follows. Returns the ticket merged into. Needs
        ``desk.tickets.write`` and ``desk.threads.write``.

        :raises NotFound: either ticket is not visible.
        :raises Conflict: either was merged into another already.

        .. versionadded:: 1.5
        """
        raise NotImplementedError("this context cannot merge tickets (host API < 1.5)")

    @abc.abstractmethod
    def status_history(self, ticket_id: int) -> list[StatusChangeRecord]:
        """A visible ticket's status changes, oldest first. Needs ``desk.tickets.read``."""

    @abc.abstractmethod
    def ratings(self, ticket_id: int) -> list[RatingRecord]:
        """A visible ticket's happiness ratings, oldest first. Needs ``desk.tickets.read``."""

    def ticket_histories(self, ticket_ids: Sequence[int]) -> Mapping[int, TicketHistory]:
        """Many visible tickets with their threads, status changes and ratings at once (1.2).

        Keyed by ticket id; an id the context does not reach is left out (as ``get_ticket``
        gives ``None`` for it). Needs ``desk.tickets.read`` and ``desk.threads.read``. The host
        reads each kind of record for all the tickets in one query; this default (for contexts
        written against 1.0) asks the single-ticket methods.
        """
        histories: dict[int, TicketHistory] = {}
        for ticket_id in dict.fromkeys(ticket_ids):
            ticket = self.get_ticket(ticket_id)
            if ticket is None:
                continue
            histories[ticket_id] = TicketHistory(
                ticket=ticket,
                threads=tuple(self.list_threads(ticket_id)),
                status_changes=tuple(self.status_history(ticket_id)),
                ratings=tuple(self.ratings(ticket_id)),
            )
        return histories

    # ---------------------------------------------------------------- chats (1.5)

    def convert_chat(
        self,
        transcript: ChatTranscript,
        *,
        subject: str,
        department_id: int,
        contact_id: int | None,
        status: str = "Open",
        priority: str = "medium",
        classification: str = "",
    ) -> TicketRecord:
        """Make a ticket of a chat: the one way chats become tickets, so that the tickets of
        every chat extension read and count alike (1.5).

        The ticket is created at the chat's start on the transcript's channel, raised by the
        customer (``contact_id``); the customer's opening message is its description and every
        later message a thread at its own time: the customer's incoming, an agent's a public
        reply by that agent. So the ticket's response times are the chat's. A ``status`` other
        than "Open" is set after the messages, at the time of the conversion. Call it in a
        transaction (a job's or a page's): a message the host refuses (an ``agent_id`` that is
        no agent) raises its validation error, whose ``errors`` name the field, and leaves no
        ticket once the transaction rolls back. Needs ``desk.tickets.write`` and
        ``desk.threads.write``.

        .. versionadded:: 1.5
        """
        messages = list(transcript.messages)
        opening = messages.pop(0) if messages and messages[0].sender == CUSTOMER else None
        ticket = self.create_ticket(
            subject=subject,
            department_id=department_id,
            contact_id=contact_id,
            channel=transcript.channel,
            description=opening.text if opening else "",
            priority=priority,
            classification=classification,
            created_at=transcript.started_at,
        )
        self._add_messages(ticket.id, transcript.channel, messages)
        if status != ticket.status:
            ticket = self.change_status(ticket.id, status)
        return ticket

    def add_transcript(self, ticket_id: int, transcript: ChatTranscript) -> list[ThreadRecord]:
        """Add a chat's messages to an existing visible ticket, each a thread at its own time
        as :meth:`convert_chat` writes them (a chat merged into a ticket) (1.5). Needs
        ``desk.threads.write``.

        .. versionadded:: 1.5
        """
        return self._add_messages(ticket_id, transcript.channel, transcript.messages)

    def _add_messages(
        self, ticket_id: int, channel: str, messages: Sequence[TranscriptMessage]
    ) -> list[ThreadRecord]:
        return [
            self.add_thread(
                ticket_id,
                kind="incoming" if message.sender == CUSTOMER else "outgoing",
                body=message.text,
                author_agent_id=None if message.sender == CUSTOMER else message.agent_id,
                channel=channel,
                created_at=message.sent_at,
            )
            for message in messages
        ]

    # ---------------------------------------------------------------- linked products (1.5)

    def register_linked_client(self, *, name: str, redirect_uri: str) -> LinkedClient:
        """Register an OAuth client of the desk for a product the installation links (a chat
        product whose window shows desk data), and return its credentials (1.5).

        The product sends an admin through the desk's consent page with it (authorization
        code with PKCE); its tokens then reach this installation's REST endpoints only, within
        the installation's granted scopes and departments, acting as the admin who authorized
        it. Call it from a page an administrator is using (it needs the viewing agent's
        ``marketplace.manage``); ``redirect_uri`` must be ``https`` (``http`` only on
        127.0.0.1 or localhost) and is matched exactly.

        :raises PermissionError: the viewing agent may not manage the marketplace.
        :raises ValueError: the name or the redirect URI is not acceptable.

        .. versionadded:: 1.5
        """
        raise NotImplementedError("this context cannot register clients (host API < 1.5)")

    def revoke_linked_client(self, client_id: str) -> None:
        """Revoke a client :meth:`register_linked_client` made, with every token it holds
        (1.5). A client of another installation, or one revoked already, is left alone.

        .. versionadded:: 1.5
        """
        raise NotImplementedError("this context cannot revoke clients (host API < 1.5)")

    # ---------------------------------------------------------------- threads (desk.threads.*)

    @abc.abstractmethod
    def list_threads(self, ticket_id: int) -> list[ThreadRecord]:
        """A visible ticket's threads, oldest first. Needs ``desk.threads.read``."""

    @abc.abstractmethod
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
        """Add a thread to a visible ticket. Needs ``desk.threads.write``."""

    # ---------------------------------------------------------------- customers

    @abc.abstractmethod
    def get_contact(self, contact_id: int) -> ContactRecord | None:
        """A contact, or ``None``. Needs ``desk.contacts.read``."""

    @abc.abstractmethod
    def find_contact(
        self,
        *,
        email: str | None = None,
        channel: str | None = None,
        external_id: str | None = None,
    ) -> ContactRecord | None:
        """The contact with that channel identity, or with that email. Needs
        ``desk.contacts.read``.

        Since 1.5 a contact whose secondary email it is matches when none has it as primary
        email, and a merged contact's match is the contact it was merged into, as
        :meth:`register_sender` matches (1.4 gave ``None`` for both).
        """

    @abc.abstractmethod
    def create_contact(
        self,
        *,
        last_name: str,
        first_name: str = "",
        email: str | None = None,
        phone: str = "",
        identities: Sequence[tuple[str, str]] = (),
    ) -> ContactRecord:
        """Create a contact, optionally with channel identities. Needs ``desk.contacts.write``."""

    @abc.abstractmethod
    def find_or_create_contact(
        self,
        *,
        last_name: str,
        first_name: str = "",
        email: str | None = None,
        channel: str | None = None,
        external_id: str | None = None,
    ) -> tuple[ContactRecord, bool]:
        """The matching contact (by identity, then email) or a new one; ``True`` when created.
        Needs ``desk.contacts.read`` and ``desk.contacts.write``."""

    @abc.abstractmethod
    def register_sender(
        self,
        *,
        channel: str,
        external_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        name: str = "",
    ) -> tuple[ContactRecord, bool]:
        """The contact who sent a message on ``channel``, matched or created as the host's own
        channels (email, web form) register senders (1.4); ``True`` when created just now.

        Matched by the channel identity (``external_id``: a LINE user id, a Telegram chat
        id…), then the email (any case, primary or secondary), then the phone in E.164
        however it is typed; a merged contact's match is the contact it was merged into.
        Otherwise a contact named ``name`` is created. The identity is recorded on the
        contact, so the next message matches by it. Concurrent arrivals of one new sender
        create one contact (call it in a write transaction: a webhook's or a job's).
        Needs ``desk.contacts.read`` and ``desk.contacts.write``.

        :raises ValueError: none of ``external_id``, ``email`` or ``phone`` is usable.
        """

    @abc.abstractmethod
    def get_account(self, account_id: int) -> AccountRecord | None:
        """An account, or ``None``. Needs ``desk.accounts.read``."""

    def service_terms(self, account_id: int, *, department_id: int | None) -> ServiceTerms:
        """The contract and SLA policy an account's request in ``department_id`` is served
        under today, by name (1.5). Needs ``desk.accounts.read``.

        :raises NotFound: no such account.

        .. versionadded:: 1.5
        """
        raise NotImplementedError("this context does not offer contracts (host API < 1.5)")

    # ---------------------------------------------------------------- knowledge base (1.5)

    def kb_categories(self) -> list[KbCategoryRecord]:
        """The knowledge-base categories of the context's departments, by department then
        name (1.5). Needs ``desk.kb.read``.

        .. versionadded:: 1.5
        """
        raise NotImplementedError("this context has no knowledge base (host API < 1.5)")

    def kb_articles(
        self,
        *,
        category_ids: Sequence[int] | None = None,
        status: str | None = None,
        visibility: str | None = None,
        limit: int = 100,
        after: tuple[datetime, int] | None = None,
    ) -> list[KbArticleRecord]:
        """Knowledge-base articles of the context's departments, last changed first, a page
        at a time (1.5): ``after`` is ``(updated_at, id)`` of the previous page's last one;
        ``limit`` from 1 to 500. ``category_ids``, ``status`` (``draft``, ``published``) and
        ``visibility`` (``all``, ``registered``) keep those matching. Needs ``desk.kb.read``.

        .. versionadded:: 1.5
        """
        raise NotImplementedError("this context has no knowledge base (host API < 1.5)")

    # ---------------------------------------------------------------- agents

    @abc.abstractmethod
    def list_agents(
        self, department_id: int | None = None, *, covered_only: bool = False
    ) -> list[AgentRecord]:
        """Active agents, optionally of one of the context's departments. Needs
        ``desk.agents.read``.

        ``covered_only`` (1.4): only the agents the installation covers, whose permission
        profile it names: those who see its pages and panels (whom to give work to).
        """

    def get_agent(self, agent_id: int) -> AgentRecord | None:
        """An active agent of the organisation, whatever their departments (a contact's
        owner, who linked something), or ``None`` (1.5). Needs ``desk.agents.read``.

        .. versionadded:: 1.5
        """
        raise NotImplementedError("this context does not look agents up (host API < 1.5)")

    # ---------------------------------------------------------------- the organisation (1.2)

    def departments(self) -> list[DepartmentRecord]:
        """The departments the context reaches (:attr:`department_ids`) with their names,
        ordered by name. Needs no scope: they are the installation's own departments.

        .. versionadded:: 1.2
        """
        raise NotImplementedError("this context does not offer departments (host API < 1.2)")

    def ticket_choices(self) -> TicketChoices:
        """The statuses, priorities and classifications the desk offers for a ticket, for
        a form that lets an agent choose them (1.5). Needs no scope.

        .. versionadded:: 1.5
        """
        raise NotImplementedError("this context does not offer ticket choices (host API < 1.5)")

    def status_label(self, status: str) -> str:
        """A ticket status's name (:attr:`TicketRecord.status`) as the host shows it in
        :attr:`language`: the built-in statuses ("Open", "On Hold"…) translated, a custom
        status by its own name. This default (for contexts written against 1.0) gives the
        name as stored.

        .. versionadded:: 1.2
        """
        return status
