"""Declared requirements: the custom fields, views, spam rules and statuses an extension's
manifest asks for, created at install, listed at consent, kept with the data, removed with a
purge, added by an upgrade, checked by ``requirement_problems``."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.cli import main
from core.errors import ValidationFailed
from core.host import Host
from core.intake import spam
from core.models import (
    Agent,
    Contact,
    CustomField,
    CustomView,
    Department,
    Installation,
    Organisation,
    OutboxEvent,
    PermissionProfile,
    SpamRule,
    StatusChange,
    Ticket,
    TicketStatus,
)
from core.models.extensions import InstallationState
from core.plugins.manifest import load_manifest
from core.plugins.requirements import requirement_problems
from core.services import customers, fields, tickets, views
from core.services.base import Actor, Unit
from core.web.i18n import compile_catalogs
from hostapi import Context, Event, events, hookimpl, scopes
from marketplace_registry import lifecycle
from tests.declaring_extension import (
    ACME_SYNC,
    AWAITING_VENDOR,
    GOLD_VIEW,
    PLAN,
    TIER,
    TIER_KEY,
    VENDOR_SPAM,
    ManifestOnly,
)
from tests.plugin_fixtures import manifest

pytest_plugins = ["tests.api_fixtures"]

PLUGIN = ACME_SYNC
FIELD_KEY = TIER_KEY
#: A declaration of each kind: a field, a view, a spam rule and a status.
EVERY_KIND: dict[str, list[dict[str, Any]]] = {
    "contact_fields": [TIER],
    "views": [GOLD_VIEW],
    "spam_rules": [VENDOR_SPAM],
    "statuses": [AWAITING_VENDOR],
}
#: What ``acme_sync`` requests: ticket events, and the desk's setup events (statuses).
SCOPES = [scopes.TICKETS_READ, scopes.SETTINGS_READ]

#: A sign-in's CSRF header, as tests.api_fixtures' ``sign_in_as`` returns it.
SignIn = Callable[[Agent], dict[str, str]]


class _Recorder:
    """Records the events its synchronous hook is sent, and when it was uninstalled."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    @hookimpl
    def deskhost_event_sync(self, context: Context, event: Event) -> None:
        self.heard.append(event.name)

    @hookimpl
    def deskhost_uninstall(self, context: Context, purge: bool) -> None:
        self.heard.append("uninstalled")


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalogs() -> None:
    """The Japanese pages need compiled catalogs even when pytest runs without make."""
    compile_catalogs()


@pytest.fixture
def deploy(host: Host) -> Iterator[Callable[..., None]]:
    """``deploy(version="1.0.0", extension=None, **requirements)``: load ``acme_sync``
    declaring them (the release before it unloaded, as a host restarted on a newer package);
    ``extension`` is its hooks (none by default), requesting :data:`SCOPES`."""

    def load(
        version: str = "1.0.0",
        extension: object | None = None,
        **requirements: list[dict[str, Any]],
    ) -> None:
        if PLUGIN in host.plugins.loaded:
            host.plugins.unregister_plugin(PLUGIN)
        host.plugins.register_plugin(
            extension if extension is not None else ManifestOnly(),
            manifest(
                PLUGIN,
                version=version,
                scopes=SCOPES,
                single_install=True,
                requirements=requirements,
            ),
        )

    yield load
    if PLUGIN in host.plugins.loaded:
        host.plugins.unregister_plugin(PLUGIN)


@pytest.fixture
def tier_and_gold_view(deploy: Callable[..., None]) -> None:
    """``acme_sync`` declaring a contact picklist field and a view of its gold contacts."""
    deploy(contact_fields=[TIER], views=[GOLD_VIEW])


@pytest.fixture
def every_kind(deploy: Callable[..., None]) -> None:
    """``acme_sync`` declaring a field, a view, a spam rule and a status."""
    deploy(**EVERY_KIND)


@pytest.fixture
def admin_web(client: FlaskClient, sign_in_as: SignIn, admin_agent: Agent) -> FlaskClient:
    """The test client signed in as the admin."""
    sign_in_as(admin_agent)
    return client


@pytest.fixture
def installation_id(host: Host, admin_agent: Agent, department: Department) -> int:
    """``acme_sync`` installed by the admin (awaiting consent), as the test's declaration
    fixture (``usefixtures``) deployed it; the installation's id."""
    return _install(host, admin_agent, department)


# ------------------------------------------------------------------------------ helpers


def _admin_unit(session: Session, host: Host, admin: Agent) -> Unit:
    return Unit(session, Actor(session.get(Agent, admin.id)), host)


def _install(host: Host, admin: Agent, department: Department) -> int:
    """Install ``acme_sync`` as the admin (terms accepted, every profile); its id."""
    with host.transaction() as session:
        return lifecycle.install(
            _admin_unit(session, host, admin),
            PLUGIN,
            department_ids=[department.id],
            profile_ids=list(session.scalars(select(PermissionProfile.id))),
            terms_accepted=True,
        ).id


def _grant(host: Host, admin: Agent, installation_id: int) -> None:
    """The admin's consent to every scope ``acme_sync`` requests: the installation is active."""
    with host.transaction() as session:
        lifecycle.grant(
            _admin_unit(session, host, admin), session.get(Installation, installation_id), SCOPES
        )


def _refused_install(host: Host, admin: Agent, department: Department) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as refused:
        _install(host, admin, department)
    return refused.value.errors


def _refused_upgrade(host: Host, admin: Agent, installation_id: int) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as refused:
        _upgrade(host, admin, installation_id)
    return refused.value.errors


def _uninstall(host: Host, admin: Agent, installation_id: int, *, keep_data: bool) -> None:
    with host.transaction() as session:
        lifecycle.uninstall(
            _admin_unit(session, host, admin),
            session.get(Installation, installation_id),
            confirmed=True,
            keep_data=keep_data,
        )


def _restore(host: Host, admin: Agent, installation_id: int) -> None:
    with host.transaction() as session:
        lifecycle.restore(
            _admin_unit(session, host, admin), session.get(Installation, installation_id)
        )


def _upgrade(host: Host, admin: Agent, installation_id: int) -> None:
    with host.transaction() as session:
        assert lifecycle.upgrade(
            _admin_unit(session, host, admin), session.get(Installation, installation_id)
        )


def _state(host: Host, installation_id: int) -> str | None:
    with host.sessions() as session:
        installation = session.get(Installation, installation_id)
        return None if installation is None else installation.state


def _field(host: Host, key: str = FIELD_KEY) -> CustomField | None:
    with host.sessions() as session:
        return session.scalar(select(CustomField).where(CustomField.key == key))


def _view(host: Host, name: str = "Gold customers") -> CustomView | None:
    with host.sessions() as session:
        return session.scalar(select(CustomView).where(CustomView.name == name))


def _status(host: Host, name: str = "Awaiting vendor") -> TicketStatus | None:
    with host.sessions() as session:
        return session.scalar(select(TicketStatus).where(TicketStatus.name == name))


def _spam_rule(host: Host) -> SpamRule | None:
    with host.sessions() as session:
        return session.scalar(select(SpamRule).where(SpamRule.pattern == "spam.example"))


def _classified(host: Host, sender: str) -> str | None:
    """Why the spam check holds back an email from ``sender`` (None: it lets it through)."""
    with host.sessions() as session:
        return spam.classify(session, spam.Inspected(channel="email", email=sender), None)


def _give_tier(host: Host, admin: Agent, contact: Contact, tier: str) -> None:
    with host.transaction() as session:
        customers.update_contact(
            _admin_unit(session, host, admin),
            session.get(Contact, contact.id),
            custom_fields={FIELD_KEY: tier},
        )


def _custom_values(host: Host, contact: Contact) -> dict[str, Any]:
    with host.sessions() as session:
        return dict(session.get(Contact, contact.id).custom_fields or {})


def _gold_contacts(host: Host, admin: Agent) -> list[str]:
    """Last names the declared view lists, as the admin runs it."""
    return _view_rows(host, admin, _view(host).id)


def _view_rows(host: Host, admin: Agent, view_id: int) -> list[str]:
    """Last names the saved view ``view_id`` lists, as the admin runs it."""
    with host.sessions() as session:
        unit = _admin_unit(session, host, admin)
        return [
            row.last_name
            for row in views.run_view(unit, views.get_view(unit, "contact", view_id)).rows
        ]


def _consent_page(web: FlaskClient, installation_id: int) -> str:
    """The admin's "Authorize" link followed to the consent page."""
    start = web.get(f"/admin/marketplace/installations/{installation_id}/authorize")
    assert start.status_code == 302
    page = web.get(start.headers["Location"])
    assert page.status_code == 200
    return html.unescape(page.get_data(as_text=True))


def _approve(web: FlaskClient, page: str) -> None:
    """Answer the consent page with approval and follow the redirect to the host's callback."""
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    answer = web.post("/oauth/authorize", data={**form, "decision": "approve"})
    assert answer.status_code == 302
    assert web.get(answer.headers["Location"]).status_code == 302


def _requirement_items(page: str, list_id: str = "requirements") -> list[str]:
    """The items of a page's requirement list, as text."""
    found = re.search(rf'<ul class="plain requirements" id="{list_id}">(.*?)</ul>', page, re.S)
    assert found, f"no list {list_id!r}"
    items = re.findall(r"<li[^>]*>(.*?)</li>", found.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", item).split()) for item in items]


def _listed_item(web: FlaskClient, path: str, item_id: str, closing_tag: str) -> str:
    """The HTML of the item ``id="<item_id>"`` on the page at ``path``, up to ``closing_tag``."""
    page = web.get(path).get_data(as_text=True)
    return page[page.index(f'id="{item_id}"') :].split(closing_tag)[0]


def _events_named(host: Host, name: str) -> list[dict[str, Any]]:
    """The payloads of the events called ``name`` in the outbox, oldest first."""
    with host.sessions() as session:
        return list(
            session.scalars(
                select(OutboxEvent.payload)
                .where(OutboxEvent.name == name)
                .order_by(OutboxEvent.occurred_at, OutboxEvent.seq)
            )
        )


def _set_desk_language(host: Host, locale: str) -> None:
    with host.transaction() as session:
        session.scalars(select(Organisation)).one().default_locale = locale


# ------------------------------------------------------------------------------ the whole life


@pytest.mark.usefixtures("tier_and_gold_view")
def test_declared_field_and_view_live_through_consent_keep_restore_and_purge(
    host: Host,
    admin_web: FlaskClient,
    admin_agent: Agent,
    department: Department,
    make_contact: Callable[..., Contact],
) -> None:
    installation_id = _install(host, admin_agent, department)

    page = _consent_page(admin_web, installation_id)
    assert _requirement_items(page) == [
        f"Contact field: Support tier (Picklist) {FIELD_KEY}",
        "Contact view: Gold customers",
    ]
    _approve(admin_web, page)
    assert _state(host, installation_id) == InstallationState.ACTIVE

    gold, _plain = make_contact("Gold", email="gold@example.com"), make_contact("Plain", email=None)
    _give_tier(host, admin_agent, gold, "gold")
    assert _gold_contacts(host, admin_agent) == ["Gold"]

    _uninstall(host, admin_agent, installation_id, keep_data=True)
    assert _field(host) is not None and _view(host) is not None
    assert _custom_values(host, gold) == {FIELD_KEY: "gold"}
    assert _gold_contacts(host, admin_agent) == ["Gold"]

    _restore(host, admin_agent, installation_id)
    assert _field(host).installation_id == installation_id
    assert _view(host).installation_id == installation_id

    _uninstall(host, admin_agent, installation_id, keep_data=False)
    assert _field(host) is None and _view(host) is None
    assert _custom_values(host, gold) == {}


# ------------------------------------------------------------------------------ install


@pytest.mark.usefixtures("tier_and_gold_view")
def test_declared_field_key_carries_the_extension_id_and_is_owned_by_the_installation(
    host: Host, admin_agent: Agent, department: Department
) -> None:
    installation_id = _install(host, admin_agent, department)

    field = _field(host)
    assert (field.entity, field.field_type, field.options) == (
        "contact",
        "picklist",
        TIER["choices"],
    )
    assert (field.installation_id, field.requirement_key) == (installation_id, "tier")


@pytest.mark.usefixtures("tier_and_gold_view")
def test_declared_view_is_shared_and_belongs_to_no_agent(
    host: Host, admin_agent: Agent, department: Department
) -> None:
    _install(host, admin_agent, department)

    view = _view(host)
    assert (view.shared, view.owner_id, view.columns) == (True, None, GOLD_VIEW["columns"])


@pytest.mark.usefixtures("tier_and_gold_view")
def test_declared_names_are_created_in_the_desks_language(
    host: Host, admin_agent: Agent, department: Department
) -> None:
    _set_desk_language(host, "ja")

    _install(host, admin_agent, department)

    assert _field(host).label == "サポート階層"
    assert _view(host, "ゴールド顧客") is not None


@pytest.mark.usefixtures("every_kind")
def test_declared_status_and_spam_rule_are_created(
    host: Host, admin_agent: Agent, department: Department
) -> None:
    installation_id = _install(host, admin_agent, department)

    status = _status(host)
    assert (status.status_type, status.is_active, status.installation_id) == (
        "on_hold",
        True,
        installation_id,
    )
    rule = _spam_rule(host)
    assert (rule.kind, rule.is_active, rule.installation_id) == ("domain", True, installation_id)


@pytest.mark.usefixtures("every_kind")
def test_declared_spam_rule_holds_matching_mail_back_once_the_admin_consents(
    host: Host, admin_agent: Agent, installation_id: int
) -> None:
    _grant(host, admin_agent, installation_id)

    assert _classified(host, "x@mail.spam.example") == "Blocked domain spam.example"


@pytest.mark.usefixtures("every_kind", "installation_id")
def test_spam_rule_of_an_installation_awaiting_consent_holds_nothing_back(host: Host) -> None:
    assert _spam_rule(host) is not None

    assert _classified(host, "x@mail.spam.example") is None


@pytest.mark.usefixtures("every_kind")
def test_install_refusal_names_the_status_name_the_desk_uses_and_installs_nothing(
    host: Host,
    admin_agent: Agent,
    department: Department,
    unit_for: Callable[..., Unit],
    db: Session,
) -> None:
    tickets.create_status(unit_for(admin_agent), name="awaiting VENDOR", status_type="open")
    db.commit()

    errors = _refused_install(host, admin_agent, department)

    assert errors == {
        "requirements.statuses.0.name": ['A status named "Awaiting vendor" exists already.']
    }
    with host.sessions() as session:
        assert session.scalars(select(Installation)).all() == []
    assert _field(host) is None and _spam_rule(host) is None


@pytest.mark.usefixtures("tier_and_gold_view")
def test_install_refusal_names_a_field_label_the_desk_uses(
    host: Host,
    admin_agent: Agent,
    department: Department,
    unit_for: Callable[..., Unit],
    db: Session,
) -> None:
    fields.create_field(
        unit_for(admin_agent), entity="contact", label="Support Tier", field_type="text"
    )
    db.commit()

    errors = _refused_install(host, admin_agent, department)

    assert errors == {
        "requirements.contact_fields.0.label": ['A field labelled "Support tier" exists already.']
    }


@pytest.mark.usefixtures("tier_and_gold_view")
def test_refused_install_page_answers_422_with_the_message(
    host: Host,
    admin_web: FlaskClient,
    admin_agent: Agent,
    department: Department,
    unit_for: Callable[..., Unit],
    db: Session,
) -> None:
    fields.create_field(
        unit_for(admin_agent), entity="contact", label="Support tier", field_type="text"
    )
    db.commit()
    token = re.search(
        r'name="csrf_token" value="([^"]+)"',
        admin_web.get(f"/admin/marketplace/{PLUGIN}/install").get_data(as_text=True),
    )
    assert token

    answer = admin_web.post(
        f"/admin/marketplace/{PLUGIN}/install",
        data={
            "csrf_token": token.group(1),
            "department_ids": [str(department.id)],
            "profile_ids": [str(p) for p in db.scalars(select(PermissionProfile.id))],
            "terms_accepted": "on",
        },
    )

    assert answer.status_code == 422
    assert 'A field labelled "Support tier" exists already.' in html.unescape(
        answer.get_data(as_text=True)
    )


@pytest.mark.usefixtures("every_kind")
def test_cli_install_refusal_names_the_declaration_and_exits_2(
    host: Host,
    runner: FlaskCliRunner,
    department: Department,
    unit_for: Callable[..., Unit],
    admin_agent: Agent,
    db: Session,
) -> None:
    spam.create_rule(unit_for(admin_agent), kind="domain", pattern="spam.example")
    db.commit()

    result = runner.invoke(
        main,
        [
            "ext",
            "install",
            PLUGIN,
            "--department",
            "Support",
            "--profile",
            "Agent",
            "--accept-terms",
        ],
    )

    assert result.exit_code == 2
    assert "requirements.spam_rules.0.pattern: This rule exists already." in result.output


@pytest.mark.usefixtures("tier_and_gold_view")
def test_install_page_lists_what_the_extension_adds(admin_web: FlaskClient) -> None:
    page = html.unescape(admin_web.get(f"/admin/marketplace/{PLUGIN}/install").get_data(True))

    assert _requirement_items(page) == [
        f"Contact field: Support tier (Picklist) {FIELD_KEY}",
        "Contact view: Gold customers",
    ]


@pytest.mark.usefixtures("every_kind")
def test_consent_page_lists_each_kind_in_japanese_for_a_japanese_admin(
    host: Host,
    client: FlaskClient,
    sign_in_as: SignIn,
    make_agent: Callable[..., Agent],
    admin_agent: Agent,
    department: Department,
) -> None:
    installation_id = _install(host, admin_agent, department)
    japanese_admin = make_agent(
        "kanri@example.com", profile="Administrator", departments=[department], locale="ja"
    )
    sign_in_as(japanese_admin)

    items = _requirement_items(_consent_page(client, installation_id))

    assert items == [
        f"連絡先の項目: Support tier (選択リスト) {FIELD_KEY}",
        "連絡先のビュー: Gold customers",
        "迷惑メッセージのルール: 送信者のドメイン（サブドメインを含む） spam.example",
        "チケットのステータス: Awaiting vendor (保留中)",
    ]


@pytest.mark.usefixtures("tier_and_gold_view")
def test_install_beside_an_archived_installation_says_to_restore_or_purge_it(
    host: Host, admin_agent: Agent, department: Department, installation_id: int
) -> None:
    _uninstall(host, admin_agent, installation_id, keep_data=True)

    errors = _refused_install(host, admin_agent, department)

    message = (
        f"Archived installation {installation_id} of this extension has it: "
        f"restore or purge installation {installation_id}."
    )
    assert errors == {
        "requirements.contact_fields.0.key": [message],
        "requirements.views.0.name": [message],
    }


@pytest.mark.usefixtures("every_kind")
def test_status_an_admin_names_while_the_install_runs_refuses_it_naming_the_status(
    host: Host,
    admin_agent: Agent,
    department: Department,
    unit_for: Callable[..., Unit],
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The install's check ran before the admin's status was committed.
    monkeypatch.setattr(
        "core.plugins.requirements.check_requirements", lambda *_args, **_kwargs: None
    )
    tickets.create_status(unit_for(admin_agent), name="Awaiting vendor", status_type="open")
    db.commit()

    errors = _refused_install(host, admin_agent, department)

    assert errors == {
        "requirements.statuses.0.name": ['A status named "Awaiting vendor" exists already.']
    }


# ------------------------------------------------------------------------------ by hand


@pytest.mark.usefixtures("tier_and_gold_view")
def test_declared_field_cannot_be_removed_by_hand(
    host: Host,
    admin_agent: Agent,
    department: Department,
    unit_for: Callable[..., Unit],
    db: Session,
) -> None:
    _install(host, admin_agent, department)
    field = db.scalars(select(CustomField).where(CustomField.key == FIELD_KEY)).one()

    with pytest.raises(ValidationFailed) as refused:
        fields.delete_field(unit_for(admin_agent), field)

    assert refused.value.errors == {
        "installation_id": ["An extension added this: it cannot be changed or removed by hand."]
    }


@pytest.mark.usefixtures("every_kind")
def test_declared_status_cannot_be_renamed_by_hand(
    host: Host,
    admin_agent: Agent,
    department: Department,
    unit_for: Callable[..., Unit],
    db: Session,
) -> None:
    _install(host, admin_agent, department)
    status = db.scalars(select(TicketStatus).where(TicketStatus.name == "Awaiting vendor")).one()

    with pytest.raises(ValidationFailed) as refused:
        tickets.update_status(unit_for(admin_agent), status, name="Waiting on vendor")

    assert refused.value.errors == {
        "installation_id": ["An extension added this: it cannot be changed or removed by hand."]
    }


@pytest.mark.usefixtures("every_kind")
def test_declared_spam_rule_can_be_switched_off_but_not_deleted(
    host: Host,
    admin_agent: Agent,
    department: Department,
    unit_for: Callable[..., Unit],
    db: Session,
) -> None:
    _install(host, admin_agent, department)
    rule = db.scalars(select(SpamRule).where(SpamRule.pattern == "spam.example")).one()
    unit = unit_for(admin_agent)

    spam.set_rule_active(unit, rule, False)
    with pytest.raises(ValidationFailed):
        spam.delete_rule(unit, rule)

    assert rule.is_active is False


@pytest.mark.usefixtures("tier_and_gold_view", "installation_id")
def test_field_editor_shows_the_declared_field_as_added_by_the_extension(
    host: Host, admin_web: FlaskClient
) -> None:
    field_id = _field(host).id

    item = _listed_item(admin_web, "/admin/fields/contact", f"field-{field_id}", "</li>")

    assert "Added by Acme Sync" in item
    assert f"/admin/fields/contact/{field_id}/delete" not in item


@pytest.mark.usefixtures("tier_and_gold_view", "installation_id")
def test_view_picker_names_the_extension_that_added_a_view(admin_web: FlaskClient) -> None:
    page = admin_web.get("/contacts").get_data(as_text=True)

    assert "Gold customers (Added by Acme Sync)" in page


@pytest.mark.usefixtures("every_kind", "installation_id")
def test_status_list_shows_the_declared_status_as_added_by_the_extension_without_a_link(
    host: Host, admin_web: FlaskClient
) -> None:
    status_id = _status(host).id

    row = _listed_item(admin_web, "/setup/statuses", f"status-{status_id}", "</tr>")

    assert "Added by Acme Sync" in row
    assert f'href="/setup/statuses/{status_id}"' not in row


@pytest.mark.usefixtures("every_kind", "installation_id")
def test_spam_rule_list_offers_no_delete_for_the_declared_rule(
    host: Host, admin_web: FlaskClient
) -> None:
    rule_id = _spam_rule(host).id

    row = _listed_item(admin_web, "/admin/spam-rules", f"rule-{rule_id}", "</tr>")

    assert "Added by Acme Sync" in row
    assert f"/admin/spam-rules/{rule_id}/toggle" in row
    assert f"/admin/spam-rules/{rule_id}/delete" not in row


# ------------------------------------------------------------------------------ uninstall


@pytest.mark.usefixtures("every_kind")
def test_uninstall_page_lists_what_purging_deletes(
    host: Host, admin_web: FlaskClient, admin_agent: Agent, department: Department
) -> None:
    installation_id = _install(host, admin_agent, department)

    page = html.unescape(
        admin_web.get(f"/admin/marketplace/installations/{installation_id}/uninstall").get_data(
            as_text=True
        )
    )

    assert _requirement_items(page, "owned-requirements") == [
        f"Contact field: Support tier (Picklist) {FIELD_KEY}",
        "Contact view: Gold customers",
        "Spam rule: Sender domain (subdomains included) spam.example",
        "Ticket status: Awaiting vendor (On hold)",
    ]


@pytest.mark.usefixtures("every_kind")
def test_archived_installations_spam_rule_applies_again_only_after_restore_and_consent(
    host: Host, admin_agent: Agent, installation_id: int
) -> None:
    _grant(host, admin_agent, installation_id)

    _uninstall(host, admin_agent, installation_id, keep_data=True)
    assert _spam_rule(host) is not None
    assert _classified(host, "x@spam.example") is None

    _restore(host, admin_agent, installation_id)
    assert _classified(host, "x@spam.example") is None

    _grant(host, admin_agent, installation_id)
    assert _classified(host, "x@spam.example") == "Blocked domain spam.example"


@pytest.mark.usefixtures("every_kind")
def test_purge_removes_the_declared_status_and_spam_rule(
    host: Host, admin_agent: Agent, department: Department
) -> None:
    installation_id = _install(host, admin_agent, department)

    _uninstall(host, admin_agent, installation_id, keep_data=False)

    assert _status(host) is None and _spam_rule(host) is None


@pytest.mark.usefixtures("every_kind")
def test_purge_moves_tickets_of_a_removed_status_to_the_built_in_status_of_its_type(
    host: Host,
    admin_agent: Agent,
    department: Department,
    make_ticket: Callable[..., Ticket],
    unit_for: Callable[..., Unit],
    db: Session,
) -> None:
    installation_id = _install(host, admin_agent, department)
    ticket = make_ticket()
    tickets.change_status(unit_for(admin_agent), db.get(Ticket, ticket.id), "Awaiting vendor")
    db.commit()

    _uninstall(host, admin_agent, installation_id, keep_data=False)

    db.expire_all()
    moved = db.get(Ticket, ticket.id)
    assert (moved.status, moved.status_type) == ("On Hold", "on_hold")
    last = db.scalars(
        select(StatusChange)
        .where(StatusChange.ticket_id == ticket.id)
        .order_by(StatusChange.id.desc())
        .limit(1)
    ).one()
    assert (last.from_status, last.to_status) == ("Awaiting vendor", "On Hold")


@pytest.mark.usefixtures("tier_and_gold_view")
def test_purge_rolls_back_with_the_transaction_it_runs_in(
    host: Host, admin_agent: Agent, department: Department, make_contact: Callable[..., Contact]
) -> None:
    installation_id = _install(host, admin_agent, department)
    contact = make_contact()
    _give_tier(host, admin_agent, contact, "silver")

    with pytest.raises(RuntimeError), host.transaction() as session:
        lifecycle.uninstall(
            _admin_unit(session, host, admin_agent),
            session.get(Installation, installation_id),
            confirmed=True,
            keep_data=False,
        )
        raise RuntimeError("something later in the purge's transaction failed")

    assert _field(host).installation_id == installation_id
    assert _view(host) is not None
    assert _custom_values(host, contact) == {FIELD_KEY: "silver"}


@pytest.mark.usefixtures("tier_and_gold_view")
def test_database_refuses_to_delete_an_installation_that_still_owns_objects(
    host: Host, admin_agent: Agent, department: Department
) -> None:
    installation_id = _install(host, admin_agent, department)

    with pytest.raises(Exception, match=r"(?i)foreign key"), host.transaction() as session:
        session.delete(session.get(Installation, installation_id))
        session.flush()


def test_purged_extension_hears_no_event_of_its_own_purge(
    host: Host,
    admin_agent: Agent,
    department: Department,
    deploy: Callable[..., None],
    make_ticket: Callable[..., Ticket],
    unit_for: Callable[..., Unit],
    db: Session,
) -> None:
    recorder = _Recorder()
    deploy(extension=recorder, **EVERY_KIND)
    installation_id = _install(host, admin_agent, department)
    _grant(host, admin_agent, installation_id)
    ticket = make_ticket()
    tickets.change_status(unit_for(admin_agent), db.get(Ticket, ticket.id), "Awaiting vendor")
    db.commit()

    _uninstall(host, admin_agent, installation_id, keep_data=False)

    assert _events_named(host, events.TICKET_STATUS_CHANGED)[-1]["to_status"] == "On Hold"
    assert recorder.heard == ["uninstalled"]


@pytest.mark.usefixtures("every_kind")
def test_purge_announces_the_removed_status_as_deleted(
    host: Host, admin_agent: Agent, installation_id: int
) -> None:
    status_id = _status(host).id

    _uninstall(host, admin_agent, installation_id, keep_data=False)

    assert _events_named(host, events.STATUS_DELETED) == [
        {
            "status_id": status_id,
            "name": "Awaiting vendor",
            "status_type": "on_hold",
            "tickets_moved_to": "On Hold",
        }
    ]


@pytest.mark.usefixtures("tier_and_gold_view")
def test_purge_takes_the_field_out_of_the_desks_saved_views(
    host: Host,
    admin_agent: Agent,
    installation_id: int,
    unit_for: Callable[..., Unit],
    db: Session,
) -> None:
    saved = views.create_view(
        unit_for(admin_agent),
        entity="contact",
        name="Gold managers",
        conditions=[
            {"field": FIELD_KEY, "operator": "is", "value": "gold"},
            {"field": "title", "operator": "contains", "value": "manager"},
        ],
        sort_field=FIELD_KEY,
        columns=["name", FIELD_KEY],
    )
    db.commit()

    _uninstall(host, admin_agent, installation_id, keep_data=False)

    db.expire_all()
    view = db.get(CustomView, saved.id)
    assert view.conditions == [
        {"field": f"removed:{FIELD_KEY}", "operator": "is", "value": "gold"},
        {"field": "title", "operator": "contains", "value": "manager"},
    ]
    assert (view.columns, view.sort_field) == (["name"], "created_at")


@pytest.mark.usefixtures("tier_and_gold_view")
def test_view_saved_before_a_purge_does_not_read_the_reinstalled_extensions_field(
    host: Host,
    admin_agent: Agent,
    department: Department,
    installation_id: int,
    unit_for: Callable[..., Unit],
    db: Session,
    make_contact: Callable[..., Contact],
) -> None:
    saved = views.create_view(
        unit_for(admin_agent),
        entity="contact",
        name="Not gold",
        conditions=[{"field": FIELD_KEY, "operator": "is_not", "value": "gold"}],
    )
    db.commit()
    make_contact("Plain")
    _uninstall(host, admin_agent, installation_id, keep_data=False)

    _install(host, admin_agent, department)

    assert _field(host) is not None
    assert _view_rows(host, admin_agent, saved.id) == []


# ------------------------------------------------------------------------------ upgrade


@pytest.mark.usefixtures("tier_and_gold_view")
def test_upgrade_creates_what_the_new_version_declares(
    host: Host, admin_agent: Agent, department: Department, deploy: Callable[..., None]
) -> None:
    installation_id = _install(host, admin_agent, department)
    deploy(
        "1.1.0",
        contact_fields=[TIER],
        account_fields=[PLAN],
        views=[GOLD_VIEW],
        statuses=[AWAITING_VENDOR],
    )

    _upgrade(host, admin_agent, installation_id)

    plan = _field(host, "acme_sync_plan")
    assert (plan.entity, plan.installation_id) == ("account", installation_id)
    assert _status(host).installation_id == installation_id
    with host.sessions() as session:
        keys = session.scalars(select(CustomField.key).order_by(CustomField.id)).all()
    assert keys == [FIELD_KEY, "acme_sync_plan"]


@pytest.mark.usefixtures("tier_and_gold_view")
def test_upgrade_gives_the_desk_the_fields_the_new_version_drops_and_removes_its_views(
    host: Host,
    admin_agent: Agent,
    department: Department,
    deploy: Callable[..., None],
    make_contact: Callable[..., Contact],
) -> None:
    installation_id = _install(host, admin_agent, department)
    contact = make_contact()
    _give_tier(host, admin_agent, contact, "gold")
    deploy("2.0.0", account_fields=[PLAN])

    _upgrade(host, admin_agent, installation_id)

    tier = _field(host)
    assert (tier.installation_id, tier.requirement_key) == (None, "tier")
    assert _custom_values(host, contact) == {FIELD_KEY: "gold"}
    assert _view(host) is None


@pytest.mark.parametrize(("list_name", "model"), [("views", CustomView), ("spam_rules", SpamRule)])
@pytest.mark.usefixtures("every_kind")
def test_upgrade_that_renames_a_declarations_key_keeping_its_name_replaces_the_object(
    host: Host,
    admin_agent: Agent,
    installation_id: int,
    deploy: Callable[..., None],
    list_name: str,
    model: type[CustomView | SpamRule],
) -> None:
    renamed = [{**EVERY_KIND[list_name][0], "key": "renamed"}]
    deploy("1.1.0", **{**EVERY_KIND, list_name: renamed})

    _upgrade(host, admin_agent, installation_id)

    with host.sessions() as session:
        owned = session.scalars(
            select(model.requirement_key).where(model.installation_id == installation_id)
        ).all()
    assert owned == ["renamed"]


@pytest.mark.usefixtures("tier_and_gold_view")
def test_later_version_declaring_a_released_field_again_takes_it_back_with_its_values(
    host: Host,
    admin_agent: Agent,
    installation_id: int,
    deploy: Callable[..., None],
    make_contact: Callable[..., Contact],
) -> None:
    contact = make_contact()
    _give_tier(host, admin_agent, contact, "gold")
    deploy("2.0.0", account_fields=[PLAN])
    _upgrade(host, admin_agent, installation_id)
    deploy("3.0.0", contact_fields=[TIER], account_fields=[PLAN])

    _upgrade(host, admin_agent, installation_id)

    tier = _field(host)
    assert (tier.installation_id, tier.requirement_key) == (installation_id, "tier")
    assert _custom_values(host, contact) == {FIELD_KEY: "gold"}


@pytest.mark.usefixtures("every_kind")
def test_later_version_declaring_a_released_status_again_takes_it_back_offered_again(
    host: Host,
    admin_agent: Agent,
    installation_id: int,
    deploy: Callable[..., None],
    unit_for: Callable[..., Unit],
    db: Session,
) -> None:
    status_id = _status(host).id
    deploy("2.0.0", contact_fields=[TIER])
    _upgrade(host, admin_agent, installation_id)
    tickets.update_status(unit_for(admin_agent), db.get(TicketStatus, status_id), is_active=False)
    db.commit()
    deploy("3.0.0", contact_fields=[TIER], statuses=[AWAITING_VENDOR])

    _upgrade(host, admin_agent, installation_id)

    status = _status(host)
    assert (status.id, status.installation_id, status.is_active) == (
        status_id,
        installation_id,
        True,
    )


@pytest.mark.usefixtures("tier_and_gold_view")
def test_released_field_declared_again_with_another_type_refuses_the_upgrade_naming_it(
    host: Host, admin_agent: Agent, installation_id: int, deploy: Callable[..., None]
) -> None:
    deploy("2.0.0")
    _upgrade(host, admin_agent, installation_id)
    deploy("3.0.0", contact_fields=[{"key": "tier", "type": "text", "label": TIER["label"]}])

    errors = _refused_upgrade(host, admin_agent, installation_id)

    assert errors == {
        "requirements.contact_fields.0.type": [
            f"An earlier version of this extension left the field {FIELD_KEY} to the desk, "
            "of another type: delete it to install this version."
        ]
    }


# ------------------------------------------------------------------------------ checking


def _problems(**fields: Any) -> list[str]:
    data = manifest(PLUGIN, single_install=True)
    data.update(fields)
    return requirement_problems(load_manifest(data, PLUGIN))


def test_valid_declarations_have_no_problems() -> None:
    assert (
        _problems(
            requirements={
                "contact_fields": [TIER],
                "account_fields": [PLAN],
                "views": [GOLD_VIEW],
                "spam_rules": [VENDOR_SPAM],
                "statuses": [AWAITING_VENDOR],
            }
        )
        == []
    )


def test_a_manifest_without_requirements_has_no_problems() -> None:
    assert requirement_problems(load_manifest(manifest(PLUGIN), PLUGIN)) == []


def test_requirements_need_a_single_install_extension() -> None:
    assert _problems(single_install=False, requirements={"contact_fields": [TIER]}) == [
        "single_install: An extension that declares requirements is installed once: set it to true."
    ]


def test_view_naming_an_undeclared_field_is_a_problem_at_its_path() -> None:
    view = {**GOLD_VIEW, "conditions": [{"field": "cf_tier", "operator": "is", "value": "x"}]}

    assert _problems(requirements={"contact_fields": [TIER], "views": [view]}) == [
        "requirements.views.0.conditions.0.field: Unknown field."
    ]


def test_view_value_outside_the_picklist_is_a_problem() -> None:
    view = {**GOLD_VIEW, "conditions": [{"field": FIELD_KEY, "operator": "is", "value": "bronze"}]}

    assert _problems(requirements={"contact_fields": [TIER], "views": [view]}) == [
        "requirements.views.0.conditions.0.value: Choose one of: gold, silver."
    ]


def test_field_key_too_long_with_the_id_in_front_is_a_problem() -> None:
    long_key = {**PLAN, "key": "p" * 60}

    assert _problems(requirements={"account_fields": [long_key]}) == [
        "requirements.account_fields.0.key: With the extension's id in front, the key is "
        "longer than 64 characters."
    ]


def test_spam_rule_with_a_broken_regular_expression_is_a_problem() -> None:
    rule = {"key": "casino", "kind": "content", "pattern": "/casino(/"}

    [problem] = _problems(requirements={"spam_rules": [rule]})

    assert problem.startswith("requirements.spam_rules.0.pattern: Not a valid regular expression")


def test_status_named_as_a_built_in_one_is_a_problem() -> None:
    status = {**AWAITING_VENDOR, "name": {"en": "closed", "ja": "完了"}}

    assert _problems(requirements={"statuses": [status]}) == [
        "requirements.statuses.0.name.en: A built-in status has this name."
    ]
