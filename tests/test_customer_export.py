"""Customer export: a view's contacts or accounts with their custom fields, as CSV (neutralised,
UTF-8 with a byte order mark) or XLSX (text typed as text), from the list page and REST;
audited with the row count; refused without the export permission."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import openpyxl
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound, ValidationFailed
from core.models import Account, Agent, AuditEntry, Contact, Department
from core.services import export as export_service
from core.services import fields as field_service
from core.services import views as view_service
from core.services.base import Unit
from core.web.i18n import compile_catalogs
from hostapi import scopes

pytest_plugins = ["tests.api_fixtures"]

UnitFor = Callable[[Agent | None], Unit]
FORMULA = '=HYPERLINK("http://evil.test","click")'


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs() -> None:
    compile_catalogs()


@pytest.fixture
def customers(db: Session, unit_for: UnitFor, make_contact, make_account) -> list[Contact]:
    """Three contacts with a text and a number custom field: one Japanese, one a formula."""
    field_service.create_field(unit_for(None), entity="contact", label="Plan", field_type="text")
    field_service.create_field(unit_for(None), entity="contact", label="Seats", field_type="number")
    company: Account = make_account("株式会社テスト")
    made = [
        make_contact("山田", first_name="花子", email="hanako@example.jp", account=company),
        make_contact("Smith", first_name="Ann", email="ann@example.com"),
        make_contact(FORMULA, first_name="-1+1", email="evil@example.com"),
    ]
    made[0].custom_fields = {"cf_plan": "プレミアム", "cf_seats": 12}
    made[1].custom_fields = {"cf_plan": "Basic"}
    made[2].custom_fields = {"cf_plan": "@SUM(A1)"}
    db.commit()
    return made


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _by_id(rows: list[list[str]]) -> dict[str, list[str]]:
    return {row[0]: row for row in rows[1:]}


# ------------------------------------------------------------------------------- service


def test_csv_holds_every_field_custom_ones_included(
    db: Session, unit_for: UnitFor, admin_agent: Agent, customers: list[Contact]
) -> None:
    exported = export_service.export_view(
        unit_for(admin_agent), "contact", "all", file_format="csv"
    )
    rows = _csv_rows(exported.stream.read())
    header = rows[0]
    assert header[:3] == ["ID", "First name", "Last name"]
    assert header[-2:] == ["Plan", "Seats"]
    hanako = dict(zip(header, _by_id(rows)[str(customers[0].id)], strict=True))
    assert hanako["Last name"] == "山田" and hanako["Account"] == "株式会社テスト"
    assert (hanako["Plan"], hanako["Seats"]) == ("プレミアム", "12")
    assert exported.rows == 3


def test_csv_neutralises_formulas(
    unit_for: UnitFor, admin_agent: Agent, customers: list[Contact]
) -> None:
    exported = export_service.export_view(
        unit_for(admin_agent), "contact", "all", file_format="csv"
    )
    rows = _csv_rows(exported.stream.read())
    evil = dict(zip(rows[0], _by_id(rows)[str(customers[2].id)], strict=True))
    assert evil["Last name"] == "'" + FORMULA
    assert evil["First name"] == "'-1+1"
    assert evil["Plan"] == "'@SUM(A1)"


def test_xlsx_keeps_text_as_text(
    unit_for: UnitFor, admin_agent: Agent, customers: list[Contact]
) -> None:
    exported = export_service.export_view(
        unit_for(admin_agent), "contact", "all", file_format="xlsx"
    )
    sheet = openpyxl.load_workbook(exported.stream).active
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    evil = dict(zip(header, rows[customers[2].id], strict=True))
    assert evil["Last name"].value == FORMULA and evil["Last name"].data_type == "s"
    hanako = dict(zip(header, rows[customers[0].id], strict=True))
    assert hanako["Seats"].value == 12 and hanako["Plan"].value == "プレミアム"


def test_export_follows_the_views_conditions_and_the_search(
    db: Session, unit_for: UnitFor, admin_agent: Agent, customers: list[Contact]
) -> None:
    view = view_service.create_view(
        unit_for(admin_agent),
        entity="contact",
        name="Premium",
        conditions=[{"field": "cf_plan", "operator": "is", "value": "プレミアム"}],
    )
    db.commit()
    only = export_service.export_view(unit_for(admin_agent), "contact", view.id, file_format="csv")
    assert list(_by_id(_csv_rows(only.stream.read()))) == [str(customers[0].id)]
    searched = export_service.export_view(
        unit_for(admin_agent), "contact", "all", file_format="csv", search="Smith"
    )
    assert list(_by_id(_csv_rows(searched.stream.read()))) == [str(customers[1].id)]


def test_export_reads_in_batches(
    db: Session,
    unit_for: UnitFor,
    admin_agent: Agent,
    customers: list[Contact],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(export_service, "BATCH", 2)
    pages: list[int] = []
    run_view = view_service.run_view

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        page = run_view(*args, **kwargs)
        pages.append(len(page.rows))
        return page

    monkeypatch.setattr(view_service, "run_view", counted)
    exported = export_service.export_view(
        unit_for(admin_agent), "contact", "all", file_format="csv"
    )
    assert pages == [2, 1]
    assert len(_csv_rows(exported.stream.read())) == 4


def test_export_is_audited_with_view_format_and_rows(
    db: Session, unit_for: UnitFor, admin_agent: Agent, customers: list[Contact]
) -> None:
    export_service.export_view(unit_for(admin_agent), "contact", "all", file_format="xlsx")
    db.commit()
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "export")).one()
    assert (entry.entity_type, entry.entity_id, entry.actor_agent_id) == (
        "contact_list",
        "all",
        admin_agent.id,
    )
    assert entry.after == {"view": "All", "format": "xlsx", "search": "", "rows": 3}


def test_accounts_export_with_their_own_permission(
    unit_for: UnitFor, make_agent: Callable[..., Agent], department: Department, customers
) -> None:
    manager = make_agent("m@example.com", profile="Support Manager", departments=[department])
    exported = export_service.export_view(unit_for(manager), "account", "all", file_format="csv")
    rows = _csv_rows(exported.stream.read())
    assert rows[0][:2] == ["ID", "Name"] and rows[1][1] == "株式会社テスト"


def test_export_needs_the_export_permission(
    unit_for: UnitFor, make_agent: Callable[..., Agent], department: Department
) -> None:
    agent = make_agent(departments=[department])
    with pytest.raises(Forbidden):
        export_service.export_view(unit_for(agent), "contact", "all", file_format="csv")


def test_unknown_format_and_view_are_refused(unit_for: UnitFor, admin_agent: Agent) -> None:
    with pytest.raises(ValidationFailed) as failure:
        export_service.export_view(unit_for(admin_agent), "contact", "all", file_format="pdf")
    assert list(failure.value.errors) == ["format"]
    with pytest.raises(NotFound):
        export_service.export_view(unit_for(admin_agent), "contact", "999999", file_format="csv")


# -------------------------------------------------------------------------------- pages


def test_list_page_exports_the_view_in_japanese(
    client: FlaskClient,
    sign_in_as,
    make_agent: Callable[..., Agent],
    department: Department,
    customers: list[Contact],
) -> None:
    admin = make_agent(
        "ja@example.com", profile="Administrator", departments=[department], locale="ja"
    )
    token = sign_in_as(admin)["X-CSRFToken"]
    page = client.get("/contacts").get_data(as_text=True)
    assert 'id="export-form"' in page and "エクスポート" in page
    answer = client.post(
        "/contacts/export", data={"view": "all", "format": "csv", "csrf_token": token}
    )
    assert answer.status_code == 200
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = _csv_rows(answer.get_data())
    assert rows[0][:3] == ["ID", "名", "姓"]
    assert len(rows) == 4


def test_agent_without_export_permission_sees_no_button_and_is_refused(
    client: FlaskClient, sign_in_as, api_agent: Agent, customers: list[Contact]
) -> None:
    token = sign_in_as(api_agent)["X-CSRFToken"]
    assert 'id="export-form"' not in client.get("/contacts").get_data(as_text=True)
    answer = client.post("/contacts/export", data={"format": "csv", "csrf_token": token})
    assert answer.status_code == 403


# --------------------------------------------------------------------------------- REST


def test_rest_exports_contacts_as_csv_and_accounts_as_xlsx(
    client: FlaskClient, bearer_for, admin_agent: Agent, customers: list[Contact]
) -> None:
    headers = bearer_for(admin_agent, [scopes.CONTACTS_READ, scopes.ACCOUNTS_READ])
    answer = client.get("/api/v1/contacts/export?view_id=all&format=csv", headers=headers)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert len(_csv_rows(answer.get_data())) == 4
    workbook = client.get("/api/v1/accounts/export?format=xlsx", headers=headers)
    assert workbook.mimetype == export_service.MIMETYPES["xlsx"]
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.get_data())).active
    assert sheet.cell(row=2, column=2).value == "株式会社テスト"


def test_rest_names_a_bad_format(client: FlaskClient, sign_in_as, admin_agent: Agent) -> None:
    sign_in_as(admin_agent)
    answer = client.get("/api/v1/contacts/export?format=pdf")
    assert answer.status_code == 422 and "format" in answer.json["errors"]["query"]


def test_rest_needs_the_read_scope_and_the_permission(
    client: FlaskClient, bearer_for, admin_agent: Agent, api_agent: Agent
) -> None:
    wrong_scope = bearer_for(admin_agent, [scopes.ACCOUNTS_READ])
    answer = client.get("/api/v1/contacts/export", headers=wrong_scope)
    assert answer.status_code == 403 and answer.json["scope"] == scopes.CONTACTS_READ
    no_permission = bearer_for(api_agent, [scopes.CONTACTS_READ])
    refused = client.get("/api/v1/contacts/export", headers=no_permission)
    assert refused.status_code == 403 and refused.json["permission"] == "contact.export"


def test_rest_another_agents_private_view_is_404(
    db: Session,
    unit_for: UnitFor,
    client: FlaskClient,
    sign_in_as,
    admin_agent: Agent,
    make_agent: Callable[..., Agent],
    department: Department,
) -> None:
    other = make_agent("other@example.com", profile="Administrator", departments=[department])
    view = view_service.create_view(unit_for(other), entity="contact", name="Mine only")
    db.commit()
    sign_in_as(admin_agent)
    assert client.get(f"/api/v1/contacts/export?view_id={view.id}").status_code == 404
