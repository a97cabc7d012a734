"""Plays an upgrade from 1.0.0 to 1.1.0: the newer release ships a second migration.

Each folder under ``migrations/`` is what one release ships (a release carries all its
revisions); tests set :data:`RELEASE` and register the module with that release's manifest.
"""

from __future__ import annotations

from pathlib import Path

from hostapi import Context, hookimpl

#: The release deployed on the host; tests switch it to play an upgrade.
RELEASE = "1.0.0"


@hookimpl
def deskhost_migrations() -> str:
    """The Alembic stream of the deployed release."""
    return str(Path(__file__).with_name("migrations") / RELEASE)


@hookimpl
def deskhost_upgrade(context: Context, from_version: str) -> None:
    """Remember each upgrade's starting version under ``upgraded_from``."""
    context.storage_set("upgraded_from", [*context.storage_get("upgraded_from", []), from_version])
