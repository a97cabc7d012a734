"""The knowledge-base pages: the list with its filters and pages, an article, and the forms that
create, edit and delete categories and articles, through the service (department-scoped,
``kb.view`` to read, ``kb.manage`` to change), in English and in Japanese."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Agent, AuditEntry, Department, KbArticle, KbCategory
from core.services import knowledge_base as kb
from core.services import org as org_service
from core.services.base import Unit
from core.web.i18n import compile_catalogs
from core.web.ui.paging import PAGE_SIZE
from tests.page_helpers import see_committed

pytest_plugins = ["tests.api_fixtures"]

UnitFor = Callable[[Agent | None], Unit]


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs() -> None:
    compile_catalogs()


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    """A second department."""
    return make_department("Sales")


@pytest.fixture
def reader(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An agent of Support who may read the knowledge base but not change it ("Agent")."""
    return make_agent("reader@example.com", name="Reader", departments=[department])


@pytest.fixture
def editor(make_agent: Callable[..., Agent], department: Department, sales: Department) -> Agent:
    """An administrator of Support and Sales."""
    return make_agent(
        "editor@example.com",
        name="Editor",
        profile="Administrator",
        departments=[department, sales],
    )


@pytest.fixture
def no_kb_agent(
    db: Session, unit_for: UnitFor, make_agent: Callable[..., Agent], department: Department
) -> Agent:
    """An agent of Support whose profile grants neither ``kb.view`` nor ``kb.manage``."""
    org_service.create_profile(unit_for(None), name="Tickets only", permissions=["ticket.view"])
    db.commit()
    return make_agent("no-kb@example.com", profile="Tickets only", departments=[department])


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


def _older_link(html: str) -> str | None:
    found = re.search(r'rel="next" href="([^"]+)"', html)
    return None if found is None else unescape(found.group(1))


def _article_count(db: Session) -> int:
    see_committed(db)
    return db.scalar(select(func.count()).select_from(KbArticle)) or 0


# ----------------------------------------------------------------------------------- the list


def test_list_pages_through_more_articles_than_one_page(
    client: FlaskClient, sign_in_as, reader: Agent, make_article: Callable[..., KbArticle]
) -> None:
    for number in range(PAGE_SIZE + 5):
        make_article(f"Article {number:03d}")
    sign_in_as(reader)
    first = client.get("/kb").get_data(as_text=True)
    assert "Article 054" in first and "Article 005" in first and "Article 004" not in first
    older = _older_link(first)
    assert older is not None and "before=" in older
    second = client.get(older).get_data(as_text=True)
    assert "Article 004" in second and "Article 000" in second and "Article 005" not in second
    assert _older_link(second) is None


def test_list_filters_by_status_and_visibility(
    client: FlaskClient, sign_in_as, reader: Agent, make_article: Callable[..., KbArticle]
) -> None:
    make_article("Draft for everyone")
    make_article("Published for everyone", status="published")
    make_article("Published for members", status="published", visibility="registered")
    sign_in_as(reader)
    published = client.get("/kb?status=published").get_data(as_text=True)
    assert "Published for everyone" in published and "Published for members" in published
    assert "Draft for everyone" not in published
    members = client.get("/kb?status=published&visibility=registered").get_data(as_text=True)
    assert "Published for members" in members and "Published for everyone" not in members


def test_list_filters_by_department(
    db: Session,
    unit_for: UnitFor,
    client: FlaskClient,
    sign_in_as,
    editor: Agent,
    sales: Department,
    make_article: Callable[..., KbArticle],
) -> None:
    pricing = kb.create_category(unit_for(None), department_id=sales.id, name="Pricing")
    db.commit()
    make_article("Support answer")
    make_article("Sales answer", category=pricing)
    sign_in_as(editor)
    page = client.get(f"/kb?department_id={sales.id}").get_data(as_text=True)
    assert "Sales answer" in page and "Support answer" not in page
    assert "Pricing" in page and ">FAQ<" not in page


def test_list_shows_only_the_viewers_departments(
    db: Session,
    unit_for: UnitFor,
    client: FlaskClient,
    sign_in_as,
    reader: Agent,
    sales: Department,
    make_article: Callable[..., KbArticle],
) -> None:
    pricing = kb.create_category(unit_for(None), department_id=sales.id, name="Pricing")
    db.commit()
    make_article("Sales answer", category=pricing)
    make_article("Support answer")
    sign_in_as(reader)
    page = client.get(f"/kb?department_id={sales.id}").get_data(as_text=True)
    assert "Support answer" in page and "Sales answer" not in page and "Pricing" not in page


def test_category_link_lists_that_categorys_articles(
    db: Session,
    unit_for: UnitFor,
    client: FlaskClient,
    sign_in_as,
    reader: Agent,
    department: Department,
    make_article: Callable[..., KbArticle],
) -> None:
    billing = kb.create_category(unit_for(None), department_id=department.id, name="Billing")
    db.commit()
    make_article("Pay an invoice", category=billing)
    make_article("Reset your password")
    sign_in_as(reader)
    page = client.get(f"/kb?category_id={billing.id}").get_data(as_text=True)
    assert "Articles in Billing" in page
    assert "Pay an invoice" in page and "Reset your password" not in page


# -------------------------------------------------------------------------------- an article


def test_article_page_shows_the_text_with_its_line_breaks_and_properties(
    client: FlaskClient, sign_in_as, reader: Agent, make_article: Callable[..., KbArticle]
) -> None:
    article = make_article(
        "Reset your password",
        body="1. Open Settings.\n2. Choose <Reset>.",
        status="published",
        visibility="registered",
    )
    sign_in_as(reader)
    page = client.get(f"/kb/articles/{article.id}").get_data(as_text=True)
    assert (
        'class="card kb-body" id="article-body">1. Open Settings.\n2. Choose &lt;Reset&gt;.<'
        in (page)
    )
    properties = page.partition('id="article-properties"')[2].partition("</dl>")[0]
    for shown in ("Published", "Registered users", "FAQ", "Support"):
        assert shown in properties


def test_article_page_speaks_japanese(
    client: FlaskClient,
    sign_in_as,
    make_agent: Callable[..., Agent],
    department: Department,
    make_article: Callable[..., KbArticle],
) -> None:
    article = make_article("パスワードの再設定", status="published")
    sign_in_as(make_agent("ja@example.com", departments=[department], locale="ja"))
    page = client.get(f"/kb/articles/{article.id}").get_data(as_text=True)
    assert "ナレッジベース" in page and "公開中" in page and "すべてのユーザー" in page


def test_reader_sees_no_edit_or_delete_buttons(
    client: FlaskClient, sign_in_as, reader: Agent, make_article: Callable[..., KbArticle]
) -> None:
    article = make_article()
    sign_in_as(reader)
    page = client.get(f"/kb/articles/{article.id}").get_data(as_text=True)
    assert "/edit" not in page and "/delete" not in page
    listed = client.get("/kb").get_data(as_text=True)
    assert "/kb/articles/new" not in listed and "/kb/categories/new" not in listed


def test_reader_is_refused_the_forms(
    client: FlaskClient, sign_in_as, reader: Agent, make_article: Callable[..., KbArticle]
) -> None:
    article = make_article()
    sign_in_as(reader)
    for path in (
        "/kb/articles/new",
        f"/kb/articles/{article.id}/edit",
        f"/kb/articles/{article.id}/delete",
        "/kb/categories/new",
        f"/kb/categories/{article.category_id}/delete",
    ):
        assert client.get(path).status_code == 403, path


def test_article_of_another_department_is_404(
    db: Session,
    unit_for: UnitFor,
    client: FlaskClient,
    sign_in_as,
    support_manager: Agent,
    sales: Department,
    make_article: Callable[..., KbArticle],
) -> None:
    pricing = kb.create_category(unit_for(None), department_id=sales.id, name="Pricing")
    db.commit()
    article = make_article("Sales answer", category=pricing)
    sign_in_as(support_manager)
    assert client.get(f"/kb/articles/{article.id}").status_code == 404
    assert client.get(f"/kb/articles/{article.id}/edit").status_code == 404
    assert client.get(f"/kb/categories/{pricing.id}/edit").status_code == 404


def test_agent_without_kb_permission_is_refused_with_403(
    client: FlaskClient, sign_in_as, no_kb_agent: Agent, make_article: Callable[..., KbArticle]
) -> None:
    article = make_article()
    sign_in_as(no_kb_agent)
    assert client.get("/kb").status_code == 403
    assert client.get(f"/kb/articles/{article.id}").status_code == 403


def test_nav_link_shows_for_kb_view(client: FlaskClient, sign_in_as, reader: Agent) -> None:
    sign_in_as(reader)
    assert 'id="kb-menu-link"' in client.get("/tickets").get_data(as_text=True)


def test_nav_link_is_absent_without_kb_permission(
    client: FlaskClient, sign_in_as, no_kb_agent: Agent
) -> None:
    sign_in_as(no_kb_agent)
    assert 'id="kb-menu-link"' not in client.get("/tickets").get_data(as_text=True)


# ------------------------------------------------------------------------------------- forms


def test_manager_creates_a_category_and_an_article(
    db: Session,
    client: FlaskClient,
    sign_in_as,
    support_manager: Agent,
    department: Department,
) -> None:
    token = sign_in_as(support_manager)["X-CSRFToken"]
    made = client.post(
        "/kb/categories/new",
        data={"name": "Shipping", "department_id": str(department.id), "csrf_token": token},
    )
    assert made.status_code == 302
    see_committed(db)
    category = db.scalars(select(KbCategory).where(KbCategory.name == "Shipping")).one()
    written = client.post(
        "/kb/articles/new",
        data={
            "category_id": str(category.id),
            "title": "Track a parcel",
            "body": "Open the tracking page.",
            "visibility": "all",
            "status": "published",
            "csrf_token": token,
        },
    )
    assert written.status_code == 302
    see_committed(db)
    article = db.scalars(select(KbArticle).where(KbArticle.title == "Track a parcel")).one()
    assert written.headers["Location"].endswith(f"/kb/articles/{article.id}")
    assert (article.status, article.author_agent_id) == ("published", support_manager.id)
    assert "Track a parcel" in client.get("/kb").get_data(as_text=True)


def test_article_form_with_a_bad_field_is_422_naming_it_and_writes_nothing(
    db: Session, client: FlaskClient, sign_in_as, support_manager: Agent, faq: KbCategory
) -> None:
    token = sign_in_as(support_manager)["X-CSRFToken"]
    answer = client.post(
        "/kb/articles/new",
        data={
            "category_id": str(faq.id),
            "title": "  ",
            "body": "Kept in the form",
            "visibility": "all",
            "status": "published",
            "csrf_token": token,
        },
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'id="error-title"' in page and 'id="error-body"' not in page
    assert "Kept in the form" in page
    assert _article_count(db) == 0
    assert db.scalar(select(AuditEntry).where(AuditEntry.entity_type == "kb_article")) is None


def test_category_form_with_a_taken_name_is_422_naming_it(
    db: Session,
    client: FlaskClient,
    sign_in_as,
    support_manager: Agent,
    department: Department,
    faq: KbCategory,
) -> None:
    token = sign_in_as(support_manager)["X-CSRFToken"]
    answer = client.post(
        "/kb/categories/new",
        data={"name": "FAQ", "department_id": str(department.id), "csrf_token": token},
    )
    assert answer.status_code == 422
    assert "This department has a category with this name." in answer.get_data(as_text=True)
    see_committed(db)
    assert db.scalar(select(func.count()).select_from(KbCategory)) == 1


def test_category_form_refuses_a_department_the_manager_is_not_in(
    client: FlaskClient, sign_in_as, support_manager: Agent, sales: Department
) -> None:
    token = sign_in_as(support_manager)["X-CSRFToken"]
    answer = client.post(
        "/kb/categories/new",
        data={"name": "Pricing", "department_id": str(sales.id), "csrf_token": token},
    )
    assert answer.status_code == 422
    assert 'id="error-department_id"' in answer.get_data(as_text=True)


def test_edit_changes_and_publishes_an_article(
    db: Session,
    client: FlaskClient,
    sign_in_as,
    support_manager: Agent,
    make_article: Callable[..., KbArticle],
) -> None:
    article = make_article()
    article_id, category_id = article.id, article.category_id
    token = sign_in_as(support_manager)["X-CSRFToken"]
    assert client.get(f"/kb/articles/{article_id}/edit").status_code == 200
    answer = client.post(
        f"/kb/articles/{article_id}/edit",
        data={
            "category_id": str(category_id),
            "title": "Reset a forgotten password",
            "body": "Use the link on the sign-in page.",
            "visibility": "registered",
            "status": "published",
            "csrf_token": token,
        },
    )
    assert answer.status_code == 302
    see_committed(db)
    edited = db.get(KbArticle, article_id)
    assert edited is not None
    assert (edited.title, edited.visibility, edited.status) == (
        "Reset a forgotten password",
        "registered",
        "published",
    )
    entry = db.scalars(select(AuditEntry).where(AuditEntry.sub_action == "publish")).one()
    assert entry.entity_id == str(article_id)


def test_edit_with_a_bad_field_keeps_the_article_unchanged(
    db: Session,
    client: FlaskClient,
    sign_in_as,
    support_manager: Agent,
    make_article: Callable[..., KbArticle],
) -> None:
    article = make_article()
    article_id = article.id
    token = sign_in_as(support_manager)["X-CSRFToken"]
    answer = client.post(
        f"/kb/articles/{article_id}/edit",
        data={
            "category_id": "999999",
            "title": "Changed",
            "visibility": "all",
            "status": "draft",
            "csrf_token": token,
        },
    )
    assert answer.status_code == 422
    assert 'id="error-category_id"' in answer.get_data(as_text=True)
    see_committed(db)
    assert db.get(KbArticle, article_id).title == "Reset your password"


def test_edit_a_category(
    db: Session, client: FlaskClient, sign_in_as, support_manager: Agent, faq: KbCategory
) -> None:
    faq_id, department_id = faq.id, faq.department_id
    token = sign_in_as(support_manager)["X-CSRFToken"]
    answer = client.post(
        f"/kb/categories/{faq_id}/edit",
        data={
            "name": "Questions",
            "department_id": str(department_id),
            "description": "Asked often",
            "csrf_token": token,
        },
    )
    assert answer.status_code == 302
    see_committed(db)
    category = db.get(KbCategory, faq_id)
    assert (category.name, category.description) == ("Questions", "Asked often")


def test_deleting_a_category_says_how_many_articles_go_with_it(
    db: Session,
    client: FlaskClient,
    sign_in_as,
    support_manager: Agent,
    faq: KbCategory,
    make_article: Callable[..., KbArticle],
) -> None:
    make_article("One")
    make_article("Two")
    faq_id = faq.id
    token = sign_in_as(support_manager)["X-CSRFToken"]
    confirm = client.get(f"/kb/categories/{faq_id}/delete").get_data(as_text=True)
    assert "This category holds 2 articles: they are deleted with the category." in confirm
    assert _article_count(db) == 2
    answer = client.post(f"/kb/categories/{faq_id}/delete", data={"csrf_token": token})
    assert answer.status_code == 302
    assert _article_count(db) == 0
    assert db.get(KbCategory, faq_id) is None


def test_deleting_an_article_after_its_confirmation_page(
    db: Session,
    client: FlaskClient,
    sign_in_as,
    support_manager: Agent,
    make_article: Callable[..., KbArticle],
) -> None:
    article_id = make_article().id
    token = sign_in_as(support_manager)["X-CSRFToken"]
    confirm = client.get(f"/kb/articles/{article_id}/delete")
    assert confirm.status_code == 200 and 'id="delete-submit"' in confirm.get_data(as_text=True)
    assert _article_count(db) == 1
    answer = client.post(f"/kb/articles/{article_id}/delete", data={"csrf_token": token})
    assert answer.status_code == 302
    assert _article_count(db) == 0


def test_a_form_posted_without_its_csrf_token_is_refused(
    db: Session, client: FlaskClient, sign_in_as, support_manager: Agent, faq: KbCategory
) -> None:
    sign_in_as(support_manager)
    answer = client.post(f"/kb/categories/{faq.id}/delete", data={})
    assert answer.status_code == 400
    see_committed(db)
    assert db.get(KbCategory, faq.id) is not None
