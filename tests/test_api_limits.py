"""Input limits in one place: ids within their columns, text a database stores, JSON depth.

Each was a 500 (a database error or a RecursionError) before; each is now refused with 400,
404 or 422 naming the field, on both backends, and the OpenAPI document declares the limits.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.customer_import import runner as import_runner
from core.errors import ValidationFailed
from core.host import Host
from core.importer import ImportRefused, run_import
from core.models import Account, Agent, Contact, CustomerImport, CustomerImportRejection, Ticket
from core.models.types import INT32_MAX, INT64_MAX
from core.services import customers, tickets
from core.services.base import Actor, Unit, clean_text, flush_new
from core.web.limits import MAX_JSON_DEPTH, json_too_deep
from hostapi import clock, scopes

pytest_plugins = ["tests.api_fixtures"]

NUL_MESSAGE = "Must not contain the NUL character."


@pytest.fixture
def admin(bearer_for: Callable[..., dict[str, str]], admin_agent: Agent) -> dict[str, str]:
    """The Authorization header of an administrator's token with every scope."""
    return bearer_for(admin_agent, list(scopes.ALL))


# --------------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/views/{INT32_MAX + 1}",
        f"/api/v1/tickets/{INT64_MAX + 1}",
        f"/api/v1/contacts/{INT64_MAX + 1}/comments",
        f"/api/v1/customer-imports/{INT32_MAX + 1}",
        f"/api/v1/installations/{INT32_MAX + 1}",
        "/api/v1/views/contact/99999999999/records",
        "/api/v1/views/contact/²/records",
    ],
)
def test_path_id_beyond_its_column_answers_404(
    client: FlaskClient, admin: dict[str, str], path: str
) -> None:
    answer = client.get(path, headers=admin)
    assert (answer.status_code, answer.is_json) == (404, True)


def test_largest_id_a_big_column_holds_is_looked_up(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    answer = client.get(f"/api/v1/tickets/{INT64_MAX}", headers=admin)
    assert (answer.status_code, answer.json["message"]) == (404, "ticket not found")


def test_query_id_beyond_its_column_is_422_naming_it(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    answer = client.get("/api/v1/tickets?contact_id=99999999999999999999", headers=admin)
    assert answer.status_code == 422
    assert list(answer.json["errors"]["query"]) == ["contact_id"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/contacts/merge", {"survivor_id": 1, "merged_ids": [2**63]}, "merged_ids"),
        ("/api/v1/accounts/bulk-delete", {"ids": [2**64]}, "ids"),
        ("/api/v1/tickets", {"subject": "Hi", "department_id": 2**31}, "department_id"),
    ],
)
def test_body_id_beyond_its_column_is_422_naming_it(
    client: FlaskClient, admin: dict[str, str], path: str, body: dict[str, Any], field: str
) -> None:
    answer = client.post(path, json=body, headers=admin)
    assert answer.status_code == 422
    assert field in answer.json["errors"]["json"]


def test_time_entry_longer_than_its_column_is_422_naming_seconds(
    client: FlaskClient, admin: dict[str, str], make_ticket: Callable[..., Ticket]
) -> None:
    ticket = make_ticket()
    answer = client.post(
        f"/api/v1/tickets/{ticket.id}/time-entries",
        json={"seconds": 3_000_000_000_000},
        headers=admin,
    )
    assert answer.status_code == 422
    assert list(answer.json["errors"]["json"]) == ["seconds"]


def test_page_cursor_naming_an_id_beyond_any_column_is_422(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    raw = f"{clock.now().isoformat()}|{INT64_MAX + 1}".encode()
    too_far = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    answer = client.get(f"/api/v1/contacts?cursor={too_far}", headers=admin)
    assert answer.status_code == 422
    assert list(answer.json["errors"]["query"]) == ["cursor"]


def test_empty_cursor_is_the_first_page(
    client: FlaskClient, admin: dict[str, str], make_contact: Callable[..., Contact]
) -> None:
    make_contact("Yamada")
    answer = client.get("/api/v1/contacts?cursor=", headers=admin)
    assert answer.status_code == 200
    assert [item["last_name"] for item in answer.json["items"]] == ["Yamada"]


# ------------------------------------------------------------------------ external ids


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/contacts", {"last_name": "Yamada"}),
        ("/api/v1/accounts", {"name": "Acme"}),
        ("/api/v1/tickets", {"subject": "Printer"}),
    ],
)
def test_duplicate_external_id_is_422_naming_it(
    client: FlaskClient,
    admin: dict[str, str],
    department: Any,
    path: str,
    body: dict[str, Any],
) -> None:
    if path.endswith("tickets"):
        body = {**body, "department_id": department.id}
    first = client.post(path, json={**body, "external_id": "crm-1"}, headers=admin)
    assert first.status_code == 201, first.json
    second = client.post(path, json={**body, "external_id": "crm-1"}, headers=admin)
    assert second.status_code == 422
    assert list(second.json["errors"]["json"]) == ["external_id"]


def test_external_id_taken_by_a_concurrent_insert_is_422_and_keeps_the_unit(
    db: Session,
) -> None:
    now = clock.now()
    db.add(Account(name="First", external_id="crm-1", created_at=now, updated_at=now))
    db.commit()
    earlier = Account(name="Kept", created_at=now, updated_at=now)
    db.add(earlier)
    with pytest.raises(ValidationFailed) as refused:
        flush_new(db, Account(name="Second", external_id="crm-1", created_at=now, updated_at=now))
    assert list(refused.value.errors) == ["external_id"]
    db.commit()
    assert sorted(db.scalars(select(Account.name))) == ["First", "Kept"]


def test_blank_external_ids_do_not_collide(db: Session) -> None:
    work = Unit(session=db, actor=Actor.system("test"), host=None)
    first = customers.create_account(work, name="One", external_id=" ")
    second = customers.create_account(work, name="Two", external_id="")
    assert (first.external_id, second.external_id) == (None, None)


def test_overlong_external_id_is_refused_naming_it(
    db: Session, department: Any, unit_for: Callable[[Agent | None], Unit]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        tickets.create_ticket(
            unit_for(None),
            subject="Hi",
            department_id=department.id,
            channel="api",
            external_id="x" * 201,
        )
    assert list(refused.value.errors) == ["external_id"]


# --------------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/accounts", {"name": "A\x00B"}, "name"),
        ("/api/v1/contacts", {"last_name": "Y", "tags": ["v\x00ip"]}, "tags"),
        (
            "/api/v1/contacts",
            {"last_name": "Y", "custom_fields": {"cf_x": "a\x00"}},
            "custom_fields",
        ),
        (
            "/api/v1/views",
            {"entity": "contact", "name": "V", "conditions": [{"v": "\x00"}]},
            "conditions",
        ),
    ],
)
def test_nul_character_in_any_text_is_422_naming_the_field(
    client: FlaskClient, admin: dict[str, str], path: str, body: dict[str, Any], field: str
) -> None:
    answer = client.post(path, json=body, headers=admin)
    assert answer.status_code == 422
    assert answer.json["errors"]["json"] == {field: [NUL_MESSAGE]}


def test_nul_character_in_a_query_argument_is_422_naming_it(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    answer = client.get("/api/v1/contacts?search=a%00b", headers=admin)
    assert answer.status_code == 422
    assert answer.json["errors"]["query"] == {"search": [NUL_MESSAGE]}


def test_non_finite_number_in_a_free_form_value_is_422_naming_the_field(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    answer = client.post(
        "/api/v1/accounts",
        data='{"name": "Acme", "custom_fields": {"cf_size": NaN}}',
        content_type="application/json",
        headers=admin,
    )
    assert answer.status_code == 422
    assert list(answer.json["errors"]["json"]) == ["custom_fields"]


def test_text_longer_than_its_column_is_422_naming_it(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    answer = client.post("/api/v1/accounts", json={"name": "x" * 301}, headers=admin)
    assert answer.status_code == 422
    assert list(answer.json["errors"]["json"]) == ["name"]


def test_shared_text_cleaner_refuses_nul_naming_the_field() -> None:
    """Web forms reach the services without the API's schemas: their cleaner refuses it too."""
    with pytest.raises(ValidationFailed) as refused:
        clean_text("Hana\x00ko", "first_name", max_length=200)
    assert refused.value.errors == {"first_name": [NUL_MESSAGE]}


def test_customer_import_rejects_a_row_with_nul_naming_the_column(
    host: Host, db: Session, upload_customers: Callable[..., CustomerImport]
) -> None:
    record = upload_customers("姓,メモ\n山田,ok\n佐藤,bad\x00cell\n", start=True)
    finished = import_runner.run_import(host, record.id)
    assert finished is not None
    assert (finished.state, finished.rejected_count) == ("done", 1)
    [rejection] = db.scalars(select(CustomerImportRejection)).all()
    assert rejection.errors == {"メモ": [NUL_MESSAGE]}
    assert db.scalars(select(Contact.last_name)).all() == ["山田"]


def test_customer_import_refuses_a_column_name_with_nul(
    upload_customers: Callable[..., CustomerImport],
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        upload_customers("姓,メ\x00モ\n山田,ok\n")
    assert list(refused.value.errors) == ["file"]


def test_history_import_refuses_a_record_with_nul_naming_line_and_field(
    host: Host, db: Session
) -> None:
    lines = [
        {"type": "department", "id": "d1", "name": "Support"},
        {"type": "contact", "id": "c1", "last_name": "Ya\x00mada"},
    ]
    source = io.BytesIO(b"".join(msgspec.json.encode(line) + b"\n" for line in lines))
    with pytest.raises(ImportRefused) as refused:
        run_import(host, source)
    [(line, message)] = refused.value.errors
    assert line == 2
    assert "last_name" in message and NUL_MESSAGE in message
    assert db.scalar(select(func.count(Contact.id))) == 0


def test_form_part_without_a_name_is_422_naming_it_empty(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    boundary = "part"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nnull\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
        f"\r\nname\r\nAcme\r\n--{boundary}--\r\n"
    )
    answer = client.post(
        "/api/v1/customer-imports",
        data=body.encode(),
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=admin,
    )
    assert answer.status_code == 422
    assert answer.json["errors"]["json"] == {"": ["Unknown field."]}


# --------------------------------------------------------------------------------- JSON


def test_deeply_nested_json_body_is_400_before_anything_parses_it(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    answer = client.post(
        "/api/v1/accounts", data="[" * 100_000, content_type="application/json", headers=admin
    )
    assert answer.status_code == 400
    assert str(MAX_JSON_DEPTH) in answer.json["message"]


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    nested = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert not json_too_deep(nested)
    assert json_too_deep(b"[" + nested + b"]")
    assert not json_too_deep(b'{"a": "' + b"[" * 1000 + b'\\"["}')
    assert not json_too_deep(b"[" + b"[{}]," * 1000 + b"[]]")  # many brackets, shallow


# ------------------------------------------------------------------- methods and paths


def test_undeclared_method_is_405_listing_the_allowed_ones(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    answer = client.put("/api/v1/tickets", headers=admin)
    assert (answer.status_code, answer.is_json) == (405, True)
    assert set(answer.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}


def test_options_lists_only_the_methods_a_path_takes(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    answer = client.options("/api/v1/me", headers=admin)
    assert set(answer.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_unknown_api_path_is_a_json_404(client: FlaskClient, admin: dict[str, str]) -> None:
    answer = client.post("/api/v1/no-such-thing", headers=admin)
    assert answer.status_code == 404
    assert answer.json["message"] == "No API endpoint at /api/v1/no-such-thing."


# ----------------------------------------------------------------------- the document


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    """The served OpenAPI document."""
    return client.get("/api/v1/openapi.json").json


def _path_parameter(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    """The schema of path parameter ``name`` (flask-smorest lists them for the whole path)."""
    parameters = document["paths"][path]["parameters"]
    return next(p["schema"] for p in parameters if p["name"] == name)


def test_document_declares_path_id_ranges(document: dict[str, Any]) -> None:
    ticket_id = _path_parameter(document, "/api/v1/tickets/{ticket_id}", "ticket_id")
    view_id = _path_parameter(document, "/api/v1/views/{view_id}", "view_id")
    assert (ticket_id["minimum"], ticket_id["maximum"]) == (1, INT64_MAX)
    assert (view_id["minimum"], view_id["maximum"]) == (1, INT32_MAX)


def test_document_declares_text_limits_and_required_strings_minimum(
    document: dict[str, Any],
) -> None:
    subject = document["components"]["schemas"]["TicketCreate"]["properties"]["subject"]
    assert (subject["minLength"], subject["maxLength"]) == (1, 500)
    assert subject["pattern"] == "^[^\\x00]*$"
