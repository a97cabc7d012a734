"""Fails on import, as a plugin with a missing dependency does."""

from __future__ import annotations

import deskhost_dependency_that_is_not_installed  # noqa: F401
