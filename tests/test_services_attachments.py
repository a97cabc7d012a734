"""Attachment services: bytes on disk, metadata in the database, limits and visibility."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import NotFound, ValidationFailed
from core.models import Agent, Attachment, AuditEntry, Ticket
from core.services import attachments
from core.services.base import Actor, Unit


@pytest.fixture
def files_unit(db: Session, tmp_path: Path) -> Callable[[Agent | None], Unit]:
    """Units whose host names ``tmp_path`` as the attachments directory (no extensions)."""
    host = SimpleNamespace(
        settings=SimpleNamespace(attachments_dir=tmp_path),
        plugins=SimpleNamespace(dispatch_sync=lambda session, event: None),
    )

    def make(agent: Agent | None) -> Unit:
        actor = Actor(agent) if agent is not None else Actor.system("test")
        return Unit(session=db, actor=actor, host=host)  # type: ignore[arg-type]

    return make


def stored_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


def test_stored_bytes_read_back(
    db: Session, files_unit, make_ticket: Callable[..., Ticket]
) -> None:
    unit = files_unit(None)
    attachment = attachments.store_attachment(
        unit, filename="log.txt", content=b"hello", ticket_id=make_ticket().id
    )
    db.commit()
    record, content = attachments.read_attachment(unit, attachment.id)
    assert content == b"hello"
    assert (record.size_bytes, record.content_type) == (5, "text/plain")


def test_oversized_file_is_refused_and_nothing_stored(
    db: Session,
    files_unit,
    make_ticket: Callable[..., Ticket],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(attachments, "MAX_ATTACHMENT_BYTES", 10)
    with pytest.raises(ValidationFailed) as failure:
        attachments.store_attachment(
            files_unit(None), filename="big.bin", content=b"x" * 11, ticket_id=make_ticket().id
        )
    assert "content" in failure.value.errors
    assert db.scalar(select(func.count()).select_from(Attachment)) == 0
    assert stored_files(tmp_path) == []


def test_executable_is_refused_even_when_renamed(
    files_unit, make_ticket: Callable[..., Ticket]
) -> None:
    ticket = make_ticket()
    for name, content in (("setup.exe", b"anything"), ("photo.jpg", b"MZ\x90\x00")):
        with pytest.raises(ValidationFailed) as failure:
            attachments.store_attachment(
                files_unit(None), filename=name, content=content, ticket_id=ticket.id
            )
        assert "filename" in failure.value.errors


def test_file_of_a_rolled_back_upload_is_removed(
    db: Session, files_unit, make_contact, tmp_path: Path
) -> None:
    attachments.store_attachment(
        files_unit(None), filename="a.txt", content=b"a", contact_id=make_contact().id
    )
    assert len(stored_files(tmp_path)) == 1
    db.rollback()
    assert stored_files(tmp_path) == []


def test_attachment_of_another_departments_ticket_is_not_found(
    db: Session, files_unit, make_ticket: Callable[..., Ticket], make_agent, make_department
) -> None:
    attachment = attachments.store_attachment(
        files_unit(None), filename="a.txt", content=b"a", ticket_id=make_ticket().id
    )
    db.commit()
    outsider = make_agent("out@example.com", departments=[make_department("Sales")])
    with pytest.raises(NotFound):
        attachments.read_attachment(files_unit(outsider), attachment.id)


def test_delete_is_audited_and_removes_the_file_on_commit(
    db: Session, files_unit, make_contact, tmp_path: Path
) -> None:
    unit = files_unit(None)
    attachment = attachments.store_attachment(
        unit, filename="a.txt", content=b"a", contact_id=make_contact().id
    )
    db.commit()
    attachments.delete_attachment(unit, attachment)
    assert len(stored_files(tmp_path)) == 1
    db.commit()
    assert stored_files(tmp_path) == []
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "delete")).one()
    assert entry.before["filename"] == "a.txt"
