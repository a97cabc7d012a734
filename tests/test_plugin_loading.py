"""Loading extensions from entry points: a broken plugin is recorded and does not stop the host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.host import Host
from core.plugins.manager import PluginHost
from core.services import tickets
from hostapi import PermissionSpec, hookimpl
from tests.plugin_fixtures import entry_point, manifest

BUNDLED = {"customer_insights", "ticket_history", "salesiq", "im_dashboard"}


@pytest.fixture
def plugin_host(host: Host) -> Iterator[PluginHost]:
    """A fresh plugin host with nothing but the built-in plugins loaded."""
    yield PluginHost(host)


def test_host_loads_the_four_bundled_extensions(host: Host) -> None:
    assert set(host.plugins.loaded) >= BUNDLED
    assert not BUNDLED & set(host.plugins.errors)


def test_loaded_plugin_reports_its_distribution(host: Host) -> None:
    info = host.plugins.loaded["ticket_history"]
    assert (info.dist_name, info.manifest.version) == ("deskhost", "0.2.0")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("import_error", "deskhost_dependency_that_is_not_installed"),
        ("bad_manifest", "manifest field 'panels.0.location'"),
        ("unknown_hook", "no hook specification for deskhost_no_such_hook"),
        ("wrong_hostapi", "manifest field 'hostapi'"),
    ],
)
def test_broken_plugin_is_recorded_and_the_others_load(
    plugin_host: PluginHost, name: str, reason: str
) -> None:
    plugin_host.load_entry_points([entry_point(name), entry_point("recorder")])

    assert reason in plugin_host.errors[name]
    assert name not in plugin_host.loaded
    assert "recorder" in plugin_host.loaded


def test_plugin_with_unknown_hook_leaves_no_hook_registered(plugin_host: PluginHost) -> None:
    plugin_host.load_entry_points([entry_point("unknown_hook")])
    assert plugin_host.pm.get_plugin("unknown_hook") is None


def test_builtin_customer_tickets_tab_is_registered_as_a_plugin(plugin_host: PluginHost) -> None:
    info = plugin_host.loaded["core_customer_tickets"]
    assert info.builtin
    assert {p.key for p in plugin_host.panels("core_customer_tickets")} == {
        "contact_tickets",
        "account_tickets",
    }


def test_hook_caller_runs_only_the_named_plugin(plugin_host: PluginHost) -> None:
    plugin_host.load_entry_points([entry_point("recorder"), entry_point("raiser")])
    impls = plugin_host.hook_caller("recorder", "deskhost_event_sync").get_hookimpls()
    assert [impl.plugin_name for impl in impls] == ["recorder"]


class VocabularyExtension:
    """Adds a permission and a ticket channel through its hooks."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    @hookimpl
    def deskhost_permissions(self) -> list[PermissionSpec]:
        return [PermissionSpec(name=self.permission, label="Export insights")]

    @hookimpl
    def deskhost_channels(self) -> list[str]:
        return ["instagram"]


def test_extension_permissions_and_channels_join_the_catalogues(plugin_host: PluginHost) -> None:
    plugin_host.register_plugin(VocabularyExtension("vocab.export"), manifest("vocab"))
    assert plugin_host.permission_names("vocab") == ["vocab.export"]
    assert "instagram" in tickets.channels()


def test_permission_without_the_extension_prefix_refuses_the_plugin(
    plugin_host: PluginHost,
) -> None:
    with pytest.raises(ValueError, match=r"must start with 'vocab\.'"):
        plugin_host.register_plugin(VocabularyExtension("ticket.view"), manifest("vocab"))
    assert "vocab" not in plugin_host.loaded
