"""Implements a hook the host does not specify."""

from __future__ import annotations

from hostapi import hookimpl


@hookimpl
def deskhost_no_such_hook() -> None:
    """No host calls this."""
