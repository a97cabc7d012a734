"""Inbound email: tickets, departments by mailbox, bodies, files, threading, duplicates."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.intake import email_in
from core.intake.arrivals import Status
from core.models import Attachment, Contact, Department, MailMessage, Thread, Ticket
from tests.intake_helpers import WorkIn, raw_email

pytest_plugins = ["tests.intake_fixtures", "tests.api_fixtures"]


def _receive(work_in: WorkIn, raw: bytes, **options: object) -> email_in.Outcome:
    with work_in() as unit:
        return email_in.receive_email(unit, raw, **options)  # type: ignore[arg-type]


def _count(db: Session, model: type) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_new_mail_becomes_an_email_ticket_raised_by_its_new_contact(
    work_in: WorkIn, department: Department, db: Session
) -> None:
    outcome = _receive(work_in, raw_email(subject="Broken lid", body="The lid is cracked."))
    ticket = db.get(Ticket, outcome.ticket.id)
    assert (outcome.status, ticket.subject, ticket.description) == (
        Status.CREATED,
        "Broken lid",
        "The lid is cracked.",
    )
    assert (ticket.channel, ticket.raised_by, ticket.department_id) == (
        "email",
        "customer",
        department.id,
    )
    assert db.get(Contact, ticket.contact_id).email == "hanako@example.com"


def test_mail_goes_to_the_department_whose_mailbox_it_was_sent_to(
    work_in: WorkIn, make_department: Callable[..., Department], db: Session
) -> None:
    make_department("Support")
    billing = make_department("Billing")
    billing.mailbox = "billing@desk.example"
    db.commit()
    outcome = _receive(work_in, raw_email(to="Billing <Billing@desk.example>"))
    assert outcome.ticket.department_id == billing.id


def test_mail_for_an_unknown_mailbox_goes_to_the_first_active_department(
    work_in: WorkIn, make_department: Callable[..., Department], db: Session
) -> None:
    closed = make_department("Closed desk")
    closed.is_active = False
    db.commit()
    first_active = make_department("Sales")
    outcome = _receive(work_in, raw_email(to="nobody@desk.example"))
    assert outcome.ticket.department_id == first_active.id


def test_html_only_mail_is_read_as_text(work_in: WorkIn, department: Department) -> None:
    html = "<html><head><style>p{}</style></head><body><p>Hello&nbsp;there</p><p>Bye</p></body>"
    outcome = _receive(work_in, raw_email(body="", html=html))
    assert outcome.ticket.description == "Hello there\n\nBye"


def test_plain_text_is_preferred_over_html(work_in: WorkIn, department: Department) -> None:
    outcome = _receive(work_in, raw_email(body="plain words", html="<p>html words</p>"))
    assert outcome.ticket.description == "plain words"


def test_attachments_are_stored_on_the_ticket(
    work_in: WorkIn, department: Department, db: Session
) -> None:
    outcome = _receive(
        work_in, raw_email(attachments=(("receipt.pdf", b"%PDF-1.4 receipt", "application/pdf"),))
    )
    [stored] = db.scalars(select(Attachment)).all()
    assert (stored.ticket_id, stored.filename, stored.size_bytes) == (
        outcome.ticket.id,
        "receipt.pdf",
        16,
    )


def test_an_executable_attachment_is_not_kept_and_the_ticket_says_so(
    work_in: WorkIn, department: Department, db: Session
) -> None:
    outcome = _receive(
        work_in,
        raw_email(attachments=(("invoice.exe", b"MZ\x90\x00", "application/octet-stream"),)),
    )
    assert _count(db, Attachment) == 0
    [note] = db.scalars(select(Thread).where(Thread.ticket_id == outcome.ticket.id)).all()
    assert note.kind == "notification" and "invoice.exe" in note.body


def test_a_reply_naming_a_known_message_id_threads_on_its_ticket(
    work_in: WorkIn, department: Department, db: Session
) -> None:
    first = _receive(work_in, raw_email(message_id="<first@mail.example>"))
    reply = _receive(
        work_in,
        raw_email(
            subject="Re: My order has not arrived",
            body="Still waiting.",
            message_id="<second@mail.example>",
            in_reply_to="<first@mail.example>",
        ),
    )
    assert (reply.status, reply.ticket.id) == (Status.THREADED, first.ticket.id)
    thread = db.get(Thread, reply.thread.id)
    assert (thread.kind, thread.body, thread.author_contact_id) == (
        "incoming",
        "Still waiting.",
        first.ticket.contact_id,
    )
    assert _count(db, Ticket) == 1


def test_references_thread_a_reply_whose_in_reply_to_is_unknown(
    work_in: WorkIn, department: Department
) -> None:
    first = _receive(work_in, raw_email(message_id="<root@mail.example>"))
    reply = _receive(
        work_in,
        raw_email(
            in_reply_to="<unknown@elsewhere.example>",
            references="<root@mail.example> <unknown@elsewhere.example>",
        ),
    )
    assert reply.ticket.id == first.ticket.id


def test_the_ticket_number_in_the_subject_threads_mail_from_the_tickets_contact(
    work_in: WorkIn, department: Department
) -> None:
    first = _receive(work_in, raw_email())
    reply = _receive(
        work_in, raw_email(subject=f"Re: My order [#{first.ticket.number}]", body="Any news?")
    )
    assert (reply.status, reply.ticket.id) == (Status.THREADED, first.ticket.id)


def test_the_ticket_number_from_a_stranger_opens_a_new_ticket(
    work_in: WorkIn, department: Department
) -> None:
    first = _receive(work_in, raw_email())
    other = _receive(
        work_in,
        raw_email(sender="mallory@example.net", subject=f"Re: [#{first.ticket.number}]"),
    )
    assert other.status == Status.CREATED and other.ticket.id != first.ticket.id


def test_a_message_id_seen_before_adds_nothing(
    work_in: WorkIn, department: Department, db: Session
) -> None:
    raw = raw_email(message_id="<once@mail.example>")
    _receive(work_in, raw)
    again = _receive(work_in, raw)
    assert again.status == Status.DUPLICATE
    assert (_count(db, Ticket), _count(db, MailMessage), _count(db, Contact)) == (1, 1, 1)


def test_a_message_without_message_id_delivered_twice_adds_one_ticket(
    work_in: WorkIn, department: Department, db: Session
) -> None:
    raw = raw_email().replace(b"Message-ID:", b"X-Old-ID:")
    _receive(work_in, raw)
    assert _receive(work_in, raw).status == Status.DUPLICATE
    assert _count(db, Ticket) == 1


@pytest.mark.parametrize(
    "raw", [b"", b"just some words without headers\n", b"Subject: hi\r\n\r\nno sender\r\n"]
)
def test_unreadable_messages_are_refused_and_store_nothing(
    raw: bytes, work_in: WorkIn, department: Department, db: Session
) -> None:
    with pytest.raises(email_in.UnreadableMessage):
        _receive(work_in, raw)
    assert (_count(db, Ticket), _count(db, Contact)) == (0, 0)


def test_the_envelope_sender_stands_in_for_a_missing_from(
    work_in: WorkIn, department: Department
) -> None:
    raw = b"Subject: hi\r\nMessage-ID: <e@x.example>\r\n\r\nbody\r\n"
    outcome = _receive(work_in, raw, envelope_sender="bounce@example.org")
    assert outcome.contact.email == "bounce@example.org"


# ------------------------------------------------------------------------------- REST endpoint


def test_api_takes_a_raw_message_and_answers_201_with_the_ticket(
    client, mail_server_headers, department: Department
) -> None:
    answer = client.post("/api/v1/inbound/email", data=raw_email(), headers=mail_server_headers)
    assert answer.status_code == 201, answer.json
    assert answer.json["status"] == "created" and answer.json["ticket_id"]


def test_api_answers_200_for_a_duplicate(client, mail_server_headers, department) -> None:
    headers = mail_server_headers
    raw = raw_email(message_id="<dup@mail.example>")
    client.post("/api/v1/inbound/email", data=raw, headers=headers)
    answer = client.post("/api/v1/inbound/email", data=raw, headers=headers)
    assert (answer.status_code, answer.json["status"]) == (200, "duplicate")


def test_api_answers_400_for_an_unreadable_message(client, mail_server_headers, department) -> None:
    answer = client.post(
        "/api/v1/inbound/email", data=b"no headers here", headers=mail_server_headers
    )
    assert answer.status_code == 400
    assert "headers" in answer.json["message"]


def test_japanese_mail_in_iso_2022_jp_is_read(work_in: WorkIn, department: Department) -> None:
    raw = (
        (
            "From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.jp>\r\n"
            "To: support@desk.example\r\n"
            "Subject: =?ISO-2022-JP?B?GyRCQ21KOBsoQg==?=\r\n"
            "Message-ID: <jis@example.jp>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=ISO-2022-JP\r\n"
            "Content-Transfer-Encoding: 7bit\r\n\r\n"
        ).encode("ascii")
        + "届きません。".encode("iso-2022-jp")
        + b"\r\n"
    )
    outcome = _receive(work_in, raw)
    assert (outcome.ticket.subject, outcome.ticket.description) == ("注文", "届きません。")
    assert outcome.contact.last_name == "山田"
