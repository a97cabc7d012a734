"""Owns a table through its own Alembic stream; its install hook fails when told to."""

from __future__ import annotations

from pathlib import Path

from hostapi import Context, hookimpl

#: Tests set this to make ``deskhost_install`` raise after the migration ran.
FAIL_INSTALL = False


class InstallRefused(RuntimeError):
    """The failure ``deskhost_install`` raises when ``FAIL_INSTALL`` is set."""


@hookimpl
def deskhost_migrations() -> str:
    """The folder of this plugin's Alembic stream."""
    return str(Path(__file__).with_name("migrations") / "versions")


@hookimpl
def deskhost_install(context: Context) -> None:
    """Remember the installation, or refuse it."""
    context.storage_set("installed", True)
    if FAIL_INSTALL:
        raise InstallRefused("install refused by the test")
