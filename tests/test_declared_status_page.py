"""The edit page of a status an extension's installation added: shown read-only, naming the
extension, in English and Japanese; the status list as before."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Department, TicketStatus
from core.web.i18n import compile_catalogs
from tests.declaring_extension import ACME_SYNC, ACME_SYNC_NAME, AWAITING_VENDOR, deployed
from tests.factories import install_for
from tests.page_helpers import csrf_token_of, see_committed, sign_in


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalogs() -> None:
    """The Japanese page needs compiled catalogs even when pytest runs without make."""
    compile_catalogs()


@pytest.fixture
def declared_status_id(host: Host, department: Department) -> Iterator[int]:
    """The id of "Awaiting vendor", declared by the installed extension Acme Sync."""
    with deployed(host, ACME_SYNC, name=ACME_SYNC_NAME, statuses=[AWAITING_VENDOR]):
        with host.transaction() as session:
            install_for(session, host, ACME_SYNC, [department.id])
        with host.sessions() as session:
            status_id = session.scalars(
                select(TicketStatus.id).where(TicketStatus.name == "Awaiting vendor")
            ).one()
        yield status_id


@pytest.fixture
def admin(client: FlaskClient, admin_agent: Agent) -> FlaskClient:
    """The client signed in as an administrator of "Support"."""
    sign_in(client, admin_agent.email)
    return client


def test_declared_status_page_has_no_form_and_names_the_extension(
    admin: FlaskClient, declared_status_id: int
) -> None:
    answer = admin.get(f"/setup/statuses/{declared_status_id}")

    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "<form" not in page.split("<main", 1)[1]
    assert "<h1>Awaiting vendor</h1>" in page
    assert "Added by Acme Sync" in page
    assert "An extension added this: it cannot be changed or removed by hand." in page


def test_declared_status_page_names_the_extension_in_japanese(
    client: FlaskClient,
    make_agent: Callable[..., Agent],
    department: Department,
    declared_status_id: int,
) -> None:
    admin = make_agent(
        "ja@example.com", profile="Administrator", departments=[department], locale="ja"
    )
    sign_in(client, admin.email)

    page = client.get(f"/setup/statuses/{declared_status_id}").get_data(as_text=True)

    assert "Acme Sync が追加" in page
    assert "拡張機能が追加したものです。手動では変更も削除もできません。" in page


def test_posting_to_the_declared_status_page_changes_nothing_and_says_why(
    admin: FlaskClient, db: Session, declared_status_id: int
) -> None:
    answer = admin.post(
        f"/setup/statuses/{declared_status_id}",
        data={
            "name": "Waiting on vendor",
            "status_type": "on_hold",
            "csrf_token": csrf_token_of(admin, "/setup"),
        },
    )

    assert answer.status_code == 422
    assert "An extension added this" in answer.get_data(as_text=True)
    see_committed(db)
    assert db.get(TicketStatus, declared_status_id).name == "Awaiting vendor"


def test_status_list_links_custom_statuses_but_not_the_declared_one(
    admin: FlaskClient, db: Session, declared_status_id: int
) -> None:
    db.add(TicketStatus(name="Parked", status_type="on_hold", position=99))
    db.commit()
    parked_id = db.scalars(select(TicketStatus.id).where(TicketStatus.name == "Parked")).one()

    page = admin.get("/setup/statuses").get_data(as_text=True)

    declared_row = page.split(f'<tr id="status-{declared_status_id}">', 1)[1].split("</tr>", 1)[0]
    parked_row = page.split(f'<tr id="status-{parked_id}">', 1)[1].split("</tr>", 1)[0]
    assert "Added by Acme Sync" in declared_row
    assert f'href="/setup/statuses/{declared_status_id}"' not in declared_row
    assert f'href="/setup/statuses/{parked_id}"' in parked_row
    assert "Custom" in parked_row
