"""Manifest validation: every error names the plugin and the field path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.plugins.manifest import ManifestError, load_manifest
from hostapi import HOSTAPI_VERSION
from tests.plugin_fixtures import manifest


@pytest.mark.parametrize(
    "plugin", ["customer_insights", "ticket_history", "salesiq", "im_dashboard"]
)
def test_bundled_manifests_are_valid(repo_root: Path, plugin: str) -> None:
    text = (repo_root / "plugins" / plugin / "manifest.json").read_text()
    assert load_manifest(text, plugin).id == plugin


def test_bad_panel_location_names_plugin_and_field_path() -> None:
    data = manifest(
        "x_ext", panels=[{"key": "p", "location": "nowhere", "title": {"en": "P", "ja": "P"}}]
    )
    with pytest.raises(ManifestError) as raised:
        load_manifest(data, "x_ext")
    assert "plugin 'x_ext': manifest field 'panels.0.location': Must be one of" in str(raised.value)


def test_unknown_scope_names_its_index() -> None:
    with pytest.raises(ManifestError) as raised:
        load_manifest(manifest("x_ext", scopes=["desk.everything"]), "x_ext")
    assert "scopes.0" in raised.value.errors


def test_host_api_range_that_excludes_this_host_is_refused() -> None:
    with pytest.raises(ManifestError) as raised:
        load_manifest(manifest("x_ext", hostapi=">=2,<3"), "x_ext")
    assert raised.value.errors["hostapi"] == [
        f"Needs host API <3,>=2; this host provides {HOSTAPI_VERSION}."
    ]


def test_missing_required_field_is_named() -> None:
    data = manifest("x_ext")
    del data["terms"]
    with pytest.raises(ManifestError) as raised:
        load_manifest(data, "x_ext")
    assert "terms" in raised.value.errors


def test_unknown_field_is_refused() -> None:
    with pytest.raises(ManifestError) as raised:
        load_manifest(manifest("x_ext", homepage="https://example.com"), "x_ext")
    assert "homepage" in raised.value.errors


def test_setting_default_outside_its_range_is_refused() -> None:
    setting = {
        "name": "size",
        "type": "integer",
        "label": {"en": "Size", "ja": "サイズ"},
        "default": 99,
        "maximum": 50,
    }
    with pytest.raises(ManifestError) as raised:
        load_manifest(manifest("x_ext", settings=[setting]), "x_ext")
    assert "settings.0.default" in raised.value.errors


def test_invalid_json_is_reported_with_the_plugin_name() -> None:
    with pytest.raises(ManifestError, match="plugin 'broken'"):
        load_manifest("{not json", "broken")


def test_valid_manifest_loads_into_a_frozen_manifest() -> None:
    loaded = load_manifest(json.dumps(manifest("x_ext", single_install=True)), "x_ext")
    assert (loaded.id, loaded.single_install, loaded.scopes) == (
        "x_ext",
        True,
        ("desk.tickets.read",),
    )
    with pytest.raises(AttributeError):
        loaded.id = "other"  # type: ignore[misc]


_MODE = {
    "name": "mode",
    "type": "choice",
    "label": {"en": "Mode", "ja": "モード"},
    "choices": ["fast", "slow"],
    "default": "fast",
}


def test_a_choice_settings_labels_name_each_choice_in_both_languages() -> None:
    labels = {"fast": {"en": "Quickly", "ja": "速く"}}
    loaded = load_manifest(
        json.dumps(manifest("x_ext", settings=[{**_MODE, "choice_labels": labels}])), "x_ext"
    )
    [setting] = loaded.settings
    assert setting.choice_label("fast", "ja") == "速く"
    assert setting.choice_label("fast", "en") == "Quickly"
    assert setting.choice_label("slow", "ja") == "slow"  # no label: the value itself
    hash(loaded)  # still a frozen, hashable manifest


def test_a_label_of_no_choice_is_refused() -> None:
    labels = {"medium": {"en": "Medium", "ja": "中"}}
    with pytest.raises(ManifestError) as raised:
        load_manifest(manifest("x_ext", settings=[{**_MODE, "choice_labels": labels}]), "x_ext")
    assert "settings.0.choice_labels" in raised.value.errors
