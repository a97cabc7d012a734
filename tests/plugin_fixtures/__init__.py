"""Test-only extensions: well-behaved, raising and broken ones, loaded as real plugins are."""

from __future__ import annotations

from importlib.metadata import EntryPoint

GROUP = "deskhost.plugins"


def entry_point(name: str) -> EntryPoint:
    """An entry point for the fixture package ``name``, as setup.cfg would declare it."""
    return EntryPoint(name=name, value=f"tests.plugin_fixtures.{name}", group=GROUP)


def manifest(plugin_id: str, *, scopes: list[str] | None = None, **fields: object) -> dict:
    """A valid manifest for ``plugin_id`` (fields override)."""
    data: dict[str, object] = {
        "id": plugin_id,
        "name": plugin_id.replace("_", " ").title(),
        "version": "1.0.0",
        "publisher": "tests",
        "category": "testing",
        "description": {"en": "A test extension.", "ja": "テスト用の拡張機能。"},
        "scopes": scopes if scopes is not None else ["desk.tickets.read"],
        "panels": [],
        "settings": [],
        "jobs": [],
        "permissions": [],
        "hostapi": ">=1.0,<2",
        "terms": {"en": "Test terms.", "ja": "テスト規約。"},
        "single_install": False,
    }
    data.update(fields)
    return data
