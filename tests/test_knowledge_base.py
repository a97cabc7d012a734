"""The knowledge base: categories per department and their articles, in the service and REST;
department-scoped like tickets, read with ``kb.view``, changed with ``kb.manage``, audited."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from alembic import command
from alembic.config import Config
from flask.testing import FlaskClient
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from core.db import make_engine, throwaway_postgres_database
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.migrate import CORE_MIGRATIONS, CORE_VERSION_TABLE, upgrade_core
from core.models import Agent, AuditEntry, Department, KbArticle, KbCategory
from core.services import knowledge_base as kb
from core.services.base import Unit
from hostapi import scopes

pytest_plugins = ["tests.api_fixtures"]

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    """A second department."""
    return make_department("Sales")


@pytest.fixture
def reader(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An agent of Support who may read the knowledge base but not change it ("Agent")."""
    return make_agent("reader@example.com", name="Reader", departments=[department])


@pytest.fixture
def sales_manager(make_agent: Callable[..., Agent], sales: Department) -> Agent:
    """A Support Manager (``kb.manage``) of Sales only."""
    return make_agent("sales-manager@example.com", profile="Support Manager", departments=[sales])


@pytest.fixture
def faq(db: Session, unit_for: UnitFor, department: Department) -> KbCategory:
    """Support's "FAQ" category."""
    category = kb.create_category(unit_for(None), department_id=department.id, name="FAQ")
    db.commit()
    return category


@pytest.fixture
def make_article(db: Session, unit_for: UnitFor, faq: KbCategory) -> Callable[..., KbArticle]:
    """``make_article(title, category=faq, **fields)``: an article written by the system."""

    def make(
        title: str = "Reset your password", category: KbCategory = faq, **fields: str
    ) -> KbArticle:
        article = kb.create_article(unit_for(None), category_id=category.id, title=title, **fields)
        db.commit()
        return article

    return make


def _audited(db: Session, entity_type: str, action: str) -> list[AuditEntry]:
    return list(
        db.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_type == entity_type, AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
    )


# --------------------------------------------------------------------------------- categories


def test_create_category_is_audited(
    db: Session, unit_for: UnitFor, support_manager: Agent, department: Department
) -> None:
    category = kb.create_category(
        unit_for(support_manager), department_id=department.id, name=" Billing FAQ "
    )
    db.commit()
    assert category.name == "Billing FAQ"
    entry = _audited(db, "kb_category", "add")[0]
    assert entry.actor_agent_id == support_manager.id
    assert entry.after == {"department_id": department.id, "name": "Billing FAQ", "description": ""}


def test_create_category_names_every_bad_field(unit_for: UnitFor, support_manager: Agent) -> None:
    with pytest.raises(ValidationFailed) as failure:
        kb.create_category(
            unit_for(support_manager), department_id=999_999, name=" ", description="x" * 1001
        )
    assert set(failure.value.errors) == {"department_id", "name", "description"}


def test_category_names_are_unique_within_a_department_only(
    unit_for: UnitFor, faq: KbCategory, department: Department, sales: Department
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        kb.create_category(unit_for(None), department_id=department.id, name="FAQ")
    assert failure.value.errors == {"name": [kb.NAME_TAKEN]}
    assert kb.create_category(unit_for(None), department_id=sales.id, name="FAQ").id != faq.id


def test_a_category_cannot_be_made_in_a_department_the_agent_is_not_in(
    unit_for: UnitFor, support_manager: Agent, sales: Department
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        kb.create_category(unit_for(support_manager), department_id=sales.id, name="FAQ")
    assert failure.value.errors == {"department_id": [kb.UNKNOWN_DEPARTMENT]}


def test_an_agent_without_kb_manage_cannot_create_a_category(
    unit_for: UnitFor, reader: Agent, department: Department
) -> None:
    with pytest.raises(Forbidden) as refusal:
        kb.create_category(unit_for(reader), department_id=department.id, name="FAQ")
    assert refusal.value.permission == "kb.manage"


def test_an_agent_of_another_department_does_not_find_the_category(
    unit_for: UnitFor, sales_manager: Agent, faq: KbCategory
) -> None:
    with pytest.raises(NotFound):
        kb.get_category(unit_for(sales_manager), faq.id)


def test_renaming_a_category_is_audited_with_before_and_after(
    db: Session, unit_for: UnitFor, support_manager: Agent, faq: KbCategory
) -> None:
    kb.update_category(unit_for(support_manager), faq, name="Questions")
    db.commit()
    entry = _audited(db, "kb_category", "update")[0]
    assert (entry.before, entry.after) == ({"name": "FAQ"}, {"name": "Questions"})


def test_moving_a_category_marks_its_articles_changed(
    db: Session,
    unit_for: UnitFor,
    admin_agent: Agent,
    faq: KbCategory,
    sales: Department,
    make_article: Callable[..., KbArticle],
    deskhost_clock: ModuleType,
) -> None:
    article = make_article()
    admin_agent.departments.append(sales)
    db.commit()
    moved_at = deskhost_clock.advance(timedelta(hours=1))
    kb.update_category(unit_for(admin_agent), faq, department_id=sales.id)
    db.commit()
    db.refresh(article)
    assert (article.department_id, article.updated_at) == (sales.id, moved_at)


def test_deleting_a_category_that_holds_articles_is_refused(
    unit_for: UnitFor,
    support_manager: Agent,
    faq: KbCategory,
    make_article: Callable[..., KbArticle],
) -> None:
    make_article()
    with pytest.raises(Conflict):
        kb.delete_category(unit_for(support_manager), faq)


def test_deleting_a_category_with_cascade_deletes_and_audits_its_articles(
    db: Session,
    unit_for: UnitFor,
    support_manager: Agent,
    faq: KbCategory,
    make_article: Callable[..., KbArticle],
) -> None:
    first, second = make_article("One"), make_article("Two")
    kb.delete_category(unit_for(support_manager), faq, cascade=True)
    db.commit()
    assert db.scalars(select(KbArticle)).all() == []
    assert db.get(KbCategory, faq.id) is None
    deleted = _audited(db, "kb_article", "delete")
    assert [(e.entity_id, e.before["title"]) for e in deleted] == [
        (str(first.id), "One"),
        (str(second.id), "Two"),
    ]
    assert _audited(db, "kb_category", "delete")[0].before["name"] == "FAQ"


# ----------------------------------------------------------------------------------- articles


def test_create_article_records_its_author_and_is_audited(
    db: Session, unit_for: UnitFor, support_manager: Agent, faq: KbCategory
) -> None:
    article = kb.create_article(
        unit_for(support_manager), category_id=faq.id, title="Reset", body="# Steps\n1. …"
    )
    db.commit()
    assert (article.author_agent_id, article.status, article.visibility) == (
        support_manager.id,
        "draft",
        "all",
    )
    entry = _audited(db, "kb_article", "add")[0]
    assert entry.after["body"] == "# Steps\n1. …"


def test_create_article_names_every_bad_field(unit_for: UnitFor, support_manager: Agent) -> None:
    with pytest.raises(ValidationFailed) as failure:
        kb.create_article(
            unit_for(support_manager),
            category_id=999_999,
            title="",
            visibility="everyone",
            status="archived",
        )
    assert set(failure.value.errors) == {"category_id", "title", "visibility", "status"}


def test_an_article_cannot_be_written_in_another_departments_category(
    unit_for: UnitFor, sales_manager: Agent, faq: KbCategory
) -> None:
    with pytest.raises(ValidationFailed) as failure:
        kb.create_article(unit_for(sales_manager), category_id=faq.id, title="Nope")
    assert failure.value.errors == {"category_id": [kb.UNKNOWN_CATEGORY]}


def test_publishing_an_article_is_audited_as_publish(
    db: Session,
    unit_for: UnitFor,
    support_manager: Agent,
    make_article: Callable[..., KbArticle],
) -> None:
    article = make_article()
    kb.update_article(unit_for(support_manager), article, status="published")
    db.commit()
    entry = _audited(db, "kb_article", "update")[0]
    assert (entry.sub_action, entry.before, entry.after) == (
        "publish",
        {"status": "draft"},
        {"status": "published"},
    )


def test_moving_an_article_to_another_departments_category_moves_it_there(
    db: Session,
    unit_for: UnitFor,
    admin_agent: Agent,
    sales: Department,
    make_article: Callable[..., KbArticle],
) -> None:
    admin_agent.departments.append(sales)
    db.commit()
    pricing = kb.create_category(unit_for(None), department_id=sales.id, name="Pricing")
    article = kb.update_article(unit_for(admin_agent), make_article(), category_id=pricing.id)
    db.commit()
    assert article.department_id == sales.id


def test_an_unchanged_update_keeps_the_article_as_it_was(
    db: Session,
    unit_for: UnitFor,
    support_manager: Agent,
    make_article: Callable[..., KbArticle],
) -> None:
    article = make_article()
    updated_at = article.updated_at
    kb.update_article(unit_for(support_manager), article, title="Reset your password")
    db.commit()
    assert article.updated_at == updated_at
    assert _audited(db, "kb_article", "update") == []


def test_an_agent_without_kb_manage_cannot_change_an_article(
    unit_for: UnitFor, reader: Agent, make_article: Callable[..., KbArticle]
) -> None:
    article = make_article()
    assert kb.get_article(unit_for(reader), article.id) is article
    with pytest.raises(Forbidden):
        kb.update_article(unit_for(reader), article, title="Mine now")


def test_an_agent_of_another_department_does_not_find_the_article(
    unit_for: UnitFor, sales_manager: Agent, make_article: Callable[..., KbArticle]
) -> None:
    with pytest.raises(NotFound):
        kb.get_article(unit_for(sales_manager), make_article().id)


def test_articles_list_only_the_agents_departments(
    db: Session,
    unit_for: UnitFor,
    reader: Agent,
    sales: Department,
    make_article: Callable[..., KbArticle],
) -> None:
    ours = make_article("Ours")
    pricing = kb.create_category(unit_for(None), department_id=sales.id, name="Pricing")
    make_article("Theirs", category=pricing)
    assert kb.list_articles(unit_for(reader)) == [ours]


def test_articles_list_narrows_to_a_status_and_a_visibility(
    unit_for: UnitFor, reader: Agent, make_article: Callable[..., KbArticle]
) -> None:
    make_article("Draft")
    public = make_article("Public", status="published")
    make_article("Members", status="published", visibility="registered")
    listed = kb.list_articles(unit_for(reader), status="published", visibility="all")
    assert listed == [public]


def test_articles_list_narrows_to_categories(
    unit_for: UnitFor,
    reader: Agent,
    department: Department,
    make_article: Callable[..., KbArticle],
) -> None:
    guides = kb.create_category(unit_for(None), department_id=department.id, name="Guides")
    make_article("In the FAQ")
    guide = make_article("A guide", category=guides)
    assert kb.list_articles(unit_for(reader), category_ids=[guides.id]) == [guide]
    assert kb.list_articles(unit_for(reader), category_ids=[]) == []


def test_articles_list_narrows_to_a_department(
    unit_for: UnitFor,
    admin_agent: Agent,
    db: Session,
    sales: Department,
    make_article: Callable[..., KbArticle],
) -> None:
    admin_agent.departments.append(sales)
    db.commit()
    pricing = kb.create_category(unit_for(None), department_id=sales.id, name="Pricing")
    make_article("Support's")
    theirs = make_article("Sales'", category=pricing)
    assert kb.list_articles(unit_for(admin_agent), department_id=sales.id) == [theirs]


def test_articles_list_keeps_those_changed_since_a_time(
    unit_for: UnitFor,
    reader: Agent,
    make_article: Callable[..., KbArticle],
    deskhost_clock: ModuleType,
) -> None:
    make_article("Old")
    since = deskhost_clock.advance(timedelta(days=1))
    recent = make_article("Recent")
    assert kb.list_articles(unit_for(reader), updated_since=since) == [recent]


def test_articles_list_names_every_bad_filter(unit_for: UnitFor, reader: Agent) -> None:
    with pytest.raises(ValidationFailed) as failure:
        kb.list_articles(unit_for(reader), updated_since=datetime(2026, 3, 1), status="old")
    assert set(failure.value.errors) == {"updated_since", "status"}


def test_articles_page_by_last_change_through_more_than_one_page(
    db: Session,
    unit_for: UnitFor,
    reader: Agent,
    make_article: Callable[..., KbArticle],
    deskhost_clock: ModuleType,
) -> None:
    made = []
    for number in range(7):
        deskhost_clock.advance(timedelta(minutes=1))
        made.append(make_article(f"Article {number}"))
    deskhost_clock.advance(timedelta(minutes=1))
    kb.update_article(unit_for(None), made[0], body="Edited last")
    db.commit()
    pages, before = [], None
    while True:
        rows = kb.list_articles(unit_for(reader), limit=3, before=before)
        pages.append([a.title for a in rows])
        if len(rows) < 3:
            break
        before = kb.article_cursor(rows[-1])
    assert pages == [
        ["Article 0", "Article 6", "Article 5"],
        ["Article 4", "Article 3", "Article 2"],
        ["Article 1"],
    ]


# ------------------------------------------------------------------------------------- REST


def test_rest_creates_reads_and_publishes_an_article(
    client: FlaskClient, sign_in_as, support_manager: Agent, faq: KbCategory
) -> None:
    headers = sign_in_as(support_manager)
    made = client.post(
        "/api/v1/kb/articles",
        json={"category_id": faq.id, "title": "Reset your password", "body": "Click *Forgot*."},
        headers=headers,
    )
    assert made.status_code == 201, made.json
    article_id = made.json["id"]
    read = client.get(f"/api/v1/kb/articles/{article_id}").json
    assert (read["department_id"], read["status"], read["author_agent_id"]) == (
        faq.department_id,
        "draft",
        support_manager.id,
    )
    published = client.patch(
        f"/api/v1/kb/articles/{article_id}", json={"status": "published"}, headers=headers
    )
    assert published.status_code == 200 and published.json["status"] == "published"


def test_rest_deletes_an_article(
    client: FlaskClient, sign_in_as, support_manager: Agent, make_article
) -> None:
    article_id = make_article().id
    headers = sign_in_as(support_manager)
    assert client.delete(f"/api/v1/kb/articles/{article_id}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/kb/articles/{article_id}").status_code == 404


def test_rest_create_article_names_the_bad_field(
    client: FlaskClient, sign_in_as, support_manager: Agent, faq: KbCategory
) -> None:
    headers = sign_in_as(support_manager)
    answer = client.post(
        "/api/v1/kb/articles",
        json={"category_id": faq.id, "title": "T", "status": "archived"},
        headers=headers,
    )
    assert answer.status_code == 422
    assert list(answer.json["errors"]["json"]) == ["status"]


def test_rest_article_in_an_unknown_category_is_422_on_category_id(
    client: FlaskClient, sign_in_as, sales_manager: Agent, faq: KbCategory
) -> None:
    headers = sign_in_as(sales_manager)
    answer = client.post(
        "/api/v1/kb/articles", json={"category_id": faq.id, "title": "T"}, headers=headers
    )
    assert answer.status_code == 422
    assert answer.json["errors"]["json"] == {"category_id": [kb.UNKNOWN_CATEGORY]}


def test_rest_article_of_another_department_is_404(
    client: FlaskClient, sign_in_as, sales_manager: Agent, make_article
) -> None:
    article_id = make_article().id
    headers = sign_in_as(sales_manager)
    path = f"/api/v1/kb/articles/{article_id}"
    assert client.get(path).status_code == 404
    assert client.patch(path, json={"title": "Mine"}, headers=headers).status_code == 404
    assert client.delete(path, headers=headers).status_code == 404


def test_rest_category_of_another_department_is_404(
    client: FlaskClient, sign_in_as, sales_manager: Agent, faq: KbCategory
) -> None:
    headers = sign_in_as(sales_manager)
    path = f"/api/v1/kb/categories/{faq.id}"
    assert client.get(path).status_code == 404
    assert client.patch(path, json={"name": "Mine"}, headers=headers).status_code == 404
    assert client.delete(path, headers=headers).status_code == 404


def test_rest_agent_without_kb_manage_gets_403_on_an_article_they_see(
    client: FlaskClient, sign_in_as, reader: Agent, make_article
) -> None:
    article_id = make_article().id
    headers = sign_in_as(reader)
    assert client.get(f"/api/v1/kb/articles/{article_id}").status_code == 200
    answer = client.patch(f"/api/v1/kb/articles/{article_id}", json={"title": "X"}, headers=headers)
    assert answer.status_code == 403
    assert answer.json["permission"] == "kb.manage"


def test_rest_deleting_a_category_with_articles_is_409_unless_cascade(
    client: FlaskClient, sign_in_as, support_manager: Agent, faq: KbCategory, make_article
) -> None:
    article_id = make_article().id
    headers = sign_in_as(support_manager)
    path = f"/api/v1/kb/categories/{faq.id}"
    assert client.delete(path, headers=headers).status_code == 409
    assert client.get(f"/api/v1/kb/articles/{article_id}").status_code == 200
    assert client.delete(f"{path}?cascade=true", headers=headers).status_code == 204
    assert client.get(f"/api/v1/kb/articles/{article_id}").status_code == 404


def test_rest_category_names_are_unique_within_a_department(
    client: FlaskClient, sign_in_as, support_manager: Agent, department: Department, faq
) -> None:
    headers = sign_in_as(support_manager)
    answer = client.post(
        "/api/v1/kb/categories",
        json={"department_id": department.id, "name": "FAQ"},
        headers=headers,
    )
    assert answer.status_code == 422
    assert answer.json["errors"]["json"] == {"name": [kb.NAME_TAKEN]}


def test_rest_pages_categories_through_more_than_one_page(
    db: Session, unit_for: UnitFor, client: FlaskClient, sign_in_as, reader: Agent, department
) -> None:
    for number in range(5):
        kb.create_category(unit_for(None), department_id=department.id, name=f"C{number}")
    db.commit()
    sign_in_as(reader)
    first = client.get("/api/v1/kb/categories?limit=3").json
    second = client.get(f"/api/v1/kb/categories?limit=3&cursor={first['next_cursor']}").json
    assert [c["name"] for c in first["items"] + second["items"]] == ["C4", "C3", "C2", "C1", "C0"]
    assert second["next_cursor"] is None


def test_rest_pages_articles_through_more_than_one_page_with_filters(
    client: FlaskClient, sign_in_as, reader: Agent, faq: KbCategory, make_article
) -> None:
    for number in range(5):
        make_article(f"Published {number}", status="published")
    make_article("Draft")
    sign_in_as(reader)
    query = f"/api/v1/kb/articles?limit=2&status=published&category_ids={faq.id}"
    titles, cursor = [], ""
    for _page in range(3):
        answer = client.get(f"{query}&cursor={cursor}").json
        titles += [a["title"] for a in answer["items"]]
        cursor = answer["next_cursor"]
    assert titles == [f"Published {n}" for n in (4, 3, 2, 1, 0)]
    assert cursor is None


def test_rest_list_names_a_bad_filter(client: FlaskClient, sign_in_as, reader: Agent) -> None:
    sign_in_as(reader)
    answer = client.get("/api/v1/kb/articles?visibility=friends")
    assert answer.status_code == 422
    assert list(answer.json["errors"]["query"]) == ["visibility"]


def test_rest_changes_need_the_kb_write_scope(
    client: FlaskClient, bearer_for, support_manager: Agent, faq: KbCategory
) -> None:
    reading = bearer_for(support_manager, [scopes.KB_READ])
    assert client.get(f"/api/v1/kb/categories/{faq.id}", headers=reading).status_code == 200
    answer = client.post(
        "/api/v1/kb/articles", json={"category_id": faq.id, "title": "T"}, headers=reading
    )
    assert answer.status_code == 403
    assert answer.json["scope"] == scopes.KB_WRITE


# --------------------------------------------------------------------------------- migration


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty database on this run's backend, disposed of afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        with throwaway_postgres_database(url, prefix="deskhost_kb") as database:
            engine = make_engine(database)
            yield engine
            engine.dispose()
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.db'}")
    yield engine
    engine.dispose()


def _downgrade_core(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("path_separator", "os")
    config.set_main_option("script_location", str(CORE_MIGRATIONS))
    config.set_main_option("version_locations", str(CORE_MIGRATIONS / "versions"))
    with engine.connect() as connection, connection.begin():
        config.attributes.update(connection=connection, version_table=CORE_VERSION_TABLE)
        command.downgrade(config, revision)


NEW_TABLES = {"kb_category", "kb_article", "account_contract"}


def test_migration_0014_creates_the_tables_and_its_downgrade_drops_them(
    empty_engine: Engine,
) -> None:
    upgrade_core(empty_engine, "0013_core")
    assert NEW_TABLES.isdisjoint(inspect(empty_engine).get_table_names())
    upgrade_core(empty_engine, "0014_core")
    assert set(inspect(empty_engine).get_table_names()) >= NEW_TABLES
    _downgrade_core(empty_engine, "0013_core")
    assert NEW_TABLES.isdisjoint(inspect(empty_engine).get_table_names())
