"""The installation lifecycle: install refusals, scoping, uninstall (keep or purge), restore,
upgrade and the audit trail, through ``marketplace_registry.lifecycle`` on a real database."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rq.job import Job
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

import hostapi
from core import jobs, outbox, tokens, worker
from core.errors import Conflict, ValidationFailed
from core.host import Host
from core.models import (
    AccessToken,
    Agent,
    AuditEntry,
    Department,
    HookError,
    Installation,
    InstallationStorage,
    OAuthClient,
    OutboxEvent,
    PermissionProfile,
)
from core.models.extensions import InstallationState
from core.services import org, tickets
from core.services.base import Actor, Unit
from hostapi import ScopeError, clock, events, scopes
from marketplace_registry import digest, lifecycle
from tests.plugin_fixtures import entry_point, manifest, migrating, probe, upgrading

#: The address audit entries must record (TEST-NET-3).
ADMIN_IP = "203.0.113.9"
#: The tables each fixture extension creates (its version table besides).
PLUGIN_TABLES = {
    "probe": ("probe_note",),
    "migrating": ("migrating_item",),
    "upgrading": ("upgrading_note", "upgrading_tag"),
}


# ------------------------------------------------------------------------------ fixtures


def _drop_plugin_tables(host: Host, plugin_id: str) -> None:
    with host.engine.begin() as connection:
        for table in (*PLUGIN_TABLES.get(plugin_id, ()), f"alembic_version_{plugin_id}"):
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))


@contextmanager
def _loaded(host: Host, plugin_id: str) -> Iterator[None]:
    """A fixture extension loaded through its entry point; unloaded, its tables dropped, after."""
    host.plugins.load_entry_points([entry_point(plugin_id)])
    assert plugin_id in host.plugins.loaded, host.plugins.errors.get(plugin_id)
    try:
        yield
    finally:
        host.plugins.unregister_plugin(plugin_id)
        _drop_plugin_tables(host, plugin_id)


@pytest.fixture
def probe_plugin(host: Host) -> Iterator[None]:
    """The ``probe`` fixture extension loaded."""
    with _loaded(host, "probe"):
        yield


@pytest.fixture
def migrating_plugin(host: Host) -> Iterator[None]:
    """The ``migrating`` fixture extension loaded."""
    with _loaded(host, "migrating"):
        yield


@pytest.fixture
def incompatible_plugin(host: Host) -> Iterator[None]:
    """``wrong_hostapi`` (needs host API >=2,<3) deployed: known to the host, not loaded."""
    host.plugins.load_entry_points([entry_point("wrong_hostapi")])
    assert "wrong_hostapi" in host.plugins.incompatible
    yield
    host.plugins.incompatible.pop("wrong_hostapi", None)
    host.plugins.errors.pop("wrong_hostapi", None)


@pytest.fixture
def solo_plugin(host: Host) -> Iterator[None]:
    """A single-install extension with no hooks, registered as ``solo``."""
    host.plugins.register_plugin(object(), manifest("solo", single_install=True))
    yield
    host.plugins.unregister_plugin("solo")


@pytest.fixture
def sales(make_department: Callable[..., Department]) -> Department:
    """A second department, "Sales"."""
    return make_department("Sales")


@pytest.fixture
def registry_lists_probe(
    host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], None]:
    """Make the host's registry index list ``probe`` 1.0.0 with the given sha256."""

    def list_probe(sha256: str) -> None:
        entry = {
            "id": "probe",
            "name": "Probe",
            "publisher": "tests",
            "version": "1.0.0",
            "category": "testing",
            "description": {"en": "A test extension.", "ja": "テスト用の拡張機能。"},
            "terms": {"en": "Test terms.", "ja": "テスト規約。"},
            "hostapi": ">=1.0,<2",
            "distribution": "deskhost-probe",
            "sha256": sha256,
        }
        index = tmp_path / "index.json"
        index.write_text(json.dumps({"extensions": [entry]}), encoding="utf-8")
        monkeypatch.setattr(
            host, "settings", dataclasses.replace(host.settings, registry_index=str(index))
        )

    return list_probe


# ------------------------------------------------------------------------------ helpers


def _admin_unit(session: Session, host: Host, admin: Agent) -> Unit:
    """A unit acting as ``admin`` from :data:`ADMIN_IP`."""
    return Unit(session, Actor(session.get(Agent, admin.id), ip_address=ADMIN_IP), host)


def _system_unit(session: Session, host: Host) -> Unit:
    return Unit(session, Actor.system("test"), host)


def _all_profile_ids(session: Session) -> list[int]:
    return list(session.scalars(select(PermissionProfile.id)))


def _install(
    host: Host,
    plugin_id: str,
    departments: Iterable[Department],
    *,
    settings: dict[str, Any] | None = None,
    authorize: bool = True,
) -> int:
    """Install (terms accepted, every profile) and grant every requested scope; the id."""
    with host.transaction() as session:
        unit = _system_unit(session, host)
        installation = lifecycle.install(
            unit,
            plugin_id,
            department_ids=[d.id for d in departments],
            profile_ids=_all_profile_ids(session),
            terms_accepted=True,
            settings=settings,
        )
        if authorize:
            lifecycle.grant(unit, installation, host.plugins.manifest(plugin_id).scopes)
        return installation.id


def _uninstall(host: Host, installation_id: int, *, keep_data: bool) -> None:
    with host.transaction() as session:
        lifecycle.uninstall(
            _system_unit(session, host),
            session.get(Installation, installation_id),
            confirmed=True,
            keep_data=keep_data,
        )


def _restore(host: Host, installation_id: int) -> None:
    with host.transaction() as session:
        lifecycle.restore(_system_unit(session, host), session.get(Installation, installation_id))


def _tables(host: Host) -> set[str]:
    return set(inspect(host.engine).get_table_names())


def _stored(host: Host, installation_id: int, key: str, default: Any = None) -> Any:
    with host.sessions() as session:
        row = session.get(InstallationStorage, (installation_id, key))
        return default if row is None else row.value


def _store(host: Host, installation_id: int, key: str, value: Any) -> None:
    with host.transaction() as session:
        context = host.plugins.context_for(session, session.get(Installation, installation_id))
        context.storage_set(key, value)


def _state(host: Host, installation_id: int) -> str | None:
    with host.sessions() as session:
        installation = session.get(Installation, installation_id)
        return None if installation is None else installation.state


def _assert_nothing_installed(host: Host, plugin_id: str) -> None:
    """No installation, no audit entry, no storage and none of the plugin's tables."""
    with host.sessions() as session:
        assert session.scalars(select(Installation)).all() == []
        assert session.scalars(select(InstallationStorage)).all() == []
        assert (
            session.scalars(
                select(AuditEntry).where(AuditEntry.entity_type == "installation")
            ).all()
            == []
        )
    plugin_tables = {*PLUGIN_TABLES.get(plugin_id, ()), f"alembic_version_{plugin_id}"}
    assert not plugin_tables & _tables(host)


def _create_ticket(host: Host, department: Department) -> int:
    with host.transaction() as session:
        return tickets.create_ticket(
            _system_unit(session, host),
            subject="The printer is on fire",
            department_id=department.id,
            channel="email",
        ).id


def _audited(host: Host, installation_id: int, sub_action: str) -> AuditEntry:
    """The one audit entry of ``sub_action`` on an installation."""
    with host.sessions() as session:
        return session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_type == "installation",
                AuditEntry.entity_id == str(installation_id),
                AuditEntry.sub_action == sub_action,
            )
        ).one()


# ------------------------------------------------------------------------------ install


REFUSED_INSTALLS = {
    "terms not accepted": ({"terms_accepted": False}, "terms_accepted"),
    "unknown department": ({"department_ids": [999_999]}, "department_ids"),
    "no department": ({"department_ids": []}, "department_ids"),
    "no profile": ({"profile_ids": []}, "profile_ids"),
    "unknown profile": ({"profile_ids": [999_999]}, "profile_ids"),
    "setting above its maximum": ({"settings": {"page_size": 51}}, "settings.page_size"),
    "setting of the wrong type": ({"settings": {"page_size": "many"}}, "settings.page_size"),
    "unknown setting": ({"settings": {"colour": "red"}}, "settings.colour"),
}


@pytest.mark.usefixtures("probe_plugin")
@pytest.mark.parametrize(("change", "field"), REFUSED_INSTALLS.values(), ids=list(REFUSED_INSTALLS))
def test_refused_install_names_the_field_and_leaves_nothing_behind(
    host: Host, department: Department, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused, host.transaction() as session:
        arguments: dict[str, Any] = {
            "department_ids": [department.id],
            "profile_ids": _all_profile_ids(session),
            "terms_accepted": True,
            **change,
        }
        lifecycle.install(_system_unit(session, host), "probe", **arguments)

    assert list(refused.value.errors) == [field]
    assert refused.value.status_code == 422
    _assert_nothing_installed(host, "probe")


@pytest.mark.usefixtures("probe_plugin")
def test_install_names_every_refused_field_at_once(host: Host) -> None:
    with pytest.raises(ValidationFailed) as refused, host.transaction() as session:
        lifecycle.install(
            _system_unit(session, host),
            "probe",
            department_ids=[999_999],
            profile_ids=[],
            terms_accepted=False,
            settings={"page_size": 0},
        )
    assert set(refused.value.errors) == {
        "terms_accepted",
        "department_ids",
        "profile_ids",
        "settings.page_size",
    }


def test_install_of_an_extension_not_deployed_here_names_the_plugin(
    host: Host, department: Department
) -> None:
    with pytest.raises(ValidationFailed) as refused, host.transaction() as session:
        lifecycle.install(
            _system_unit(session, host),
            "no_such_extension",
            department_ids=[department.id],
            profile_ids=_all_profile_ids(session),
            terms_accepted=True,
        )
    assert list(refused.value.errors) == ["plugin_id"]


@pytest.mark.usefixtures("incompatible_plugin")
def test_extension_for_another_host_api_is_refused_naming_both_versions(
    host: Host, department: Department
) -> None:
    with pytest.raises(ValidationFailed) as refused, host.transaction() as session:
        lifecycle.install(
            _system_unit(session, host),
            "wrong_hostapi",
            department_ids=[department.id],
            profile_ids=_all_profile_ids(session),
            terms_accepted=True,
        )
    (message,) = refused.value.errors["hostapi"]
    assert ">=2" in message and "<3" in message
    assert f"provides {hostapi.HOSTAPI_VERSION}" in message
    _assert_nothing_installed(host, "wrong_hostapi")


@pytest.mark.usefixtures("probe_plugin")
def test_tampered_distribution_is_refused_naming_both_digests(
    host: Host, department: Department, registry_lists_probe: Callable[[str], None]
) -> None:
    listed = "0" * 64
    registry_lists_probe(listed)

    with pytest.raises(ValidationFailed) as refused, host.transaction() as session:
        lifecycle.install(
            _system_unit(session, host),
            "probe",
            department_ids=[department.id],
            profile_ids=_all_profile_ids(session),
            terms_accepted=True,
        )

    (message,) = refused.value.errors["sha256"]
    assert listed in message and digest.distribution_digest(probe) in message
    _assert_nothing_installed(host, "probe")


@pytest.mark.usefixtures("probe_plugin")
def test_distribution_matching_the_registry_digest_installs(
    host: Host, department: Department, registry_lists_probe: Callable[[str], None]
) -> None:
    registry_lists_probe(digest.distribution_digest(probe))
    installation_id = _install(host, "probe", [department], authorize=False)
    assert _state(host, installation_id) == InstallationState.AWAITING_AUTHORIZATION


@pytest.mark.usefixtures("migrating_plugin")
def test_raising_install_hook_leaves_no_installation_audit_storage_or_table(
    host: Host, department: Department, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrating, "FAIL_INSTALL", True)
    with pytest.raises(migrating.InstallRefused):
        _install(host, "migrating", [department], authorize=False)
    _assert_nothing_installed(host, "migrating")


@pytest.mark.usefixtures("probe_plugin")
def test_secret_setting_is_stored_encrypted_and_read_through_the_context(
    host: Host, department: Department
) -> None:
    installation_id = _install(host, "probe", [department], settings={"api_key": "sk-live-4242"})

    with host.sessions() as session:
        installation = session.get(Installation, installation_id)
        assert "api_key" not in installation.settings
        rows = session.scalars(
            select(InstallationStorage).where(InstallationStorage.is_secret.is_(True))
        ).all()
        assert len(rows) == 1 and "sk-live-4242" not in json.dumps(rows[0].value)
        context = host.plugins.context_for(session, installation)
        assert context.secret_get("api_key") == "sk-live-4242"


@pytest.mark.usefixtures("probe_plugin")
def test_secret_setting_never_reaches_the_audit_log(host: Host, department: Department) -> None:
    installation_id = _install(host, "probe", [department], settings={"api_key": "sk-live-4242"})
    with host.transaction() as session:
        lifecycle.update_settings(
            _system_unit(session, host),
            session.get(Installation, installation_id),
            {"api_key": "sk-live-9999"},
        )

    with host.sessions() as session:
        entries = session.scalars(select(AuditEntry)).all()
        logged = json.dumps([[entry.before, entry.after] for entry in entries])
    assert "sk-live" not in logged
    assert _audited(host, installation_id, "settings").after["secrets_changed"] == ["api_key"]


@pytest.mark.usefixtures("probe_plugin")
def test_bad_settings_edit_is_refused_and_keeps_the_old_settings(
    host: Host, department: Department
) -> None:
    installation_id = _install(host, "probe", [department], settings={"page_size": 20})
    with pytest.raises(ValidationFailed) as refused, host.transaction() as session:
        lifecycle.update_settings(
            _system_unit(session, host),
            session.get(Installation, installation_id),
            {"greeting": "Hi", "page_size": 0},
        )
    assert list(refused.value.errors) == ["settings.page_size"]
    with host.sessions() as session:
        assert session.get(Installation, installation_id).settings == {
            "greeting": "Hello",
            "page_size": 20,
        }


# ------------------------------------------------------------------------------ scoping


@pytest.mark.usefixtures("probe_plugin")
def test_each_installation_receives_only_the_ticket_events_of_its_departments(
    host: Host, department: Department, sales: Department
) -> None:
    support_copy = _install(host, "probe", [department])
    sales_copy = _install(host, "probe", [sales])

    _create_ticket(host, department)

    assert [name for name, _ in _stored(host, support_copy, "seen", [])] == [events.TICKET_CREATED]
    assert _stored(host, sales_copy, "seen") is None


@pytest.mark.usefixtures("probe_plugin")
def test_each_installation_keeps_its_own_settings(
    host: Host, department: Department, sales: Department
) -> None:
    support_copy = _install(host, "probe", [department], settings={"greeting": "Konnichiwa"})
    sales_copy = _install(host, "probe", [sales], settings={"page_size": 25})

    with host.sessions() as session:
        contexts = {
            installation_id: host.plugins.context_for(
                session, session.get(Installation, installation_id)
            )
            for installation_id in (support_copy, sales_copy)
        }
        assert dict(contexts[support_copy].settings) == {"greeting": "Konnichiwa", "page_size": 10}
        assert dict(contexts[sales_copy].settings) == {"greeting": "Hello", "page_size": 25}


@pytest.mark.usefixtures("probe_plugin")
def test_job_runs_only_for_the_installation_that_enqueued_it(
    host: Host, department: Department, sales: Department
) -> None:
    support_copy = _install(host, "probe", [department], settings={"greeting": "Konnichiwa"})
    sales_copy = _install(host, "probe", [sales])
    with host.transaction() as session:
        host.plugins.context_for(session, session.get(Installation, support_copy)).enqueue(
            "note", {"n": 1}
        )

    worker.run(host, burst=True)

    assert _stored(host, support_copy, "notes") == [
        {"payload": {"n": 1}, "greeting": "Konnichiwa", "department_ids": [department.id]}
    ]
    assert _stored(host, sales_copy, "notes") is None


@pytest.mark.usefixtures("probe_plugin")
def test_scope_edit_sends_the_ticket_events_of_the_new_departments_only(
    host: Host, department: Department, sales: Department
) -> None:
    installation_id = _install(host, "probe", [department])
    with host.transaction() as session:
        lifecycle.update_scope(
            _system_unit(session, host),
            session.get(Installation, installation_id),
            department_ids=[sales.id],
        )

    _create_ticket(host, department)
    assert _stored(host, installation_id, "seen") is None
    _create_ticket(host, sales)
    assert len(_stored(host, installation_id, "seen", [])) == 1


@pytest.mark.usefixtures("probe_plugin")
def test_storage_belongs_to_one_installation(
    host: Host, department: Department, sales: Department
) -> None:
    support_copy = _install(host, "probe", [department])
    sales_copy = _install(host, "probe", [sales])

    _store(host, support_copy, "cursor", 41)

    assert _stored(host, support_copy, "cursor") == 41
    assert _stored(host, sales_copy, "cursor") is None


@pytest.mark.usefixtures("solo_plugin")
def test_single_install_extension_is_refused_a_second_installation(
    host: Host, department: Department, sales: Department
) -> None:
    _install(host, "solo", [department])
    with pytest.raises(Conflict) as refused:
        _install(host, "solo", [sales])
    assert refused.value.status_code == 409
    with host.sessions() as session:
        assert len(session.scalars(select(Installation)).all()) == 1


@pytest.mark.usefixtures("solo_plugin")
def test_archived_single_install_extension_cannot_be_restored_beside_a_new_one(
    host: Host, department: Department
) -> None:
    archived = _install(host, "solo", [department])
    _uninstall(host, archived, keep_data=True)
    _install(host, "solo", [department])

    with pytest.raises(Conflict):
        _restore(host, archived)
    assert _state(host, archived) == InstallationState.ARCHIVED


def _grant_permission(host: Host, profile_name: str, names: list[str]) -> None:
    """Create (or update) a profile granting ``names``, with a unit that knows the host."""
    with host.transaction() as session:
        unit = _system_unit(session, host)
        profile = session.scalar(
            select(PermissionProfile).where(PermissionProfile.name == profile_name)
        )
        if profile is None:
            org.create_profile(unit, name=profile_name, permissions=names)
        else:
            org.update_profile(unit, profile, permissions=names)


def _profile_permissions(host: Host, profile_name: str) -> list[str]:
    with host.sessions() as session:
        profile = session.scalars(
            select(PermissionProfile).where(PermissionProfile.name == profile_name)
        ).one()
        return sorted(profile.permission_names)


@pytest.mark.usefixtures("probe_plugin")
def test_extension_permission_cannot_be_granted_before_install(host: Host) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _grant_permission(host, "Approvers", ["probe.approve"])
    assert list(refused.value.errors) == ["permissions"]


@pytest.mark.usefixtures("probe_plugin")
def test_extension_permission_can_be_granted_while_installed(
    host: Host, department: Department
) -> None:
    _install(host, "probe", [department], authorize=False)
    _grant_permission(host, "Approvers", ["probe.approve"])
    assert _profile_permissions(host, "Approvers") == ["probe.approve"]


@pytest.mark.usefixtures("probe_plugin")
def test_extension_permission_stays_while_another_installation_is_live(
    host: Host, department: Department, sales: Department
) -> None:
    first = _install(host, "probe", [department])
    _install(host, "probe", [sales])
    _grant_permission(host, "Approvers", ["probe.approve"])

    _uninstall(host, first, keep_data=False)

    assert _profile_permissions(host, "Approvers") == ["probe.approve"]


@pytest.mark.usefixtures("probe_plugin")
def test_extension_permission_leaves_profiles_with_the_last_live_installation(
    host: Host, department: Department
) -> None:
    installation_id = _install(host, "probe", [department])
    _grant_permission(host, "Approvers", ["probe.approve"])

    _uninstall(host, installation_id, keep_data=True)

    assert _profile_permissions(host, "Approvers") == []
    with pytest.raises(ValidationFailed):
        _grant_permission(host, "Approvers", ["probe.approve"])


@pytest.mark.usefixtures("probe_plugin")
def test_extension_permission_can_be_granted_again_after_restore(
    host: Host, department: Department
) -> None:
    installation_id = _install(host, "probe", [department])
    _grant_permission(host, "Approvers", ["probe.approve"])
    _uninstall(host, installation_id, keep_data=True)

    _restore(host, installation_id)
    _grant_permission(host, "Approvers", ["probe.approve"])

    assert _profile_permissions(host, "Approvers") == ["probe.approve"]


# ------------------------------------------------------------------------------ uninstall


@pytest.mark.usefixtures("probe_plugin")
def test_uninstall_without_confirmation_is_refused_and_changes_nothing(
    host: Host, department: Department
) -> None:
    installation_id = _install(host, "probe", [department])
    with pytest.raises(ValidationFailed) as refused, host.transaction() as session:
        lifecycle.uninstall(
            _system_unit(session, host),
            session.get(Installation, installation_id),
            confirmed=False,
            keep_data=False,
        )
    assert list(refused.value.errors) == ["confirmed"]
    assert _state(host, installation_id) == InstallationState.ACTIVE
    assert _stored(host, installation_id, "uninstalled") is None


@pytest.mark.usefixtures("probe_plugin")
@pytest.mark.parametrize("keep_data", [True, False], ids=["keep", "purge"])
def test_raising_uninstall_hook_is_recorded_and_the_uninstall_completes(
    host: Host, department: Department, monkeypatch: pytest.MonkeyPatch, keep_data: bool
) -> None:
    installation_id = _install(host, "probe", [department])
    monkeypatch.setattr(probe, "FAIL_UNINSTALL", True)

    _uninstall(host, installation_id, keep_data=keep_data)

    assert _state(host, installation_id) == (InstallationState.ARCHIVED if keep_data else None)
    with host.sessions() as session:
        error = session.scalars(select(HookError)).one()
        assert (error.plugin_id, error.hook) == ("probe", "deskhost_uninstall")
        assert error.installation_id == (installation_id if keep_data else None)
        assert "uninstall refused by the test" in error.error


def _add_oauth_token(host: Host, installation_id: int, agent: Agent, plaintext: str) -> None:
    with host.transaction() as session:
        session.add(
            AccessToken(
                token_hash=tokens.hash_token(plaintext),
                token_hint=plaintext[:12],
                kind=tokens.TokenKind.OAUTH.value,
                agent_id=agent.id,
                installation_id=installation_id,
                scopes=scopes.TICKETS_READ,
                created_at=clock.now(),
            )
        )


def _resolves(host: Host, plaintext: str) -> bool:
    with host.transaction() as session:
        return tokens.resolve(session, plaintext) is not None


@pytest.mark.usefixtures("probe_plugin")
def test_uninstall_revokes_every_token_of_the_installation_and_no_other(
    host: Host, department: Department, sales: Department, admin_agent: Agent
) -> None:
    leaving = _install(host, "probe", [department])
    staying = _install(host, "probe", [sales])
    for plaintext in ("leaving-access-1", "leaving-access-2"):
        _add_oauth_token(host, leaving, admin_agent, plaintext)
    _add_oauth_token(host, staying, admin_agent, "staying-access")
    assert _resolves(host, "leaving-access-1")

    _uninstall(host, leaving, keep_data=True)

    with host.sessions() as session:
        revoked = session.scalars(
            select(AccessToken.revoked_at).where(AccessToken.installation_id == leaving)
        ).all()
    assert len(revoked) == 2 and None not in revoked
    assert not _resolves(host, "leaving-access-1")
    assert not _resolves(host, "leaving-access-2")
    assert _resolves(host, "staying-access")


@pytest.mark.usefixtures("probe_plugin")
def test_uninstall_revokes_the_oauth_clients_of_the_installation(
    host: Host, department: Department
) -> None:
    installation_id = _install(host, "probe", [department])
    with host.transaction() as session:
        session.add(
            OAuthClient(
                client_id="probe-client",
                installation_id=installation_id,
                redirect_uris=["https://probe.example/callback"],
                created_at=clock.now(),
            )
        )

    _uninstall(host, installation_id, keep_data=True)

    with host.sessions() as session:
        client = session.scalars(select(OAuthClient)).one()
        assert client.revoked_at is not None


def _enqueue_notes(host: Host, installation_id: int) -> tuple[int, int]:
    """A job due now and one delayed by an hour; their outbox ``seq``."""
    with host.transaction() as session:
        context = host.plugins.context_for(session, session.get(Installation, installation_id))
        due = context.enqueue("note", {"when": "now"})
        delayed = context.enqueue("note", {"when": "later"}, delay=timedelta(hours=1))
        session.flush()
        by_id = dict(
            session.execute(
                select(OutboxEvent.id, OutboxEvent.seq).where(OutboxEvent.id.in_([due, delayed]))
            ).all()
        )
        return by_id[due], by_id[delayed]


def _job_seqs(host: Host, installation_id: int) -> set[int]:
    with host.sessions() as session:
        return set(
            session.scalars(
                select(OutboxEvent.seq).where(OutboxEvent.installation_id == installation_id)
            )
        )


@pytest.mark.usefixtures("probe_plugin")
def test_uninstall_removes_pending_and_delayed_jobs_from_the_outbox_and_rq(
    host: Host, department: Department, sales: Department
) -> None:
    leaving = _install(host, "probe", [department])
    staying = _install(host, "probe", [sales])
    due, _ = _enqueue_notes(host, leaving)
    other_due, other_delayed = _enqueue_notes(host, staying)
    outbox.relay_once(host)
    assert Job.exists(outbox.job_rq_id(due), connection=host.redis)

    _uninstall(host, leaving, keep_data=True)

    assert _job_seqs(host, leaving) == set()
    assert not Job.exists(outbox.job_rq_id(due), connection=host.redis)
    assert _job_seqs(host, staying) == {other_due, other_delayed}
    assert Job.exists(outbox.job_rq_id(other_due), connection=host.redis)


@pytest.mark.usefixtures("probe_plugin")
def test_uninstall_removes_scheduled_runs_and_the_scheduler_writes_no_more(
    host: Host, department: Department
) -> None:
    installation_id = _install(host, "probe", [department])
    assert jobs.schedule_due(host) == 1
    (tick,) = _job_seqs(host, installation_id)
    outbox.relay_once(host)

    _uninstall(host, installation_id, keep_data=True)

    assert _job_seqs(host, installation_id) == set()
    assert not Job.exists(outbox.job_rq_id(tick), connection=host.redis)
    assert jobs.schedule_due(host) == 0


@pytest.mark.usefixtures("probe_plugin")
def test_job_of_an_uninstalled_installation_never_runs(host: Host, department: Department) -> None:
    installation_id = _install(host, "probe", [department])
    _enqueue_notes(host, installation_id)
    outbox.relay_once(host)

    _uninstall(host, installation_id, keep_data=True)
    worker.run(host, burst=True)

    assert _stored(host, installation_id, "notes") is None
    assert _stored(host, installation_id, "ticks") is None


@pytest.mark.usefixtures("probe_plugin")
def test_uninstall_keeping_data_archives_the_installation_with_its_data(
    host: Host, department: Department
) -> None:
    installation_id = _install(host, "probe", [department], settings={"greeting": "Hi"})
    _store(host, installation_id, "cursor", 41)

    _uninstall(host, installation_id, keep_data=True)

    with host.sessions() as session:
        installation = session.get(Installation, installation_id)
        assert installation.state == InstallationState.ARCHIVED
        assert installation.archived_at is not None
        assert installation.granted_scopes == []
        assert installation.settings["greeting"] == "Hi"
    assert _stored(host, installation_id, "cursor") == 41
    assert _stored(host, installation_id, "uninstalled") == {"purge": False}


@pytest.mark.usefixtures("probe_plugin")
def test_restored_installation_awaits_fresh_consent_with_its_data(
    host: Host, department: Department
) -> None:
    installation_id = _install(host, "probe", [department], settings={"greeting": "Hi"})
    _store(host, installation_id, "cursor", 41)
    _uninstall(host, installation_id, keep_data=True)

    _restore(host, installation_id)

    with host.sessions() as session:
        installation = session.get(Installation, installation_id)
        assert installation.state == InstallationState.AWAITING_AUTHORIZATION
        assert (installation.granted_scopes, installation.archived_at) == ([], None)
        assert installation.settings["greeting"] == "Hi"
    assert _stored(host, installation_id, "cursor") == 41


@pytest.mark.usefixtures("probe_plugin")
def test_restored_installation_is_active_again_after_consent(
    host: Host, department: Department
) -> None:
    installation_id = _install(host, "probe", [department])
    _uninstall(host, installation_id, keep_data=True)
    _restore(host, installation_id)

    with host.transaction() as session:
        lifecycle.grant(
            _system_unit(session, host),
            session.get(Installation, installation_id),
            [scopes.TICKETS_READ],
        )

    assert _state(host, installation_id) == InstallationState.ACTIVE


@pytest.mark.usefixtures("probe_plugin")
def test_archived_installation_cannot_be_authorized_before_restore(
    host: Host, department: Department
) -> None:
    installation_id = _install(host, "probe", [department])
    _uninstall(host, installation_id, keep_data=True)
    with pytest.raises(Conflict), host.transaction() as session:
        lifecycle.grant(
            _system_unit(session, host),
            session.get(Installation, installation_id),
            [scopes.TICKETS_READ],
        )
    assert _state(host, installation_id) == InstallationState.ARCHIVED


@pytest.mark.usefixtures("probe_plugin")
def test_purge_deletes_the_installation_and_its_rows_only(
    host: Host, department: Department, sales: Department
) -> None:
    purged = _install(host, "probe", [department])
    staying = _install(host, "probe", [sales])
    _store(host, purged, "cursor", 41)
    _store(host, staying, "cursor", 7)

    _uninstall(host, purged, keep_data=False)

    assert _state(host, purged) is None
    with host.sessions() as session:
        assert (
            session.scalars(
                select(InstallationStorage).where(InstallationStorage.installation_id == purged)
            ).all()
            == []
        )
    assert _stored(host, staying, "cursor") == 7


@pytest.mark.usefixtures("migrating_plugin")
def test_plugin_tables_are_dropped_only_when_its_last_installation_is_purged(
    host: Host, department: Department, sales: Department
) -> None:
    first = _install(host, "migrating", [department])
    second = _install(host, "migrating", [sales])

    _uninstall(host, first, keep_data=False)
    assert "migrating_item" in _tables(host)

    _uninstall(host, second, keep_data=False)
    assert not {"migrating_item", "alembic_version_migrating"} & _tables(host)


@pytest.mark.usefixtures("migrating_plugin")
def test_purging_the_last_archived_installation_drops_the_plugin_tables(
    host: Host, department: Department
) -> None:
    installation_id = _install(host, "migrating", [department])
    _uninstall(host, installation_id, keep_data=True)
    assert "migrating_item" in _tables(host)

    _uninstall(host, installation_id, keep_data=False)

    assert _state(host, installation_id) is None
    assert "migrating_item" not in _tables(host)


@pytest.mark.usefixtures("migrating_plugin")
def test_plugin_tables_stay_while_an_archived_installation_keeps_its_data(
    host: Host, department: Department, sales: Department
) -> None:
    archived = _install(host, "migrating", [department])
    purged = _install(host, "migrating", [sales])

    _uninstall(host, archived, keep_data=True)
    _uninstall(host, purged, keep_data=False)

    assert "migrating_item" in _tables(host)


# ------------------------------------------------------------------------------ audit


@pytest.fixture
def audited_install(
    host: Host, department: Department, admin_agent: Agent, probe_plugin: None
) -> int:
    """``probe`` installed on Support by the admin from :data:`ADMIN_IP` (not authorized)."""
    with host.transaction() as session:
        return lifecycle.install(
            _admin_unit(session, host, admin_agent),
            "probe",
            department_ids=[department.id],
            profile_ids=_all_profile_ids(session),
            terms_accepted=True,
        ).id


def _assert_by_admin(entry: AuditEntry, admin: Agent) -> None:
    assert (entry.actor_agent_id, entry.ip_address) == (admin.id, ADMIN_IP)
    assert entry.at is not None


def test_install_is_audited_with_who_where_and_what(
    host: Host, audited_install: int, admin_agent: Agent, department: Department
) -> None:
    entry = _audited(host, audited_install, "install")
    _assert_by_admin(entry, admin_agent)
    assert entry.before is None
    assert entry.after["state"] == InstallationState.AWAITING_AUTHORIZATION
    assert entry.after["department_ids"] == [department.id]


def test_authorization_is_audited_with_before_and_after(
    host: Host, audited_install: int, admin_agent: Agent
) -> None:
    with host.transaction() as session:
        lifecycle.grant(
            _admin_unit(session, host, admin_agent),
            session.get(Installation, audited_install),
            [scopes.TICKETS_READ],
        )

    entry = _audited(host, audited_install, "authorize")
    _assert_by_admin(entry, admin_agent)
    assert (entry.before["state"], entry.before["granted_scopes"]) == (
        InstallationState.AWAITING_AUTHORIZATION,
        [],
    )
    assert (entry.after["state"], entry.after["granted_scopes"]) == (
        InstallationState.ACTIVE,
        [scopes.TICKETS_READ],
    )


def test_scope_edit_is_audited_with_before_and_after(
    host: Host,
    audited_install: int,
    admin_agent: Agent,
    department: Department,
    sales: Department,
) -> None:
    with host.transaction() as session:
        lifecycle.update_scope(
            _admin_unit(session, host, admin_agent),
            session.get(Installation, audited_install),
            department_ids=[department.id, sales.id],
        )

    entry = _audited(host, audited_install, "scope")
    _assert_by_admin(entry, admin_agent)
    assert entry.before["department_ids"] == [department.id]
    assert entry.after["department_ids"] == sorted([department.id, sales.id])


def test_settings_change_is_audited_with_before_and_after(
    host: Host, audited_install: int, admin_agent: Agent
) -> None:
    with host.transaction() as session:
        lifecycle.update_settings(
            _admin_unit(session, host, admin_agent),
            session.get(Installation, audited_install),
            {"page_size": 30},
        )

    entry = _audited(host, audited_install, "settings")
    _assert_by_admin(entry, admin_agent)
    assert entry.before["settings"]["page_size"] == 10
    assert entry.after["settings"]["page_size"] == 30


@pytest.mark.parametrize(
    ("keep_data", "sub_action", "state_after"),
    [(True, "uninstall:keep", InstallationState.ARCHIVED), (False, "uninstall:purge", None)],
    ids=["keep", "purge"],
)
def test_uninstall_is_audited_with_before_and_after(
    host: Host,
    audited_install: int,
    admin_agent: Agent,
    keep_data: bool,
    sub_action: str,
    state_after: str | None,
) -> None:
    with host.transaction() as session:
        lifecycle.uninstall(
            _admin_unit(session, host, admin_agent),
            session.get(Installation, audited_install),
            confirmed=True,
            keep_data=keep_data,
        )

    entry = _audited(host, audited_install, sub_action)
    _assert_by_admin(entry, admin_agent)
    assert entry.before["state"] == InstallationState.AWAITING_AUTHORIZATION
    assert (entry.after or {}).get("state") == state_after


# ------------------------------------------------------------------------------ upgrade


@pytest.fixture
def deploy_upgrading(host: Host, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Deploy a release of the ``upgrading`` fixture: (version, scopes) → registered on the host.

    The same module object is registered with each release's manifest, as a host restarted
    on a newer package would load it.
    """

    def deploy(version: str, requested: list[str]) -> None:
        if "upgrading" in host.plugins.loaded:
            host.plugins.unregister_plugin("upgrading")
        monkeypatch.setattr(upgrading, "RELEASE", version)
        host.plugins.register_plugin(
            upgrading, manifest("upgrading", version=version, scopes=requested)
        )

    deploy("1.0.0", [scopes.TICKETS_READ])
    yield deploy
    if "upgrading" in host.plugins.loaded:
        host.plugins.unregister_plugin("upgrading")
    _drop_plugin_tables(host, "upgrading")


@pytest.fixture
def upgraded(host: Host, department: Department, deploy_upgrading: Callable[..., None]) -> int:
    """``upgrading`` installed and authorized at 1.0.0, then 1.1.0 deployed (asking for
    contacts.read too) and the installation upgraded."""
    installation_id = _install(host, "upgrading", [department])
    deploy_upgrading("1.1.0", [scopes.TICKETS_READ, scopes.CONTACTS_READ])
    with host.transaction() as session:
        assert lifecycle.upgrade(
            _system_unit(session, host), session.get(Installation, installation_id)
        )
    return installation_id


def test_newer_deployed_release_needs_an_upgrade(
    host: Host, department: Department, deploy_upgrading: Callable[..., None]
) -> None:
    installation_id = _install(host, "upgrading", [department])
    with host.sessions() as session:
        assert not lifecycle.needs_upgrade(host, session.get(Installation, installation_id))

    deploy_upgrading("1.1.0", [scopes.TICKETS_READ, scopes.CONTACTS_READ])

    with host.sessions() as session:
        assert lifecycle.needs_upgrade(host, session.get(Installation, installation_id))


def test_upgrade_runs_the_new_migration_and_the_upgrade_hook(host: Host, upgraded: int) -> None:
    assert {"upgrading_note", "upgrading_tag"} <= _tables(host)
    assert _stored(host, upgraded, "upgraded_from") == ["1.0.0"]
    with host.sessions() as session:
        installation = session.get(Installation, upgraded)
        assert installation.plugin_version == "1.1.0"
        assert not lifecycle.needs_upgrade(host, installation)


def test_upgrade_is_audited_with_the_versions_and_the_scopes_awaiting_consent(
    host: Host, upgraded: int
) -> None:
    entry = _audited(host, upgraded, "upgrade")
    assert entry.before == {"plugin_version": "1.0.0"}
    assert entry.after == {"plugin_version": "1.1.0", "pending_scopes": [scopes.CONTACTS_READ]}


def test_scopes_added_by_an_upgrade_wait_for_consent(host: Host, upgraded: int) -> None:
    with host.sessions() as session:
        installation = session.get(Installation, upgraded)
        assert lifecycle.pending_scopes(host, installation) == [scopes.CONTACTS_READ]
        assert installation.state == InstallationState.ACTIVE


def test_granted_scopes_keep_working_after_an_upgrade_and_new_ones_do_not_yet(
    host: Host, upgraded: int, department: Department
) -> None:
    ticket_id = _create_ticket(host, department)
    with host.sessions() as session:
        context = host.plugins.context_for(session, session.get(Installation, upgraded))
        assert context.get_ticket(ticket_id) is not None
        with pytest.raises(ScopeError):
            context.get_contact(1)


def test_consent_after_an_upgrade_grants_the_old_and_new_scopes(host: Host, upgraded: int) -> None:
    with host.transaction() as session:
        lifecycle.grant(
            _system_unit(session, host),
            session.get(Installation, upgraded),
            [scopes.TICKETS_READ, scopes.CONTACTS_READ],
        )

    with host.sessions() as session:
        installation = session.get(Installation, upgraded)
        context = host.plugins.context_for(session, installation)
        assert context.granted_scopes == {scopes.TICKETS_READ, scopes.CONTACTS_READ}
        assert context.get_contact(1) is None
        assert lifecycle.pending_scopes(host, installation) == []
