"""REST API of customer imports: upload, mapping, preview, start, progress, rejected rows."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import worker
from core.host import Host
from core.models import Agent, Contact, CustomerImport, Department
from hostapi import scopes

pytest_plugins = ["tests.api_fixtures"]

ROWS = "姓,メールアドレス\n山田,taro@example.jp\n佐藤,not-an-address\n"


@pytest.fixture
def importer(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An administrator (who holds ``import.run``)."""
    return make_agent("importer@example.com", profile="Administrator", departments=[department])


@pytest.fixture
def signed_in(
    client: FlaskClient, importer: Agent, sign_in_as: Callable[[Agent], dict[str, str]]
) -> dict[str, str]:
    """The client signed in as ``importer``; the CSRF header."""
    return sign_in_as(importer)


def _upload(
    client: FlaskClient,
    headers: dict[str, str],
    content: bytes,
    filename: str = "people.csv",
    **form: str,
) -> Any:
    data: dict[str, Any] = {"file": (io.BytesIO(content), filename), **form}
    return client.post(
        "/api/v1/customer-imports",
        data=data,
        headers=headers,
        content_type="multipart/form-data",
    )


def test_upload_answers_the_columns_and_the_suggested_mapping(
    client: FlaskClient, signed_in: dict[str, str]
) -> None:
    answer = _upload(client, signed_in, ROWS.encode("cp932"), encoding="shift_jis")
    assert answer.status_code == 201, answer.json
    assert answer.json["columns"] == ["姓", "メールアドレス"]
    assert answer.json["mapping"] == {"姓": "last_name", "メールアドレス": "email"}
    assert (answer.json["encoding"], answer.json["state"]) == ("Shift_JIS", "uploaded")
    assert {"key": "owner", "label": "Owner (agent email)", "custom": False} in answer.json[
        "fields"
    ]


def test_shift_jis_upload_declared_utf8_is_refused_and_stores_nothing(
    client: FlaskClient, signed_in: dict[str, str], db: Session
) -> None:
    answer = _upload(client, signed_in, ROWS.encode("cp932"), encoding="utf-8")
    assert answer.status_code == 422
    assert "not valid UTF-8 (line 1" in answer.json["errors"]["json"]["encoding"][0]
    assert db.scalar(select(func.count(CustomerImport.id))) == 0


def test_unknown_field_in_the_mapping_is_refused_naming_the_entry(
    client: FlaskClient, signed_in: dict[str, str]
) -> None:
    answer = _upload(
        client, signed_in, ROWS.encode(), mapping='{"姓": "last_name", "メールアドレス": "mail"}'
    )
    assert answer.status_code == 422
    assert answer.json["errors"]["json"] == {"mapping.メールアドレス": ["Unknown field 'mail'."]}


def test_upload_without_a_file_is_refused(client: FlaskClient, signed_in: dict[str, str]) -> None:
    answer = client.post(
        "/api/v1/customer-imports",
        data={"entity": "contact"},
        headers=signed_in,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 422
    assert "file" in answer.json["errors"]["files"]


def test_preview_start_progress_and_rejected_rows(
    client: FlaskClient, signed_in: dict[str, str], host: Host, db: Session
) -> None:
    import_id = _upload(client, signed_in, ROWS.encode()).json["id"]
    preview = client.get(f"/api/v1/customer-imports/{import_id}/preview").json
    assert preview["totals"] == {
        "rows": 2,
        "valid": 1,
        "invalid": 1,
        "new": 1,
        "updates": 0,
        "unchanged": 0,
    }
    assert preview["rows"][1]["errors"] == {"メールアドレス": ["Not a valid email address."]}
    started = client.post(f"/api/v1/customer-imports/{import_id}/start", headers=signed_in)
    assert (started.status_code, started.json["state"]) == (202, "queued")
    worker.run(host, burst=True, with_scheduler=False)
    progress = client.get(f"/api/v1/customer-imports/{import_id}").json
    assert (progress["state"], progress["percent"]) == ("done", 100)
    assert (progress["created_count"], progress["rejected_count"]) == (1, 1)
    download = client.get(f"/api/v1/customer-imports/{import_id}/rejected-rows")
    assert download.mimetype == "text/csv"
    assert download.data.decode("utf-8-sig").splitlines()[1].startswith("佐藤,not-an-address,")
    assert db.scalar(select(func.count(Contact.id))) == 1


def test_mapping_changes_until_start_then_conflicts(
    client: FlaskClient, signed_in: dict[str, str]
) -> None:
    import_id = _upload(client, signed_in, ROWS.encode()).json["id"]
    changed = client.patch(
        f"/api/v1/customer-imports/{import_id}",
        json={"mapping": {"姓": "last_name"}, "match_on": ["email", "phone"]},
        headers=signed_in,
    )
    assert changed.json["mapping"] == {"姓": "last_name"}
    client.post(f"/api/v1/customer-imports/{import_id}/start", headers=signed_in)
    again = client.patch(
        f"/api/v1/customer-imports/{import_id}", json={"match_on": ["email"]}, headers=signed_in
    )
    assert again.status_code == 409


def test_token_without_the_contacts_write_scope_cannot_upload(
    client: FlaskClient, importer: Agent, bearer_for: Callable[..., dict[str, str]]
) -> None:
    headers = bearer_for(importer, [scopes.CONTACTS_READ])
    answer = _upload(client, headers, ROWS.encode())
    assert (answer.status_code, answer.json["scope"]) == (403, scopes.CONTACTS_WRITE)


def test_agent_without_the_import_permission_is_refused(
    client: FlaskClient, api_agent: Agent, sign_in_as: Callable[[Agent], dict[str, str]]
) -> None:
    answer = _upload(client, sign_in_as(api_agent), ROWS.encode())
    assert (answer.status_code, answer.json["permission"]) == (403, "import.run")


def test_unknown_entity_is_refused(client: FlaskClient, signed_in: dict[str, str]) -> None:
    answer = _upload(client, signed_in, ROWS.encode(), entity="robot")
    assert answer.status_code == 422
    assert answer.json["errors"]["json"] == {"entity": ["Must be one of: contact, account."]}
