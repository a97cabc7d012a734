"""Customer Insights' REST endpoints, under
``/api/v1/ext/customer_insights/<installation id>/``:

- ``GET contacts/<id>/figures`` and ``GET accounts/<id>/figures``: the customer's figures over
  the tickets the caller may see (the installation's departments within the agent's);
- ``GET contacts/<id>/export.csv``, ``GET accounts/<id>/export.csv`` and
  ``GET tickets/export.csv?from=…&to=…``: one CSV row per ticket (see
  :mod:`plugins.customer_insights.export`), streamed.

While a backfill prepares tickets the caller may see, the figures answer ``preparing: true``
and ``null`` for every figure rather than numbers that are short; the export stays exact
(it computes what is not kept yet from the raw records).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma

from hostapi import ApiRoute, Context, Download, NotFound, scopes
from plugins.customer_insights import export
from plugins.customer_insights.metrics import figures_unless_preparing, overdue_tickets

#: What the figures read: tickets, their threads (replies), and the customer itself.
_FIGURE_SCOPES = (scopes.TICKETS_READ, scopes.THREADS_READ)
#: The longest date range one export covers.
MAX_EXPORT_DAYS = 366


class TicketCountsSchema(ma.Schema):
    """The customer's tickets by state."""

    all = ma.fields.Integer(metadata={"description": "Every ticket."})
    open = ma.fields.Integer(metadata={"description": "Open, on hold included."})
    on_hold = ma.fields.Integer()
    closed = ma.fields.Integer()
    overdue = ma.fields.Integer(
        metadata={"description": "Not closed, and the due time has passed."}
    )


class DurationsSchema(ma.Schema):
    """Mean durations in seconds (3 decimals); ``null`` when there is nothing to average."""

    first_response = ma.fields.Float(
        allow_none=True,
        metadata={"description": "First answering reply − first customer message."},
    )
    response = ma.fields.Float(
        allow_none=True,
        metadata={"description": "Answering reply − earliest pending customer message."},
    )
    resolution = ma.fields.Float(
        allow_none=True,
        metadata={"description": "Last close − creation − time closed, closed tickets."},
    )


class RatingCountsSchema(ma.Schema):
    """Rated tickets by their latest rating."""

    good = ma.fields.Integer()
    okay = ma.fields.Integer()
    bad = ma.fields.Integer()


class FiguresSchema(ma.Schema):
    """A contact's or an account's figures over the tickets the caller may see."""

    customer_kind = ma.fields.String(metadata={"description": "contact or account."})
    customer_id = ma.fields.Integer()
    preparing = ma.fields.Boolean(
        metadata={
            "description": "A backfill still prepares some of these tickets: every figure is "
            "null until it finishes."
        }
    )
    tickets = ma.fields.Nested(TicketCountsSchema, allow_none=True)
    seconds = ma.fields.Nested(DurationsSchema, allow_none=True)
    public_replies = ma.fields.Integer(allow_none=True)
    ratings = ma.fields.Nested(RatingCountsSchema, allow_none=True)
    tickets_by_channel = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Integer(), allow_none=True
    )


class DateRangeArgs(ma.Schema):
    """Whole days in the organisation's time zone, both included; by default the 30 days up
    to today."""

    first_day = ma.fields.Date(
        load_default=None,
        data_key="from",
        metadata={"description": "The first day (default: 29 days before to)."},
    )
    last_day = ma.fields.Date(
        load_default=None,
        data_key="to",
        metadata={"description": "The last day, included (default: today)."},
    )


#: The days of the date-range export when the query names none.
DEFAULT_EXPORT_DAYS = 30


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def figures_document(context: Context, kind: str, customer_id: int) -> dict[str, Any]:
    """The answer of the figures endpoints (the customer must exist: see the handlers)."""
    kept = figures_unless_preparing(context, kind, customer_id)
    answer: dict[str, Any] = {
        "customer_kind": kind,
        "customer_id": customer_id,
        "preparing": kept is None,
    }
    if kept is None:
        return answer | dict.fromkeys(
            ("tickets", "seconds", "public_replies", "ratings", "tickets_by_channel")
        )
    return answer | {
        "tickets": {
            "all": kept.tickets,
            "open": kept.open_tickets + kept.on_hold_tickets,
            "on_hold": kept.on_hold_tickets,
            "closed": kept.closed_tickets,
            "overdue": overdue_tickets(context, kind, customer_id),
        },
        "seconds": {
            "first_response": _seconds(kept.first_response_seconds),
            "response": _seconds(kept.response_seconds),
            "resolution": _seconds(kept.resolution_seconds),
        },
        "public_replies": kept.public_replies,
        "ratings": {"good": kept.rated_good, "okay": kept.rated_okay, "bad": kept.rated_bad},
        "tickets_by_channel": dict(kept.tickets_by_channel),
    }


def _known_contact(context: Context, contact_id: int) -> None:
    if context.get_contact(contact_id) is None:
        raise NotFound("No such contact.")


def _known_account(context: Context, account_id: int) -> None:
    if context.get_account(account_id) is None:
        raise NotFound("No such account.")


def contact_figures(context: Context, arguments: Any, contact_id: int) -> dict[str, Any]:
    """``GET contacts/<contact_id>/figures``."""
    _known_contact(context, contact_id)
    return figures_document(context, "contact", contact_id)


def account_figures(context: Context, arguments: Any, account_id: int) -> dict[str, Any]:
    """``GET accounts/<account_id>/figures``."""
    _known_account(context, account_id)
    return figures_document(context, "account", account_id)


def _download(context: Context, selection: export.Selection) -> Download:
    return Download(
        filename=selection.filename,
        chunks=export.csv_chunks(context, selection),
        mimetype=f"{export.MEDIA_TYPE}; charset=utf-8",
    )


def contact_export(context: Context, arguments: Any, contact_id: int) -> Download:
    """``GET contacts/<contact_id>/export.csv``."""
    _known_contact(context, contact_id)
    return _download(context, export.Selection(contact_id=contact_id))


def account_export(context: Context, arguments: Any, account_id: int) -> Download:
    """``GET accounts/<account_id>/export.csv``."""
    _known_account(context, account_id)
    return _download(context, export.Selection(account_id=account_id))


def range_export(context: Context, arguments: dict[str, Any]) -> Download:
    """``GET tickets/export.csv?from=YYYY-MM-DD&to=YYYY-MM-DD``."""
    last_day = arguments["last_day"]
    if last_day is None:
        last_day = context.now().astimezone(ZoneInfo(context.timezone)).date()
    first_day = arguments["first_day"]
    if first_day is None:
        first_day = last_day - timedelta(days=DEFAULT_EXPORT_DAYS - 1)
    if last_day < first_day:
        raise ma.ValidationError({"to": ["Must not be before from."]})
    if (last_day - first_day).days >= MAX_EXPORT_DAYS:
        raise ma.ValidationError({"to": [f"Covers at most {MAX_EXPORT_DAYS} days from from."]})
    return _download(context, export.date_range(context, first_day, last_day))


def export_url(installation_id: int, kind: str, customer_id: int) -> str:
    """Where the Overview links to download a contact's or an account's rows."""
    plural = {"contact": "contacts", "account": "accounts"}[kind]
    return f"/api/v1/ext/customer_insights/{installation_id}/{plural}/{customer_id}/export.csv"


_EXPORT_DESCRIPTION = (
    "CSV (UTF-8 with a byte order mark, CRLF), one row per ticket the caller may see, newest "
    "first, with the columns " + ", ".join(export.COLUMNS) + ", in this order; the header "
    "row is in the caller's language (the agent's own, else the organisation's default), as "
    "in the host's own exports. Durations are seconds with 3 decimals, empty where there is "
    "none; text cells that a spreadsheet would run as a formula start with a single quote."
)


def routes() -> list[ApiRoute]:
    """The endpoints (``deskhost_api_routes``)."""
    contact_scopes = (*_FIGURE_SCOPES, scopes.CONTACTS_READ)
    account_scopes = (*_FIGURE_SCOPES, scopes.ACCOUNTS_READ)
    return [
        ApiRoute(
            name="contact_figures",
            path="/contacts/<int:contact_id>/figures",
            handle=contact_figures,
            summary="A contact's ticket figures over the tickets the caller may see.",
            response=FiguresSchema,
            scopes=contact_scopes,
        ),
        ApiRoute(
            name="account_figures",
            path="/accounts/<int:account_id>/figures",
            handle=account_figures,
            summary="An account's ticket figures (its contacts' tickets) the caller may see.",
            response=FiguresSchema,
            scopes=account_scopes,
        ),
        ApiRoute(
            name="contact_export",
            path="/contacts/<int:contact_id>/export.csv",
            handle=contact_export,
            summary="A contact's tickets with their figures, as CSV.",
            description=_EXPORT_DESCRIPTION,
            content_type=export.MEDIA_TYPE,
            scopes=contact_scopes,
        ),
        ApiRoute(
            name="account_export",
            path="/accounts/<int:account_id>/export.csv",
            handle=account_export,
            summary="An account's tickets with their figures, as CSV.",
            description=_EXPORT_DESCRIPTION,
            content_type=export.MEDIA_TYPE,
            scopes=account_scopes,
        ),
        ApiRoute(
            name="tickets_export",
            path="/tickets/export.csv",
            handle=range_export,
            summary="The tickets created from one day to another (organisation time zone), "
            "with their figures, as CSV.",
            description=_EXPORT_DESCRIPTION,
            content_type=export.MEDIA_TYPE,
            arguments=DateRangeArgs,
            scopes=(*_FIGURE_SCOPES, scopes.CONTACTS_READ, scopes.ACCOUNTS_READ),
        ),
    ]
