"""Fixed-window rate limits counted in Redis, shared by every web and API process.

One counter per key and window: ``INCR`` then ``EXPIRE`` in one round trip. A fixed window
lets a client spend up to twice the limit across a window boundary; that is the accepted price
of one key per client (a sliding log would cost a sorted set per client) and is enough to stop
a runaway script or a password-guessing run. The clock is hostapi's, so tests can move time.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from hostapi import clock


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` hits per key in each ``window_seconds`` window."""

    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Decision:
    """The outcome of counting one hit: allowed or not, and when the window ends."""

    allowed: bool
    count: int
    retry_after_seconds: int


def _window(rate: RateLimit) -> tuple[int, int]:
    """The current window's number and the seconds left in it (at least 1)."""
    now = clock.now().timestamp()
    number = int(now) // rate.window_seconds
    left = (number + 1) * rate.window_seconds - now
    return number, max(1, int(left + 0.999))


def hit(client: redis.Redis, key: str, rate: RateLimit) -> Decision:
    """Count one hit on ``key``; not allowed once the window already holds ``limit`` hits."""
    number, left = _window(rate)
    window_key = f"{key}:{number}"
    pipeline = client.pipeline()
    pipeline.incr(window_key)
    pipeline.expire(window_key, rate.window_seconds)
    count, _ = pipeline.execute()
    return Decision(int(count) <= rate.limit, int(count), left)


def forgive(client: redis.Redis, key: str, rate: RateLimit) -> None:
    """Take back one hit of the current window on ``key`` (an attempt that turned out fine)."""
    number, _ = _window(rate)
    window_key = f"{key}:{number}"
    if int(client.get(window_key) or 0) > 0:
        client.decr(window_key)


def reset(client: redis.Redis, key: str, rate: RateLimit) -> None:
    """Forget the current window's hits on ``key`` (a successful sign-in, say)."""
    number, _ = _window(rate)
    client.delete(f"{key}:{number}")
