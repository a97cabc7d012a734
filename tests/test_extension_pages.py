"""Extension pages name their installation (``/ext/<plugin>/<installation id>/…``); the URL
without it redirects to the one installation covering the agent or asks which; and where two
installations of one extension show panels at one place, each panel names its installation."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Blueprint, Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Contact, Department, Installation, Ticket
from core.web.extensions import panels_for
from hostapi import Context, Location, Page, Panel, PanelTarget, current_context, hookimpl
from marketplace_registry import lifecycle
from tests.factories import install_for, system_unit
from tests.plugin_fixtures import manifest

pytest_plugins = ["tests.api_fixtures"]

PLUGIN = "pager"


def _page_blueprint() -> Blueprint:
    pages = Blueprint("pager_pages", __name__)

    @pages.route("/report")
    def report() -> str:
        context = current_context()
        return f"report of installation {context.installation_id}"

    @pages.route("/link")
    def link() -> str:
        return url_for(".report", period="week")

    return pages


def _panel(context: Context, target: PanelTarget) -> str:
    return f"<p>installation {context.installation_id}</p>"


class Pager:
    """A test extension with a page, a ticket panel and a contact tab."""

    @hookimpl
    def deskhost_pages(self) -> list[Page]:
        return [Page(blueprint=_page_blueprint(), title="Report")]

    @hookimpl
    def deskhost_panels(self) -> list[Panel]:
        return [
            Panel(key="side", location=Location.TICKET_RIGHT_PANEL, title="Pager", render=_panel),
            Panel(key="tab", location=Location.CONTACT_SUBTAB, title="Pager", render=_panel),
        ]


@pytest.fixture
def pager(host: Host) -> Iterator[None]:
    """The ``pager`` extension, loaded."""
    host.plugins.register_plugin(Pager(), manifest(PLUGIN))
    yield
    host.plugins.unregister_plugin(PLUGIN)


@pytest.fixture
def web(pager: None, host: Host) -> FlaskClient:
    """A client of an app built with the extension's pages mounted."""
    from core.web import create_app

    return create_app({"TESTING": True}, host=host).test_client()


@pytest.fixture
def agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An agent of Support."""
    return make_agent("support@example.com", departments=[department])


def _install(db: Session, host: Host, department: Department, label: str = "") -> Installation:
    installation = install_for(db, host, PLUGIN, [department.id])
    installation.label = label
    db.commit()
    return installation


def _sign_in(client: FlaskClient, agent: Agent) -> None:
    with client.session_transaction() as session:
        session["agent_id"] = agent.id


# ------------------------------------------------------------------------------ pages


def test_page_is_served_under_its_installation_with_that_installations_context(
    web: FlaskClient, db: Session, host: Host, department: Department, agent: Agent
) -> None:
    _install(db, host, department)
    second = _install(db, host, department)
    _sign_in(web, agent)

    answer = web.get(f"/ext/pager/{second.id}/report")

    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == f"report of installation {second.id}"


def test_url_for_in_a_page_stays_in_its_installation(
    web: FlaskClient, db: Session, host: Host, department: Department, agent: Agent
) -> None:
    installation = _install(db, host, department)
    _sign_in(web, agent)

    link = web.get(f"/ext/pager/{installation.id}/link").get_data(as_text=True)

    assert link == f"/ext/pager/{installation.id}/report?period=week"


def test_page_of_an_installation_not_covering_the_agent_answers_404(
    web: FlaskClient,
    db: Session,
    host: Host,
    department: Department,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
) -> None:
    installation = _install(db, host, department)
    _sign_in(web, make_agent("sales@example.com", departments=[make_department("Sales")]))

    assert web.get(f"/ext/pager/{installation.id}/report").status_code == 404


def test_page_of_an_uninstalled_installation_answers_404(
    web: FlaskClient, db: Session, host: Host, department: Department, agent: Agent
) -> None:
    installation = _install(db, host, department)
    lifecycle.uninstall(system_unit(db, host), installation, keep_data=True, confirmed=True)
    db.commit()
    _sign_in(web, agent)

    assert web.get(f"/ext/pager/{installation.id}/report").status_code == 404


def test_page_under_an_unknown_installation_answers_404(
    web: FlaskClient, db: Session, host: Host, department: Department, agent: Agent
) -> None:
    installation = _install(db, host, department)
    _sign_in(web, agent)

    assert web.get(f"/ext/pager/{installation.id + 1000}/report").status_code == 404


def test_page_answers_404_when_signed_out(
    web: FlaskClient, db: Session, host: Host, department: Department
) -> None:
    installation = _install(db, host, department)

    assert web.get(f"/ext/pager/{installation.id}/report").status_code == 404


# ------------------------------------------------------------------------------ old URLs


def test_old_url_redirects_to_the_one_installation_covering_the_agent(
    web: FlaskClient,
    db: Session,
    host: Host,
    department: Department,
    make_department: Callable[..., Department],
    agent: Agent,
) -> None:
    mine = _install(db, host, department)
    install_for(db, host, PLUGIN, [make_department("Sales").id])  # covers someone else
    db.commit()
    _sign_in(web, agent)

    answer = web.get("/ext/pager/report?period=week")

    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/ext/pager/{mine.id}/report?period=week"


def test_old_root_url_redirects_to_the_installations_root(
    web: FlaskClient, db: Session, host: Host, department: Department, agent: Agent
) -> None:
    installation = _install(db, host, department)
    _sign_in(web, agent)

    answer = web.get("/ext/pager/")

    assert (answer.status_code, answer.headers["Location"]) == (
        302,
        f"/ext/pager/{installation.id}/",
    )


def test_old_url_asks_which_installation_when_several_cover_the_agent(
    web: FlaskClient, db: Session, host: Host, department: Department, agent: Agent
) -> None:
    first = _install(db, host, department, label="Tokyo desk")
    second = _install(db, host, department)
    _sign_in(web, agent)

    answer = web.get("/ext/pager/report")

    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert f'<a href="/ext/pager/{first.id}/report">Tokyo desk</a>' in page
    assert f'<a href="/ext/pager/{second.id}/report">Installation {second.id}</a>' in page


def test_installation_chooser_speaks_japanese(
    web: FlaskClient,
    db: Session,
    host: Host,
    department: Department,
    make_agent: Callable[..., Agent],
) -> None:
    _install(db, host, department)
    second = _install(db, host, department)
    _sign_in(web, make_agent("ja@example.com", departments=[department], locale="ja"))

    page = web.get("/ext/pager/report").get_data(as_text=True)

    assert f"インストール {second.id}" in page
    assert "どのインストールを開きますか" in page


def test_old_url_answers_404_when_no_installation_covers_the_agent(
    web: FlaskClient,
    db: Session,
    host: Host,
    department: Department,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
) -> None:
    _install(db, host, department)
    _sign_in(web, make_agent("sales@example.com", departments=[make_department("Sales")]))

    assert web.get("/ext/pager/report").status_code == 404


def test_old_url_of_an_unknown_extension_answers_404(web: FlaskClient, agent: Agent) -> None:
    _sign_in(web, agent)

    assert web.get("/ext/nothing_here/report").status_code == 404


# ------------------------------------------------------------------------------ panel labels


def _panels(
    app: Flask, host: Host, db: Session, agent: Agent, location: str, target: PanelTarget
) -> list[tuple[str, str | None]]:
    with app.test_request_context():
        seen = panels_for(db, host, location, target, db.get(Agent, agent.id))
    return [(p.plugin_id, p.installation_label) for p in seen if p.plugin_id == PLUGIN]


@pytest.fixture
def pager_app(pager: None, host: Host) -> Flask:
    """The app, with the extension loaded."""
    from core.web import create_app

    return create_app({"TESTING": True}, host=host)


def test_one_installation_shows_its_panel_without_a_label(
    pager_app: Flask,
    host: Host,
    db: Session,
    department: Department,
    agent: Agent,
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(db, host, department, label="Tokyo desk")
    ticket = make_ticket()

    target = PanelTarget("ticket", ticket.id)
    panels = _panels(pager_app, host, db, agent, Location.TICKET_RIGHT_PANEL, target)
    assert panels == [(PLUGIN, None)]


def test_two_installations_each_label_their_ticket_panel(
    pager_app: Flask,
    host: Host,
    db: Session,
    department: Department,
    agent: Agent,
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(db, host, department, label="Tokyo desk")
    second = _install(db, host, department)
    ticket = make_ticket()

    target = PanelTarget("ticket", ticket.id)
    panels = _panels(pager_app, host, db, agent, Location.TICKET_RIGHT_PANEL, target)
    assert panels == [(PLUGIN, "Tokyo desk"), (PLUGIN, f"Installation {second.id}")]


def test_ticket_page_shows_each_panels_installation_label(
    pager_app: Flask,
    host: Host,
    db: Session,
    department: Department,
    agent: Agent,
    make_ticket: Callable[..., Ticket],
) -> None:
    _install(db, host, department, label="Tokyo desk")
    _install(db, host, department, label="Osaka desk")
    ticket = make_ticket()
    client = pager_app.test_client()
    _sign_in(client, agent)

    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)

    assert '<span class="muted installation-label">Tokyo desk</span>' in page
    assert '<span class="muted installation-label">Osaka desk</span>' in page


def test_contact_page_tabs_show_each_installations_label(
    pager_app: Flask,
    host: Host,
    db: Session,
    department: Department,
    agent: Agent,
    make_contact: Callable[..., Contact],
) -> None:
    _install(db, host, department, label="Tokyo desk")
    _install(db, host, department, label="Osaka desk")
    contact = make_contact()
    client = pager_app.test_client()
    _sign_in(client, agent)

    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)

    assert '<span class="muted installation-label">Tokyo desk</span>' in page
    assert '<span class="muted installation-label">Osaka desk</span>' in page
