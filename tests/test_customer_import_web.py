"""The import pages: upload form errors, mapping with preview, progress JSON, rejected rows."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import worker
from core.host import Host
from core.models import Agent, Contact, CustomerImport, Department

pytest_plugins = ["tests.api_fixtures"]

ROWS = "姓,メールアドレス\n山田,taro@example.jp\n佐藤,not-an-address\n"


@pytest.fixture
def admin(
    client: FlaskClient,
    make_agent: Callable[..., Agent],
    department: Department,
    sign_in_as: Callable[[Agent], dict[str, str]],
) -> str:
    """An administrator signed in on ``client``; the CSRF token for forms."""
    agent = make_agent("admin@example.com", profile="Administrator", departments=[department])
    return sign_in_as(agent)["X-CSRFToken"]


def _upload(client: FlaskClient, csrf: str, content: bytes, **form: str):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf, "file": (io.BytesIO(content), "people.csv"), **form}
    return client.post("/contacts/import", data=data, content_type="multipart/form-data")


def test_upload_page_offers_the_encodings(client: FlaskClient, admin: str) -> None:
    page = client.get("/contacts/import").get_data(as_text=True)
    assert 'value="shift_jis"' in page and 'value="utf-8"' in page


def test_account_import_page_matches_on_the_account_name(client: FlaskClient, admin: str) -> None:
    page = client.get("/accounts/import").get_data(as_text=True)
    assert "Import accounts" in page
    assert 'name="match_on" value="name" checked' in page


def test_wrong_encoding_shows_the_error_on_the_form_and_stores_nothing(
    client: FlaskClient, admin: str, db: Session
) -> None:
    answer = _upload(client, admin, ROWS.encode("cp932"), encoding="utf-8")
    assert answer.status_code == 422
    assert "not valid UTF-8 (line 1" in answer.get_data(as_text=True)
    assert db.scalar(select(func.count(CustomerImport.id))) == 0


def test_mapping_page_previews_rows_and_the_bad_rows_error(client: FlaskClient, admin: str) -> None:
    answer = _upload(client, admin, ROWS.encode())
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'value="last_name" selected' in page
    assert "1 of 2 rows are valid: 1 new, 0 updates, 0 unchanged; 1 will be rejected." in page
    assert "メールアドレス: Not a valid email address." in page


def test_saving_an_unknown_field_shows_the_mapping_error(client: FlaskClient, admin: str) -> None:
    detail = _upload(client, admin, ROWS.encode()).headers["Location"]
    answer = client.post(
        f"{detail}/mapping", data={"csrf_token": admin, "map-0": "last_name", "map-1": "mail"}
    )
    assert answer.status_code == 422
    assert "mapping.メールアドレス: Unknown field &#39;mail&#39;." in answer.get_data(as_text=True)


def test_start_progress_and_rejected_rows_download(
    client: FlaskClient, admin: str, host: Host, db: Session
) -> None:
    detail = _upload(client, admin, ROWS.encode()).headers["Location"]
    client.post(f"{detail}/start", data={"csrf_token": admin})
    assert client.get(f"{detail}/progress").json["state"] == "queued"
    worker.run(host, burst=True, with_scheduler=False)
    progress = client.get(f"{detail}/progress").json
    assert (progress["state"], progress["percent"], progress["rejected"]) == ("done", 100, 1)
    page = client.get(detail).get_data(as_text=True)
    link = re.search(r'id="rejected-rows-link" href="([^"]+)"', page)
    assert link is not None
    download = client.get(link.group(1))
    assert download.data.startswith(b"\xef\xbb\xbf")
    assert (
        "佐藤,not-an-address,メールアドレス: Not a valid email address." in download.data.decode()
    )
    assert db.scalar(select(func.count(Contact.id))) == 1


def test_a_second_start_or_a_late_mapping_shows_the_running_import(
    client: FlaskClient, admin: str, db: Session
) -> None:
    """A double click or a second tab meets an import already started: no server error."""
    detail = _upload(client, admin, ROWS.encode()).headers["Location"]
    assert client.post(f"{detail}/start", data={"csrf_token": admin}).status_code == 302
    again = client.post(f"{detail}/start", data={"csrf_token": admin})
    late = client.post(f"{detail}/mapping", data={"csrf_token": admin, "map-0": "last_name"})
    assert (again.status_code, again.headers["Location"]) == (302, detail)
    assert (late.status_code, late.headers["Location"]) == (302, detail)
    assert db.scalar(select(CustomerImport.state)) == "queued"


def test_agent_without_the_import_permission_sees_403(
    client: FlaskClient, api_agent: Agent, sign_in_as: Callable[[Agent], dict[str, str]]
) -> None:
    sign_in_as(api_agent)
    assert client.get("/contacts/import").status_code == 403
