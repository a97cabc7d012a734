"""``/api/v1/customer-imports``: importing contacts and accounts from CSV, vCard and XLSX.

Upload the file (multipart), check the mapping and the dry-run preview, start the job, poll
its progress, then download the rejected rows. A bad file answers 422 naming the problem and
stores nothing.
"""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
from flask import Response, current_app, request
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from core.api.auth import require_scope, scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.api.schemas import StrictSchema, Text, unstorable_reason
from core.customer_import import runner
from core.customer_import.encoding import DECLARABLE
from core.customer_import.mapping import ENTITIES, targets
from core.customer_import.rejections import rejections_csv
from core.errors import Message, ValidationFailed
from core.models import CustomerImport
from core.web.limits import json_too_deep
from hostapi import scopes

blp = api_blueprint(
    "api_customer_imports",
    __name__,
    "/customer-imports",
    "Contact and account imports from CSV, vCard and XLSX files.",
)

_WRITE_SCOPES = {"contact": scopes.CONTACTS_WRITE, "account": scopes.ACCOUNTS_WRITE}


class ImportSchema(ma.Schema):
    """An import: its file, mapping and progress."""

    id = fields.Integer()
    entity = fields.String(metadata={"description": "contact or account"})
    filename = fields.String()
    file_format = fields.String(metadata={"description": "csv, vcard or xlsx"})
    encoding = fields.String(allow_none=True, metadata={"description": "Declared or detected."})
    mapping = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "{file column: field key}; unmapped columns are ignored."},
    )
    match_on = fields.List(fields.String())
    state = fields.String(metadata={"description": "uploaded, queued, running, done or failed"})
    total_rows = fields.Integer()
    processed_rows = fields.Integer()
    created_count = fields.Integer()
    updated_count = fields.Integer()
    rejected_count = fields.Integer()
    unchanged_count = fields.Function(lambda record: runner.progress_of(record)["unchanged"])
    percent = fields.Function(lambda record: runner.progress_of(record)["percent"])
    error = fields.String()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


class FieldSchema(ma.Schema):
    """A field a column can be mapped to."""

    key = fields.String()
    label = fields.String()
    custom = fields.Boolean()


class UploadedImportSchema(ImportSchema):
    """A new import, with the file's columns and the fields they can be mapped to."""

    columns = fields.List(fields.String())
    fields_available = fields.List(fields.Nested(FieldSchema), data_key="fields")


class UploadFormSchema(StrictSchema):
    """The form fields of an upload."""

    entity = fields.String(load_default="contact", validate=validate.OneOf(ENTITIES))
    encoding = fields.String(
        load_default="auto",
        metadata={"description": "auto (detect), utf-8 or shift_jis"},
        validate=validate.OneOf(list(DECLARABLE)),
    )
    mapping = Text(
        load_default=None,
        max_length=100_000,
        metadata={
            "description": "A JSON object {column: field}; omitted, it is suggested from the "
            "header names."
        },
    )
    match_on = Text(
        load_default=None,
        max_length=200,
        metadata={"description": "Comma-separated: email, phone (contacts); name, phone."},
    )


class UploadFileSchema(ma.Schema):
    """The uploaded file."""

    file = Upload(required=True)


class MappingSchema(StrictSchema):
    """A new mapping or match fields, before the import starts."""

    mapping = fields.Dict(keys=Text(max_length=300), values=Text(max_length=100), load_default=None)
    match_on = fields.List(Text(max_length=20), load_default=None)


class PreviewArgsSchema(StrictSchema):
    """How many rows the preview shows."""

    rows = fields.Integer(load_default=runner.PREVIEW_ROWS, validate=validate.Range(1, 200))


class PreviewRowSchema(ma.Schema):
    """A row as it would be stored."""

    row_number = fields.Integer()
    action = fields.String(metadata={"description": "create, update, unchanged or reject"})
    values = fields.Dict(metadata={"description": "The values stored, by field key."})
    errors = fields.Dict(metadata={"description": "Messages by column, for a rejected row."})
    new_account = fields.String(
        allow_none=True, metadata={"description": "An account this row creates, by name."}
    )


class PreviewSchema(ma.Schema):
    """A dry run: nothing is written."""

    columns = fields.List(fields.String())
    mapping = fields.Dict(keys=fields.String(), values=fields.String())
    match_on = fields.List(fields.String())
    rows = fields.List(fields.Nested(PreviewRowSchema))
    totals = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "rows, valid, invalid, new, updates, unchanged"},
    )
    new_accounts = fields.List(fields.String())


class _Uploaded:
    """An import with what its upload answer adds (the rest read from the import)."""

    def __init__(
        self, record: CustomerImport, columns: list[str], fields_available: list[dict[str, Any]]
    ) -> None:
        self.record = record
        self.columns = columns
        self.fields_available = fields_available

    def __getattr__(self, name: str) -> Any:
        return getattr(self.record, name)


def _json_object(raw: str | None, field: str) -> Any:
    if raw is None or not raw.strip():
        return None
    if json_too_deep(raw.encode()):
        raise ValidationFailed({field: [Message("Nested too deeply.")]})
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise ValidationFailed({field: [Message("Not valid JSON.")]}) from error
    reason = unstorable_reason(value)
    if reason is not None:
        raise ValidationFailed({field: [reason]})
    return value


def _get(import_id: int) -> CustomerImport:
    record = runner.get_import(unit(), import_id)
    require_scope(_WRITE_SCOPES[record.entity])
    return record


#: flask-smorest documents one request body location per operation (form fields would become
#: OpenAPI 2 "formData" parameters): the whole multipart body is described here, the file is
#: parsed by its schema and the form fields by ``UploadFormSchema`` in the view.
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "entity": {"type": "string", "enum": list(ENTITIES), "default": "contact"},
                    "encoding": {"type": "string", "enum": list(DECLARABLE), "default": "auto"},
                    "mapping": {"type": "string", "description": "JSON {column: field}"},
                    "match_on": {"type": "string", "description": "email,phone (contacts)"},
                },
            }
        }
    },
}


@blp.route("", methods=["POST"])
@scoped(scopes.CONTACTS_WRITE)
@blp.arguments(UploadFileSchema, location="files")
@blp.response(201, UploadedImportSchema)
@blp.doc(requestBody=_UPLOAD_BODY)
def upload(files: dict[str, Any]) -> _Uploaded:
    """Upload a file (multipart); its mapping is the one given or the suggested one.

    Account imports need the `desk.accounts.write` scope too.
    """
    try:
        form = UploadFormSchema().load(request.form.to_dict())
    except ma.ValidationError as error:
        raise ValidationFailed(error.normalized_messages()) from error
    require_scope(_WRITE_SCOPES[form["entity"]])
    work = unit()
    upload_file = files["file"]
    record = runner.create_import(
        work,
        entity=form["entity"],
        filename=upload_file.filename or "upload",
        content=upload_file.read(),
        encoding=form["encoding"],
        mapping=_json_object(form["mapping"], "mapping"),
        match_on=form["match_on"],
    )
    available = targets(work.session, record.entity)
    commit()
    return _Uploaded(
        record,
        runner.table_of(record).columns,
        [
            {"key": t.key, "label": t.label, "custom": t.custom is not None}
            for t in available.values()
        ],
    )


@blp.route("/<id:import_id>", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@blp.response(200, ImportSchema)
def get_import(import_id: int) -> CustomerImport:
    """An import and its progress (poll it while it runs)."""
    return runner.get_import(unit(), import_id)


@blp.route("/<id:import_id>", methods=["PATCH"])
@scoped(scopes.CONTACTS_WRITE)
@blp.arguments(MappingSchema)
@blp.response(200, ImportSchema)
def set_mapping(data: dict[str, Any], import_id: int) -> CustomerImport:
    """Change the mapping or the match fields (before the import starts)."""
    record = runner.set_mapping(unit(), _get(import_id), **data)
    commit()
    return record


@blp.route("/<id:import_id>/preview", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@blp.arguments(PreviewArgsSchema, location="query", as_kwargs=True)
@blp.response(200, PreviewSchema)
def preview(import_id: int, rows: int) -> runner.Preview:
    """The dry run: the first rows as they would be stored, and totals for the whole file."""
    work = unit()
    return runner.preview_import(work, runner.get_import(work, import_id), shown=rows)


@blp.route("/<id:import_id>/start", methods=["POST"])
@scoped(scopes.CONTACTS_WRITE)
@blp.response(202, ImportSchema)
def start(import_id: int) -> CustomerImport:
    """Start the import: a job writes it batch by batch."""
    record = runner.start(unit(), _get(import_id))
    commit()
    runner.enqueue(current_app.extensions["deskhost.host"], record.id)
    return record


@blp.route("/<id:import_id>/rejected-rows", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@blp.response(200, {"format": "binary", "type": "string"}, content_type="text/csv")
def rejected_rows(import_id: int) -> Response:
    """The rejected rows as CSV (UTF-8 with BOM): the file's columns plus "errors"."""
    work = unit()
    record = runner.get_import(work, import_id)
    return Response(
        rejections_csv(work.session, record),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="rejected-rows-{record.id}.csv"'},
    )
