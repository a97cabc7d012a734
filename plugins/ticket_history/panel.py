"""The Ticket History panel: the customer's other tickets beside the ticket, newest first.

The list filters by status and by keyword, pages by keyset (older tickets), switches between
the contact's and the whole account's tickets, and opens a listed ticket in place: its
conversation is read inside the panel, on the page of the ticket being worked on. Everything
is a link or a GET form on the ticket's own page: the panel's choices travel in the page's
query arguments, named after the installation so two panels never read each other's.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from hostapi import Context, PanelTarget, ScopeError, TicketQuery, TicketRecord
from hostapi.i18n import N_, template_functions

#: Tickets listed when the installation's settings do not say (the manifest's default).
DEFAULT_PAGE_SIZE = 10

#: How the built-in statuses read; a custom status is shown by its own name.
STATUS_LABELS: Mapping[str, str] = {
    "Open": N_("Open"),
    "Escalated": N_("Escalated"),
    "On Hold": N_("On hold"),
    "Resolved": N_("Resolved"),
    "Closed": N_("Closed"),
}

#: The status filter's choices: every status type, or one.
STATUS_FILTERS: Mapping[str, str] = {
    "": N_("All statuses"),
    "open": N_("Open"),
    "on_hold": N_("On hold"),
    "closed": N_("Closed"),
}

#: How the host's channels read; a channel an extension registered is shown by its code.
CHANNEL_LABELS: Mapping[str, str] = {
    "email": N_("Email"),
    "web_form": N_("Web form"),
    "phone": N_("Phone"),
    "chat": N_("Chat"),
    "whatsapp": N_("WhatsApp"),
    "telegram": N_("Telegram"),
    "wechat": N_("WeChat"),
    "line": N_("LINE"),
    "api": N_("API"),
}

#: How each kind of thread is introduced in a conversation read in place.
THREAD_KINDS: Mapping[str, str] = {
    "incoming": N_("Customer"),
    "outgoing": N_("Reply"),
    "comment": N_("Internal comment"),
    "notification": N_("Automatic notification"),
}

#: The longest keyword the filter takes (the host's search takes the rest as it is).
MAX_SEARCH_LENGTH = 200

_templates = Environment(
    loader=PackageLoader("plugins.ticket_history", "templates"),
    autoescape=select_autoescape(default=True),
)


def page_size(settings: Mapping[str, Any]) -> int:
    """How many tickets the panel lists: the installation's ``page_size`` setting."""
    value = settings.get("page_size")
    return value if isinstance(value, int) and value > 0 else DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class Choices:
    """What the agent chose in the panel, read from the page's query arguments.

    A value that cannot be understood (a hand-edited URL) is dropped, not an error: the panel
    then shows what it shows without it.
    """

    #: The query arguments' prefix: ``history<installation id>.``.
    prefix: str
    #: ``"contact"`` or ``"account"``.
    of: str = "contact"
    #: A status type, or ``""`` for all.
    status: str = ""
    search: str = ""
    #: The keyset position: the last ticket of the previous page.
    after: tuple[datetime, int] | None = None
    #: The ticket read in place.
    opened: int | None = None

    @classmethod
    def read(cls, context: Context) -> Choices:
        """The choices in the page's query arguments for this installation's panel."""
        prefix = f"history{context.installation_id}."
        args = context.query_args

        def arg(name: str) -> str:
            return (args.get(prefix + name) or "").strip()

        opened = arg("open")
        return cls(
            prefix=prefix,
            of="account" if arg("of") == "account" else "contact",
            status=arg("status") if arg("status") in STATUS_FILTERS else "",
            search=arg("q")[:MAX_SEARCH_LENGTH],
            after=_parse_cursor(arg("after")),
            opened=_ticket_id(opened),
        )

    def link(self, context: Context, **changes: Any) -> str:
        """The query string of the page with these choices changed (``None`` drops one),
        keeping the page's other arguments."""
        current = {
            "of": self.of if self.of != "contact" else None,
            "status": self.status or None,
            "q": self.search or None,
            "after": cursor_text(self.after) if self.after else None,
            "open": str(self.opened) if self.opened else None,
        }
        current.update(changes)
        kept = self._page_args(context)
        mine = [(self.prefix + name, value) for name, value in current.items() if value]
        return "?" + urlencode(kept + mine)

    def _page_args(self, context: Context) -> list[tuple[str, str]]:
        """The page's query arguments that are not this panel's (another panel's, the tab)."""
        return [
            (name, value)
            for name, value in context.query_args.items()
            if not name.startswith(self.prefix)
        ]

    def hidden_fields(self, context: Context) -> list[tuple[str, str]]:
        """The page's arguments a filter form must carry along (not the ones it sets)."""
        kept = self._page_args(context)
        if self.of != "contact":
            kept.append((self.prefix + "of", self.of))
        return kept


def render_history_panel(context: Context, target: PanelTarget) -> str:
    """The panel for a ticket: its customer's other tickets that the context may see.

    A ticket without a contact, a ticket outside the context and a grant without
    ``desk.tickets.read`` each get a one-line explanation instead of a list.
    """
    if target.kind != "ticket":
        raise ValueError(f"the Ticket History panel has no {target.kind!r} view")
    _ = context.gettext
    choices = Choices.read(context)
    try:
        ticket = context.get_ticket(target.id)
        if ticket is None:
            return _message(_("This ticket is outside the departments this extension shows you."))
        if ticket.contact_id is None:
            return _message(_("This ticket has no customer."))
        if choices.opened is not None:
            return _render_opened(context, choices, ticket)
        return _render_list(context, choices, ticket)
    except ScopeError:
        return _message(_("This extension is not authorized to read tickets."))


def _render_list(context: Context, choices: Choices, ticket: TicketRecord) -> str:
    limit = page_size(context.settings)
    of_account = choices.of == "account" and ticket.account_id is not None
    query = TicketQuery(
        contact_id=None if of_account else ticket.contact_id,
        account_id=ticket.account_id if of_account else None,
        status_type=choices.status or None,
        search=choices.search or None,
        after=choices.after,
        # Two more than shown: one may be this ticket, the other tells whether there are more.
        limit=limit + 2,
    )
    others = [t for t in context.list_tickets(query) if t.id != ticket.id]
    shown = others[:limit]
    more = len(others) > limit
    return _templates.get_template("history_panel.html").render(
        tickets=shown,
        more=more,
        limit=limit,
        choices=choices,
        of_account=of_account,
        has_account=ticket.account_id is not None,
        filtered=bool(choices.status or choices.search),
        status_filters=STATUS_FILTERS,
        link=lambda **changes: choices.link(context, **changes),
        hidden_fields=choices.hidden_fields(context),
        older=(
            choices.link(context, after=cursor_text((shown[-1].created_at, shown[-1].id)))
            if more
            else None
        ),
        department_name=_department_names(context),
        assignee_name=_agent_names(context),
        contact_id=ticket.contact_id,
        **_shared(context),
    )


def _render_opened(context: Context, choices: Choices, current: TicketRecord) -> str:
    """A listed ticket's conversation, read in place (only a ticket the list could show:
    visible to the context, of this customer or their account, not the current one)."""
    _ = context.gettext
    assert choices.opened is not None
    back = choices.link(context, open=None)
    opened = context.get_ticket(choices.opened)
    same_customer = opened is not None and (
        opened.contact_id == current.contact_id
        or (current.account_id is not None and opened.account_id == current.account_id)
    )
    if opened is None or opened.id == current.id or not same_customer:
        return _message(
            _("That ticket is not one this panel can show."), back=(back, _("Back to the list"))
        )
    try:
        threads = context.list_threads(opened.id)
    except ScopeError:
        return _message(
            _("This extension is not authorized to read conversations."),
            back=(back, _("Back to the list")),
        )
    return _templates.get_template("history_opened.html").render(
        ticket=opened,
        threads=threads,
        back=back,
        kind_label=lambda kind: _label(context, THREAD_KINDS, kind),
        department_name=_department_names(context),
        assignee_name=_agent_names(context),
        **_shared(context),
    )


def _shared(context: Context) -> dict[str, Any]:
    """What both views' templates use: labels, times, language, gettext."""
    zone = ZoneInfo(context.timezone)
    return {
        "status_label": lambda status: _label(context, STATUS_LABELS, status),
        "channel_label": lambda channel: _label(context, CHANNEL_LABELS, channel),
        "local_time": lambda moment: _local(moment, zone),
        "lang": context.language,
        **template_functions(context),
    }


def _department_names(context: Context) -> Callable[[int], str]:
    names = {department.id: department.name for department in context.departments()}
    return lambda department_id: names.get(department_id, "")


def _agent_names(context: Context) -> Callable[[int | None], str | None]:
    """Assignees by name; ``None`` (not shown) without ``desk.agents.read``."""
    try:
        names = {agent.id: agent.name for agent in context.list_agents()}
    except ScopeError:
        return lambda agent_id: None
    _ = context.gettext
    return lambda agent_id: _("Unassigned") if agent_id is None else names.get(agent_id, "")


def _label(context: Context, labels: Mapping[str, str], code: str) -> str:
    """A known code's label in the context's language; an unknown code as it is."""
    return context.gettext(labels[code]) if code in labels else code


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _message(text: str, *, back: tuple[str, str] | None = None) -> str:
    """A one-line explanation instead of the panel's content (and a way back to the list)."""
    paragraph = Markup('<p class="ticket-history empty">{}</p>').format(text)
    if back is None:
        return paragraph
    return paragraph + Markup('<p><a href="{}" data-history-back>{}</a></p>').format(*back)


def cursor_text(position: tuple[datetime, int]) -> str:
    """A keyset position as URL-safe text."""
    created_at, ticket_id = position
    raw = f"{created_at.isoformat()}|{ticket_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_cursor(text: str) -> tuple[datetime, int] | None:
    """The keyset position of :func:`_cursor_text`; ``None`` for anything else."""
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        created_at, ticket_id = raw.split("|")
        moment = datetime.fromisoformat(created_at)
        last_id = _ticket_id(ticket_id)
        return (moment, last_id) if moment.tzinfo is not None and last_id is not None else None
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


#: The largest ticket id (the column is a 64-bit integer): a larger number is no ticket.
_MAX_TICKET_ID = 2**63 - 1


def _ticket_id(text: str) -> int | None:
    """A ticket id written in ASCII digits within the column's range, else ``None``."""
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number <= _MAX_TICKET_ID else None
