"""The knowledge base in a real browser: an administrator, in English and in Japanese, creates a
category and a published article through the forms and finds it listed; an agent of one
department who may only read opens an article and is offered no change."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from core.models import Agent, Department
from core.services import knowledge_base as kb
from core.services.base import Actor, Unit

pytestmark = pytest.mark.browser

#: What each language shows where the test reads text.
WORDING = {
    "en": {"published": "Published", "registered": "Registered users"},
    "ja": {"published": "公開中", "registered": "登録ユーザー"},
}


@pytest.fixture(params=["en", "ja"])
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def admin(make_agent: Callable[..., Agent], support: Department, language: str) -> Agent:
    return make_agent(
        "admin@example.com",
        name="Ada Admin",
        profile="Administrator",
        departments=[support],
        locale=language,
    )


def test_admin_creates_a_category_and_a_published_article(
    page,
    live_server: str,
    sign_in: Callable[[str], None],
    admin: Agent,
    support: Department,
    language: str,
) -> None:  # type: ignore[no-untyped-def]
    words = WORDING[language]
    sign_in(admin.email)

    page.click("#kb-menu-link")
    page.wait_for_url(f"{live_server}/kb")
    page.click("#new-category")
    page.fill("#category-name", "よくある質問")
    page.select_option("#category-department", str(support.id))
    page.fill("#category-description", "Questions customers ask")
    page.click("#category-form button[type=submit]")
    page.wait_for_url("**/kb?category_id=*")
    assert "よくある質問" in page.inner_text("#category-list")

    # "New article" from a category's list starts in that category.
    page.click("#new-article")
    page.wait_for_selector("#article-form")
    assert page.eval_on_selector("#article-category", "select => select.selectedIndex") > 0
    page.fill("#article-title", "パスワードを忘れた場合")
    page.fill("#article-body", "1. サインイン画面を開きます。\n2. リンクを選びます。")
    page.check("#article-form input[name=visibility][value=registered]")
    page.check("#article-status-published")
    page.click("#article-form button[type=submit]")
    page.wait_for_url("**/kb/articles/*")
    assert page.inner_text("#article-title") == "パスワードを忘れた場合"
    properties = page.inner_text("#article-properties")
    assert words["published"] in properties and words["registered"] in properties
    assert (
        page.inner_text("#article-body") == "1. サインイン画面を開きます。\n2. リンクを選びます。"
    )

    page.click("#kb-menu-link")
    page.wait_for_selector("#article-list")
    row = page.inner_text("#article-list tbody tr >> nth=0")
    assert "パスワードを忘れた場合" in row and words["published"] in row


@pytest.fixture
def articles(db: Session, support: Department, make_department: Callable[..., Department]) -> None:
    """A Support article the agent may read, and a Sales one they may not see."""
    unit = Unit(db, Actor.system("test"), None)
    sales = make_department("Sales")
    for department, title in ((support, "Reset your password"), (sales, "Compare the plans")):
        category = kb.create_category(unit, department_id=department.id, name="FAQ")
        kb.create_article(
            unit,
            category_id=category.id,
            title=title,
            body="Open Settings.\nChoose Reset.",
            status="published",
        )
    db.commit()


def test_agent_who_may_only_read_opens_an_article_without_edit_buttons(
    page, live_server: str, sign_in: Callable[[str], None], desk_agent: Agent, articles: None
) -> None:  # type: ignore[no-untyped-def]
    sign_in(desk_agent.email)
    page.click("#kb-menu-link")
    page.wait_for_selector("#article-list")
    listed = page.inner_text("#article-list")
    assert "Reset your password" in listed and "Compare the plans" not in listed
    assert page.locator("#new-article, #new-category").count() == 0
    assert page.locator("#category-list a.button").count() == 0

    page.click("#article-list >> text=Reset your password")
    page.wait_for_url("**/kb/articles/*")
    assert page.inner_text("#article-body") == "Open Settings.\nChoose Reset."
    assert page.locator("#edit-article, #delete-article").count() == 0
