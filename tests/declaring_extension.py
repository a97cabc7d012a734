"""A test extension whose manifest is all it brings (its declared ``requirements``), deployed on
a host for a while, as tests/test_declared_requirements.py deploys ``acme_sync``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.host import Host
from tests.plugin_fixtures import manifest


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
