"""Plain data that extensions return from hooks and receive from the host."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Blueprint

    from hostapi.context import Context


class Location:
    """Named places where panels and tabs appear (modelled on the seed product's widgets)."""

    TICKET_RIGHT_PANEL = "desk.ticket.detail.rightpanel"
    CONTACT_SUBTAB = "desk.contact.detail.subtab"
    ACCOUNT_SUBTAB = "desk.account.detail.subtab"
    TOP_BAR = "desk.topband"
    BACKGROUND = "desk.background"

    ALL: frozenset[str] = frozenset(
        {TICKET_RIGHT_PANEL, CONTACT_SUBTAB, ACCOUNT_SUBTAB, TOP_BAR, BACKGROUND}
    )


@dataclass(frozen=True)
class PanelTarget:
    """What a panel or tab is rendered for: the record kind and its id."""

    kind: str  # "ticket", "contact" or "account"
    id: int


@dataclass(frozen=True)
class Panel:
    """A panel or tab an extension contributes at a :class:`Location`.

    ``render(context, target)`` returns HTML (already escaped where it embeds data) shown in the
    panel area; it runs with a context bound to the installation and the viewing agent.
    ``order`` sorts panels of one location (lower first).

    A tab (1.3) renders only when it is the selected one; ``count(context, target)``, where
    given, runs for every tab of the page and is shown beside its title (keep it one cheap
    query; ``None`` shows no count).
    """

    key: str
    location: str
    title: str
    render: Callable[[Context, PanelTarget], str]
    title_ja: str | None = None
    order: int = 100
    permission: str | None = None
    count: Callable[[Context, PanelTarget], int | None] | None = None


@dataclass(frozen=True)
class Page:
    """A Flask blueprint an extension adds; mounted under
    ``/ext/<plugin id>/<installation id>/``.

    Every request to it is checked against the installation's departments and profiles, and
    the view reads its context from :func:`hostapi.current_context`. Views do not receive the
    installation id (``url_for`` of the extension's own views fills it in).
    """

    blueprint: Blueprint
    title: str | None = None
    title_ja: str | None = None
    #: A link in the host's navigation (1.4), for each installation covering the agent, titled
    #: ``title`` / ``title_ja`` (the extension's name without one).
    menu: bool = False
    #: Where the navigation link goes, relative to the installation's pages
    #: (``/ext/<plugin id>/<installation id>/``; their root by default) (1.4).
    menu_path: str = ""
    #: A permission the agent needs for these pages (1.4): without it they answer 403 and the
    #: navigation shows no link to them.
    permission: str | None = None
    #: Where the extension's own settings page is, relative to the installation's pages (1.6),
    #: for settings the generated form cannot hold (a connection to make, a mapping to edit):
    #: the admin's page of the installation in the marketplace links to it, beside that form.
    #: Give the pages ``permission="marketplace.manage"`` so that only admins reach them.
    settings_path: str | None = None


@dataclass(frozen=True)
class Webhook:
    """An unauthenticated endpoint for a third party, mounted at
    ``/hooks/<plugin id>/<installation id>/<name>``.

    ``handle(context, request)`` verifies the caller itself (signatures are channel-specific)
    and returns a Flask response; it should store what it received and enqueue the rest.
    """

    name: str
    handle: Callable[..., Any]
    methods: tuple[str, ...] = ("POST",)
    #: More of the URL after the name (1.4), a Flask rule such as ``"/<int:account_id>"``: its
    #: values are passed to ``handle`` as keyword arguments. Empty: the name ends the URL.
    path: str = ""
    #: No transaction around ``handle`` (1.4): on PostgreSQL each statement it runs commits on
    #: its own, sparing the delivery the round trips of BEGIN and COMMIT. For a handler that
    #: stores what it received with one statement (and enqueues, after it, the job doing the
    #: rest); one whose writes belong together keeps the default. The context's methods that
    #: change desk data raise ``RuntimeError`` there. Elsewhere (SQLite) the handler runs in a
    #: transaction all the same.
    autocommit: bool = False


@dataclass(frozen=True)
class ApiRoute:
    """A REST endpoint an extension adds, served at
    ``/api/v1/ext/<plugin id>/<installation id><path>`` and listed in the host's OpenAPI
    document.

    ``path`` is a Flask rule starting with ``/`` (``"/greeting"``,
    ``"/tickets/<int:ticket_id>/events"``); ``name`` is unique within the extension (it names
    the operation). ``arguments`` is a marshmallow schema (class or instance) for the query
    string of a ``GET`` or ``DELETE``, or for the JSON body of the other methods; ``response``
    the schema the result is dumped with (``None``: no body, for a ``204``).
    ``handle(context, arguments, **path_values)`` runs with the installation's context (and
    the calling agent when there is one) and returns the response's data; raising
    :class:`hostapi.NotFound` answers 404, ``marshmallow.ValidationError`` 422 naming the
    fields, ``PermissionError`` 403 (1.5: the calling agent may see the record but not do
    this) and :class:`hostapi.Conflict` 409 (1.5). ``scopes`` are the scopes the endpoint
    needs: the installation must have been granted each, and a token must carry each. What
    ``handle`` writes through the context is committed when it returns and rolled back when
    it raises.

    .. versionadded:: 1.2
    """

    name: str
    path: str
    handle: Callable[..., Any]
    summary: str
    method: str = "GET"
    arguments: Any = None
    response: Any = None
    status: int = 200
    scopes: tuple[str, ...] = ()
    description: str = ""
    #: The media type of the file ``handle`` returns as a :class:`Download` (``"text/csv"``):
    #: the OpenAPI document then describes the success response as a file of that type
    #: instead of JSON. (1.2)
    content_type: str | None = None


@dataclass(frozen=True)
class Download:
    """A file an :class:`ApiRoute`'s ``handle`` may return instead of data: the host streams
    ``chunks`` (text, encoded as UTF-8, or bytes) as the response body with ``mimetype``, as
    an attachment named ``filename``.

    The chunks are produced while the response is sent, after ``handle`` returned (and what
    it wrote was committed): check the arguments and raise :class:`hostapi.NotFound` or
    ``marshmallow.ValidationError`` in ``handle`` itself, and read in batches in the
    generator so that memory stays bounded whatever the file's size.

    .. versionadded:: 1.2
    """

    filename: str
    chunks: Iterable[str | bytes]
    mimetype: str = "text/csv"


@dataclass(frozen=True)
class JobSpec:
    """A background job an extension can enqueue by ``name``; ``cron`` makes it periodic.

    ``run(context, payload)`` runs in a worker with a context bound to the installation.
    ``cron`` is a five-field cron expression evaluated in the organisation's time zone.
    """

    name: str
    run: Callable[[Context, Mapping[str, Any]], None]
    cron: str | None = None
    timeout_seconds: int = 300
    max_retries: int = 3


@dataclass(frozen=True)
class PermissionSpec:
    """A custom permission an extension adds to the catalogue (name prefixed by its id)."""

    name: str
    label: str
    label_ja: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Event:
    """A domain event, as hooks receive it.

    ``id`` is unique: asynchronous handlers use it to stay idempotent under redelivery.
    ``department_ids`` are the departments the event concerns (empty for contact and account
    events, which are organisation-wide).
    """

    id: str
    name: str
    occurred_at: datetime
    payload: Mapping[str, Any]
    department_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class TicketRecord:
    """A ticket as extensions see it."""

    id: int
    number: int
    display_number: str
    subject: str
    status: str
    status_type: str
    priority: str
    channel: str
    classification: str
    department_id: int
    contact_id: int | None
    account_id: int | None
    assignee_id: int | None
    raised_by: str
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class ThreadRecord:
    """A ticket thread; ``kind`` is incoming, outgoing, comment or notification."""

    id: int
    ticket_id: int
    kind: str
    channel: str
    author_agent_id: int | None
    author_contact_id: int | None
    body: str
    created_at: datetime


@dataclass(frozen=True)
class StatusChangeRecord:
    """One status change of a ticket."""

    ticket_id: int
    from_status: str | None
    from_type: str | None
    to_status: str
    to_type: str
    changed_at: datetime


@dataclass(frozen=True)
class RatingRecord:
    """A happiness rating."""

    id: int
    ticket_id: int
    rating: str
    feedback: str
    created_at: datetime


@dataclass(frozen=True)
class TicketHistory:
    """A ticket with everything recorded on it (1.2): what
    :meth:`hostapi.Context.ticket_histories` returns per ticket.

    ``threads`` oldest first (by time, then id), ``status_changes`` oldest first, ``ratings``
    oldest first (by time, then id): the orders of the single-ticket methods.
    """

    ticket: TicketRecord
    threads: tuple[ThreadRecord, ...]
    status_changes: tuple[StatusChangeRecord, ...]
    ratings: tuple[RatingRecord, ...]


@dataclass(frozen=True)
class ContactRecord:
    """A contact as extensions see it."""

    id: int
    first_name: str
    last_name: str
    email: str | None
    phone: str
    mobile: str
    account_id: int | None
    owner_id: int | None
    tags: tuple[str, ...]
    identities: tuple[tuple[str, str], ...]  # (channel, external id)
    created_at: datetime
    #: How the name is ordered: "auto" (by its script and the reader's language), or fixed as
    #: "family_first" / "given_first" for this contact. (1.2)
    name_order: str = "auto"
    #: The name as the host shows it to the context's reader: a name in Japanese or Chinese
    #: script (or hangul) family name first in every language; a Latin-script one family name
    #: first for a Japanese reader and given name first for an English one; ``name_order``
    #: overrides both. Show this, not :attr:`name`. Empty only on records built by hand. (1.2)
    display_name: str = ""

    @property
    def name(self) -> str:
        """First and last name, given name first whatever the script (as in 1.0): for showing
        the name, use :attr:`display_name`."""
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class AccountRecord:
    """An account as extensions see it."""

    id: int
    name: str
    website: str
    phone: str
    owner_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class DepartmentRecord:
    """A department as extensions see it (1.2)."""

    id: int
    name: str


@dataclass(frozen=True)
class AgentRecord:
    """An agent as extensions see it (never the password hash)."""

    id: int
    name: str
    email: str
    status: str
    department_ids: tuple[int, ...]
    locale: str | None = None


@dataclass
class TicketQuery:
    """Filters for :meth:`hostapi.Context.list_tickets`; ``after`` is a keyset cursor."""

    contact_id: int | None = None
    account_id: int | None = None
    status_type: str | None = None
    limit: int = 50
    after: tuple[datetime, int] | None = None
    #: Only the tickets of this department (1.2); a department the context does not reach
    #: gives no tickets.
    department_id: int | None = None
    #: Only the tickets matching these words as the host's ticket search does (1.2): in the
    #: subject, the ticket's number (with or without the prefix), or the contact's name or
    #: phone. Blank means no filter.
    search: str | None = None
    #: Only overdue tickets (``True``: due time passed, status type not closed) or only the
    #: others (``False``) (1.5); ``None``: either.
    overdue: bool | None = None


#: :attr:`TranscriptMessage.sender` of a message the customer wrote.
CUSTOMER = "customer"
#: :attr:`TranscriptMessage.sender` of a message an agent wrote.
AGENT = "agent"


@dataclass(frozen=True)
class TranscriptMessage:
    """One message of a chat, as :class:`ChatTranscript` holds it (1.5).

    ``sender`` is ``"customer"`` or ``"agent"``; an agent's message names the desk agent who
    wrote it (``agent_id``), or ``None`` when the chat product's operator is not one. ``text``
    is what the message said (write a placeholder such as ``"[image]"`` for one without
    text); ``sent_at`` is aware.
    """

    sender: str
    text: str
    sent_at: datetime
    agent_id: int | None = None

    def __post_init__(self) -> None:
        if self.sender not in (CUSTOMER, AGENT):
            raise ValueError(f"sender must be {CUSTOMER!r} or {AGENT!r}, not {self.sender!r}")
        if self.sent_at.tzinfo is None:
            raise ValueError("sent_at must be an aware datetime")
        if not self.text.strip():
            raise ValueError("a transcript message needs text")


@dataclass(frozen=True)
class ChatTranscript:
    """A chat to make a ticket of, or to add to one (1.5): its channel (``"chat"``,
    ``"line"``…), when it started (aware) and its messages in the order they were sent."""

    channel: str
    started_at: datetime
    messages: tuple[TranscriptMessage, ...] = ()

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError("started_at must be an aware datetime")
        times = [message.sent_at for message in self.messages]
        if times != sorted(times):
            raise ValueError("messages must be in the order they were sent")
        if times and times[0] < self.started_at:
            raise ValueError("a message cannot be sent before the chat started")


@dataclass(frozen=True)
class LinkedClient:
    """An OAuth client of the desk for a product an installation links (1.5): what the
    product needs to be authorized by an admin and to call the extension's endpoints.

    ``client_secret`` is given once, when the client is registered, and stored by the desk
    only hashed. ``api_base`` is the URL of the installation's REST endpoints
    (:class:`ApiRoute` paths continue it).
    """

    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    api_base: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class StatusChoice:
    """A ticket status the desk offers (1.5): its name (what :meth:`Context.change_status`
    takes), its type (``open``, ``on_hold`` or ``closed``) and its label in the reader's
    language."""

    name: str
    status_type: str
    label: str


@dataclass(frozen=True)
class TicketChoices:
    """What the desk offers when a ticket is made or changed (1.5): its active statuses in
    display order, its priorities from lowest to highest and its classifications."""

    statuses: tuple[StatusChoice, ...]
    priorities: tuple[str, ...]
    classifications: tuple[str, ...]


@dataclass(frozen=True)
class KbCategoryRecord:
    """A knowledge-base category (1.5); it belongs to one department."""

    id: int
    department_id: int
    name: str
    description: str


@dataclass(frozen=True)
class KbArticleRecord:
    """A knowledge-base article (1.5). ``visibility`` is ``all`` (every user) or
    ``registered`` (registered users only); ``status`` is ``draft`` or ``published``."""

    id: int
    category_id: int
    department_id: int
    title: str
    body: str
    visibility: str
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ServiceTerms:
    """What an account's request in a department is served under (1.5): the name of the
    contract covering it today and of the SLA policy that applies (the contract's own, else
    the department's); ``None`` where there is none."""

    contract_name: str | None
    sla_name: str | None
