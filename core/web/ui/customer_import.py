"""Importing contacts and accounts: upload, mapping with a dry-run preview, progress, rejects.

``/contacts/import`` and ``/accounts/import`` share these views (``kind`` in the path). The
progress page polls a JSON endpoint (``static/import.js``); without JavaScript it reloads.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import LazyString, lazy_gettext

from core.customer_import import runner
from core.customer_import.mapping import MATCH_FIELDS, Target, targets
from core.customer_import.rejections import rejections_csv
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import CustomerImport, ImportState
from core.web.database import db_session
from core.web.security import login_required
from core.web.ui.units import request_unit

blueprint = Blueprint("customer_import", __name__)

#: The path's plural to the entity imported.
KINDS: dict[str, str] = {"contacts": "contact", "accounts": "account"}

ENCODINGS: dict[str, LazyString] = {
    "auto": lazy_gettext("Detect automatically"),
    "utf-8": lazy_gettext("UTF-8"),
    "shift_jis": lazy_gettext("Shift_JIS"),
}

FIELD_LABELS: dict[str, LazyString] = {
    "last_name": lazy_gettext("Last name"),
    "first_name": lazy_gettext("First name"),
    "email": lazy_gettext("Email address"),
    "secondary_email": lazy_gettext("Secondary email address"),
    "phone": lazy_gettext("Phone"),
    "mobile": lazy_gettext("Mobile"),
    "title": lazy_gettext("Title"),
    "description": lazy_gettext("Description"),
    "account": lazy_gettext("Account (by name; created if missing)"),
    "owner": lazy_gettext("Owner (agent email address)"),
    "tags": lazy_gettext("Tags (comma-separated)"),
    "name": lazy_gettext("Account name"),
    "website": lazy_gettext("Website"),
    "industry": lazy_gettext("Industry"),
}

ACTIONS: dict[str, LazyString] = {
    "create": lazy_gettext("New"),
    "update": lazy_gettext("Update"),
    "unchanged": lazy_gettext("Unchanged"),
    "reject": lazy_gettext("Rejected"),
}

STATES: dict[str, LazyString] = {
    ImportState.UPLOADED: lazy_gettext("Uploaded"),
    ImportState.QUEUED: lazy_gettext("Waiting to start"),
    ImportState.RUNNING: lazy_gettext("Importing"),
    ImportState.DONE: lazy_gettext("Done"),
    ImportState.FAILED: lazy_gettext("Failed"),
}


def _entity(kind: str) -> str:
    entity = KINDS.get(kind)
    if entity is None:
        raise NotFound("no such list")
    return entity


def field_label(target: Target) -> str:
    """A field's label in the agent's language (custom fields by their own label)."""
    if target.custom is not None:
        return target.label
    return str(FIELD_LABELS.get(target.key, target.label))


@blueprint.get("/<any(contacts, accounts):kind>/import")
@login_required
def index(kind: str) -> ResponseReturnValue:
    """The upload form and the latest imports."""
    return _index(kind)


def _index(kind: str, errors: dict[str, list[str]] | None = None) -> ResponseReturnValue:
    entity = _entity(kind)
    page = render_template(
        "customers/import/index.html",
        kind=kind,
        entity=entity,
        imports=runner.list_imports(request_unit(), entity),
        encodings=ENCODINGS,
        match_fields=MATCH_FIELDS[entity],
        field_labels=FIELD_LABELS,
        states=STATES,
        errors=errors or {},
        form=request.form,
    )
    return page, 422 if errors else 200


@blueprint.post("/<any(contacts, accounts):kind>/import")
@login_required
def upload(kind: str) -> ResponseReturnValue:
    """Check and keep the uploaded file, then show its mapping and preview."""
    entity = _entity(kind)
    unit = request_unit()
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        return _index(kind, {"file": [str(lazy_gettext("Choose a file."))]})
    try:
        record = runner.create_import(
            unit,
            entity=entity,
            filename=sent.filename,
            content=sent.read(),
            encoding=request.form.get("encoding", "auto"),
            match_on=request.form.getlist("match_on"),
        )
    except ValidationFailed as error:
        unit.session.rollback()
        return _index(kind, error.errors)
    unit.session.commit()
    return redirect(url_for("customer_import.detail", kind=kind, import_id=record.id))


@blueprint.get("/<any(contacts, accounts):kind>/import/<id:import_id>")
@login_required
def detail(kind: str, import_id: int) -> ResponseReturnValue:
    """Mapping and dry-run preview before the start; progress afterwards."""
    return _detail(kind, import_id)


def _detail(
    kind: str, import_id: int, errors: dict[str, list[str]] | None = None
) -> ResponseReturnValue:
    unit = request_unit()
    record = runner.get_import(unit, import_id, _entity(kind))
    context: dict[str, Any] = {
        "kind": kind,
        "record": record,
        "progress": runner.progress_of(record),
        "states": STATES,
        "errors": errors or {},
    }
    if record.state == ImportState.UPLOADED:
        available = targets(unit.session, record.entity)
        table = runner.table_of(record)
        context.update(
            columns=table.columns,
            sample=table.rows[0][1] if table.rows else [""] * len(table.columns),
            targets=available,
            field_label=field_label,
            match_fields=MATCH_FIELDS[record.entity],
            field_labels=FIELD_LABELS,
            actions=ACTIONS,
        )
        if not errors:
            try:
                context["preview"] = runner.preview_import(unit, record, table=table)
            except ValidationFailed as error:
                context["errors"] = error.errors
    page = render_template("customers/import/detail.html", **context)
    return page, 422 if errors else 200


@blueprint.post("/<any(contacts, accounts):kind>/import/<id:import_id>/mapping")
@login_required
def save_mapping(kind: str, import_id: int) -> ResponseReturnValue:
    """Save the mapping and the match fields, then preview again."""
    unit = request_unit()
    record = runner.get_import(unit, import_id, _entity(kind))
    columns = runner.table_of(record).columns
    mapping = {column: request.form.get(f"map-{index}", "") for index, column in enumerate(columns)}
    try:
        runner.set_mapping(unit, record, mapping=mapping, match_on=request.form.getlist("match_on"))
    except ValidationFailed as error:
        unit.session.rollback()
        return _detail(kind, import_id, error.errors)
    except Conflict:
        # Started meanwhile (another tab): its page shows the import as it runs.
        unit.session.rollback()
    else:
        unit.session.commit()
    return redirect(url_for("customer_import.detail", kind=kind, import_id=import_id))


@blueprint.post("/<any(contacts, accounts):kind>/import/<id:import_id>/start")
@login_required
def start(kind: str, import_id: int) -> ResponseReturnValue:
    """Start the import job and show its progress."""
    unit = request_unit()
    record = runner.get_import(unit, import_id, _entity(kind))
    try:
        runner.start(unit, record)
    except ValidationFailed as error:
        unit.session.rollback()
        return _detail(kind, import_id, error.errors)
    except Conflict:
        # A second click on Start: the import runs once, and its page shows it.
        unit.session.rollback()
        return redirect(url_for("customer_import.detail", kind=kind, import_id=import_id))
    unit.session.commit()
    runner.enqueue(current_app.extensions["deskhost.host"], record.id)
    return redirect(url_for("customer_import.detail", kind=kind, import_id=import_id))


@blueprint.get("/<any(contacts, accounts):kind>/import/<id:import_id>/progress")
@login_required
def progress(kind: str, import_id: int) -> ResponseReturnValue:
    """The import's progress as JSON, for the page's polling."""
    record = runner.get_import(request_unit(), import_id, _entity(kind))
    return jsonify({**runner.progress_of(record), "state_label": str(STATES[record.state])})


@blueprint.get("/<any(contacts, accounts):kind>/import/<id:import_id>/rejected-rows.csv")
@login_required
def rejected_rows(kind: str, import_id: int) -> ResponseReturnValue:
    """The rejected rows (CSV, UTF-8 with BOM): the file's columns plus "errors"."""
    record: CustomerImport = runner.get_import(request_unit(), import_id, _entity(kind))
    return Response(
        rejections_csv(db_session(), record),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="rejected-rows-{record.id}.csv"'},
    )
