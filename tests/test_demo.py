"""The demo dataset: deterministic, realistic, and loadable through the history import."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from core.cli import main
from core.demo import (
    ACTIVITY_EVERY,
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    AGENT_LOGIN,
    AGENT_LOGINS,
    DEMO_KNOWLEDGE_BASE,
    DEMO_PRODUCTS,
    FILE_EVERY,
    LIGHT_AGENT_LOGIN,
    MANAGER_LOGIN,
    PRODUCT_EVERY,
    DemoLogin,
    generate,
    load_demo,
)
from core.host import Host
from core.models import (
    Account,
    AccountContract,
    Activity,
    Agent,
    Attachment,
    Contact,
    Department,
    KbArticle,
    KbCategory,
    Organisation,
    Product,
    StatusChange,
    Thread,
    Ticket,
    account_products,
    contact_products,
)
from core.permissions import DEFAULT_PROFILES
from core.services import contracts
from core.services.base import Actor, Unit
from core.services.org import authenticate
from hostapi import clock

NOW = datetime(2026, 1, 15, tzinfo=UTC)


def test_same_seed_gives_the_same_bytes() -> None:
    assert b"".join(generate(300, seed=3, now=NOW)) == b"".join(generate(300, seed=3, now=NOW))


def test_another_seed_gives_another_dataset() -> None:
    assert b"".join(generate(300, seed=3, now=NOW)) != b"".join(generate(300, seed=4, now=NOW))


def test_customers_scale_with_tickets() -> None:
    kinds = [msgspec.json.decode(line)["type"] for line in generate(2_000, now=NOW)]
    assert (kinds.count("ticket"), kinds.count("contact"), kinds.count("account")) == (
        2_000,
        200,
        30,
    )


def test_customer_counts_can_be_chosen() -> None:
    kinds = [
        msgspec.json.decode(line)["type"]
        for line in generate(100, now=NOW, contacts=120, accounts=110)
    ]
    assert (kinds.count("contact"), kinds.count("account")) == (120, 110)


def test_threads_average_about_five_per_ticket() -> None:
    tickets = [
        r for r in map(msgspec.json.decode, generate(1_000, now=NOW)) if r["type"] == "ticket"
    ]
    average = sum(len(t["threads"]) for t in tickets) / len(tickets)
    assert 4.0 <= average <= 6.0


def test_demo_loads_with_admin_and_history(host: Host, db: Session) -> None:
    report = load_demo(host, tickets=200, seed=7)
    assert report.skipped == []
    assert report.counts["ticket"] == 200
    assert db.scalar(select(func.count()).select_from(Ticket)) == 200
    admin = db.scalars(select(Agent).where(Agent.email == ADMIN_EMAIL)).one()
    assert admin.is_admin
    assert len(admin.departments) == 4


def _agent(db: Session, email: str) -> Agent:
    return db.scalars(select(Agent).where(Agent.email == email)).one()


@pytest.mark.parametrize(
    ("email", "password"),
    [(ADMIN_EMAIL, ADMIN_PASSWORD)] + [(login.email, login.password) for login in AGENT_LOGINS],
)
def test_every_demo_login_signs_in(host: Host, db: Session, email: str, password: str) -> None:
    load_demo(host, tickets=50)
    assert authenticate(db, email, password) is not None


def test_demo_agent_belongs_to_one_department_with_the_agent_profile(
    host: Host, db: Session
) -> None:
    load_demo(host, tickets=50)
    agent = _agent(db, AGENT_LOGIN.email)
    assert (agent.profile.name, [d.name for d in agent.departments]) == ("Agent", ["Support"])


def test_demo_light_agent_has_the_most_limited_built_in_profile(host: Host, db: Session) -> None:
    load_demo(host, tickets=50)
    fewest = min(DEFAULT_PROFILES, key=lambda name: len(DEFAULT_PROFILES[name]))
    agent = _agent(db, LIGHT_AGENT_LOGIN.email)
    assert agent.profile.name == fewest == "Light Agent"
    assert len(agent.departments) == 1


def test_demo_manager_has_the_manager_profile(host: Host, db: Session) -> None:
    load_demo(host, tickets=50)
    agent = _agent(db, MANAGER_LOGIN.email)
    assert agent.profile.name == "Support Manager"
    assert not agent.is_admin


def test_demo_agents_get_tickets_of_their_department(host: Host, db: Session) -> None:
    load_demo(host, tickets=200)
    agent = _agent(db, AGENT_LOGIN.email)
    assigned = db.scalars(select(Ticket).where(Ticket.assignee_id == agent.id)).all()
    assert assigned
    assert {t.department_id for t in assigned} == agent.department_ids


def _login_lines(logins: tuple[DemoLogin, ...]) -> list[str]:
    return [f"{login.label}: {login.email} / {login.password}" for login in logins]


def test_demo_command_prints_every_login(runner: FlaskCliRunner) -> None:
    result = runner.invoke(main, ["demo", "--tickets", "20"])
    assert result.exit_code == 0, result.output
    assert f"Admin login: {ADMIN_EMAIL} / {ADMIN_PASSWORD}" in result.output
    for line in _login_lines(AGENT_LOGINS):
        assert line in result.output


def test_demo_command_prints_every_login_when_already_loaded(runner: FlaskCliRunner) -> None:
    runner.invoke(main, ["demo", "--tickets", "20"])
    result = runner.invoke(main, ["demo", "--if-empty", "--admin-password", "chosen-password"])
    assert result.exit_code == 0, result.output
    assert "already loaded" in result.output
    assert f"Admin login: {ADMIN_EMAIL} / chosen-password" in result.output
    for line in _login_lines(AGENT_LOGINS):
        assert line in result.output


# ------------------------------------------------------------- a demo a newcomer believes


def _records(tickets: int = 2_000) -> list[dict]:
    return [msgspec.json.decode(line) for line in generate(tickets, now=NOW)]


def _times(record: dict) -> list[str]:
    nested = [
        *(t["created_at"] for t in record.get("threads", [])),
        *(h["changed_at"] for h in record.get("status_history", [])),
        *(r["created_at"] for r in record.get("ratings", [])),
        *(e["logged_at"] for e in record.get("time_entries", [])),
    ]
    return [t for t in (record.get("created_at"), *nested) if t]


def test_nothing_in_the_dataset_is_dated_after_its_clock() -> None:
    latest = max(datetime.fromisoformat(t) for record in _records() for t in _times(record))
    assert latest <= NOW


def test_newest_page_shows_a_mix_with_a_few_escalated() -> None:
    tickets = [r for r in _records() if r["type"] == "ticket"]
    newest = sorted(tickets, key=lambda t: t["created_at"], reverse=True)[:50]
    statuses = [t["status_history"][-1]["to_status"] for t in newest]
    assert statuses.count("Escalated") <= 10
    assert statuses.count("Open") >= 15
    assert statuses.count("On Hold") >= 1
    assert statuses.count("Closed") + statuses.count("Resolved") >= 5


def test_most_tickets_of_the_year_are_closed() -> None:
    tickets = [r for r in _records() if r["type"] == "ticket"]
    closed = [t for t in tickets if t["status_history"][-1]["to_status"] in ("Closed", "Resolved")]
    assert len(closed) / len(tickets) > 0.8


def test_only_closed_tickets_carry_ratings() -> None:
    for ticket in (r for r in _records() if r["type"] == "ticket" and r["ratings"]):
        assert ticket["status_history"][-1]["to_status"] in ("Closed", "Resolved")


def test_demo_organisation_is_a_japanese_desk_in_tokyo(host: Host, db: Session) -> None:
    load_demo(host, tickets=50)
    organisation = db.scalars(select(Organisation)).one()
    assert (organisation.timezone, organisation.default_locale) == ("Asia/Tokyo", "ja")


def test_loaded_demo_has_nothing_after_the_clock(host: Host, db: Session) -> None:
    load_demo(host, tickets=200)
    now = clock.now()
    for column in (Ticket.created_at, Thread.created_at, StatusChange.changed_at):
        latest = db.scalar(select(func.max(column)))
        assert latest is not None and latest.replace(tzinfo=UTC) <= now


def test_every_department_has_several_non_admin_agents(host: Host, db: Session) -> None:
    load_demo(host, tickets=50)
    agents = db.scalars(select(Agent)).all()
    for department in db.scalars(select(Department)):
        working = [a for a in agents if department.id in a.department_ids and not a.is_admin]
        assert len(working) >= 2, department.name


def test_demo_customers_have_products_activities_and_files(host: Host, db: Session) -> None:
    load_demo(host, tickets=200, seed=7)
    contacts = db.scalar(select(func.count()).select_from(Contact))
    accounts = db.scalar(select(func.count()).select_from(Account))
    linked = db.scalar(select(func.count(distinct(contact_products.c.contact_id))))
    assert db.scalar(select(func.count()).select_from(Product)) == len(DEMO_PRODUCTS)
    assert linked == -(-contacts // PRODUCT_EVERY)
    assert db.scalar(select(func.count(distinct(account_products.c.account_id)))) == accounts
    with_activities = db.scalar(select(func.count(distinct(Activity.contact_id))))
    assert with_activities == -(-contacts // ACTIVITY_EVERY)
    assert (
        db.scalar(select(func.count()).select_from(Activity).where(Activity.completed_at.is_(None)))
        > 0
    )
    assert db.scalar(select(func.count()).select_from(Activity).where(Activity.is_spam)) > 0
    files = db.scalar(
        select(func.count()).select_from(Attachment).where(Attachment.contact_id.is_not(None))
    )
    assert files == -(-contacts // FILE_EVERY)


def test_demo_departments_have_a_knowledge_base(host: Host, db: Session) -> None:
    load_demo(host, tickets=50)
    by_department = dict(
        db.execute(
            select(Department.name, func.count(KbArticle.id))
            .join(KbCategory, KbCategory.department_id == Department.id)
            .join(KbArticle, KbArticle.category_id == KbCategory.id)
            .group_by(Department.name)
        ).all()
    )
    assert set(by_department) == set(DEMO_KNOWLEDGE_BASE)
    assert db.scalar(select(func.count()).where(KbArticle.status == "draft")) > 0


def test_demo_accounts_have_a_premium_contract_with_its_sla(host: Host, db: Session) -> None:
    load_demo(host, tickets=50)
    premium = db.scalars(
        select(AccountContract).where(AccountContract.name == "Premium support")
    ).one()
    terms = contracts.service_terms(
        Unit(db, Actor.system("test"), None),
        premium.account_id,
        department_id=premium.department_id,
    )
    assert (terms.contract_name, terms.sla_name) == ("Premium support", "Premium")
