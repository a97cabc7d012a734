"""Installing extensions: their own schema, rollback of a failed install, single-install."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import inspect, select, text

from core.errors import Conflict, ValidationFailed
from core.host import Host
from core.models import Department, Installation
from core.models.extensions import InstallationState
from marketplace_registry import lifecycle
from tests.factories import install_for, system_unit
from tests.plugin_fixtures import entry_point, migrating


@pytest.fixture
def migrating_plugin(host: Host) -> Iterator[None]:
    """The ``migrating`` fixture plugin loaded; its table and version table dropped after."""
    host.plugins.load_entry_points([entry_point("migrating")])
    yield
    host.plugins.unregister_plugin("migrating")
    with host.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS migrating_item"))
        connection.execute(text("DROP TABLE IF EXISTS alembic_version_migrating"))


def _tables(host: Host) -> set[str]:
    return set(inspect(host.engine).get_table_names())


def _install(host: Host, plugin_id: str, department: Department) -> int:
    with host.transaction() as session:
        return install_for(session, host, plugin_id, [department.id], authorize=False).id


@pytest.mark.usefixtures("migrating_plugin")
def test_install_applies_the_plugin_migrations(
    host: Host, make_department: Callable[..., Department]
) -> None:
    _install(host, "migrating", make_department())
    assert {"migrating_item", "alembic_version_migrating"} <= _tables(host)


@pytest.mark.usefixtures("migrating_plugin")
def test_install_hook_that_raises_leaves_nothing_installed(
    host: Host,
    make_department: Callable[..., Department],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(migrating, "FAIL_INSTALL", True)
    with pytest.raises(migrating.InstallRefused):
        _install(host, "migrating", make_department())

    with host.sessions() as session:
        assert session.scalars(select(Installation)).all() == []
    assert not {"migrating_item", "alembic_version_migrating"} & _tables(host)


def test_new_installation_awaits_authorization_with_default_settings(
    host: Host, make_department: Callable[..., Department]
) -> None:
    installation_id = _install(host, "ticket_history", make_department())
    with host.sessions() as session:
        installation = session.get(Installation, installation_id)
        assert installation.state == InstallationState.AWAITING_AUTHORIZATION
        assert installation.settings == {"page_size": 10}


def test_authorize_grants_only_requested_scopes(
    host: Host, make_department: Callable[..., Department]
) -> None:
    installation_id = _install(host, "ticket_history", make_department())
    with host.transaction() as session:
        installation = session.get(Installation, installation_id)
        lifecycle.grant(
            system_unit(session, host), installation, ["desk.tickets.read", "desk.kb.write"]
        )
    with host.sessions() as session:
        installation = session.get(Installation, installation_id)
        assert (installation.state, installation.granted_scopes) == (
            InstallationState.ACTIVE,
            ["desk.tickets.read"],
        )


def test_single_install_extension_cannot_be_installed_twice(
    host: Host, make_department: Callable[..., Department]
) -> None:
    support = make_department()
    _install(host, "salesiq", support)
    with pytest.raises(Conflict):
        _install(host, "salesiq", support)


def test_unknown_department_is_named(host: Host) -> None:
    with host.transaction() as session, pytest.raises(ValidationFailed) as raised:
        lifecycle.install(
            system_unit(session, host),
            "ticket_history",
            department_ids=[999],
            profile_ids=[],
            terms_accepted=True,
        )
    assert "department_ids" in raised.value.errors


def test_demo_installs_and_authorizes_every_bundled_extension(
    host: Host, make_department: Callable[..., Department]
) -> None:
    make_department()
    with host.transaction() as session:
        lifecycle.install_and_grant_all(system_unit(session, host))
    with host.sessions() as session:
        active = session.scalars(
            select(Installation.plugin_id).where(Installation.state == InstallationState.ACTIVE)
        ).all()
    assert set(active) >= {"customer_insights", "ticket_history", "salesiq", "im_dashboard"}
