"""Every process agrees: an install, authorization, scope edit or uninstall done through one web
process takes effect in another web process and in a job worker within a second.

The test starts real processes on this run's database and Redis: two web apps on 127.0.0.1
(``A`` takes the admin's changes through the REST API and the consent page, ``B`` serves an
agent's ticket page) and a job worker. Each builds its host from the environment and loads the
extensions through their entry points, the ``probe`` fixture's included, as ``deskhost serve``
and ``deskhost worker`` do. Nothing is shared between them but the database and Redis.
"""

from __future__ import annotations

import html
import json
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, Request, build_opener

import pytest
from rq import Worker
from sqlalchemy import select as query
from sqlalchemy import text

from core import redis as redis_connections
from core.host import Host
from core.models import (
    Agent,
    Department,
    Installation,
    InstallationStorage,
    OutboxEvent,
    PermissionProfile,
    Ticket,
)
from hostapi import clock
from tests.factories import TEST_PASSWORD
from tests.plugin_fixtures import entry_point

#: How soon another process must see a change: the plugin guide says a lifecycle step applies
#: "in every web and job process at once"; a second is what "at once" may take here.
PROPAGATION_SECONDS = 1.0
#: How long a poll goes on before the test fails (well past the promise, to report the lag).
POLL_DEADLINE_SECONDS = 5.0
POLL_INTERVAL_SECONDS = 0.05
#: How long a process may take to start.
START_SECONDS = 60.0

WEB_PROCESS = """
import logging
from werkzeug.serving import make_server
from core.config import Settings
from core.host import Host
from core.web import create_app
from tests.plugin_fixtures import entry_point

logging.getLogger("werkzeug").setLevel(logging.WARNING)
host = Host(Settings.from_env())
host.plugins.load_entry_points([entry_point("probe")])
server = make_server("127.0.0.1", 0, create_app(host=host), threaded=True)
print(server.port, flush=True)
server.serve_forever()
"""

WORKER_PROCESS = """
from core.config import Settings
from core.host import Host
from core.worker import run
from tests.plugin_fixtures import entry_point

host = Host(Settings.from_env())
host.plugins.load_entry_points([entry_point("probe")])
run(host, with_scheduler=False, relay_interval=0.05)
"""


# ------------------------------------------------------------------------------ processes


def _environment(host: Host) -> dict[str, str]:
    """This run's settings, as a process started by the test reads them."""
    return {
        **os.environ,
        "DESKHOST_INSTANCE_DIR": str(host.settings.instance_dir),
        "DATABASE_URL": host.settings.database_url,
        "REDIS_URL": redis_connections.url_of(host.redis),
        "SECRET_KEY": host.settings.secret_key,
        "DESKHOST_ENCRYPTION_KEY": ",".join(host.settings.encryption_keys),
        "DESKHOST_REGISTRY_INDEX": "",
        "PYTHONUNBUFFERED": "1",
    }


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process this test started (and only that one)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
    if process.stdout is not None:
        process.stdout.close()


def _port_of(process: subprocess.Popen[bytes]) -> int:
    """The port a web process prints once it listens."""
    assert process.stdout is not None
    deadline = clock.monotonic() + START_SECONDS
    while clock.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            if line:
                return int(line)
        if process.poll() is not None:
            raise RuntimeError(f"web process exited with {process.returncode} before listening")
    raise RuntimeError("web process did not start listening in time")


class Browser:
    """A cookie-keeping HTTP client of one web process (loopback only)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._opener = build_opener(HTTPCookieProcessor(CookieJar()))

    def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """(status, text) of one request; redirects are followed."""
        data: bytes | None = None
        headers = dict(headers or {})
        if form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except HTTPError as error:
            return error.code, error.read().decode()

    def csrf_token(self, path: str) -> str:
        """The CSRF token a page hands out in its ``<meta name="csrf-token">``."""
        status, page = self.request("GET", path)
        match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
        assert status == 200 and match, f"no csrf-token on {path} ({status})"
        return match.group(1)

    def sign_in(self, email: str) -> None:
        """Post the login form as a browser does."""
        token = self.csrf_token("/login")
        status, page = self.request(
            "POST",
            "/login",
            form={"email": email, "password": TEST_PASSWORD, "csrf_token": token},
        )
        assert status == 200 and 'name="password"' not in page, "sign-in failed"

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A REST call of the signed-in session (with its CSRF token); (status, JSON or None)."""
        headers = {"X-CSRFToken": self.csrf_token("/tickets"), "Accept": "application/json"}
        status, answer = self.request(method, "/api/v1" + path, body=body, headers=headers)
        return status, json.loads(answer) if answer.strip() else None


@pytest.fixture(scope="module")
def web_processes(host: Host, repo_root: Path) -> Iterator[tuple[str, str]]:
    """Two web processes, A and B, on this run's database and Redis: their base URLs."""
    with ExitStack() as started:
        urls = []
        for _ in range(2):
            process = subprocess.Popen(
                [sys.executable, "-c", WEB_PROCESS],
                env=_environment(host),
                cwd=repo_root,
                stdout=subprocess.PIPE,
            )
            started.callback(_stop, process)
            urls.append(f"http://127.0.0.1:{_port_of(process)}")
        yield urls[0], urls[1]


@pytest.fixture
def running_worker(
    host: Host, repo_root: Path, probe_here: None, admin_on_a: Browser
) -> Iterator[subprocess.Popen[bytes]]:
    """A job worker process on this run's database and Redis, ready to take jobs.

    Started once the test's data is arranged: on SQLite, the ``db`` fixture's transactions
    read before they write, and such a transaction cannot write once another process has
    committed (the worker's relay writes every pass).
    """
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER_PROCESS], env=_environment(host), cwd=repo_root
    )
    try:
        deadline = clock.monotonic() + START_SECONDS
        while not Worker.all(connection=host.redis):
            assert process.poll() is None, "the worker exited early"
            assert clock.monotonic() < deadline, "the worker did not start in time"
            time.sleep(POLL_INTERVAL_SECONDS)
        yield process
    finally:
        _stop(process)


@pytest.fixture
def probe_here(host: Host) -> Iterator[None]:
    """The ``probe`` extension loaded in the test process too (to enqueue its jobs); its
    tables, which the web processes create, dropped after."""
    host.plugins.load_entry_points([entry_point("probe")])
    assert "probe" in host.plugins.loaded, host.plugins.errors.get("probe")
    yield
    host.plugins.unregister_plugin("probe")
    with host.engine.begin() as connection:
        for table in ("probe_note", "alembic_version_probe"):
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))


@pytest.fixture
def admin_on_a(web_processes: tuple[str, str], admin_agent: Agent) -> Browser:
    """The admin, signed in on process A."""
    browser = Browser(web_processes[0])
    browser.sign_in(admin_agent.email)
    return browser


@pytest.fixture
def agent_on_b(
    web_processes: tuple[str, str], make_agent: Callable[..., Agent], department: Department
) -> Browser:
    """An agent of Support, signed in on process B."""
    agent = make_agent("agent@example.com", departments=[department])
    browser = Browser(web_processes[1])
    browser.sign_in(agent.email)
    return browser


# ------------------------------------------------------------------------------ helpers


def _install_through(admin: Browser, department: Department, profile_ids: list[int]) -> int:
    """Install ``probe`` for one department through A's REST API; the installation id."""
    status, installation = admin.api(
        "POST",
        "/installations",
        {
            "plugin_id": "probe",
            "department_ids": [department.id],
            "profile_ids": profile_ids,
            "terms_accepted": True,
        },
    )
    assert status == 201, installation
    return int(installation["id"])


def _consent_fields(page: str) -> dict[str, str]:
    form = re.search(r'<form[^>]*id="consent-form".*?</form>', page, re.S)
    assert form, "no consent form"
    return {
        name: html.unescape(value)
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(0)
        )
    }


def _authorize_through(admin: Browser, installation_id: int) -> None:
    """Approve the installation on A's consent page (PKCE, state and callback done by A)."""
    status, page = admin.request(
        "GET", f"/admin/marketplace/installations/{installation_id}/authorize"
    )
    assert status == 200, page
    fields = {**_consent_fields(page), "decision": "approve"}
    status, page = admin.request("POST", "/oauth/authorize", form=fields)
    assert status == 200, page


def _panel_shown(agent: Browser, ticket_id: int, installation_id: int) -> bool:
    status, page = agent.request("GET", f"/tickets/{ticket_id}")
    assert status == 200, page
    return f'class="probe-panel" data-installation="{installation_id}"' in page


def _seconds_until(check: Callable[[], bool], since: float) -> float:
    """Poll ``check`` until it holds; the seconds from ``since`` (fails after the deadline)."""
    while not check():
        waited = clock.monotonic() - since
        assert waited < POLL_DEADLINE_SECONDS, f"not seen after {waited:.1f} s"
        time.sleep(POLL_INTERVAL_SECONDS)
    return clock.monotonic() - since


def _notes(host: Host, installation_id: int) -> list[Any]:
    with host.sessions() as session:
        row = session.get(InstallationStorage, (installation_id, "notes"))
        return [] if row is None else list(row.value)


def _enqueue_note(host: Host, installation_id: int, payload: dict[str, Any]) -> str:
    """Enqueue probe's ``note`` job for an installation, as the extension does; its row id."""
    with host.transaction() as session:
        context = host.plugins.context_for(session, session.get(Installation, installation_id))
        return context.enqueue("note", payload)


def _row(host: Host, row_id: str) -> OutboxEvent:
    with host.sessions() as session:
        return session.scalars(query(OutboxEvent).where(OutboxEvent.id == row_id)).one()


def _every_profile(host: Host) -> list[int]:
    # A short session of its own: on SQLite, a read transaction left open would keep a stale
    # snapshot that cannot write after the web processes commit.
    with host.sessions() as session:
        return list(session.scalars(query(PermissionProfile.id)))


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    """A second department, "Sales"."""
    return make_department("Sales")


@pytest.fixture
def ticket(make_ticket: Callable[..., Ticket]) -> Ticket:
    """A ticket of Support."""
    return make_ticket()


@pytest.fixture
def active_on_a(probe_here: None, admin_on_a: Browser, department: Department, host: Host) -> int:
    """``probe`` installed for Support and every profile, and authorized, through A."""
    installation_id = _install_through(admin_on_a, department, _every_profile(host))
    _authorize_through(admin_on_a, installation_id)
    return installation_id


# ------------------------------------------------------------------------------ web processes


@pytest.mark.usefixtures("probe_here")
def test_authorization_through_one_web_process_shows_the_panel_in_another_within_a_second(
    host: Host, department: Department, ticket: Ticket, admin_on_a: Browser, agent_on_b: Browser
) -> None:
    installation_id = _install_through(admin_on_a, department, _every_profile(host))
    assert not _panel_shown(agent_on_b, ticket.id, installation_id)

    _authorize_through(admin_on_a, installation_id)
    authorized = clock.monotonic()  # committed: the consent flow's own time is not propagation

    waited = _seconds_until(
        lambda: _panel_shown(agent_on_b, ticket.id, installation_id), authorized
    )
    assert waited <= PROPAGATION_SECONDS


def test_scope_edit_through_one_web_process_hides_the_panel_in_another_within_a_second(
    sales: Department, ticket: Ticket, admin_on_a: Browser, agent_on_b: Browser, active_on_a: int
) -> None:
    assert _panel_shown(agent_on_b, ticket.id, active_on_a)

    sent = clock.monotonic()
    status, answer = admin_on_a.api(
        "PATCH", f"/installations/{active_on_a}", {"department_ids": [sales.id]}
    )
    assert status == 200, answer

    waited = _seconds_until(lambda: not _panel_shown(agent_on_b, ticket.id, active_on_a), sent)
    assert waited <= PROPAGATION_SECONDS


def test_scope_edit_through_one_web_process_shows_the_panel_in_another_within_a_second(
    department: Department,
    sales: Department,
    ticket: Ticket,
    admin_on_a: Browser,
    agent_on_b: Browser,
    active_on_a: int,
) -> None:
    status, answer = admin_on_a.api(
        "PATCH", f"/installations/{active_on_a}", {"department_ids": [sales.id]}
    )
    assert status == 200, answer
    assert not _panel_shown(agent_on_b, ticket.id, active_on_a)

    sent = clock.monotonic()
    status, answer = admin_on_a.api(
        "PATCH", f"/installations/{active_on_a}", {"department_ids": [department.id, sales.id]}
    )
    assert status == 200, answer

    waited = _seconds_until(lambda: _panel_shown(agent_on_b, ticket.id, active_on_a), sent)
    assert waited <= PROPAGATION_SECONDS


def test_uninstall_through_one_web_process_removes_the_panel_in_another_within_a_second(
    ticket: Ticket, admin_on_a: Browser, agent_on_b: Browser, active_on_a: int
) -> None:
    assert _panel_shown(agent_on_b, ticket.id, active_on_a)

    sent = clock.monotonic()
    status, answer = admin_on_a.api(
        "DELETE", f"/installations/{active_on_a}?confirmed=true&keep_data=false"
    )
    assert status == 204, answer

    waited = _seconds_until(lambda: not _panel_shown(agent_on_b, ticket.id, active_on_a), sent)
    assert waited <= PROPAGATION_SECONDS


# ------------------------------------------------------------------------------ job worker


def test_installation_authorized_through_a_web_process_gets_its_jobs_run_by_a_running_worker(
    host: Host, running_worker: subprocess.Popen[bytes], active_on_a: int
) -> None:
    _enqueue_note(host, active_on_a, {"n": 1})
    committed = clock.monotonic()

    waited = _seconds_until(lambda: bool(_notes(host, active_on_a)), committed)

    assert waited <= PROPAGATION_SECONDS
    assert [note["payload"] for note in _notes(host, active_on_a)] == [{"n": 1}]


def test_scope_edit_through_a_web_process_reaches_a_running_worker_within_a_second(
    host: Host,
    sales: Department,
    running_worker: subprocess.Popen[bytes],
    admin_on_a: Browser,
    active_on_a: int,
) -> None:
    status, answer = admin_on_a.api(
        "PATCH", f"/installations/{active_on_a}", {"department_ids": [sales.id]}
    )
    assert status == 200, answer

    _enqueue_note(host, active_on_a, {"n": 1})
    committed = clock.monotonic()
    waited = _seconds_until(lambda: bool(_notes(host, active_on_a)), committed)

    assert waited <= PROPAGATION_SECONDS
    assert [note["department_ids"] for note in _notes(host, active_on_a)] == [[sales.id]]


def test_running_worker_does_not_run_a_job_of_an_installation_uninstalled_through_a_web_process(
    host: Host, running_worker: subprocess.Popen[bytes], admin_on_a: Browser, active_on_a: int
) -> None:
    _enqueue_note(host, active_on_a, {"n": 1})
    _seconds_until(lambda: bool(_notes(host, active_on_a)), clock.monotonic())
    status, answer = admin_on_a.api(
        "DELETE", f"/installations/{active_on_a}?confirmed=true&keep_data=true"
    )
    assert status == 200, answer

    # A job enqueued while the uninstall committed (a request or job of the extension still
    # running then) reaches the worker after it.
    late = _enqueue_note(host, active_on_a, {"n": 2})
    committed = clock.monotonic()
    waited = _seconds_until(lambda: _row(host, late).delivered_at is not None, committed)

    assert waited <= PROPAGATION_SECONDS
    assert "archived, not active" in (_row(host, late).last_error or "")
    assert [note["payload"] for note in _notes(host, active_on_a)] == [{"n": 1}]
