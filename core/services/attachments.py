"""Attachments: bytes on disk under the configured directory, metadata in the database.

Files are written under a random key (never the uploaded name) to a temporary file first and
then renamed, so a reader never sees half a file. The file follows the transaction: a new file
is removed if the transaction rolls back, and a deleted attachment's file is removed only
after the deletion commits.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import Select, event, func, select
from sqlalchemy.orm import Session

from core import permissions
from core.errors import Message, NotFound, ValidationFailed
from core.models import Account, Attachment, Contact, Thread, Ticket
from core.services.base import Cursor, Unit, check_limit, clean_text, gather, newest_first
from hostapi import clock, events

#: The largest file stored; under the app's request limit (25 MB), so that the service, not
#: the web server, refuses a file just over it, with a message naming the limit.
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024

#: A customer's attachment counts stop past this (as ticket counts do: "10,000+").
COUNT_CAP = 10_000

#: Executables and scripts a customer or agent could be tricked into running.
FORBIDDEN_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".exe",
        ".dll",
        ".com",
        ".bat",
        ".cmd",
        ".msi",
        ".msp",
        ".scr",
        ".pif",
        ".cpl",
        ".ps1",
        ".psm1",
        ".vbs",
        ".vbe",
        ".jse",
        ".wsf",
        ".wsh",
        ".hta",
        ".jar",
        ".lnk",
        ".reg",
        ".sh",
        ".app",
        ".apk",
        ".elf",
    }
)
# A renamed executable is still an executable: refuse these by their first bytes too.
_EXECUTABLE_MAGIC: tuple[bytes, ...] = (b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa")

#: An upload without a file: a note alone belongs in a comment on the customer.
NO_FILE = Message("Choose a file to attach. For a note without a file, add a comment.")

_NEW_FILES = "deskhost.attachments.new"
_DOOMED_FILES = "deskhost.attachments.doomed"


def attachments_dir(unit: Unit) -> Path:
    """Where this host keeps attachment bytes."""
    if unit.host is None:
        raise RuntimeError("attachments need a host (its settings name the directory)")
    return Path(unit.host.settings.attachments_dir)


def store_attachment(
    unit: Unit,
    *,
    filename: str,
    content: bytes,
    content_type: str | None = None,
    ticket_id: int | None = None,
    thread_id: int | None = None,
    contact_id: int | None = None,
    account_id: int | None = None,
    note: str = "",
) -> Attachment:
    """Store a file attached to one record (a ticket or its thread, a contact, an account).

    :raises ValidationFailed: over ``MAX_ATTACHMENT_BYTES`` (``content``), an executable
        (``filename``), or no/unknown record. Nothing is stored then.
    :raises Forbidden: without ``attachment.manage``, or the customer's edit permission for a
        file attached to a contact or an account.
    """
    on_ticket = ticket_id is not None or thread_id is not None
    require_manage(
        unit,
        contact_id=None if on_ticket else contact_id,
        account_id=None if on_ticket else account_id,
    )
    session = unit.session
    values = gather(
        {
            "filename": lambda: _filename(filename),
            "content": lambda: _content(content),
            "note": lambda: clean_text(note, "note", max_length=10_000),
        }
    )
    if _is_executable(values["filename"], content):
        raise ValidationFailed({"filename": [Message("Executable files cannot be attached.")]})
    ticket_id = _check_target(unit, ticket_id, thread_id, contact_id, account_id)
    key = _write(attachments_dir(unit), content, session)
    attachment = Attachment(
        ticket_id=ticket_id,
        thread_id=thread_id,
        contact_id=contact_id,
        account_id=account_id,
        filename=values["filename"],
        content_type=(
            content_type
            or mimetypes.guess_type(values["filename"])[0]
            or "application/octet-stream"
        )[:200],
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        storage_key=key,
        note=values["note"],
        uploaded_by_id=unit.actor.agent_id,
        created_at=clock.now(),
    )
    session.add(attachment)
    session.flush()
    unit.audit("add", "attachment", attachment.id, after=_snapshot(attachment))
    unit.emit(
        events.ATTACHMENT_ADDED,
        _event_payload(attachment)
        | {"filename": attachment.filename, "size_bytes": attachment.size_bytes},
        _departments_of(unit, attachment),
    )
    return attachment


def by_upload_field(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """A refusal of :func:`store_attachment` by an upload form's fields: the file's name and
    bytes are the ``file`` field's, the rest keep their names."""
    by_field: dict[str, list[str]] = {}
    for name, messages in errors.items():
        by_field.setdefault("file" if name in {"filename", "content"} else name, []).extend(
            messages
        )
    return by_field


def get_attachment(unit: Unit, attachment_id: int) -> Attachment:
    """The attachment's metadata if the actor may see what it is attached to.

    :raises NotFound: no such attachment, or attached to a ticket the actor cannot see.
    """
    attachment = unit.session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound("attachment not found")
    if attachment.ticket_id is not None:
        ticket = unit.session.get(Ticket, attachment.ticket_id)
        if ticket is None or not unit.actor.can_see_department(ticket.department_id):
            raise NotFound("attachment not found")
        unit.actor.require(permissions.TICKET_VIEW)
    elif attachment.contact_id is not None:
        unit.actor.require(permissions.CONTACT_VIEW)
    elif attachment.account_id is not None:
        unit.actor.require(permissions.ACCOUNT_VIEW)
    return attachment


def read_attachment(unit: Unit, attachment_id: int) -> tuple[Attachment, bytes]:
    """The attachment's metadata and bytes (checked as :func:`get_attachment`)."""
    attachment = get_attachment(unit, attachment_id)
    path = attachments_dir(unit) / attachment.storage_key
    try:
        return attachment, path.read_bytes()
    except FileNotFoundError as error:
        raise NotFound("attachment file is missing") from error


def list_attachments(
    unit: Unit,
    *,
    ticket_id: int | None = None,
    contact_id: int | None = None,
    account_id: int | None = None,
) -> list[Attachment]:
    """Attachments of one record, newest first (a ticket's include its threads')."""
    query = select(Attachment)
    if ticket_id is not None:
        ticket = unit.session.get(Ticket, ticket_id)
        if ticket is None or not unit.actor.can_see_department(ticket.department_id):
            raise NotFound("ticket not found")
        unit.actor.require(permissions.TICKET_VIEW)
        query = query.where(Attachment.ticket_id == ticket_id)
    elif contact_id is not None:
        unit.actor.require(permissions.CONTACT_VIEW)
        query = query.where(Attachment.contact_id == contact_id)
    elif account_id is not None:
        unit.actor.require(permissions.ACCOUNT_VIEW)
        query = query.where(Attachment.account_id == account_id)
    else:
        raise ValidationFailed({"_schema": [Message("Give a ticket, a contact or an account.")]})
    query = query.order_by(Attachment.created_at.desc(), Attachment.id.desc())
    return list(unit.session.scalars(query))


def require_manage(
    unit: Unit, *, contact_id: int | None = None, account_id: int | None = None
) -> None:
    """Raise :class:`Forbidden` unless the actor may add or delete files: ``attachment.manage``,
    and for a customer's own files (``contact_id`` or ``account_id``; neither for a ticket's)
    the customer's edit permission."""
    unit.actor.require(permissions.ATTACHMENT_MANAGE)
    if contact_id is not None:
        unit.actor.require(permissions.CONTACT_EDIT)
    elif account_id is not None:
        unit.actor.require(permissions.ACCOUNT_EDIT)


def list_customer_files(
    unit: Unit,
    *,
    contact_id: int | None = None,
    account_id: int | None = None,
    limit: int = 50,
    before: Cursor | str | None = None,
) -> list[Attachment]:
    """The customer's own files (attached to the contact or account, not to a ticket), newest
    first: ``limit`` of them older than ``before``."""
    query = _customer_files(unit, contact_id, account_id)
    page = newest_first(
        query, Attachment.created_at, Attachment.id, Cursor.parse(before), check_limit(limit)
    )
    return list(unit.session.scalars(page))


def list_customer_ticket_files(
    unit: Unit,
    *,
    contact_id: int | None = None,
    account_id: int | None = None,
    limit: int = 50,
    before: Cursor | str | None = None,
) -> list[Attachment]:
    """The files on the customer's tickets in departments the actor may see, newest first:
    ``limit`` of them older than ``before``."""
    query = _customer_ticket_files(unit, contact_id, account_id)
    page = newest_first(
        query, Attachment.created_at, Attachment.id, Cursor.parse(before), check_limit(limit)
    )
    return list(unit.session.scalars(page))


def count_customer_files(
    unit: Unit, *, contact_id: int | None = None, account_id: int | None = None
) -> int:
    """How many of the customer's own files and visible ticket files there are; each part
    stops past :data:`COUNT_CAP` (the ticket part is left out without ``ticket.view``)."""
    own = _capped_count(unit, _customer_files(unit, contact_id, account_id))
    if unit.actor.agent is not None and not unit.actor.agent.has_permission(
        permissions.TICKET_VIEW
    ):
        return own
    return own + _capped_count(unit, _customer_ticket_files(unit, contact_id, account_id))


def delete_attachment(unit: Unit, attachment: Attachment) -> None:
    """Delete an attachment; its file goes once the deletion commits."""
    get_attachment(unit, attachment.id)
    on_ticket = attachment.ticket_id is not None
    require_manage(
        unit,
        contact_id=None if on_ticket else attachment.contact_id,
        account_id=None if on_ticket else attachment.account_id,
    )
    unit.audit("delete", "attachment", attachment.id, before=_snapshot(attachment))
    unit.emit(
        events.ATTACHMENT_DELETED, _event_payload(attachment), _departments_of(unit, attachment)
    )
    _files_of(unit.session, _DOOMED_FILES).append(attachments_dir(unit) / attachment.storage_key)
    unit.session.delete(attachment)
    unit.session.flush()


# ----------------------------------------------------------------------------------- internals


def _customer_files(
    unit: Unit, contact_id: int | None, account_id: int | None
) -> Select[tuple[Attachment]]:
    """The query of a customer's own files (one of the ids is set)."""
    if contact_id is not None:
        unit.actor.require(permissions.CONTACT_VIEW)
        owner = Attachment.contact_id == contact_id
    elif account_id is not None:
        unit.actor.require(permissions.ACCOUNT_VIEW)
        owner = Attachment.account_id == account_id
    else:
        raise ValidationFailed({"_schema": [Message("Give a contact or an account.")]})
    return select(Attachment).where(owner, Attachment.ticket_id.is_(None))


def _customer_ticket_files(
    unit: Unit, contact_id: int | None, account_id: int | None
) -> Select[tuple[Attachment]]:
    """The query of the files on a customer's tickets the actor may see."""
    unit.actor.require(permissions.TICKET_VIEW)
    if contact_id is not None:
        unit.actor.require(permissions.CONTACT_VIEW)
        owner = Ticket.contact_id == contact_id
    elif account_id is not None:
        unit.actor.require(permissions.ACCOUNT_VIEW)
        owner = Ticket.account_id == account_id
    else:
        raise ValidationFailed({"_schema": [Message("Give a contact or an account.")]})
    query = select(Attachment).join(Ticket, Ticket.id == Attachment.ticket_id).where(owner)
    visible = unit.actor.visible_department_ids()
    if visible is not None:
        query = query.where(Ticket.department_id.in_(sorted(visible)))
    return query


def _capped_count(unit: Unit, query: Select[tuple[Attachment]]) -> int:
    """The rows of ``query``, counted no further than :data:`COUNT_CAP` + 1."""
    limited = query.with_only_columns(Attachment.id).limit(COUNT_CAP + 1).subquery()
    return int(unit.session.scalar(select(func.count()).select_from(limited)) or 0)


def _filename(filename: Any) -> str:
    name = clean_text(filename, "filename", max_length=300, required=True)
    # Keep only the last path component: the name is shown, never used as a path.
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in {".", ".."}:
        raise ValidationFailed({"filename": [Message("Give a file name.")]})
    return name


def _content(content: Any) -> bytes:
    if not isinstance(content, bytes | bytearray):
        raise ValidationFailed({"content": [Message("Give the file's bytes.")]})
    if len(content) > MAX_ATTACHMENT_BYTES:
        limit = MAX_ATTACHMENT_BYTES // (1024 * 1024)
        raise ValidationFailed(
            {"content": [Message("Files may be at most %(count)d MB.", count=limit)]}
        )
    return bytes(content)


def _is_executable(filename: str, content: bytes) -> bool:
    extension = os.path.splitext(filename.lower())[1]
    return extension in FORBIDDEN_EXTENSIONS or content.startswith(_EXECUTABLE_MAGIC)


def _check_target(
    unit: Unit,
    ticket_id: int | None,
    thread_id: int | None,
    contact_id: int | None,
    account_id: int | None,
) -> int | None:
    """Check the record the file is attached to; returns the ticket id (a thread's ticket)."""
    session = unit.session
    if thread_id is not None:
        thread = session.get(Thread, thread_id)
        if thread is None:
            raise ValidationFailed({"thread_id": [Message("Unknown thread.")]})
        if ticket_id is not None and ticket_id != thread.ticket_id:
            raise ValidationFailed({"thread_id": [Message("This thread is on another ticket.")]})
        ticket_id = thread.ticket_id
    if ticket_id is not None:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None or not unit.actor.can_see_department(ticket.department_id):
            raise ValidationFailed({"ticket_id": [Message("Unknown ticket.")]})
        return ticket_id
    if contact_id is not None and session.get(Contact, contact_id) is None:
        raise ValidationFailed({"contact_id": [Message("Unknown contact.")]})
    if account_id is not None and session.get(Account, account_id) is None:
        raise ValidationFailed({"account_id": [Message("Unknown account.")]})
    if contact_id is None and account_id is None:
        raise ValidationFailed(
            {"_schema": [Message("Attach the file to a ticket, contact or account.")]}
        )
    return None


def _write(directory: Path, content: bytes, session: Session) -> str:
    key = f"{secrets.token_hex(1)}/{secrets.token_hex(16)}"
    path = directory / key
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _files_of(session, _NEW_FILES).append(path)
    return key


def _files_of(session: Session, kind: str) -> list[Path]:
    """Files waiting for this session's transaction to end (listeners added on first use)."""
    if _NEW_FILES not in session.info:
        session.info[_NEW_FILES], session.info[_DOOMED_FILES] = [], []
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
    return session.info[kind]


def _after_commit(session: Session) -> None:
    for path in session.info[_DOOMED_FILES]:
        path.unlink(missing_ok=True)
    session.info[_NEW_FILES].clear()
    session.info[_DOOMED_FILES].clear()


def _after_rollback(session: Session) -> None:
    for path in session.info[_NEW_FILES]:
        path.unlink(missing_ok=True)
    session.info[_NEW_FILES].clear()
    session.info[_DOOMED_FILES].clear()


def _snapshot(attachment: Attachment) -> dict[str, Any]:
    return {
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size_bytes": attachment.size_bytes,
        "sha256": attachment.sha256,
        "ticket_id": attachment.ticket_id,
        "contact_id": attachment.contact_id,
        "account_id": attachment.account_id,
    }


def _event_payload(attachment: Attachment) -> dict[str, int | None]:
    return {
        "attachment_id": attachment.id,
        "ticket_id": attachment.ticket_id,
        "contact_id": attachment.contact_id,
        "account_id": attachment.account_id,
    }


def _departments_of(unit: Unit, attachment: Attachment) -> tuple[int, ...]:
    """A ticket's attachment goes to installations of its department; others by scope."""
    if attachment.ticket_id is None:
        return ()
    ticket = unit.session.get(Ticket, attachment.ticket_id)
    return (ticket.department_id,) if ticket is not None else ()
