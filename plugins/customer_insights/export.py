"""Customer Insights' export: one CSV row per ticket, for a contact, an account, or the tickets
created in a date range (whole days in the organisation's time zone).

Rows come from the per-ticket facts the extension keeps, read in keyset batches (newest ticket
first) so that memory stays bounded whatever the number of tickets; while those facts are not
exact for the context (a backfill runs, or the installation may not read threads) each ticket's
facts are computed from its raw records instead, in the same order. Every cell goes through the
host's neutralising CSV writer (``hostapi.csv``), so a contact named ``=HYPERLINK(…)`` is text.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select

from hostapi import Context, TicketQuery
from hostapi import csv as host_csv
from hostapi.i18n import N_
from plugins.customer_insights.aggregates import compute_facts
from plugins.customer_insights.facts import Facts
from plugins.customer_insights.metrics import figures_ready
from plugins.customer_insights.models import TicketFacts

#: The file's media type (sent as UTF-8).
MEDIA_TYPE = "text/csv"
#: Tickets read (and rows written) per batch.
BATCH_SIZE = 500

#: The file's columns, in order, by their English headers (docs/customer-insights.md describes
#: each); the header row is written in the reader's language, as the host's own exports are.
COLUMNS = (
    N_("Ticket number"),
    N_("Contact"),
    N_("Account"),
    N_("Department"),
    N_("Channel"),
    N_("Created"),
    N_("First response (seconds)"),
    N_("Replies counted"),
    N_("Average response (seconds)"),
    N_("Resolution (seconds)"),
    N_("Time closed (seconds)"),
    N_("Latest rating"),
)

_MICROSECONDS_PER_SECOND = 1_000_000


@dataclass(frozen=True)
class Selection:
    """Which tickets to export: a contact's, an account's, or those created from ``start``
    (included) to ``end`` (excluded)."""

    contact_id: int | None = None
    account_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def filename(self) -> str:
        """The file's name, saying what it holds."""
        if self.contact_id is not None:
            return f"customer-insights-contact-{self.contact_id}.csv"
        if self.account_id is not None:
            return f"customer-insights-account-{self.account_id}.csv"
        return "customer-insights-tickets.csv"


def date_range(context: Context, first_day: date, last_day: date) -> Selection:
    """The tickets created on ``first_day`` … ``last_day`` (both included) in the
    organisation's time zone."""
    zone = ZoneInfo(context.timezone)
    return Selection(
        start=datetime.combine(first_day, time(0), zone).astimezone(UTC),
        end=datetime.combine(last_day + timedelta(days=1), time(0), zone).astimezone(UTC),
    )


def csv_chunks(context: Context, selection: Selection) -> Iterator[str]:
    """The CSV file, a batch of rows at a time: UTF-8 text with a byte order mark (Excel reads
    it as UTF-8 in every language), CRLF line ends, the header first (in the context's
    language)."""
    buffer = io.StringIO()
    writer = host_csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header(context))
    yield "\ufeff" + _take(buffer)
    departments = {department.id: department.name for department in context.departments()}
    for batch in _batches(context, selection):
        names = _Names(context, departments)
        writer.writerows(_row(context, facts, names) for facts in batch)
        yield _take(buffer)


def header(context: Context) -> list[str]:
    """The header row: the columns' names in the context's language."""
    return [context.gettext(column) for column in COLUMNS]


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _row(context: Context, facts: Facts, names: _Names) -> list[object]:
    zone = ZoneInfo(context.timezone)
    return [
        facts.number,
        names.contact(facts.contact_id),
        names.account(facts.account_id),
        names.department(facts.department_id),
        facts.channel,
        facts.created_at.astimezone(zone).isoformat(),
        _seconds(facts.first_response_us),
        facts.responses,
        None if facts.responses == 0 else _seconds(facts.response_us / facts.responses),
        _seconds(facts.resolution_us),
        _seconds(facts.closed_us),
        facts.latest_rating,
    ]


def _seconds(microseconds: float | None) -> float | None:
    return None if microseconds is None else round(microseconds / _MICROSECONDS_PER_SECOND, 3)


class _Names:
    """Contacts' and accounts' names, looked up once per batch (so memory stays bounded), and
    the departments' (a handful, read once per file)."""

    def __init__(self, context: Context, departments: dict[int, str]) -> None:
        self._context = context
        self._departments = departments
        self._contacts: dict[int, str | None] = {}
        self._accounts: dict[int, str | None] = {}

    def contact(self, contact_id: int | None) -> str | None:
        if contact_id is None:
            return None
        if contact_id not in self._contacts:
            record = self._context.get_contact(contact_id)
            self._contacts[contact_id] = None if record is None else record.display_name
        return self._contacts[contact_id]

    def department(self, department_id: int) -> str | None:
        return self._departments.get(department_id)

    def account(self, account_id: int | None) -> str | None:
        if account_id is None:
            return None
        if account_id not in self._accounts:
            record = self._context.get_account(account_id)
            self._accounts[account_id] = None if record is None else record.name
        return self._accounts[account_id]


def _batches(context: Context, selection: Selection) -> Iterator[list[Facts]]:
    if figures_ready(context):
        yield from _kept_batches(context, selection)
    else:
        yield from _computed_batches(context, selection)


def _kept_batches(context: Context, selection: Selection) -> Iterator[list[Facts]]:
    """The kept facts of the selected tickets the context reaches, newest first."""
    statement = select(TicketFacts).where(
        TicketFacts.installation_id == context.installation_id,
        TicketFacts.department_id.in_(context.department_ids),
    )
    if selection.contact_id is not None:
        statement = statement.where(TicketFacts.contact_id == selection.contact_id)
    if selection.account_id is not None:
        statement = statement.where(TicketFacts.account_id == selection.account_id)
    if selection.start is not None:
        statement = statement.where(TicketFacts.created_at >= selection.start)
    if selection.end is not None:
        statement = statement.where(TicketFacts.created_at < selection.end)
    statement = statement.order_by(
        TicketFacts.created_at.desc(), TicketFacts.ticket_id.desc()
    ).limit(BATCH_SIZE)
    after: tuple[datetime, int] | None = None
    while True:
        page = statement
        if after is not None:
            page = page.where(
                or_(
                    TicketFacts.created_at < after[0],
                    and_(TicketFacts.created_at == after[0], TicketFacts.ticket_id < after[1]),
                )
            )
        batch = [_facts(row) for row in context.db.scalars(page)]
        if batch:
            yield batch
        if len(batch) < BATCH_SIZE:
            return
        after = (batch[-1].created_at, batch[-1].ticket_id)


def _facts(row: TicketFacts) -> Facts:
    return Facts(**{name: getattr(row, name) for name in Facts.__dataclass_fields__})


def _computed_batches(context: Context, selection: Selection) -> Iterator[list[Facts]]:
    """The selected tickets' facts computed from their raw records, newest first."""
    query = TicketQuery(
        contact_id=selection.contact_id, account_id=selection.account_id, limit=BATCH_SIZE
    )
    if selection.end is not None:
        query.after = (selection.end, 0)  # strictly before the end
    while True:
        page = context.list_tickets(query)
        chosen = [
            ticket
            for ticket in page
            if selection.start is None or ticket.created_at >= selection.start
        ]
        if chosen:
            yield [compute_facts(context, ticket) for ticket in chosen]
        if len(page) < BATCH_SIZE or len(chosen) < len(page):
            return
        query.after = (page[-1].created_at, page[-1].id)
