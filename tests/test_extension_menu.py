"""Host API 1.4: an extension's page with ``menu=True`` is a link in the navigation, one per
installation covering the agent; ``Context.has_permission`` tells a page what the viewing agent
may do. 1.6: a page's ``settings_path`` is linked from the admin's page of the installation."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from flask import Blueprint
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Agent, Department, Installation
from core.models.org import ProfilePermission
from hostapi import (
    Page,
    PermissionSpec,
    csrf_token,
    current_context,
    hookimpl,
    render_page,
)
from tests.factories import install_for
from tests.page_helpers import sign_in
from tests.plugin_fixtures import manifest

PLUGIN = "menus"
MANAGE = f"{PLUGIN}.manage"


def _blueprint() -> Blueprint:
    pages = Blueprint("menus_pages", __name__)

    @pages.route("/reports")
    def reports() -> str:
        return render_page("Reports", "<p>Three reports &amp; a chart</p>")

    @pages.route("/form")
    def form() -> str:
        return f'<input name="csrf_token" value="{csrf_token()}">'

    @pages.post("/form")
    def submit() -> str:
        return "saved"

    @pages.route("/may-manage")
    def may_manage() -> str:
        return str(current_context().has_permission(MANAGE))

    return pages


def _settings_blueprint() -> Blueprint:
    pages = Blueprint("menus_settings", __name__, url_prefix="/settings")

    @pages.route("/")
    def settings() -> str:
        return render_page("Settings", "<p>settings</p>")

    return pages


class Menus:
    """A test extension with a menu page (its reports) and its own permission."""

    @hookimpl
    def deskhost_pages(self) -> list[Page]:
        return [
            Page(
                blueprint=_blueprint(),
                title="Reports",
                title_ja="レポート",
                menu=True,
                menu_path="reports",
            ),
            Page(
                blueprint=_settings_blueprint(),
                title="Settings",
                menu=True,
                menu_path="settings/",
                settings_path="settings/",
                permission=MANAGE,
            ),
        ]

    @hookimpl
    def deskhost_permissions(self) -> list[PermissionSpec]:
        return [PermissionSpec(name=MANAGE, label="Manage reports")]


@pytest.fixture
def web(host: Host) -> Iterator[FlaskClient]:
    """A client of an app built with the extension loaded."""
    from core.web import create_app

    host.plugins.register_plugin(Menus(), manifest(PLUGIN))
    yield create_app({"TESTING": True}, host=host).test_client()
    host.plugins.unregister_plugin(PLUGIN)


def _install(db: Session, host: Host, department: Department, label: str = "") -> Installation:
    installation = install_for(db, host, PLUGIN, [department.id])
    installation.label = label
    db.commit()
    return installation


@pytest.fixture
def installation(db: Session, host: Host, department: Department, web: FlaskClient) -> Installation:
    """The extension installed for Support."""
    return _install(db, host, department)


@pytest.fixture
def agent(make_agent: Callable[..., Agent], department: Department) -> Agent:
    """An agent of Support (the "Agent" profile)."""
    return make_agent("support@example.com", departments=[department])


@pytest.fixture
def signed_in(web: FlaskClient, agent: Agent) -> FlaskClient:
    """The client, signed in as ``agent``."""
    sign_in(web, agent.email)
    return web


def _menu(client: FlaskClient, path: str = "/tickets") -> list[tuple[str, str]]:
    """The extension links of the navigation: (URL, title) each."""
    page = client.get(path).get_data(as_text=True)
    return re.findall(r'<a href="([^"]+)"[^>]*data-extension-menu>([^<]+)</a>', page)


# ------------------------------------------------------------------------------ the menu


def test_a_menu_page_is_a_navigation_link_to_its_installation(
    signed_in: FlaskClient, installation: Installation
) -> None:
    assert _menu(signed_in) == [(f"/ext/{PLUGIN}/{installation.id}/reports", "Reports")]


def test_the_link_is_titled_in_the_agents_language(
    signed_in: FlaskClient, installation: Installation, agent: Agent, db: Session
) -> None:
    agent.locale = "ja"
    db.commit()

    assert _menu(signed_in) == [(f"/ext/{PLUGIN}/{installation.id}/reports", "レポート")]


def test_several_installations_give_a_link_each_named_by_its_label(
    signed_in: FlaskClient, db: Session, host: Host, department: Department
) -> None:
    tokyo = _install(db, host, department, label="Tokyo")
    osaka = _install(db, host, department, label="Osaka")

    assert _menu(signed_in) == [
        (f"/ext/{PLUGIN}/{tokyo.id}/reports", "Reports (Tokyo)"),
        (f"/ext/{PLUGIN}/{osaka.id}/reports", "Reports (Osaka)"),
    ]


def test_no_link_for_an_agent_the_installation_does_not_cover(
    web: FlaskClient,
    installation: Installation,
    make_department: Callable[..., Department],
    make_agent: Callable[..., Agent],
) -> None:
    sign_in(web, make_agent("sales@example.com", departments=[make_department("Sales")]).email)

    assert _menu(web) == []


def test_a_link_shows_as_current_on_the_pages_under_it_only(
    signed_in: FlaskClient, installation: Installation, agent: Agent, db: Session
) -> None:
    _grant(db, agent, MANAGE)

    assert _current(signed_in, "/tickets") == []
    assert _current(signed_in, f"/ext/{PLUGIN}/{installation.id}/reports") == ["Reports"]
    assert _current(signed_in, f"/ext/{PLUGIN}/{installation.id}/settings/") == ["Settings"]


def test_render_page_puts_the_extensions_html_in_the_hosts_layout(
    signed_in: FlaskClient, installation: Installation
) -> None:
    page = signed_in.get(f"/ext/{PLUGIN}/{installation.id}/reports").get_data(as_text=True)

    assert "<title>Reports · deskhost</title>" in page
    assert "<p>Three reports &amp; a chart</p>" in page
    assert 'class="mainnav"' in page


def _current(client: FlaskClient, path: str) -> list[str]:
    """The extension links marked as the current place on the page at ``path``."""
    page = client.get(path).get_data(as_text=True)
    return re.findall(r'<a href="[^"]+" class="active" data-extension-menu>([^<]+)</a>', page)


# ------------------------------------------------------------------------------ permissions


def _grant(db: Session, agent: Agent, permission: str) -> None:
    db.add(ProfilePermission(profile_id=agent.profile_id, permission=permission))
    db.commit()


def test_a_page_needing_a_permission_answers_403_and_has_no_link_without_it(
    signed_in: FlaskClient, installation: Installation, agent: Agent, db: Session
) -> None:
    settings = f"/ext/{PLUGIN}/{installation.id}/settings/"

    assert signed_in.get(settings).status_code == 403
    assert [title for _, title in _menu(signed_in)] == ["Reports"]

    _grant(db, agent, MANAGE)

    assert "<p>settings</p>" in signed_in.get(settings).text
    assert _menu(signed_in)[1] == (settings, "Settings")


def test_has_permission_is_true_for_an_administrator(
    web: FlaskClient, installation: Installation, admin_agent: Agent
) -> None:
    sign_in(web, admin_agent.email)

    assert web.get(f"/ext/{PLUGIN}/{installation.id}/may-manage").text == "True"


def test_has_permission_follows_the_agents_profile(
    signed_in: FlaskClient, installation: Installation, agent: Agent, db: Session
) -> None:
    url = f"/ext/{PLUGIN}/{installation.id}/may-manage"

    assert signed_in.get(url).text == "False"

    _grant(db, agent, MANAGE)

    assert signed_in.get(url).text == "True"


def test_csrf_token_gives_the_token_a_post_form_needs(
    signed_in: FlaskClient, installation: Installation
) -> None:
    url = f"/ext/{PLUGIN}/{installation.id}/form"

    token = re.search(r'value="([^"]+)"', signed_in.get(url).get_data(as_text=True))

    assert token is not None
    assert signed_in.post(url, data={"csrf_token": token.group(1)}).text == "saved"
    assert signed_in.post(url, data={"csrf_token": "forged"}).status_code == 400


# ------------------------------------------------------------------------------ settings pages


def _settings_links(client: FlaskClient, installation: Installation) -> list[tuple[str, str]]:
    page = client.get(f"/admin/marketplace/installations/{installation.id}").get_data(as_text=True)
    section = page.partition('id="extension-settings-pages"')[2].partition("</section>")[0]
    return re.findall(r'<a href="([^"]+)">([^<]+)</a>', section)


def test_the_installations_admin_page_links_to_the_extensions_own_settings_page(
    web: FlaskClient,
    installation: Installation,
    make_agent: Callable[..., Agent],
    department: Department,
    db: Session,
) -> None:
    admin = make_agent("admin@example.com", profile="Administrator", departments=[department])
    sign_in(web, admin.email)

    assert _settings_links(web, installation) == [
        (f"/ext/{PLUGIN}/{installation.id}/settings/", "Settings")
    ]
    admin.locale = "ja"
    db.commit()
    page = web.get(f"/admin/marketplace/installations/{installation.id}").get_data(as_text=True)
    assert "その他の設定" in page


def test_an_admin_the_installation_does_not_cover_sees_why_there_is_no_link(
    web: FlaskClient,
    installation: Installation,
    make_agent: Callable[..., Agent],
    make_department: Callable[..., Department],
) -> None:
    admin = make_agent(
        "admin@example.com", profile="Administrator", departments=[make_department("Sales")]
    )
    sign_in(web, admin.email)

    assert _settings_links(web, installation) == []
    page = web.get(f"/admin/marketplace/installations/{installation.id}").get_data(as_text=True)
    assert 'id="settings-pages-unreachable"' in page
