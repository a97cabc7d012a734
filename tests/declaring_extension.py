"""A test extension whose manifest is all it brings (its declared ``requirements``), deployed on
a host for a while; and the declarations of ``acme_sync``, the extension the requirement
tests and the crawl deploy: one object of each kind."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.host import Host
from tests.plugin_fixtures import manifest

#: The id of the extension the declarations below belong to, and its name as pages show it.
ACME_SYNC = "acme_sync"
ACME_SYNC_NAME = "Acme Sync"
#: The key ``TIER`` is given on contacts: the extension's id, then the declared key.
TIER_KEY = "acme_sync_tier"
TIER = {
    "key": "tier",
    "type": "picklist",
    "label": {"en": "Support tier", "ja": "サポート階層"},
    "choices": ["gold", "silver"],
}
PLAN = {"key": "plan", "type": "text", "label": {"en": "Plan", "ja": "プラン"}}
GOLD_VIEW = {
    "key": "gold",
    "entity": "contact",
    "name": {"en": "Gold customers", "ja": "ゴールド顧客"},
    "conditions": [{"field": TIER_KEY, "operator": "is", "value": "gold"}],
    "columns": ["name", "email", TIER_KEY],
}
VENDOR_SPAM = {"key": "vendor_spam", "kind": "domain", "pattern": "spam.example"}
AWAITING_VENDOR = {
    "key": "awaiting_vendor",
    "name": {"en": "Awaiting vendor", "ja": "ベンダー待ち"},
    "type": "on_hold",
}


class ManifestOnly:
    """An extension that implements no hook: its manifest is all it brings."""


@contextmanager
def deployed(
    host: Host, plugin_id: str, *, name: str, **requirements: list[dict[str, Any]]
) -> Iterator[None]:
    """Load the single-install extension ``plugin_id`` (shown as ``name``) declaring
    ``requirements`` on ``host`` while the block runs; it is unloaded afterwards."""
    host.plugins.register_plugin(
        ManifestOnly(),
        manifest(plugin_id, name=name, single_install=True, requirements=requirements),
    )
    try:
        yield
    finally:
        host.plugins.unregister_plugin(plugin_id)
