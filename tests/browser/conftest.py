"""Browser tests: the test app served on a loopback port, driven by Debian's chromium.

Playwright's sync API launches the chromium at ``CHROMIUM_PATH`` (default
``/usr/bin/chromium``). Without it the browser tests are skipped with a loud reason, except in
CI (``CI`` set), where a missing browser is a failure: CI must prove the pages work.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from core.host import Host
from core.models import Agent, Department
from core.web.i18n import compile_catalogs
from tests.factories import TEST_PASSWORD

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogs() -> None:
    """The Japanese pages need compiled catalogs even when pytest runs without make."""
    compile_catalogs()


def _chromium_path() -> str:
    return os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _missing_browser(reason: str) -> None:
    """Fail in CI, skip loudly elsewhere."""
    message = f"BROWSER TESTS NOT RUN: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run them: install chromium or set CHROMIUM_PATH)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A headless chromium for the whole run."""
    path = _chromium_path()
    if not Path(path).is_file() or not os.access(path, os.X_OK):
        _missing_browser(f"no chromium executable at {path!r}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # pragma: no cover - the test extra installs it
        _missing_browser(f"playwright is not installed ({error})")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
    except Exception as error:  # any launch failure means no browser
        playwright.stop()
        _missing_browser(f"chromium at {path!r} did not start: {error}")
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def app_config() -> dict[str, object]:
    """Flask config the served app gets on top of the test app's (a test module overrides
    this fixture, e.g. ``{"DESKHOST_LIMITS": SecurityLimits(login_account_limit=3)}``)."""
    return {}


@pytest.fixture
def live_server(app, host: Host, app_config: dict[str, object]) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The test app (same host and database as ``host``) on a free loopback port."""
    app.config.update(app_config)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def open_page(browser) -> Iterator[Callable[[str], object]]:  # type: ignore[no-untyped-def]
    """Open a page in a fresh browser context of its own (``locale`` sets Accept-Language),
    as another browser would; every context opened is closed after the test."""
    contexts: list[object] = []

    def open_in_new_context(locale: str = "en-US") -> object:
        context = browser.new_context(locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield open_in_new_context
    for context in contexts:
        context.close()


@pytest.fixture
def page(browser) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser context and page per test (no cookies carried between tests)."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def support(make_department: Callable[..., Department]) -> Department:
    """The department the signed-in agent works in."""
    return make_department("Support")


@pytest.fixture
def desk_agent(make_agent: Callable[..., Agent], support: Department) -> Agent:
    """An agent of "Support" who signs in with TEST_PASSWORD."""
    return make_agent("agent@example.com", name="Aiko Tanaka", departments=[support])


@pytest.fixture
def sign_in(page, live_server: str) -> Callable[[str], None]:  # type: ignore[no-untyped-def]
    """Sign in through the login form as ``email`` (password TEST_PASSWORD)."""

    def sign_in_as(email: str) -> None:
        page.goto(f"{live_server}/login")
        page.fill("#email", email)
        page.fill("#password", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server}/tickets")

    return sign_in_as
