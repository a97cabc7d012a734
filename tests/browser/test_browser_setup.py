"""The Setup area in a real browser: an admin clones the "Agent" profile, edits its matrix and
saves it, in English and Japanese; at 1366 px the top bar needs no scrolling and no menu
label (top bar or setup side navigation) breaks across lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Agent, Department, PermissionProfile
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.browser

#: The narrowest desktop the navigation must fit without wrapping a word.
VIEWPORT = {"width": 1366, "height": 768}

#: Labels of the top bar and the setup side navigation.
NAV_LABELS = ".mainnav > a, .navgroup-label, .navgroup a, .setup-nav a, .setup-nav-heading"


@pytest.fixture
def desktop(browser) -> Iterator[Callable[[str], object]]:  # type: ignore[no-untyped-def]
    """``desktop(locale)``: a page in a fresh 1366×768 browser context."""
    contexts = []

    def open_page(locale: str) -> object:
        context = browser.new_context(locale=locale, viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def setup_admin(make_agent: Callable[..., Agent], department: Department) -> Callable[[str], Agent]:
    """``setup_admin(locale)``: an administrator who reads the desk in ``locale``."""
    return lambda locale: make_agent(
        f"admin-{locale}@example.com",
        name="管理者 花子" if locale == "ja" else "Hanako Admin",
        profile="Administrator",
        departments=[department],
        locale=locale,
    )


def _sign_in(page, live_server: str, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server}/login")
    page.fill("#email", email)
    page.fill("#password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/tickets")


@pytest.mark.parametrize(
    ("locale", "clone_name", "saved_text"),
    [("en", "Agent (copy)", "Saved."), ("ja", "担当者（コピー）", "保存しました。")],
)
def test_admin_clones_the_agent_profile_and_edits_its_matrix(
    desktop: Callable[[str], object],
    live_server: str,
    setup_admin: Callable[[str], Agent],
    db: Session,
    locale: str,
    clone_name: str,
    saved_text: str,
) -> None:
    admin = setup_admin(locale)
    page = desktop(locale)
    _sign_in(page, live_server, admin.email)
    page.click("#setup-menu-link")
    page.click("#setup-link-profiles")
    agent_profile = db.scalars(
        select(PermissionProfile).where(PermissionProfile.name == "Agent")
    ).one()
    page.click(f"#clone-{agent_profile.id}")
    assert page.input_value("#clone-name") == clone_name
    page.fill("#clone-name", f"Tier 2 {locale}")
    page.click("#clone-submit")
    page.wait_for_selector("#profile-form")
    assert page.is_checked("#perm-ticket-reply")
    page.uncheck("#perm-ticket-reply")
    page.check("#perm-contact-export")
    page.check("#profile-two-factor")
    page.click("#save-profile")
    assert page.inner_text("#profile-saved") == saved_text
    db.rollback()
    clone = db.scalars(
        select(PermissionProfile).where(PermissionProfile.name == f"Tier 2 {locale}")
    ).one()
    assert "ticket.reply" not in clone.permission_names
    assert "contact.export" in clone.permission_names
    assert clone.requires_two_factor and not clone.is_builtin


@pytest.mark.parametrize("locale", ["en", "ja"])
@pytest.mark.parametrize("path", ["/tickets", "/setup", "/setup/profiles"])
def test_navigation_fits_1366_px_without_scrolling_or_broken_words(
    desktop: Callable[[str], object],
    live_server: str,
    setup_admin: Callable[[str], Agent],
    locale: str,
    path: str,
) -> None:
    admin = setup_admin(locale)
    page = desktop(locale)
    _sign_in(page, live_server, admin.email)
    page.goto(f"{live_server}{path}")
    overflow = page.eval_on_selector(
        ".topbar",
        "bar => [bar.scrollWidth - bar.clientWidth, document.body.scrollWidth - innerWidth]",
    )
    assert overflow == [0, 0], f"the top bar or the page scrolls sideways by {overflow} px"
    labels = page.eval_on_selector_all(
        NAV_LABELS,
        """elements => elements.map(element => {
            const style = getComputedStyle(element);
            const range = document.createRange();
            range.selectNodeContents(element);
            // One line box per line: a label broken across lines has several rects of text.
            const tops = new Set([...range.getClientRects()].map(rect => Math.round(rect.top)));
            return {text: element.textContent.trim(), lines: tops.size, wordBreak: style.wordBreak};
        })""",
    )
    assert len(labels) >= 4
    wrapped = [label["text"] for label in labels if label["lines"] > 1]
    assert not wrapped, f"labels broken across lines: {wrapped}"
    assert {label["wordBreak"] for label in labels} == {"keep-all"}
