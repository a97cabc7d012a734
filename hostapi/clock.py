"""The one clock host and extensions read the time from.

Tests set it in-process with :func:`freeze` / :func:`advance`, or for every process they start
(web, worker) with the environment variable ``DESKHOST_NOW`` holding an ISO 8601 instant
(optionally followed by ``+running`` to start there and then run at real speed).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None
_offset: timedelta | None = None


def _from_environment() -> None:
    global _frozen, _offset
    value = os.environ.get("DESKHOST_NOW", "").strip()
    if not value:
        return
    running = value.endswith("+running")
    instant = datetime.fromisoformat(value.removesuffix("+running").replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    if running:
        _offset = instant - datetime.now(UTC)
    else:
        _frozen = instant.astimezone(UTC)


def now() -> datetime:
    """The current time, timezone-aware in UTC."""
    if _frozen is not None:
        return _frozen
    if _offset is not None:
        return datetime.now(UTC) + _offset
    return datetime.now(UTC)


def monotonic() -> float:
    """Monotonic seconds, for measuring durations (never frozen)."""
    return time.monotonic()


def freeze(instant: datetime) -> None:
    """Stop the clock at ``instant`` (aware) for this process."""
    global _frozen, _offset
    if instant.tzinfo is None:
        raise ValueError("freeze() needs a timezone-aware datetime")
    _frozen, _offset = instant.astimezone(UTC), None


def advance(delta: timedelta) -> datetime:
    """Move a frozen clock forward by ``delta`` and return the new time."""
    global _frozen
    if _frozen is None:
        raise RuntimeError("advance() needs a frozen clock; call freeze() first")
    _frozen = _frozen + delta
    return _frozen


def unfreeze() -> None:
    """Return to real time."""
    global _frozen, _offset
    _frozen, _offset = None, None


_from_environment()
