"""The audit log: organisation-wide, for ``audit.view``; filtered by agent, record type,
action and period; paged newest first; exported as CSV; the same through REST."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.errors import Forbidden, ValidationFailed
from core.models import Agent, AuditEntry, Department, Organisation
from core.services import audit_log
from core.services import products as product_service
from core.services.base import Actor, Unit
from core.web.i18n import compile_catalogs
from hostapi import scopes

pytest_plugins = ["tests.api_fixtures"]

UnitFor = Callable[[Agent | None], Unit]
NOON = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs() -> None:
    compile_catalogs()


@pytest.fixture
def agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent("kato@example.com", name="Kato Ken", departments=[department])


def _entry(db: Session, at: datetime, *, agent: Agent | None = None, **fields: object) -> None:
    values: dict[str, object] = {
        "action": "update",
        "entity_type": "contact",
        "entity_id": "1",
        "before": {"title": "Old"},
        "after": {"title": "New"},
    } | fields
    db.add(
        AuditEntry(
            at=at,
            actor_agent_id=agent.id if agent else None,
            actor_label="" if agent else "system",
            ip_address="203.0.113.7" if agent else None,
            **values,
        )
    )


def _many(db: Session, count: int, agent: Agent | None = None) -> None:
    for number in range(count):
        _entry(db, NOON - timedelta(minutes=number), agent=agent, entity_id=str(number + 1))
    db.commit()


# ------------------------------------------------------------------------------- service


def test_an_agents_change_is_recorded_with_the_request_address(
    db: Session, admin_agent: Agent
) -> None:
    unit = Unit(db, Actor(admin_agent, ip_address="198.51.100.4"), None)
    product_service.create_product(unit, name="Router")
    db.commit()
    (entry,) = audit_log.list_entries(unit, audit_log.AuditFilter(entity_type="product"))
    assert (entry.actor_agent_id, entry.ip_address, entry.action) == (
        admin_agent.id,
        "198.51.100.4",
        "add",
    )


def test_an_extensions_change_names_its_installation(db: Session, admin_agent: Agent) -> None:
    unit = Unit(db, Actor(None, label="extension:probe", installation_id=42), None)
    product_service.create_product(unit, name="Probe product")
    db.commit()
    (entry,) = audit_log.list_entries(
        Unit(db, Actor(admin_agent), None), audit_log.AuditFilter(entity_type="product")
    )
    assert (entry.actor_label, entry.installation_id) == ("extension:probe", 42)


def test_filters_by_agent_action_type_and_period(
    db: Session, unit_for: UnitFor, admin_agent: Agent, agent: Agent
) -> None:
    _entry(db, NOON, agent=agent)
    _entry(db, NOON - timedelta(days=2), agent=agent, action="add")
    _entry(db, NOON, entity_type="ticket")
    db.commit()
    unit = unit_for(admin_agent)
    by_agent = audit_log.clean_filter(unit, agent_id=str(agent.id))
    assert len(audit_log.list_entries(unit, by_agent)) == 2
    adds = audit_log.clean_filter(unit, agent_id=str(agent.id), action="add")
    assert [e.action for e in audit_log.list_entries(unit, adds)] == ["add"]
    tickets = audit_log.clean_filter(unit, entity_type="ticket")
    assert [e.entity_type for e in audit_log.list_entries(unit, tickets)] == ["ticket"]
    day = audit_log.clean_filter(unit, since="2026-11-02", until="2026-11-02")
    assert len(audit_log.list_entries(unit, day)) == 2


def test_period_days_are_the_organisations(
    db: Session, unit_for: UnitFor, admin_agent: Agent
) -> None:
    # 2026-11-01 23:30 UTC is 2026-11-02 08:30 in Tokyo.
    organisation = db.query(Organisation).one()
    organisation.timezone = "Asia/Tokyo"
    _entry(db, datetime(2026, 11, 1, 23, 30, tzinfo=UTC))
    db.commit()
    unit = unit_for(admin_agent)
    tokyo_day = audit_log.clean_filter(unit, since="2026-11-02", until="2026-11-02")
    assert len(audit_log.list_entries(unit, tokyo_day)) == 1
    utc_day = audit_log.clean_filter(unit, since="2026-11-01", until="2026-11-01")
    assert audit_log.list_entries(unit, utc_day) == []


def test_bad_filters_are_named(unit_for: UnitFor, admin_agent: Agent) -> None:
    with pytest.raises(ValidationFailed) as failure:
        audit_log.clean_filter(
            unit_for(admin_agent),
            agent_id="x",
            action="drop",
            since="2026-13-01",
            until="soon",
        )
    assert set(failure.value.errors) == {"agent_id", "action", "since", "until"}


def test_a_period_beyond_the_calendar_is_refused(unit_for: UnitFor, admin_agent: Agent) -> None:
    with pytest.raises(ValidationFailed) as failure:
        audit_log.clean_filter(unit_for(admin_agent), since="0001-01-01", until="9999-12-31")
    assert failure.value.errors == {
        "since": [audit_log.PERIOD_MESSAGE],
        "until": [audit_log.PERIOD_MESSAGE],
    }


def test_a_period_ending_before_it_starts_is_refused(unit_for: UnitFor, admin_agent: Agent) -> None:
    with pytest.raises(ValidationFailed) as failure:
        audit_log.clean_filter(unit_for(admin_agent), since="2026-11-05", until="2026-11-01")
    assert list(failure.value.errors) == ["until"]


def test_reading_the_log_needs_audit_view(unit_for: UnitFor, agent: Agent) -> None:
    with pytest.raises(Forbidden):
        audit_log.list_entries(unit_for(agent))


def test_pages_follow_one_another_without_gaps(
    db: Session, unit_for: UnitFor, admin_agent: Agent
) -> None:
    _many(db, 7)
    unit = unit_for(admin_agent)
    first = audit_log.list_entries(unit, limit=4)
    rest = audit_log.list_entries(unit, before=audit_log.cursor_of(first[-1]), limit=4)
    assert [e.entity_id for e in first + rest] == [str(n) for n in range(1, 8)]


# -------------------------------------------------------------------------------- pages


def test_log_page_pages_through_more_entries_than_one_page(
    db: Session, client: FlaskClient, sign_in_as, admin_agent: Agent, agent: Agent
) -> None:
    _many(db, 60, agent=agent)
    sign_in_as(admin_agent)
    first = client.get(f"/setup/audit?agent_id={agent.id}")
    page = first.get_data(as_text=True)
    assert first.status_code == 200
    assert page.count('data-actor-id="') == 50
    assert "203.0.113.7" in page and "Kato Ken" in page
    older = page.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    assert f"agent_id={agent.id}" in older
    second = client.get(older).get_data(as_text=True)
    assert second.count('data-actor-id="') == 10


def test_log_page_links_a_contact_and_shows_the_change(
    db: Session, client: FlaskClient, sign_in_as, admin_agent: Agent, make_contact
) -> None:
    contact = make_contact()
    _entry(db, NOON, agent=admin_agent, entity_id=str(contact.id))
    db.commit()
    sign_in_as(admin_agent)
    page = client.get("/setup/audit").get_data(as_text=True)
    assert f'href="/contacts/{contact.id}"' in page
    assert "<td>title</td><td>Old</td><td>New</td>" in page


def test_log_page_in_japanese(
    db: Session,
    client: FlaskClient,
    sign_in_as,
    make_agent: Callable[..., Agent],
    department: Department,
) -> None:
    admin = make_agent(
        "ja-admin@example.com", profile="Administrator", departments=[department], locale="ja"
    )
    _entry(db, NOON)
    db.commit()
    sign_in_as(admin)
    page = client.get("/setup/audit").get_data(as_text=True)
    assert "監査ログ" in page and "システム" in page and "変更" in page


def test_bad_filter_on_the_page_is_422_naming_it(
    client: FlaskClient, sign_in_as, admin_agent: Agent
) -> None:
    sign_in_as(admin_agent)
    answer = client.get("/setup/audit?since=tomorrow")
    assert answer.status_code == 422
    assert "Give a date as YYYY-MM-DD." in answer.get_data(as_text=True)


def test_agent_without_audit_view_is_refused_the_page(
    client: FlaskClient, sign_in_as, agent: Agent
) -> None:
    sign_in_as(agent)
    assert client.get("/setup/audit").status_code == 403
    assert client.get("/setup/audit/export.csv").status_code == 403
    assert 'href="/setup/audit"' not in client.get("/tickets").get_data(as_text=True)


def test_csv_export_holds_the_filtered_entries_neutralised(
    db: Session, client: FlaskClient, sign_in_as, admin_agent: Agent, agent: Agent
) -> None:
    _entry(db, NOON, agent=agent, after={"title": '=HYPERLINK("x")'}, before={"title": "営業"})
    _entry(db, NOON, agent=admin_agent)
    db.commit()
    sign_in_as(admin_agent)
    answer = client.get(f"/setup/audit/export.csv?agent_id={agent.id}")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    body = answer.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["When", "Agent", "Extension"]
    assert len(rows) == 2
    assert rows[1][1] == "Kato Ken"
    assert rows[1][-3:] == ["title", "営業", '\'=HYPERLINK("x")']


# --------------------------------------------------------------------------------- REST


def test_rest_lists_filtered_pages(
    db: Session, client: FlaskClient, sign_in_as, admin_agent: Agent, agent: Agent
) -> None:
    _many(db, 5, agent=agent)
    _entry(db, NOON, entity_type="ticket")
    db.commit()
    sign_in_as(admin_agent)
    first = client.get(f"/api/v1/audit?agent_id={agent.id}&limit=3").json
    second = client.get(f"/api/v1/audit?agent_id={agent.id}&limit=3&cursor={first['next_cursor']}")
    ids = [e["entity_id"] for e in first["items"] + second.json["items"]]
    assert ids == ["1", "2", "3", "4", "5"]
    assert second.json["next_cursor"] is None
    assert first["items"][0]["ip_address"] == "203.0.113.7"


def test_rest_names_a_bad_filter(client: FlaskClient, sign_in_as, admin_agent: Agent) -> None:
    sign_in_as(admin_agent)
    answer = client.get("/api/v1/audit?since=2026-11-05&until=2026-11-01")
    assert answer.status_code == 422
    assert "until" in answer.json["errors"]["query"]
    assert "action" in client.get("/api/v1/audit?action=drop").json["errors"]["query"]


def test_rest_needs_audit_view(client: FlaskClient, sign_in_as, agent: Agent) -> None:
    sign_in_as(agent)
    answer = client.get("/api/v1/audit")
    assert answer.status_code == 403 and answer.json["permission"] == "audit.view"


def test_rest_needs_the_settings_read_scope(
    client: FlaskClient, bearer_for, admin_agent: Agent
) -> None:
    answer = client.get("/api/v1/audit", headers=bearer_for(admin_agent, [scopes.CONTACTS_READ]))
    assert answer.status_code == 403 and answer.json["scope"] == scopes.SETTINGS_READ
    allowed = client.get("/api/v1/audit", headers=bearer_for(admin_agent, [scopes.SETTINGS_READ]))
    assert allowed.status_code == 200
