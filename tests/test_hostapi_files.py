"""Host API 1.2 for files: an extension endpoint returning ``hostapi.Download`` is streamed as
an attachment, and ``hostapi.csv`` writes CSV with the host's formula neutralisation."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Department
from hostapi import ApiRoute, Context, Download, NotFound, csv, hookimpl, scopes
from tests.api_fixtures import sign_in
from tests.factories import install_for
from tests.plugin_fixtures import manifest

PLUGIN = "filer"


def rows_file(context: Context, arguments: dict[str, Any], count: int) -> Download:
    """``count`` numbered rows (refused before streaming when there are none)."""
    if count == 0:
        raise NotFound("Nothing to export.")

    def chunks() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(["n", "name"])
        for n in range(count):
            writer.writerow([n, "=1+1" if n == 0 else f"row {n}"])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    return Download(filename="rows.csv", chunks=chunks())


def bytes_file(context: Context, arguments: dict[str, Any]) -> Download:
    return Download(
        filename="blob.bin", chunks=[b"\x00\x01", b"\x02"], mimetype="application/octet-stream"
    )


class Filer:
    @hookimpl
    def deskhost_api_routes(self) -> list[ApiRoute]:
        return [
            ApiRoute(
                name="rows",
                path="/rows/<int:count>.csv",
                handle=rows_file,
                summary="Numbered rows as CSV.",
                scopes=(scopes.TICKETS_READ,),
            ),
            ApiRoute(name="blob", path="/blob", handle=bytes_file, summary="Three bytes."),
        ]


@pytest.fixture
def filer(host: Host) -> Iterator[None]:
    host.plugins.register_plugin(Filer(), manifest(PLUGIN, scopes=[scopes.TICKETS_READ]))
    yield
    host.plugins.unregister_plugin(PLUGIN)


@pytest.fixture
def api(filer: None, host: Host) -> FlaskClient:
    from core.web import create_app

    app: Flask = create_app({"TESTING": True}, host=host)
    return app.test_client()


@pytest.fixture
def installation_id(db: Session, host: Host, department: Department) -> int:
    installation = install_for(db, host, PLUGIN, [department.id])
    db.commit()
    return installation.id


def test_a_download_is_streamed_as_an_attachment_with_neutralised_cells(
    api: FlaskClient,
    installation_id: int,
    make_agent: Callable[..., Agent],
    department: Department,
) -> None:
    sign_in(api, make_agent(departments=[department]))

    answer = api.get(f"/api/v1/ext/{PLUGIN}/{installation_id}/rows/3.csv")

    assert answer.status_code == 200
    assert answer.is_streamed
    assert answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"] == "attachment; filename=rows.csv"
    body = answer.get_data(as_text=True)
    answer.close()  # ends the streamed request (and its database session), as a server does
    assert body == "n,name\r\n0,'=1+1\r\n1,row 1\r\n2,row 2\r\n"


def test_a_download_handler_refuses_before_anything_is_sent(
    api: FlaskClient,
    installation_id: int,
    make_agent: Callable[..., Agent],
    department: Department,
) -> None:
    sign_in(api, make_agent(departments=[department]))

    answer = api.get(f"/api/v1/ext/{PLUGIN}/{installation_id}/rows/0.csv")

    assert (answer.status_code, answer.json["message"]) == (404, "Nothing to export.")


def test_a_download_of_bytes_is_sent_as_they_are(
    api: FlaskClient,
    installation_id: int,
    make_agent: Callable[..., Agent],
    department: Department,
) -> None:
    sign_in(api, make_agent(departments=[department]))

    answer = api.get(f"/api/v1/ext/{PLUGIN}/{installation_id}/blob")

    body = answer.get_data()
    answer.close()
    assert (answer.mimetype, body) == ("application/octet-stream", b"\x00\x01\x02")


def test_the_csv_helper_neutralises_like_the_host() -> None:
    assert csv.neutralise_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv.neutralise_cell(-5) == -5
    assert csv.neutralise_cell(None) == ""
