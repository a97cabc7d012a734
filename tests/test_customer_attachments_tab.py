"""The Attachments tab of contact and account pages, its upload, download and delete routes,
and the REST API's attachment endpoints."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from io import BytesIO
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.customer_tabs.attachments import ATTACHMENTS_TAB_LIMIT
from core.host import Host
from core.models import Account, Agent, Attachment, AuditEntry, Contact, Department, Ticket
from core.services import attachments
from core.web.ui.attachments import TAB_KEYS
from hostapi import scopes
from tests.factories import system_unit
from tests.page_helpers import csrf_token_of, see_committed, sign_in

pytest_plugins = ["tests.api_fixtures"]

CONTRACT = b"%PDF-1.7 the signed SLA contract"
EVERY_SCOPE = [scopes.CONTACTS_READ, scopes.CONTACTS_WRITE, scopes.ACCOUNTS_READ]
EVERY_SCOPE += [scopes.ACCOUNTS_WRITE, scopes.TICKETS_READ, scopes.TICKETS_WRITE]


@pytest.fixture
def agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An agent ("Agent" profile: may edit contacts, not accounts) of one department."""
    return make_agent("files@example.com", departments=[department])


@pytest.fixture
def agent_client(app: Flask, agent: Agent) -> FlaskClient:
    """A browser signed in as ``agent``."""
    client = app.test_client()
    sign_in(client, agent.email)
    return client


@pytest.fixture
def storage(host: Host) -> Path:
    """Where the host keeps attachment bytes."""
    return Path(host.settings.attachments_dir)


@pytest.fixture
def attach(db: Session, host: Host) -> Callable[..., Attachment]:
    """Store a file as the system (on a contact, an account or a ticket), committed."""

    def make(filename: str = "notes.txt", content: bytes = b"hello", **owner: int) -> Attachment:
        attachment = attachments.store_attachment(
            system_unit(db, host), filename=filename, content=content, **owner
        )
        db.commit()
        return attachment

    return make


def stored_files(storage: Path) -> set[Path]:
    return {path for path in storage.rglob("*") if path.is_file()} if storage.exists() else set()


def rows(db: Session) -> int:
    see_committed(db)
    return db.scalar(select(func.count()).select_from(Attachment)) or 0


def upload(
    client: FlaskClient, path: str, filename: str | None, content: bytes, note: str = ""
) -> tuple[int, str, str]:
    """Post the tab's upload form; ``(status, Location, page)``."""
    token = csrf_token_of(client, path)
    data: dict[str, object] = {"csrf_token": token, "note": note}
    if filename is not None:
        data["file"] = (BytesIO(content), filename)
    kind = path.split("/")[1]
    answer = client.post(
        f"{path}/attachments?tab={TAB_KEYS[kind[:-1]]}",
        data=data,
        content_type="multipart/form-data",
    )
    return answer.status_code, answer.headers.get("Location", ""), answer.get_data(as_text=True)


def tab(client: FlaskClient, path: str, query: str = "") -> str:
    """The Attachments tab's body on the customer's page."""
    kind = path.split("/")[1][:-1]
    page = client.get(f"{path}?tab={TAB_KEYS[kind]}" + (f"&{query}" if query else ""))
    assert page.status_code == 200
    return page.get_data(as_text=True).partition('role="tabpanel"')[2]


def section(html: str, name: str) -> str:
    found = re.search(rf'data-section="{name}".*?</section>', html, re.DOTALL)
    return found.group(0) if found else ""


def listed(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-attachment-id="(\d+)"', html)]


# ------------------------------------------------------------------------------------ web


def test_an_uploaded_file_is_listed_and_downloads_its_exact_bytes(
    agent_client: FlaskClient, make_contact: Callable[..., Contact], db: Session
) -> None:
    customer = make_contact("Yamada")
    path = f"/contacts/{customer.id}"

    status, location, _page = upload(agent_client, path, "sla-contract.pdf", CONTRACT, "Signed")

    assert status == 302
    assert location.endswith(f"?tab={TAB_KEYS['contact']}#customer-tabs")
    html = section(tab(agent_client, path), "own")
    assert "sla-contract.pdf" in html and "Signed" in html and "Test Agent" in html
    link = re.search(r'href="(/attachments/\d+/download)"', html)
    assert link is not None
    download = agent_client.get(link.group(1))
    assert download.status_code == 200
    assert download.data == CONTRACT
    assert download.headers["Content-Disposition"] == "attachment; filename=sla-contract.pdf"
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_an_oversized_upload_is_refused_naming_the_limit_and_stores_nothing(
    agent_client: FlaskClient,
    make_contact: Callable[..., Contact],
    db: Session,
    storage: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(attachments, "MAX_ATTACHMENT_BYTES", 1024 * 1024)
    customer = make_contact("Yamada")
    before = stored_files(storage)

    status, _location, page = upload(
        agent_client, f"/contacts/{customer.id}", "scan.pdf", b"x" * (1024 * 1024 + 1)
    )

    assert status == 422
    assert "Files may be at most 1 MB." in page
    assert 'id="attachment-file"' in page, "the form is shown again"
    assert rows(db) == 0
    assert stored_files(storage) == before


def test_a_body_over_the_request_limit_is_refused_naming_the_file_limit(
    app: Flask,
    agent_client: FlaskClient,
    make_contact: Callable[..., Contact],
    db: Session,
    storage: Path,
) -> None:
    customer = make_contact("Yamada")
    app.config["MAX_CONTENT_LENGTH"] = 4096
    before = stored_files(storage)

    status, _location, page = upload(
        agent_client, f"/contacts/{customer.id}", "huge.pdf", b"x" * 8192
    )

    assert status == 413
    assert "Files may be at most 20 MB." in page
    assert rows(db) == 0
    assert stored_files(storage) == before


@pytest.mark.parametrize(
    ("filename", "content"),
    [("setup.exe", b"MZ\x90\x00 a program"), ("contract.pdf", b"MZ\x90\x00 a renamed program")],
)
def test_a_program_is_refused_and_nothing_stored(
    agent_client: FlaskClient,
    make_contact: Callable[..., Contact],
    db: Session,
    storage: Path,
    filename: str,
    content: bytes,
) -> None:
    customer = make_contact("Yamada")
    before = stored_files(storage)

    status, _location, page = upload(agent_client, f"/contacts/{customer.id}", filename, content)

    assert status == 422
    assert "Executable files cannot be attached." in page
    assert rows(db) == 0
    assert stored_files(storage) == before


def test_a_note_without_a_file_is_refused_pointing_to_comments(
    agent_client: FlaskClient, make_contact: Callable[..., Contact], db: Session
) -> None:
    customer = make_contact("Yamada")

    status, _location, page = upload(
        agent_client, f"/contacts/{customer.id}", None, b"", "Call back"
    )

    assert status == 422
    assert "For a note without a file, add a comment." in unescape(page)
    assert "Call back" in page, "the note is kept in the form"
    assert rows(db) == 0


def test_an_agent_who_may_not_edit_accounts_sees_no_form_and_cannot_upload(
    agent_client: FlaskClient, make_account: Callable[..., Account], db: Session
) -> None:
    acme = make_account("Acme")

    assert 'id="attachment-file"' not in tab(agent_client, f"/accounts/{acme.id}")
    status, _location, _page = upload(agent_client, f"/accounts/{acme.id}", "a.txt", b"a")
    assert status == 403
    assert rows(db) == 0


def test_the_tab_shows_own_files_and_ticket_files_apart_with_the_ticket_number(
    agent_client: FlaskClient,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
    attach: Callable[..., Attachment],
) -> None:
    customer = make_contact("Yamada")
    ticket = make_ticket("Printer", contact=customer)
    own = attach("contract.pdf", contact_id=customer.id)
    on_ticket = attach("photo.jpg", content=b"x" * 2048, ticket_id=ticket.id)

    html = tab(agent_client, f"/contacts/{customer.id}")

    assert listed(section(html, "own")) == [own.id]
    tickets = section(html, "tickets")
    assert listed(tickets) == [on_ticket.id]
    assert f'href="/tickets/{ticket.id}" data-ticket-id="{ticket.id}">' in tickets
    assert "2 KB" in tickets


def test_the_tab_counts_own_and_visible_ticket_files(
    agent_client: FlaskClient,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
    make_department: Callable[..., Department],
    attach: Callable[..., Attachment],
) -> None:
    customer = make_contact("Yamada")
    attach(contact_id=customer.id)
    attach(ticket_id=make_ticket(contact=customer).id)
    hidden = make_ticket(contact=customer, department=make_department("Legal"))
    attach(ticket_id=hidden.id)

    page = agent_client.get(f"/contacts/{customer.id}").get_data(as_text=True)

    count = re.search(
        rf'data-tab="{re.escape(TAB_KEYS["contact"])}".*?<span class="tab-count">([^<]+)</span>',
        page,
        re.DOTALL,
    )
    assert count is not None and count.group(1) == "2"


def test_a_file_on_another_departments_ticket_is_not_listed_and_downloads_404(
    agent_client: FlaskClient,
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
    make_department: Callable[..., Department],
    attach: Callable[..., Attachment],
) -> None:
    customer = make_contact("Yamada")
    legal = make_ticket("Dispute", contact=customer, department=make_department("Legal"))
    theirs = attach("dispute.pdf", ticket_id=legal.id)

    assert listed(tab(agent_client, f"/contacts/{customer.id}")) == []
    assert agent_client.get(f"/attachments/{theirs.id}/download").status_code == 404
    token = csrf_token_of(agent_client, f"/contacts/{customer.id}")
    deleted = agent_client.post(f"/attachments/{theirs.id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 404


def test_deleting_a_file_removes_its_row_and_bytes_and_is_audited(
    agent_client: FlaskClient,
    make_contact: Callable[..., Contact],
    attach: Callable[..., Attachment],
    db: Session,
    storage: Path,
) -> None:
    customer = make_contact("Yamada")
    doomed = attach("old.txt", contact_id=customer.id)
    doomed_id, path = doomed.id, storage / doomed.storage_key
    token = csrf_token_of(agent_client, f"/contacts/{customer.id}")

    answer = agent_client.post(f"/attachments/{doomed_id}/delete", data={"csrf_token": token})

    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"?tab={TAB_KEYS['contact']}#customer-tabs")
    assert rows(db) == 0
    assert not path.exists()
    audit = db.scalars(
        select(AuditEntry).where(
            AuditEntry.entity_type == "attachment", AuditEntry.action == "delete"
        )
    ).one()
    assert audit.entity_id == str(doomed_id) and audit.before["filename"] == "old.txt"


def test_each_section_pages_through_every_file_newest_first(
    agent_client: FlaskClient,
    make_contact: Callable[..., Contact],
    attach: Callable[..., Attachment],
) -> None:
    customer = make_contact("Yamada")
    made = [
        attach(f"file-{n}.txt", contact_id=customer.id) for n in range(ATTACHMENTS_TAB_LIMIT + 3)
    ]

    pages: list[list[int]] = []
    query = ""
    while True:
        html = tab(agent_client, f"/contacts/{customer.id}", query)
        own = section(html, "own")
        pages.append(listed(own))
        older = re.search(r'rel="next" href="\?([^"#]+)', own)
        if older is None:
            break
        query = unescape(older.group(1)).replace(f"tab={TAB_KEYS['contact']}", "").strip("&")

    assert [len(page) for page in pages] == [ATTACHMENTS_TAB_LIMIT, 3]
    assert [file for page in pages for file in page] == sorted((a.id for a in made), reverse=True)
    assert 'data-attachments-page="own-newest"' in own


# ----------------------------------------------------------------------------------- REST


def test_api_upload_then_list_then_download_exact_bytes(
    client: FlaskClient,
    agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
    make_contact: Callable[..., Contact],
) -> None:
    customer = make_contact("Yamada")
    headers = bearer_for(agent, EVERY_SCOPE)

    created = client.post(
        f"/api/v1/contacts/{customer.id}/attachments",
        data={"file": (BytesIO(CONTRACT), "sla.pdf"), "note": "Signed"},
        content_type="multipart/form-data",
        headers=headers,
    )
    assert created.status_code == 201, created.json
    assert created.json["note"] == "Signed" and created.json["size_bytes"] == len(CONTRACT)

    page = client.get(f"/api/v1/contacts/{customer.id}/attachments", headers=headers).json
    assert [item["id"] for item in page["items"]] == [created.json["id"]]
    content = client.get(f"/api/v1/attachments/{created.json['id']}/content", headers=headers)
    assert content.status_code == 200 and content.data == CONTRACT


def test_api_refuses_an_oversized_upload_on_the_file_field_and_stores_nothing(
    client: FlaskClient,
    agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
    make_contact: Callable[..., Contact],
    db: Session,
    storage: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(attachments, "MAX_ATTACHMENT_BYTES", 1024 * 1024)
    customer = make_contact("Yamada")
    before = stored_files(storage)

    refused = client.post(
        f"/api/v1/contacts/{customer.id}/attachments",
        data={"file": (BytesIO(b"x" * (1024 * 1024 + 1)), "scan.pdf")},
        content_type="multipart/form-data",
        headers=bearer_for(agent, EVERY_SCOPE),
    )

    assert refused.status_code == 422
    assert refused.json["errors"] == {"files": {"file": ["Files may be at most 1 MB."]}}
    assert rows(db) == 0
    assert stored_files(storage) == before


def test_api_lists_ticket_files_apart_and_hides_another_departments(
    client: FlaskClient,
    agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
    make_contact: Callable[..., Contact],
    make_ticket: Callable[..., Ticket],
    make_department: Callable[..., Department],
    attach: Callable[..., Attachment],
) -> None:
    customer = make_contact("Yamada")
    mine = attach(ticket_id=make_ticket(contact=customer).id)
    legal = make_ticket(contact=customer, department=make_department("Legal"))
    theirs = attach(ticket_id=legal.id)
    headers = bearer_for(agent, EVERY_SCOPE)

    listed_files = client.get(
        f"/api/v1/contacts/{customer.id}/attachments?kind=tickets", headers=headers
    ).json
    assert [item["id"] for item in listed_files["items"]] == [mine.id]
    assert client.get(f"/api/v1/attachments/{theirs.id}", headers=headers).status_code == 404
    content = client.get(f"/api/v1/attachments/{theirs.id}/content", headers=headers)
    assert content.status_code == 404
    assert client.delete(f"/api/v1/attachments/{theirs.id}", headers=headers).status_code == 404


def test_api_delete_removes_row_and_bytes_and_is_audited(
    client: FlaskClient,
    agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
    make_contact: Callable[..., Contact],
    attach: Callable[..., Attachment],
    db: Session,
    storage: Path,
) -> None:
    customer = make_contact("Yamada")
    doomed = attach(contact_id=customer.id)
    doomed_id, path = doomed.id, storage / doomed.storage_key

    answer = client.delete(
        f"/api/v1/attachments/{doomed_id}", headers=bearer_for(agent, EVERY_SCOPE)
    )

    assert answer.status_code == 204
    assert rows(db) == 0 and not path.exists()
    assert db.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.entity_type == "attachment", AuditEntry.entity_id == str(doomed_id))
        .where(AuditEntry.action == "delete")
    )


def test_api_pages_a_customers_files_by_cursor(
    client: FlaskClient,
    agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
    make_contact: Callable[..., Contact],
    attach: Callable[..., Attachment],
) -> None:
    customer = make_contact("Yamada")
    made = [attach(f"{n}.txt", contact_id=customer.id) for n in range(5)]
    headers = bearer_for(agent, EVERY_SCOPE)

    seen: list[int] = []
    url = f"/api/v1/contacts/{customer.id}/attachments?limit=2"
    page = client.get(url, headers=headers).json
    seen += [item["id"] for item in page["items"]]
    while page["next_cursor"]:
        page = client.get(f"{url}&cursor={page['next_cursor']}", headers=headers).json
        seen += [item["id"] for item in page["items"]]

    assert seen == sorted((a.id for a in made), reverse=True)


def test_api_ticket_files_need_the_tickets_scope(
    client: FlaskClient,
    agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
    make_contact: Callable[..., Contact],
) -> None:
    customer = make_contact("Yamada")
    answer = client.get(
        f"/api/v1/contacts/{customer.id}/attachments?kind=tickets",
        headers=bearer_for(agent, [scopes.CONTACTS_READ]),
    )
    assert answer.status_code == 403
    assert answer.json["scope"] == scopes.TICKETS_READ
