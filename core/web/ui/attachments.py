"""Files on contacts and accounts: upload from the Attachments tab, download, delete.

A download is looked up by the attachment's id, as the agent: the bytes come from the key the
host stored them under, never from a name or path the browser sends, and an attachment the
agent may not see (another department's ticket) is 404 like one that does not exist.
"""

from __future__ import annotations

from io import BytesIO

from flask import Blueprint, g, redirect, request, send_file, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from core.errors import Forbidden, Message, NotFound, ValidationFailed
from core.models import Account, Attachment, Contact
from core.services import attachments as attachment_service
from core.services import comments as comment_service
from core.web.database import db_session
from core.web.security import current_agent, login_required
from core.web.ui import customers as customer_pages
from core.web.ui.units import request_unit

blueprint = Blueprint("attachments", __name__)

_KINDS = {"contacts": "contact", "accounts": "account"}

#: The Attachments tab's page key on a contact's and an account's page (``?tab=``).
TAB_KEYS = {
    "contact": "core_customer_attachments.contact_attachments",
    "account": "core_customer_attachments.account_attachments",
}


def too_large() -> Message:
    """The message for a file over the limit."""
    return Message(
        "Files may be at most %(count)d MB.",
        count=attachment_service.MAX_ATTACHMENT_BYTES // (1024 * 1024),
    )


def _customer_page_url(kind: str, customer_id: int) -> str:
    """The customer's page with the Attachments tab selected."""
    endpoint = "customers.contact" if kind == "contact" else "customers.account"
    page = url_for(endpoint, **{f"{kind}_id": customer_id})
    return f"{page}?tab={TAB_KEYS[kind]}#customer-tabs"


@blueprint.post("/<any(contacts, accounts):kinds>/<bigid:customer_id>/attachments")
@login_required
def upload(kinds: str, customer_id: int) -> ResponseReturnValue:
    """Attach a file, with an optional note, to a contact or an account."""
    kind = _KINDS[kinds]
    unit = request_unit()
    customer = comment_service.customer_of(unit, kind, customer_id)
    owner = {f"{kind}_id": customer.id}
    attachment_service.require_manage(unit, **owner)
    upload = request.files.get("file")
    note = request.form.get("note", "")
    errors: dict[str, list[str]] = (
        {} if upload is not None and upload.filename else {"file": [attachment_service.NO_FILE]}
    )
    if not errors and upload is not None:
        try:
            attachment_service.store_attachment(
                unit,
                filename=upload.filename or "",
                # One byte over the limit is enough for the service to refuse the file.
                content=upload.stream.read(attachment_service.MAX_ATTACHMENT_BYTES + 1),
                note=note,
                **owner,
            )
        except ValidationFailed as failure:
            errors = attachment_service.by_upload_field(failure.errors)
    if errors:
        return _customer_page_again(customer, errors, note, 422)
    db_session().commit()
    return redirect(_customer_page_url(kind, customer.id))


@blueprint.errorhandler(RequestEntityTooLarge)
def _too_large(_error: RequestEntityTooLarge) -> ResponseReturnValue:
    """A body over the app's request limit, refused before any view reads it (the CSRF check
    reads the form first): the customer's page again, naming the file limit (413)."""
    arguments = request.view_args or {}
    plain = str(too_large()), 413, {"Content-Type": "text/plain; charset=utf-8"}
    if current_agent() is None or request.endpoint != "attachments.upload":
        return plain
    kind = _KINDS[arguments["kinds"]]
    try:
        customer = comment_service.customer_of(request_unit(), kind, arguments["customer_id"])
    except (NotFound, Forbidden):
        # An error handler's own error is not handled again: answer plainly instead.
        return plain
    return _customer_page_again(customer, {"file": [too_large()]}, "", 413)


def _customer_page_again(
    customer: Contact | Account, errors: dict[str, list[str]], note: str, status: int
) -> ResponseReturnValue:
    """The customer's page with the upload form's errors, nothing stored."""
    db_session().rollback()
    g.attachment_errors, g.attachment_note = errors, note
    page = customer_pages.contact if isinstance(customer, Contact) else customer_pages.account
    return page(customer.id), status


@blueprint.get("/attachments/<bigid:attachment_id>/download")
@login_required
def download(attachment_id: int) -> ResponseReturnValue:
    """The file's bytes, as a download under its name (404 where the agent may not see it)."""
    attachment, content = attachment_service.read_attachment(request_unit(), attachment_id)
    response = send_file(
        BytesIO(content),
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.filename,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    # Opened directly anyway, the file runs nothing and loads nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@blueprint.post("/attachments/<bigid:attachment_id>/delete")
@login_required
def delete(attachment_id: int) -> ResponseReturnValue:
    """Delete a file (audited); back to the customer's Attachments tab, or the ticket."""
    unit = request_unit()
    attachment = attachment_service.get_attachment(unit, attachment_id)
    back = _back_from(attachment)
    attachment_service.delete_attachment(unit, attachment)
    db_session().commit()
    return redirect(back)


def _back_from(attachment: Attachment) -> str:
    """Where the agent goes once the file is deleted."""
    if attachment.ticket_id is not None:
        return url_for("tickets.detail", ticket_id=attachment.ticket_id)
    if attachment.contact_id is not None:
        return _customer_page_url("contact", attachment.contact_id)
    if attachment.account_id is not None:
        return _customer_page_url("account", attachment.account_id)
    raise NotFound("attachment not found")
