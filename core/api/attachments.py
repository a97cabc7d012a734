"""Files of contacts and accounts: list, upload (multipart), metadata, download, delete.

A customer's list is either its own files (``kind=own``: attached to the contact or account)
or the files on its tickets that the caller's departments reach (``kind=tickets``, which needs
``desk.tickets.read`` too). Under ``/attachments/<id>``, reading needs ``desk.contacts.read``,
deleting ``desk.contacts.write``; an account's file needs the accounts scope too and a ticket's
file the tickets scope (as account imports do). A file on a ticket outside the caller's
departments is 404, as one that does not exist. The bytes come from the key the host stored
them under, never from a name the client sends.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

import marshmallow as ma
from flask import Response, request, send_file
from flask_smorest import abort
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from core.api import schemas
from core.api.auth import require_scope, scoped, unit
from core.api.blueprint import api_blueprint, commit
from core.api.paging import list_page
from core.errors import ValidationFailed
from core.models import Attachment
from core.services import attachments as attachment_service
from core.services import comments as comment_service
from core.services.base import Unit
from hostapi import scopes

# ------------------------------------------------------------------------------------ schemas


class AttachmentSchema(ma.Schema):
    """A file attached to a contact, an account or a ticket; its bytes are at ``…/content``."""

    id = fields.Integer()
    ticket_id = fields.Integer(allow_none=True)
    contact_id = fields.Integer(allow_none=True)
    account_id = fields.Integer(allow_none=True)
    filename = fields.String()
    content_type = fields.String(metadata={"description": "Guessed from the file's name."})
    size_bytes = fields.Integer()
    sha256 = fields.String(metadata={"description": "The SHA-256 of the bytes, hex."})
    note = fields.String()
    uploaded_by_id = fields.Integer(allow_none=True, metadata={"description": "The agent."})
    created_at = fields.AwareDateTime()


class AttachmentListArgsSchema(schemas.PageArgsSchema):
    """A page of a customer's files: its own, or its tickets'."""

    kind = fields.String(
        load_default="own",
        validate=validate.OneOf(("own", "tickets")),
        metadata={
            "description": "own: attached to the customer; tickets: on its tickets in the "
            "caller's departments (needs `desk.tickets.read` too)."
        },
    )


class UploadFileSchema(ma.Schema):
    """The uploaded file."""

    file = Upload(required=True)


class UploadFormSchema(schemas.StrictSchema):
    """The form fields of an upload besides the file."""

    note = schemas.Text(load_default="", max_length=10_000)


AttachmentPage = schemas.page_of(AttachmentSchema, "AttachmentPage")

_MEGABYTES = attachment_service.MAX_ATTACHMENT_BYTES // (1024 * 1024)

#: flask-smorest documents one body location per operation: the whole multipart body is
#: described here, the file parsed by its schema and the note by ``UploadFormSchema``.
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": f"At most {_MEGABYTES} MB; no programs or scripts.",
                    },
                    "note": {"type": "string", "maxLength": 10_000},
                },
            }
        }
    },
}

_FILE_CONTENT = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}

#: The extra scope a file needs beyond the contacts scope, by what it is attached to.
_READ_SCOPES = {"ticket": scopes.TICKETS_READ, "account": scopes.ACCOUNTS_READ}
_WRITE_SCOPES = {"ticket": scopes.TICKETS_WRITE, "account": scopes.ACCOUNTS_WRITE}


def _attached_to(attachment: Attachment) -> str:
    if attachment.ticket_id is not None:
        return "ticket"
    return "account" if attachment.account_id is not None else "contact"


def _get(work: Unit, attachment_id: int, needed: dict[str, str]) -> Attachment:
    """The attachment as the caller sees it, once the token has the scope its record needs."""
    attachment = attachment_service.get_attachment(work, attachment_id)
    extra = needed.get(_attached_to(attachment))
    if extra is not None:
        require_scope(extra)
    return attachment


# --------------------------------------------------------------------- contacts and accounts


def _customer_routes(customer_kind: str, read_scope: str, write_scope: str) -> Any:
    """List and upload routes under ``/{customer_kind}s/<{customer_kind}_id>/attachments``."""
    key = f"{customer_kind}_id"
    blp = api_blueprint(
        f"api_{customer_kind}_attachments",
        __name__,
        f"/{customer_kind}s",
        f"Files attached to {customer_kind}s.",
    )

    @blp.route(f"/<bigid:{key}>/attachments", methods=["GET"])
    @scoped(read_scope)
    @blp.arguments(AttachmentListArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, AttachmentPage)
    def list_attachments(limit: int, cursor: str | None, kind: str, **path: int) -> Any:
        """List the customer's own files, or its tickets' (``kind``), newest first."""
        work = unit()
        record = comment_service.customer_of(work, customer_kind, path[key])
        lister = attachment_service.list_customer_files
        if kind == "tickets":
            require_scope(scopes.TICKETS_READ)
            lister = attachment_service.list_customer_ticket_files
        return list_page(lister, work, limit, cursor, **{key: record.id})

    @blp.route(f"/<bigid:{key}>/attachments", methods=["POST"])
    @scoped(write_scope)
    @blp.arguments(UploadFileSchema, location="files")
    @blp.response(201, AttachmentSchema)
    @blp.doc(requestBody=_UPLOAD_BODY)
    def upload(files: dict[str, Any], **path: int) -> Attachment:
        """Attach a file, with an optional note (needs ``attachment.manage`` and the
        customer's edit permission); a file too large or a program is refused (422)."""
        work = unit()
        record = comment_service.customer_of(work, customer_kind, path[key])
        attachment_service.require_manage(work, **{key: record.id})
        try:
            form = UploadFormSchema().load(request.form.to_dict())
        except ma.ValidationError as error:
            abort(422, errors={"form": error.normalized_messages()})
        upload_file = files["file"]
        if not upload_file.filename:
            abort(422, errors={"files": {"file": [attachment_service.NO_FILE]}})
        try:
            attachment = attachment_service.store_attachment(
                work,
                filename=upload_file.filename,
                # One byte over the limit is enough for the service to refuse the file.
                content=upload_file.stream.read(attachment_service.MAX_ATTACHMENT_BYTES + 1),
                note=form["note"],
                **{key: record.id},
            )
        except ValidationFailed as failure:
            errors = attachment_service.by_upload_field(failure.errors)
            abort(
                422,
                errors={
                    "files" if field == "file" else "form": {field: messages}
                    for field, messages in errors.items()
                },
            )
        commit()
        return attachment

    return blp


contacts = _customer_routes("contact", scopes.CONTACTS_READ, scopes.CONTACTS_WRITE)
accounts = _customer_routes("account", scopes.ACCOUNTS_READ, scopes.ACCOUNTS_WRITE)


# -------------------------------------------------------------------------- one attachment

blp = api_blueprint(
    "api_attachments", __name__, "/attachments", "One attached file: metadata, bytes, deletion."
)


@blp.route("/<bigid:attachment_id>", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@blp.response(200, AttachmentSchema)
def get_attachment(attachment_id: int) -> Attachment:
    """The file's metadata (an account's needs ``desk.accounts.read`` too, a ticket's
    ``desk.tickets.read``)."""
    return _get(unit(), attachment_id, _READ_SCOPES)


@blp.route("/<bigid:attachment_id>/content", methods=["GET"])
@scoped(scopes.CONTACTS_READ)
@blp.response(200, {"format": "binary", "type": "string"}, content_type="application/octet-stream")
@blp.doc(responses={200: {"content": _FILE_CONTENT}})
def download(attachment_id: int) -> Response:
    """The file's bytes as a download under its name (scopes as for the metadata)."""
    work = unit()
    attachment = _get(work, attachment_id, _READ_SCOPES)
    _attachment, content = attachment_service.read_attachment(work, attachment.id)
    response = send_file(
        BytesIO(content),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=attachment.filename,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/<bigid:attachment_id>", methods=["DELETE"])
@scoped(scopes.CONTACTS_WRITE)
@blp.response(204)
def delete_attachment(attachment_id: int) -> None:
    """Delete the file (audited; needs ``attachment.manage``, and the customer's edit
    permission for a customer's file); an account's needs ``desk.accounts.write`` too, a
    ticket's ``desk.tickets.write``."""
    work = unit()
    attachment_service.delete_attachment(work, _get(work, attachment_id, _WRITE_SCOPES))
    commit()
