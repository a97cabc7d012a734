"""Customer Insights over REST: a contact's and an account's figures, and the CSV export (a
contact's, an account's, or the tickets created in a date range of the organisation's days),
checked against histories whose numbers are worked out by hand from the metric definitions."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core.models import Account, Agent, Contact, Department, Organisation, Ticket
from hostapi import clock, scopes
from plugins.customer_insights import export
from plugins.customer_insights.api import export_url
from tests.api_fixtures import sign_in
from tests.insights_helpers import T0, Desk

pytest_plugins = ["tests.api_fixtures", "tests.insights_fixtures"]

EVERY_SCOPE = [
    scopes.TICKETS_READ,
    scopes.THREADS_READ,
    scopes.CONTACTS_READ,
    scopes.ACCOUNTS_READ,
]


@pytest.fixture
def acme(make_account: Callable[..., Account]) -> Account:
    return make_account("Acme")


@pytest.fixture
def customer(make_contact: Callable[..., Contact], acme: Account) -> Contact:
    return make_contact("Yamada", account=acme)


def _url(installation: int, rest: str) -> str:
    return f"/api/v1/ext/customer_insights/{installation}{rest}"


def _history(
    desk: Desk,
    customer: Contact,
    acme: Account,
    support: Department,
    sales: Department,
    agent: Agent,
) -> list[int]:
    """Three tickets of the customer (of Acme):

    - Support, email, at 0: replies at 30 and (after a customer message at 60) at 100;
      closed at 120, rated bad then good.
    - Sales, chat, at 10: a reply at 70; on hold.
    - Support, email, at 20: no reply; open, due at 1 day (passed).
    """
    first = desk.ticket(customer, support.id, 0, account=acme)
    desk.reply(first, 30, agent)
    desk.customer_writes(first, 60)
    desk.reply(first, 100, agent)
    desk.status(first, "Closed", 120)
    desk.rate(first, "bad", 130)
    desk.rate(first, "good", 140)
    second = desk.ticket(customer, sales.id, 10, channel="chat", account=acme)
    desk.reply(second, 70, agent)
    desk.status(second, "On Hold", 80)
    third = desk.ticket(customer, support.id, 20, account=acme)
    desk.update(third, due_at=T0 + timedelta(days=1))
    return [first, second, third]


@pytest.fixture
def installed_history(
    desk: Desk,
    customer: Contact,
    acme: Account,
    support: Department,
    sales: Department,
    agent: Agent,
) -> tuple[int, list[int]]:
    """An installation for Support and Sales, kept current while ``_history`` is made: the
    installation's id and the three tickets."""
    installation = desk.install([support.id, sales.id])
    return installation, _history(desk, customer, acme, support, sales, agent)


def test_a_contacts_figures_are_exact_with_null_where_nothing_to_average(
    client: FlaskClient,
    installed_history: tuple[int, list[int]],
    customer: Contact,
    agent: Agent,
) -> None:
    installation, _tickets = installed_history
    sign_in(client, agent)

    answer = client.get(_url(installation, f"/contacts/{customer.id}/figures"))

    assert answer.status_code == 200, answer.json
    assert answer.json == {
        "customer_kind": "contact",
        "customer_id": customer.id,
        "preparing": False,
        "tickets": {"all": 3, "open": 2, "on_hold": 1, "closed": 1, "overdue": 1},
        # first responses 30 and 60 min; responses 30, 40 (from 60 to 100) and 60 min;
        # resolution 120 min.
        "seconds": {"first_response": 2700.0, "response": 2600.0, "resolution": 7200.0},
        "public_replies": 3,
        "ratings": {"good": 1, "okay": 0, "bad": 0},
        "tickets_by_channel": {"email": 2, "chat": 1},
    }


def test_averages_are_null_not_zero_without_replies_or_closed_tickets(
    client: FlaskClient,
    desk: Desk,
    customer: Contact,
    support: Department,
    agent: Agent,
) -> None:
    installation = desk.install([support.id])
    desk.ticket(customer, support.id, 0)
    sign_in(client, agent)

    answer = client.get(_url(installation, f"/contacts/{customer.id}/figures")).json

    assert answer["seconds"] == {"first_response": None, "response": None, "resolution": None}
    assert answer["tickets"]["all"] == 1


def test_an_accounts_figures_sum_its_tickets(
    client: FlaskClient,
    installed_history: tuple[int, list[int]],
    acme: Account,
    agent: Agent,
) -> None:
    installation, _tickets = installed_history
    sign_in(client, agent)

    answer = client.get(_url(installation, f"/accounts/{acme.id}/figures"))

    assert answer.status_code == 200, answer.json
    assert answer.json["customer_kind"] == "account"
    assert answer.json["tickets"] == {"all": 3, "open": 2, "on_hold": 1, "closed": 1, "overdue": 1}


def test_an_agent_of_one_department_gets_only_that_departments_figures(
    client: FlaskClient,
    installed_history: tuple[int, list[int]],
    customer: Contact,
    sales: Department,
    make_agent: Callable[..., Agent],
) -> None:
    installation, _tickets = installed_history
    sign_in(client, make_agent("sales@example.com", departments=[sales]))

    answer = client.get(_url(installation, f"/contacts/{customer.id}/figures")).json

    assert answer["tickets"] == {"all": 1, "open": 1, "on_hold": 1, "closed": 0, "overdue": 0}
    assert answer["seconds"] == {"first_response": 3600.0, "response": 3600.0, "resolution": None}
    assert answer["tickets_by_channel"] == {"chat": 1}


def test_a_token_without_the_tickets_scope_gets_403(
    client: FlaskClient,
    desk: Desk,
    customer: Contact,
    support: Department,
    agent: Agent,
    bearer_for: Callable[..., dict[str, str]],
) -> None:
    installation = desk.install([support.id])
    headers = bearer_for(agent, [s for s in EVERY_SCOPE if s != scopes.TICKETS_READ])

    answer = client.get(_url(installation, f"/contacts/{customer.id}/figures"), headers=headers)

    assert answer.status_code == 403
    assert (answer.json["error"], answer.json["scope"]) == (
        "insufficient_scope",
        scopes.TICKETS_READ,
    )
    allowed = bearer_for(agent, EVERY_SCOPE)
    assert (
        client.get(
            _url(installation, f"/contacts/{customer.id}/figures"), headers=allowed
        ).status_code
        == 200
    )


def test_an_unknown_contact_or_account_is_404(
    client: FlaskClient, desk: Desk, support: Department, agent: Agent
) -> None:
    installation = desk.install([support.id])
    sign_in(client, agent)

    for rest in (
        "/contacts/999999/figures",
        "/accounts/999999/figures",
        "/contacts/999999/export.csv",
    ):
        answer = client.get(_url(installation, rest))
        assert answer.status_code == 404, rest


def test_while_a_backfill_prepares_the_figures_are_null_and_say_so(
    client: FlaskClient, desk: Desk, customer: Contact, support: Department, agent: Agent
) -> None:
    desk.ticket(customer, support.id, 0)
    installation = desk.install([support.id], backfilled=False)
    sign_in(client, agent)

    answer = client.get(_url(installation, f"/contacts/{customer.id}/figures")).json

    assert answer["preparing"] is True
    assert answer["tickets"] is None and answer["seconds"] is None and answer["ratings"] is None


def test_the_figures_schema_is_in_the_openapi_document(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json

    assert "customer_insights.Figures" in document["components"]["schemas"]
    assert any(
        "/ext/customer_insights/" in path and path.endswith("/figures")
        for path in document["paths"]
    )


# ------------------------------------------------------------------------------ export


def _csv(answer: TestResponse) -> list[dict[str, str]]:
    text = answer.get_data(as_text=True)
    answer.close()  # ends the streamed request (and its database session), as a server does
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


def test_a_contacts_export_has_one_exact_row_per_ticket_newest_first(
    client: FlaskClient,
    db: Session,
    installed_history: tuple[int, list[int]],
    customer: Contact,
    support: Department,
    agent: Agent,
) -> None:
    installation, (first, _second, third) = installed_history
    sign_in(client, agent)

    answer = client.get(export_url(installation, "contact", customer.id))

    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = _csv(answer)
    assert list(rows[0]) == list(export.COLUMNS)
    assert [row["Channel"] for row in rows] == ["email", "chat", "email"]
    assert rows[0]["Ticket number"] == str(db.get(Ticket, third).number)
    oldest = rows[-1]
    assert oldest["Ticket number"] == str(db.get(Ticket, first).number)
    assert oldest == oldest | {
        "Contact": "Hanako Yamada",
        "Account": "Acme",
        "Department": support.name,
        "Created": T0.isoformat(),
        "First response (seconds)": "1800.0",
        "Replies counted": "2",
        "Average response (seconds)": "2100.0",
        "Resolution (seconds)": "7200.0",
        "Time closed (seconds)": "0.0",
        "Latest rating": "good",
    }
    assert (rows[0]["First response (seconds)"], rows[0]["Replies counted"]) == ("", "0")
    assert (rows[0]["Average response (seconds)"], rows[0]["Resolution (seconds)"]) == ("", "")


def test_the_export_header_and_department_read_in_the_agents_language(
    client: FlaskClient,
    desk: Desk,
    make_agent: Callable[..., Agent],
    customer: Contact,
    support: Department,
) -> None:
    installation = desk.install([support.id])
    desk.ticket(customer, support.id, 0)
    reader = make_agent("ja@example.com", departments=[support], locale="ja")
    sign_in(client, reader)

    rows = _csv(client.get(export_url(installation, "contact", customer.id)))

    header = list(rows[0])
    assert header[:6] == ["問い合わせ番号", "連絡先", "取引先", "部門", "チャネル", "作成日時"]
    assert header[-1] == "最新の評価"
    assert rows[0]["部門"] == "Support"


def test_the_export_operations_are_documented_as_csv_files(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]

    exports = {
        path: operation["get"]["responses"]["200"]["content"]
        for path, operation in paths.items()
        if "/ext/customer_insights/" in path and path.endswith("export.csv")
    }
    assert len(exports) == 3
    assert all(list(content) == ["text/csv"] for content in exports.values())


def test_the_export_is_the_same_while_a_backfill_prepares(
    client: FlaskClient,
    desk: Desk,
    customer: Contact,
    acme: Account,
    support: Department,
    sales: Department,
    agent: Agent,
) -> None:
    _history(desk, customer, acme, support, sales, agent)
    installation = desk.install([support.id, sales.id], backfilled=False)
    sign_in(client, agent)
    computed = _csv(client.get(export_url(installation, "account", acme.id)))

    desk.run_backfills(installation)
    kept = _csv(client.get(export_url(installation, "account", acme.id)))

    assert len(kept) == 3
    assert computed == kept


def test_a_contact_named_like_a_formula_is_exported_as_text(
    client: FlaskClient,
    desk: Desk,
    make_contact: Callable[..., Contact],
    support: Department,
    agent: Agent,
) -> None:
    installation = desk.install([support.id])
    hostile = make_contact('=HYPERLINK("http://evil.test")', first_name="")
    desk.ticket(hostile, support.id, 0)
    sign_in(client, agent)

    rows = _csv(client.get(export_url(installation, "contact", hostile.id)))

    assert rows[0]["Contact"].startswith("'=HYPERLINK(")


@pytest.mark.parametrize("backfilled", [True, False], ids=["kept", "preparing"])
def test_a_date_range_export_takes_whole_days_of_the_organisations_time_zone(
    client: FlaskClient,
    db: Session,
    desk: Desk,
    customer: Contact,
    support: Department,
    agent: Agent,
    backfilled: bool,
) -> None:
    organisation = db.scalars(select(Organisation)).one()
    organisation.timezone = "Asia/Tokyo"  # T0 is 2026-01-05 18:00 in Tokyo
    db.commit()
    installation = desk.install([support.id], backfilled=backfilled)
    before = desk.ticket(customer, support.id, 5 * 60 - 1)  # 01-05 23:59 Tokyo
    first = desk.ticket(customer, support.id, 6 * 60)  # 01-06 00:00 Tokyo
    last = desk.ticket(customer, support.id, 6 * 60 + 24 * 60 - 1)  # 01-06 23:59 Tokyo
    after = desk.ticket(customer, support.id, 6 * 60 + 24 * 60)  # 01-07 00:00 Tokyo
    sign_in(client, agent)

    answer = client.get(_url(installation, "/tickets/export.csv?from=2026-01-06&to=2026-01-06"))

    assert answer.status_code == 200
    rows = _csv(answer)
    assert [row["Created"] for row in rows] == [
        "2026-01-06T23:59:00+09:00",
        "2026-01-06T00:00:00+09:00",
    ]
    numbers = {
        ticket: str(db.get(Ticket, ticket).number) for ticket in (before, first, last, after)
    }
    assert [row["Ticket number"] for row in rows] == [numbers[last], numbers[first]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-01-06&to=2026-01-05", "to"),
        ("from=2024-12-01&to=2026-01-01", "to"),
        ("from=soon&to=2026-01-05", "from"),
    ],
)
def test_a_bad_date_range_is_422_naming_the_field(
    client: FlaskClient, desk: Desk, support: Department, agent: Agent, query: str, field: str
) -> None:
    installation = desk.install([support.id])
    sign_in(client, agent)

    answer = client.get(_url(installation, f"/tickets/export.csv?{query}"))

    assert answer.status_code == 422
    assert list(answer.json["errors"]["query"]) == [field]


def test_a_date_range_export_is_the_last_30_days_by_default(
    client: FlaskClient,
    db: Session,
    desk: Desk,
    customer: Contact,
    support: Department,
    agent: Agent,
) -> None:
    installation = desk.install([support.id])
    old = desk.ticket(customer, support.id, 0)
    recent = desk.ticket(customer, support.id, 0)
    db.get(Ticket, recent).created_at = clock.now() - timedelta(days=29)
    db.commit()
    desk.rebuild(installation)
    sign_in(client, agent)

    rows = _csv(client.get(_url(installation, "/tickets/export.csv")))

    assert [row["Ticket number"] for row in rows] == [str(db.get(Ticket, recent).number)]
    assert old != recent
