"""Export a contact or account list (the view and search on screen) as CSV or XLSX.

The list page's Export button posts here (a download is audited: it is a change of the
record of who saw what, so it is a POST with the CSRF token, not a link a crawler follows).
"""

from __future__ import annotations

from flask import Blueprint, request, send_file
from flask.typing import ResponseReturnValue

from core.services import export as export_service
from core.services.views import ViewField
from core.web.database import db_session
from core.web.security import login_required
from core.web.ui import labels
from core.web.ui.units import request_unit

blueprint = Blueprint("customer_export", __name__)

_ENTITIES = {"contacts": "contact", "accounts": "account"}


def header_label(field: ViewField) -> str:
    """A column's header in the agent's language (custom fields keep their own label)."""
    if field.custom is not None:
        return field.label
    return labels.label(labels.VIEW_LABELS, field.label)


@blueprint.post("/<any(contacts, accounts):plural>/export")
@login_required
def export(plural: str) -> ResponseReturnValue:
    """Download the chosen view's records with their custom fields."""
    exported = export_service.export_view(
        request_unit(),
        _ENTITIES[plural],
        request.form.get("view") or "all",
        file_format=request.form.get("format", "csv"),
        search=request.form.get("q") or None,
        label=header_label,
    )
    db_session().commit()
    return send_file(
        exported.stream,
        mimetype=exported.mimetype,
        as_attachment=True,
        download_name=exported.filename,
    )
