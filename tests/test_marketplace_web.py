"""The marketplace admin pages: search, detail, install, installations, uninstall, upgrade."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core.host import Host
from core.models import Agent, AuditEntry, Department, Installation, PermissionProfile
from core.models.extensions import InstallationState
from core.plugins.manifest import load_manifest
from core.web.i18n import compile_catalogs
from marketplace_registry import lifecycle
from tests.factories import install_for, system_unit
from tests.plugin_fixtures import manifest

pytestmark = pytest.mark.usefixtures("host")

ADMIN_IP = "203.0.113.7"


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalogs() -> None:
    """The Japanese pages need compiled catalogs even when pytest runs without make."""
    compile_catalogs()


@pytest.fixture
def admin(make_agent: Callable[..., Agent], department: Department) -> Agent:
    return make_agent(
        "boss@example.com", name="Boss", profile="Administrator", departments=[department]
    )


@pytest.fixture
def browser(client: FlaskClient, admin: Agent) -> FlaskClient:
    """The test client signed in as the admin."""
    with client.session_transaction() as session:
        session["agent_id"] = admin.id
    return client


def csrf_token(client: FlaskClient) -> str:
    page = client.get("/admin/marketplace").get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match, "no csrf-token meta"
    return match.group(1)


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None) -> TestResponse:
    """Post a form as the browser would, with the page's CSRF token, from ADMIN_IP."""
    form = {**(data or {}), "csrf_token": csrf_token(client)}
    return client.post(path, data=form, environ_base={"REMOTE_ADDR": ADMIN_IP})


def profile_id(db: Session, name: str) -> int:
    return db.scalars(select(PermissionProfile.id).where(PermissionProfile.name == name)).one()


def fresh(db: Session) -> Session:
    """``db`` seeing what the app committed since (nothing cached from before)."""
    db.rollback()
    db.expire_all()
    return db


def installation_count(db: Session) -> int:
    fresh(db)
    return db.scalar(select(func.count()).select_from(Installation)) or 0


def audit_of(db: Session, installation_id: int, sub_action: str) -> list[AuditEntry]:
    fresh(db)
    return list(
        db.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_type == "installation",
                AuditEntry.entity_id == str(installation_id),
                AuditEntry.sub_action == sub_action,
            )
        )
    )


def reloaded(db: Session, installation_id: int) -> Installation | None:
    return fresh(db).get(Installation, installation_id)


@pytest.fixture
def installed(host: Host, db: Session, department: Department) -> Installation:
    """ticket_history installed and authorized for "Support" and the Agent profile."""
    installation = install_for(
        db, host, "ticket_history", [department.id], profile_ids=[profile_id(db, "Agent")]
    )
    db.commit()
    return installation


class _NoHooks:
    """A test extension that implements no hook."""


@pytest.fixture
def register(host: Host) -> Iterator[Callable[..., None]]:
    """``register(plugin_id, **manifest_fields)``: load a test extension (unloaded after)."""
    registered: list[str] = []

    def load(plugin_id: str, **fields: Any) -> None:
        if plugin_id in host.plugins.loaded:
            host.plugins.unregister_plugin(plugin_id)
        host.plugins.register_plugin(_NoHooks(), manifest(plugin_id, **fields))
        registered.append(plugin_id)

    yield load
    for plugin_id in set(registered):
        if plugin_id in host.plugins.loaded:
            host.plugins.unregister_plugin(plugin_id)


# ------------------------------------------------------------------------------ marketplace


def test_marketplace_lists_the_bundled_extensions_in_english(browser: FlaskClient) -> None:
    page = browser.get("/admin/marketplace").get_data(as_text=True)
    for plugin_id in ("customer_insights", "ticket_history", "salesiq", "im_dashboard"):
        assert f'id="extension-{plugin_id}"' in page
    assert "Customer analytics beside every ticket" in page
    assert "Analytics" in page


def test_marketplace_in_japanese_shows_japanese_descriptions_and_categories(
    client: FlaskClient, make_agent: Callable[..., Agent]
) -> None:
    admin = make_agent("kanri@example.com", profile="Administrator", locale="ja")
    with client.session_transaction() as session:
        session["agent_id"] = admin.id
    page = client.get("/admin/marketplace").get_data(as_text=True)
    assert "マーケットプレイス" in page
    assert "問い合わせの横に顧客の分析指標を表示します" in page
    assert "分析" in page


def test_every_marketplace_page_renders_in_japanese(
    client: FlaskClient, make_agent: Callable[..., Agent], installed: Installation
) -> None:
    admin = make_agent("kanri@example.com", profile="Administrator", locale="ja")
    with client.session_transaction() as session:
        session["agent_id"] = admin.id
    for path, words in (
        ("/admin/marketplace/customer_insights", "要求するアクセス"),
        ("/admin/marketplace/customer_insights/install", "利用規約に同意します"),
        ("/admin/marketplace/installations", "インストール済みの拡張機能"),
        (f"/admin/marketplace/installations/{installed.id}", "問い合わせの参照"),
        (f"/admin/marketplace/installations/{installed.id}/uninstall", "データを削除する"),
    ):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert words in answer.get_data(as_text=True), path


def test_search_for_analysis_in_japanese_finds_customer_insights_and_im_dashboard(
    browser: FlaskClient,
) -> None:
    page = browser.get("/admin/marketplace", query_string={"q": "分析"}).get_data(as_text=True)
    assert 'id="extension-customer_insights"' in page
    assert 'id="extension-im_dashboard"' in page
    assert 'id="extension-ticket_history"' not in page


def test_category_filter_keeps_one_category(browser: FlaskClient) -> None:
    page = browser.get("/admin/marketplace", query_string={"category": "chat"}).get_data(
        as_text=True
    )
    assert re.findall(r'data-plugin-id="(\w+)"', page) == ["salesiq"]


def test_installed_filter_and_installed_badge(
    browser: FlaskClient, installed: Installation
) -> None:
    page = browser.get("/admin/marketplace", query_string={"installed": "yes"}).get_data(
        as_text=True
    )
    assert re.findall(r'data-plugin-id="(\w+)"', page) == ["ticket_history"]
    assert 'class="badge installed"' in page
    page = browser.get("/admin/marketplace", query_string={"installed": "no"}).get_data(
        as_text=True
    )
    assert 'id="extension-ticket_history"' not in page


def test_unreadable_registry_index_is_shown_as_a_warning(
    browser: FlaskClient, host: Host, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    missing = str(tmp_path / "missing.json")
    monkeypatch.setattr(
        host, "settings", dataclasses.replace(host.settings, registry_index=missing)
    )
    page = browser.get("/admin/marketplace").get_data(as_text=True)
    assert 'id="registry-errors"' in page
    assert "missing.json" in page
    assert 'id="extension-ticket_history"' in page


def test_incompatible_extension_is_explained_and_cannot_be_installed(
    browser: FlaskClient, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    too_new = load_manifest(
        manifest("future_thing", hostapi=">=2,<3"), "future_thing", require_compatible=False
    )
    monkeypatch.setitem(host.plugins.incompatible, "future_thing", too_new)
    page = browser.get("/admin/marketplace").get_data(as_text=True)
    assert "needs host API &gt;=2,&lt;3" in page
    detail = browser.get("/admin/marketplace/future_thing").get_data(as_text=True)
    assert 'id="install-refusal"' in detail
    assert 'id="install-button"' not in detail


# ------------------------------------------------------------------------------ detail


def test_detail_shows_scopes_in_words_panels_and_terms_with_an_install_button(
    browser: FlaskClient,
) -> None:
    page = browser.get("/admin/marketplace/customer_insights").get_data(as_text=True)
    assert "Read tickets" in page and "desk.tickets.read" in page
    assert "Beside tickets" in page
    assert "Customer Insights reads the desk data" in page
    assert 'id="install-button"' in page


def test_single_install_extension_installed_already_has_no_install_button(
    browser: FlaskClient, host: Host, db: Session, department: Department
) -> None:
    install_for(db, host, "salesiq", [department.id])
    db.commit()
    page = browser.get("/admin/marketplace/salesiq").get_data(as_text=True)
    assert 'id="install-refusal"' in page
    assert 'id="install-button"' not in page
    answer = post(
        browser,
        "/admin/marketplace/salesiq/install",
        {"department_ids": [str(department.id)], "terms_accepted": "on"},
    )
    assert answer.status_code == 409
    assert installation_count(db) == 1


def test_unknown_extension_is_404(browser: FlaskClient) -> None:
    assert browser.get("/admin/marketplace/no_such_thing").status_code == 404


# ------------------------------------------------------------------------------ install


def _install_form(db: Session, department: Department, **overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "department_ids": [str(department.id)],
        "profile_ids": [str(profile_id(db, "Agent"))],
        "settings.page_size": "10",
        "terms_accepted": "on",
        "label": "Support desk",
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def test_install_form_shows_settings_terms_departments_and_profiles(
    browser: FlaskClient, department: Department
) -> None:
    page = browser.get("/admin/marketplace/ticket_history/install").get_data(as_text=True)
    assert 'name="settings.page_size"' in page and 'value="10"' in page
    assert 'name="terms_accepted"' in page
    assert f'name="department_ids" value="{department.id}"' in page
    assert 'name="profile_ids"' in page


def test_a_choice_setting_offers_its_choices_by_their_labels(
    browser: FlaskClient, register: Callable[..., None]
) -> None:
    labels = {"fast": {"en": "Quickly", "ja": "速く"}, "slow": {"en": "Carefully", "ja": "丁寧に"}}
    mode = {**SECRET_SETTINGS[1], "choice_labels": labels}
    register("vault", settings=[mode])
    page = browser.get("/admin/marketplace/vault/install").get_data(as_text=True)
    select = page[page.index('name="settings.mode"') :].split("</select>")[0]
    offered = re.findall(r'<option value="(\w*)"[^>]*>([^<]*)</option>', select)
    assert offered == [("", "—"), ("fast", "Quickly"), ("slow", "Carefully")]


def test_install_stores_the_installation_awaiting_authorization_and_prompts_to_authorize(
    browser: FlaskClient, db: Session, department: Department, admin: Agent
) -> None:
    answer = post(
        browser, "/admin/marketplace/ticket_history/install", _install_form(db, department)
    )
    assert answer.status_code == 302
    installation = fresh(db).scalars(select(Installation)).one()
    assert answer.headers["Location"] == f"/admin/marketplace/installations/{installation.id}"
    assert installation.state == InstallationState.AWAITING_AUTHORIZATION
    assert (installation.label, installation.department_ids) == ("Support desk", {department.id})
    page = browser.get(answer.headers["Location"]).get_data(as_text=True)
    assert f'href="/admin/marketplace/installations/{installation.id}/authorize"' in page
    assert 'id="authorize-prompt"' in page
    [entry] = audit_of(db, installation.id, "install")
    assert (entry.actor_agent_id, entry.ip_address) == (admin.id, ADMIN_IP)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"terms_accepted": None}, "terms_accepted", "Accept the extension's terms"),
        ({"department_ids": ["999999"]}, "department_ids", "Unknown department: 999999."),
        ({"profile_ids": None}, "profile_ids", "Choose at least one permission profile."),
        ({"settings.page_size": "500"}, "settings.page_size", "Must be at most 50."),
    ],
    ids=["terms-not-accepted", "unknown-department", "no-profile", "bad-setting"],
)
def test_refused_install_rerenders_the_form_with_the_message_and_stores_nothing(
    browser: FlaskClient,
    db: Session,
    department: Department,
    overrides: dict[str, Any],
    field: str,
    message: str,
) -> None:
    answer = post(
        browser,
        "/admin/marketplace/ticket_history/install",
        _install_form(db, department, **overrides),
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert f'data-field="{field}"' in page
    assert message in page.replace("&#39;", "'")
    assert 'id="install-form"' in page
    assert installation_count(db) == 0
    assert (
        db.scalars(select(AuditEntry).where(AuditEntry.entity_type == "installation")).all() == []
    )


def test_refused_install_keeps_what_the_admin_entered(
    browser: FlaskClient, db: Session, department: Department
) -> None:
    answer = post(
        browser,
        "/admin/marketplace/ticket_history/install",
        _install_form(db, department, terms_accepted=None, label="Kept label"),
    )
    page = answer.get_data(as_text=True)
    assert f'name="department_ids" value="{department.id}" checked' in page
    assert 'value="Kept label"' in page


def test_refusal_messages_are_translated_on_a_japanese_page(
    client: FlaskClient, make_agent: Callable[..., Agent], db: Session, department: Department
) -> None:
    admin = make_agent("kanri@example.com", profile="Administrator", locale="ja")
    with client.session_transaction() as session:
        session["agent_id"] = admin.id
    answer = post(
        client,
        "/admin/marketplace/ticket_history/install",
        _install_form(db, department, terms_accepted=None),
    )
    assert "利用規約に同意してください" in answer.get_data(as_text=True)


# ------------------------------------------------------------------------------ installations


def test_installations_page_lists_live_ones_with_state_and_departments(
    browser: FlaskClient, installed: Installation
) -> None:
    page = browser.get("/admin/marketplace/installations").get_data(as_text=True)
    row = page[page.index(f'id="installation-{installed.id}"') :]
    assert 'data-state="active"' in row[:2000]
    assert "Support" in row[:2000]


def test_installation_page_shows_granted_scopes_in_words_and_a_reauthorize_button(
    browser: FlaskClient, installed: Installation
) -> None:
    page = browser.get(f"/admin/marketplace/installations/{installed.id}").get_data(as_text=True)
    granted = page[page.index('id="granted-scopes"') :]
    assert "Read tickets" in granted[:1000]
    assert 'id="authorize-button"' in page and "Re-authorize" in page


def test_unknown_installation_is_404(browser: FlaskClient) -> None:
    assert browser.get("/admin/marketplace/installations/999999").status_code == 404


def test_scope_edit_changes_departments_and_is_audited_with_the_ip(
    browser: FlaskClient,
    db: Session,
    installed: Installation,
    make_department: Callable[..., Department],
    department: Department,
    admin: Agent,
) -> None:
    billing = make_department("Billing")
    answer = post(
        browser,
        f"/admin/marketplace/installations/{installed.id}/scope",
        {
            "department_ids": [str(department.id), str(billing.id)],
            "profile_ids": [str(profile_id(db, "Agent"))],
        },
    )
    assert answer.status_code == 302
    assert reloaded(db, installed.id).department_ids == {department.id, billing.id}
    [entry] = audit_of(db, installed.id, "scope")
    assert (entry.actor_agent_id, entry.ip_address) == (admin.id, ADMIN_IP)
    history = browser.get(f"/admin/marketplace/installations/{installed.id}").get_data(as_text=True)
    assert "Departments and profiles saved." in history
    table = history[history.index('id="audit-history"') :]
    assert ADMIN_IP in table and "Departments and profiles changed" in table
    assert "Support, Billing" in table


def test_scope_edit_without_departments_is_refused_and_changes_nothing(
    browser: FlaskClient, db: Session, installed: Installation, department: Department
) -> None:
    answer = post(
        browser,
        f"/admin/marketplace/installations/{installed.id}/scope",
        {"profile_ids": [str(profile_id(db, "Agent"))]},
    )
    assert answer.status_code == 422
    assert "Choose at least one department." in answer.get_data(as_text=True)
    assert reloaded(db, installed.id).department_ids == {department.id}
    assert audit_of(db, installed.id, "scope") == []


def test_settings_edit_is_saved_and_audited_with_the_ip(
    browser: FlaskClient, db: Session, installed: Installation
) -> None:
    answer = post(
        browser,
        f"/admin/marketplace/installations/{installed.id}/settings",
        {"settings.page_size": "20"},
    )
    assert answer.status_code == 302
    assert reloaded(db, installed.id).settings["page_size"] == 20
    [entry] = audit_of(db, installed.id, "settings")
    assert entry.ip_address == ADMIN_IP
    assert (entry.before["settings"]["page_size"], entry.after["settings"]["page_size"]) == (10, 20)


def test_bad_setting_is_refused_with_the_message_and_changes_nothing(
    browser: FlaskClient, db: Session, installed: Installation
) -> None:
    answer = post(
        browser,
        f"/admin/marketplace/installations/{installed.id}/settings",
        {"settings.page_size": "many"},
    )
    assert answer.status_code == 422
    assert "Must be a whole number." in answer.get_data(as_text=True)
    assert reloaded(db, installed.id).settings["page_size"] == 10


SECRET_SETTINGS = [
    {"name": "api_key", "type": "secret", "label": {"en": "API key", "ja": "APIキー"}},
    {
        "name": "mode",
        "type": "choice",
        "label": {"en": "Mode", "ja": "モード"},
        "choices": ["fast", "slow"],
        "default": "fast",
    },
    {"name": "verbose", "type": "boolean", "label": {"en": "Verbose", "ja": "詳細"}},
]


def test_secret_setting_is_shown_masked_and_a_blank_keeps_it(
    browser: FlaskClient, db: Session, department: Department, register: Callable[..., None]
) -> None:
    register("vault", settings=SECRET_SETTINGS)
    form = _install_form(db, department, **{"settings.api_key": "sk-live-123456789"})
    del form["settings.page_size"]
    answer = post(browser, "/admin/marketplace/vault/install", form)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    path = answer.headers["Location"]
    page = browser.get(path).get_data(as_text=True)
    assert "••••6789" in page and "sk-live-123456789" not in page

    post(browser, f"{path}/settings", {"settings.api_key": "", "settings.mode": "slow"})
    page = browser.get(path).get_data(as_text=True)
    assert "••••6789" in page
    installation = fresh(db).scalars(select(Installation)).one()
    assert installation.settings == {"mode": "slow", "verbose": False}
    [entry] = audit_of(db, installation.id, "settings")
    assert "sk-live" not in str(entry.before) + str(entry.after)


# ------------------------------------------------------------------------------ uninstall


def test_uninstall_page_asks_for_confirmation_and_keep_or_purge(
    browser: FlaskClient, installed: Installation
) -> None:
    page = browser.get(f"/admin/marketplace/installations/{installed.id}/uninstall").get_data(
        as_text=True
    )
    assert 'name="confirmed"' in page
    assert 'value="keep"' in page and 'value="purge"' in page
    assert "cannot be undone" in page


def test_uninstall_without_confirmation_is_refused_and_changes_nothing(
    browser: FlaskClient, db: Session, installed: Installation
) -> None:
    answer = post(
        browser, f"/admin/marketplace/installations/{installed.id}/uninstall", {"data": "purge"}
    )
    assert answer.status_code == 422
    assert "Confirm that you want to uninstall." in answer.get_data(as_text=True)
    assert reloaded(db, installed.id).state == InstallationState.ACTIVE


def test_uninstall_keeping_data_archives_it_and_lists_it_for_restore(
    browser: FlaskClient, db: Session, installed: Installation
) -> None:
    answer = post(
        browser,
        f"/admin/marketplace/installations/{installed.id}/uninstall",
        {"confirmed": "on", "data": "keep"},
    )
    assert answer.status_code == 302
    assert reloaded(db, installed.id).state == InstallationState.ARCHIVED
    page = browser.get("/admin/marketplace/installations").get_data(as_text=True)
    archived = page[page.index('id="archived-list"') :]
    assert f'id="installation-{installed.id}"' in archived
    assert f'action="/admin/marketplace/installations/{installed.id}/restore"' in archived
    [entry] = audit_of(db, installed.id, "uninstall:keep")
    assert entry.ip_address == ADMIN_IP


def test_uninstall_purging_data_deletes_the_installation(
    browser: FlaskClient, db: Session, installed: Installation
) -> None:
    installation_id = installed.id
    answer = post(
        browser,
        f"/admin/marketplace/installations/{installation_id}/uninstall",
        {"confirmed": "on", "data": "purge"},
    )
    assert answer.status_code == 302
    assert reloaded(db, installation_id) is None
    assert len(audit_of(db, installation_id, "uninstall:purge")) == 1


def test_restore_brings_an_archived_installation_back_awaiting_authorization(
    browser: FlaskClient, host: Host, db: Session, installed: Installation
) -> None:
    lifecycle.uninstall(system_unit(db, host), installed, confirmed=True, keep_data=True)
    db.commit()
    answer = post(browser, f"/admin/marketplace/installations/{installed.id}/restore")
    assert answer.status_code == 302
    assert reloaded(db, installed.id).state == InstallationState.AWAITING_AUTHORIZATION
    assert audit_of(db, installed.id, "restore")[0].ip_address == ADMIN_IP


def test_archived_installation_page_says_its_oauth_clients_stay_revoked(
    browser: FlaskClient, host: Host, db: Session, installed: Installation
) -> None:
    lifecycle.uninstall(system_unit(db, host), installed, confirmed=True, keep_data=True)
    db.commit()

    page = browser.get(f"/admin/marketplace/installations/{installed.id}").get_data(as_text=True)

    note = page[page.index('id="restore-clients-note"') :]
    assert "register a new client" in note[: note.index("</p>")]


def test_restore_says_a_new_oauth_client_must_be_registered(
    browser: FlaskClient, host: Host, db: Session, installed: Installation
) -> None:
    lifecycle.uninstall(system_unit(db, host), installed, confirmed=True, keep_data=True)
    db.commit()

    answer = post(browser, f"/admin/marketplace/installations/{installed.id}/restore")

    page = browser.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Its OAuth clients stay revoked: register a new client" in page


def test_restoring_a_live_installation_is_a_conflict(
    browser: FlaskClient, installed: Installation
) -> None:
    answer = post(browser, f"/admin/marketplace/installations/{installed.id}/restore")
    assert answer.status_code == 409
    assert "only an archived installation can be restored" in answer.get_data(as_text=True)


# ------------------------------------------------------------------------------ upgrade


def test_upgrade_button_appears_for_a_newer_deployed_version_and_upgrades(
    browser: FlaskClient,
    host: Host,
    db: Session,
    department: Department,
    register: Callable[..., None],
) -> None:
    register("growing", version="1.0.0", scopes=["desk.tickets.read"])
    installation = install_for(db, host, "growing", [department.id])
    db.commit()
    path = f"/admin/marketplace/installations/{installation.id}"
    assert 'id="upgrade-form"' not in browser.get(path).get_data(as_text=True)

    register("growing", version="1.1.0", scopes=["desk.tickets.read", "desk.contacts.read"])
    assert 'id="upgrade-form"' in browser.get(path).get_data(as_text=True)
    assert post(browser, f"{path}/upgrade").status_code == 302
    assert reloaded(db, installation.id).plugin_version == "1.1.0"
    page = browser.get(path).get_data(as_text=True)
    assert 'id="upgrade-form"' not in page
    pending = page[page.index('id="pending-scopes"') :]
    assert "desk.contacts.read" in pending[:500]


# ------------------------------------------------------------------------------ access


@pytest.fixture
def manager(client: FlaskClient, make_agent: Callable[..., Agent], department: Department):  # type: ignore[no-untyped-def]
    """The client signed in as a Support Manager (no marketplace.manage)."""
    agent = make_agent("manager@example.com", profile="Support Manager", departments=[department])
    with client.session_transaction() as session:
        session["agent_id"] = agent.id
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/marketplace",
        "/admin/marketplace/ticket_history",
        "/admin/marketplace/ticket_history/install",
        "/admin/marketplace/installations",
        "/admin/marketplace/installations/{id}",
        "/admin/marketplace/installations/{id}/uninstall",
    ],
)
def test_agent_without_marketplace_permission_gets_403_on_pages(
    manager: FlaskClient, installed: Installation, path: str
) -> None:
    assert manager.get(path.format(id=installed.id)).status_code == 403


@pytest.mark.parametrize("action", ["scope", "settings", "upgrade", "restore", "uninstall"])
def test_agent_without_marketplace_permission_gets_403_on_changes(
    manager: FlaskClient, db: Session, installed: Installation, action: str
) -> None:
    page = manager.get("/tickets").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    answer = manager.post(
        f"/admin/marketplace/installations/{installed.id}/{action}",
        data={"csrf_token": token, "confirmed": "on", "data": "purge"},
    )
    assert answer.status_code == 403
    assert reloaded(db, installed.id) is not None
    assert "/admin/marketplace" not in page


def test_anonymous_visitor_is_sent_to_sign_in(client: FlaskClient) -> None:
    answer = client.get("/admin/marketplace")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/login")
