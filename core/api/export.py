"""``GET /api/v1/contacts/export`` and ``/accounts/export``: a view's records as CSV or XLSX.

The view is a default one (``all``, ``mine``, ``today``, ``last_30_days``, ``spam``) or a
saved view's id the caller may see; ``search`` narrows it as the list's search box does. It
needs the entity's read scope and the ``contact.export`` or ``account.export`` permission;
each export is audited with its row count. Headers are the field labels in the caller's
language (built-in fields) or the custom field's own label.
"""

from __future__ import annotations

from typing import Any

from flask import Response, send_file
from flask_babel import force_locale
from marshmallow import fields, validate

from core.api import schemas
from core.api.auth import principal, scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.services import export as export_service
from core.web.i18n import select_locale
from core.web.ui.customer_export import header_label
from hostapi import scopes

_XLSX = export_service.MIMETYPES["xlsx"]
#: Both formats, for the document: the default response is CSV.
_FILE_CONTENT = {
    "text/csv": {"schema": {"type": "string", "format": "binary"}},
    _XLSX: {"schema": {"type": "string", "format": "binary"}},
}


class ExportArgsSchema(schemas.StrictSchema):
    """Which view, narrowed by which search, in which format."""

    view_id = schemas.Text(
        load_default="all",
        max_length=100,
        metadata={
            "description": "A saved view's id, or a default view: all, mine, today, "
            "last_30_days, spam."
        },
    )
    format = fields.String(
        load_default="csv",
        validate=validate.OneOf(export_service.FORMATS),
        metadata={"description": "csv (UTF-8 with a byte order mark) or xlsx."},
    )
    search = schemas.Text(
        load_default=None,
        max_length=schemas.MAX_SEARCH_LENGTH,
        metadata={"description": "Narrow the view as the list's search box does."},
    )


def _export_routes(plural: str, entity: str, read_scope: str) -> Any:
    blp = api_blueprint(
        f"api_{entity}_export",
        __name__,
        f"/{plural}",
        f"Export a view of {plural} with their custom fields.",
    )

    @blp.route("/export", methods=["GET"])
    @scoped(read_scope)
    @blp.arguments(ExportArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, {"format": "binary", "type": "string"}, content_type="text/csv")
    @blp.doc(responses={200: {"content": _FILE_CONTENT}})
    def export(view_id: str, format: str, search: str | None) -> Response:
        """Download a view's records, with their custom fields (needs the export permission)."""
        work = unit()
        with force_locale(principal().agent.locale or select_locale()):
            exported = export_service.export_view(
                work,
                entity,
                view_id,
                file_format=format,
                search=search,
                label=header_label,
            )
        commit()
        return send_file(
            exported.stream,
            mimetype=exported.mimetype,
            as_attachment=True,
            download_name=exported.filename,
        )

    return blp


contacts = _export_routes("contacts", "contact", scopes.CONTACTS_READ)
accounts = _export_routes("accounts", "account", scopes.ACCOUNTS_READ)
