"""Extensions' webhooks (``/hooks/<plugin id>/<installation id>/<name>``): served for active
installations without a session or CSRF token, what the handler stores committed and what a
failing one stored rolled back; a ``path`` (host API 1.4) continues the URL, its values given to
the handler; an ``autocommit`` one (1.4) runs without a transaction on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.host import Host
from core.models import Contact, Department, Installation
from core.models.extensions import InstallationState
from core.plugins import manager
from hostapi import Context, Webhook, hookimpl
from marketplace_registry import lifecycle
from tests.factories import install_for, system_unit
from tests.plugin_fixtures import manifest

PLUGIN = "hooked"


def _ping(context: Context, request: Any) -> tuple[str, int]:
    context.storage_set("last_ping", request.get_data(as_text=True))
    return "pong", 200


def _per_account(context: Context, request: Any, account_id: int) -> str:
    context.storage_set(f"account.{account_id}", request.get_json())
    return f"account {account_id}"


def _failing(context: Context, request: Any) -> str:
    context.storage_set("half_written", True)
    raise RuntimeError("the handler failed after writing")


def _flushed_then_failing(context: Context, request: Any) -> str:
    context.storage_set("flushed", True)
    context.db.flush()
    raise RuntimeError("the handler failed after a statement ran")


def _contact_making(context: Context, request: Any) -> str:
    return context.create_contact(last_name=request.get_data(as_text=True)).last_name


class Hooked:
    """A test extension with six webhooks."""

    @hookimpl
    def deskhost_webhooks(self) -> list[Webhook]:
        return [
            Webhook(name="ping", handle=_ping),
            Webhook(name="account", handle=_per_account, path="/<int:account_id>"),
            Webhook(name="failing", handle=_failing),
            Webhook(name="autocommitted", handle=_flushed_then_failing, autocommit=True),
            Webhook(name="autocommitted_ping", handle=_ping, autocommit=True),
            Webhook(name="autocommitted_contact", handle=_contact_making, autocommit=True),
        ]


@pytest.fixture
def web(host: Host) -> Iterator[FlaskClient]:
    """A client of an app built with the extension loaded (no one signed in)."""
    from core.web import create_app

    host.plugins.register_plugin(
        Hooked(), manifest(PLUGIN, scopes=["desk.tickets.read", "desk.contacts.write"])
    )
    app: Flask = create_app({"TESTING": True}, host=host)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    yield app.test_client()
    host.plugins.unregister_plugin(PLUGIN)


@pytest.fixture
def installation(db: Session, host: Host, department: Department) -> Installation:
    installed = install_for(db, host, PLUGIN, [department.id])
    db.commit()
    return installed


def _stored(host: Host, installation: Installation, key: str) -> Any:
    with host.sessions() as session:
        return host.plugins.context_for(session, installation).storage_get(key)


def test_a_webhook_takes_a_post_without_session_or_csrf_and_commits_what_it_stored(
    web: FlaskClient, host: Host, installation: Installation
) -> None:
    answer = web.post(f"/hooks/{PLUGIN}/{installation.id}/ping", data="hello")

    assert (answer.status_code, answer.text) == (200, "pong")
    assert _stored(host, installation, "last_ping") == "hello"


def test_a_path_passes_its_values_to_the_handler(
    web: FlaskClient, host: Host, installation: Installation
) -> None:
    answer = web.post(f"/hooks/{PLUGIN}/{installation.id}/account/7", json={"n": 1})

    assert answer.text == "account 7"
    assert _stored(host, installation, "account.7") == {"n": 1}


@pytest.mark.parametrize(
    "path", ["account", "account/seven", "account/7/more", "ping/7", "unknown"]
)
def test_a_url_the_webhooks_do_not_match_answers_404(
    web: FlaskClient, installation: Installation, path: str
) -> None:
    assert web.post(f"/hooks/{PLUGIN}/{installation.id}/{path}", json={}).status_code == 404


def test_a_method_the_webhook_does_not_take_answers_405(
    web: FlaskClient, installation: Installation
) -> None:
    assert web.get(f"/hooks/{PLUGIN}/{installation.id}/ping").status_code == 405


def test_an_uninstalled_installation_has_no_webhooks(
    web: FlaskClient, db: Session, host: Host, installation: Installation
) -> None:
    lifecycle.uninstall(system_unit(db, host), installation, keep_data=True, confirmed=True)
    db.commit()

    assert web.post(f"/hooks/{PLUGIN}/{installation.id}/ping", data="x").status_code == 404


def test_an_installation_uninstalled_here_after_a_delivery_has_no_webhooks_at_once(
    web: FlaskClient, db: Session, host: Host, installation: Installation
) -> None:
    url = f"/hooks/{PLUGIN}/{installation.id}/ping"
    assert web.post(url, data="remembered").status_code == 200

    lifecycle.uninstall(system_unit(db, host), installation, keep_data=True, confirmed=True)
    db.commit()

    assert web.post(url, data="x").status_code == 404


def test_an_installation_uninstalled_by_another_process_has_no_webhooks_after_a_moment(
    web: FlaskClient,
    db: Session,
    host: Host,
    installation: Installation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"/hooks/{PLUGIN}/{installation.id}/ping"
    assert web.post(url, data="remembered").status_code == 200
    # As another process would: a statement, not the ORM this process watches.
    db.execute(
        update(Installation)
        .where(Installation.id == installation.id)
        .values(state=InstallationState.ARCHIVED)
    )
    db.commit()

    assert web.post(url, data="within the moment").status_code == 200
    monkeypatch.setattr(manager, "WEBHOOK_INSTALLATION_SECONDS", 0.0)
    assert web.post(url, data="after it").status_code == 404


def test_what_a_failing_handler_stored_is_rolled_back(
    web: FlaskClient, host: Host, installation: Installation
) -> None:
    answer = web.post(f"/hooks/{PLUGIN}/{installation.id}/failing", data="x")

    assert answer.status_code == 500
    assert _stored(host, installation, "half_written") is None


def test_an_autocommit_webhook_keeps_each_statement_it_ran_on_postgresql(
    web: FlaskClient, host: Host, installation: Installation
) -> None:
    answer = web.post(f"/hooks/{PLUGIN}/{installation.id}/autocommitted", data="x")

    assert answer.status_code == 500
    # No transaction to roll back on PostgreSQL; SQLite runs the handler in one all the same.
    kept = host.engine.dialect.name == "postgresql"
    assert _stored(host, installation, "flushed") is (True if kept else None)


def test_an_autocommit_webhook_commits_what_it_stored(
    web: FlaskClient, host: Host, installation: Installation
) -> None:
    answer = web.post(f"/hooks/{PLUGIN}/{installation.id}/autocommitted_ping", data="at once")

    assert answer.status_code == 200
    assert _stored(host, installation, "last_ping") == "at once"


def test_an_autocommit_webhook_may_not_change_desk_data_on_postgresql(
    web: FlaskClient, host: Host, installation: Installation
) -> None:
    answer = web.post(f"/hooks/{PLUGIN}/{installation.id}/autocommitted_contact", data="Sato")

    # Its locks and savepoints would not outlive a statement; SQLite's handler has a transaction.
    if host.engine.dialect.name == "postgresql":
        assert answer.status_code == 500
        with host.sessions() as session:
            assert session.scalar(select(Contact.id).where(Contact.last_name == "Sato")) is None
    else:
        assert (answer.status_code, answer.text) == (200, "Sato")
