"""The Attachments tab: the customer's own files and notes, and apart, their tickets' files."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import g, render_template, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from sqlalchemy import select

from core import permissions
from core.customer_tabs.base import customer_filter, customer_tab, read_cursor, tab_link
from core.errors import Forbidden
from core.models import Agent, Attachment, Ticket
from core.services import attachments as attachment_service
from core.services.base import Cursor, Unit
from core.services.org import get_organisation
from core.services.tickets import display_number
from core.web.ui.attachments import TAB_KEYS
from core.web.ui.units import request_unit
from hostapi import Context, PanelTarget

#: How many files each section of the Attachments tab lists on a page.
ATTACHMENTS_TAB_LIMIT = 20


def file_size(size_bytes: int) -> str:
    """A size as people read it: bytes below 1 KB, then KB, then MB (1 KB = 1,024 bytes)."""
    if size_bytes < 1024:
        return _("%(count)s bytes", count=format_decimal(size_bytes))
    if size_bytes < 1024 * 1024:
        return _("%(count)s KB", count=format_decimal(round(size_bytes / 1024, 1)))
    return _("%(count)s MB", count=format_decimal(round(size_bytes / (1024 * 1024), 1)))


def render_customer_attachments(context: Context, target: PanelTarget) -> str:
    """The customer's own files and notes, then their visible tickets' files, each newest
    first and paged by keyset (``?attachments_before=``, ``?attachments_tickets_before=``);
    with the upload form for an agent who may add files. An unreadable cursor is dropped."""
    args = context.query_args
    unit = request_unit()
    contact_id, account_id = customer_filter(target)
    own_before = read_cursor(args, "attachments_before", Cursor.parse)
    ticket_before = read_cursor(args, "attachments_tickets_before", Cursor.parse)
    own = attachment_service.list_customer_files(
        unit,
        contact_id=contact_id,
        account_id=account_id,
        limit=ATTACHMENTS_TAB_LIMIT + 1,
        before=own_before,
    )
    may_see_tickets = _may(lambda: unit.actor.require(permissions.TICKET_VIEW))
    on_tickets = (
        attachment_service.list_customer_ticket_files(
            unit,
            contact_id=contact_id,
            account_id=account_id,
            limit=ATTACHMENTS_TAB_LIMIT + 1,
            before=ticket_before,
        )
        if may_see_tickets
        else []
    )

    def link(**changes: str | None) -> str:
        """The page's query with the tab's arguments changed (``None`` drops one)."""
        kept = {
            "attachments_before": own_before.encode() if own_before else None,
            "attachments_tickets_before": ticket_before.encode() if ticket_before else None,
        }
        return tab_link(args, "attachments_", **{**kept, **changes})

    def older(rows: list[Attachment], argument: str) -> str | None:
        if len(rows) <= ATTACHMENTS_TAB_LIMIT:
            return None
        return link(**{argument: Cursor.of(rows[ATTACHMENTS_TAB_LIMIT - 1]).encode()})

    plural = f"{target.kind}s"
    return render_template(
        "builtin/customer_attachments.html",
        target=target,
        own=own[:ATTACHMENTS_TAB_LIMIT],
        on_tickets=on_tickets[:ATTACHMENTS_TAB_LIMIT],
        may_see_tickets=may_see_tickets,
        own_older=older(own, "attachments_before"),
        own_newest=link(attachments_before=None) if own_before else None,
        tickets_older=older(on_tickets, "attachments_tickets_before"),
        tickets_newest=link(attachments_tickets_before=None) if ticket_before else None,
        tickets=_tickets(unit, on_tickets),
        uploaders=_uploader_names(unit, [*own, *on_tickets]),
        can_manage=_may(
            lambda: attachment_service.require_manage(
                unit, contact_id=contact_id, account_id=account_id
            ),
        ),
        upload_url=url_for("attachments.upload", kinds=plural, customer_id=target.id)
        + "?tab="
        + TAB_KEYS[target.kind],
        errors=g.get("attachment_errors", {}),
        note_draft=g.get("attachment_note", ""),
        file_size=file_size,
        max_megabytes=attachment_service.MAX_ATTACHMENT_BYTES // (1024 * 1024),
    )


def count_customer_attachments(context: Context, target: PanelTarget) -> int:
    """How many of the customer's own files and visible ticket files there are."""
    contact_id, account_id = customer_filter(target)
    return attachment_service.count_customer_files(
        request_unit(), contact_id=contact_id, account_id=account_id
    )


def _may(check: Callable[[], object]) -> bool:
    """True when ``check`` (a permission check) passes."""
    try:
        check()
    except Forbidden:
        return False
    return True


def _tickets(unit: Unit, rows: Iterable[Attachment]) -> dict[int, str]:
    """The display number of each ticket the files are on."""
    ids = {row.ticket_id for row in rows if row.ticket_id is not None}
    if not ids:
        return {}
    organisation = get_organisation(unit.session)
    found = unit.session.execute(select(Ticket.id, Ticket.number).where(Ticket.id.in_(ids)))
    return {ticket_id: display_number(organisation, number) for ticket_id, number in found}


def _uploader_names(unit: Unit, rows: Iterable[Attachment]) -> dict[int, str]:
    """The name of each agent who uploaded one of the files."""
    ids = {row.uploaded_by_id for row in rows if row.uploaded_by_id is not None}
    if not ids:
        return {}
    found = unit.session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids)))
    return {agent_id: name for agent_id, name in found}


PLUGIN = customer_tab(
    "core_customer_attachments",
    "Customer attachments",
    key="attachments",
    title="Attachments",
    title_ja="添付",
    render=render_customer_attachments,
    count=count_customer_attachments,
)
