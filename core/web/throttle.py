"""Rate limits of the web app: sign-in attempts, and requests to the REST API.

**Sign-in.** Attempts are counted per client address and per account (Redis fixed windows,
:mod:`core.ratelimit`) before the password is checked, and a successful one is taken back.
Once either count is full, every attempt in that window is refused with 429 before the
password is checked, so the right password found by guessing is refused too. The first refusal
of a window is audited (``sign_in`` / ``refuse``).

A per-account limit lets anyone lock an agent out by failing on purpose. Against that, a
browser where the agent signed in successfully keeps a signed *device cookie* for that account
(the "device cookie" defence OWASP describes): attempts carrying it are counted against that
device alone, not against the account or the address, so neither a stranger's failures nor a
busy shared address locks the agent out of their own browser, and the device's own limit
still stops guessing from a stolen laptop.
Windows end by themselves: nothing is locked for longer than one window.

A sign-in with two-factor counts the same way: the right password is taken back, each code of
the second step is an attempt of its own, and only the right code clears the failures and
remembers the browser. The codes or passwords that confirm a change to two-factor on the
account page are counted on the same counters, so that page is no way around the limit.

**REST API.** A request under ``/api/v1`` with a bearer token counts against the token (by its
hash: the plaintext is never a key) and its client address; one from a browser session against
its agent (a whole office may share one address); one without credentials against the address.
Over either limit: 429 with ``Retry-After``, so one runaway integration cannot starve the desk.

The limits come from :class:`core.config.SecurityLimits`; Flask's ``DESKHOST_LIMITS`` config
key overrides them (tests). A limit of 0 switches that counter off.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, request, session
from itsdangerous import BadSignature, URLSafeTimedSerializer

from core import ratelimit
from core.config import SecurityLimits
from core.models import AuditEntry
from core.ratelimit import RateLimit
from core.web.database import db_session
from hostapi import clock

#: The cookie naming the account a browser last signed in to (signed, HttpOnly).
DEVICE_COOKIE = "deskhost_device"
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600
_DEVICE_SALT = "deskhost.sign-in-device"


def limits() -> SecurityLimits:
    """The limits in force for this app."""
    override = current_app.config.get("DESKHOST_LIMITS")
    if isinstance(override, SecurityLimits):
        return override
    return current_app.extensions["deskhost.host"].settings.limits


def _redis_and_prefix() -> tuple[Any, str]:
    host = current_app.extensions["deskhost.host"]
    return host.redis, host.settings.redis_prefix


def _digest(value: str) -> str:
    # Keys never hold an address book of emails or tokens in clear.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def client_address() -> str:
    """The caller's address as the app sees it (after the trusted proxies, if any)."""
    return request.remote_addr or "unknown"


# ------------------------------------------------------------------------------------ sign-in


@dataclass(frozen=True)
class _Counter:
    """One Redis counter a sign-in attempt is charged to."""

    key: str
    rate: RateLimit


def _sign_in_counters(email: str) -> tuple[list[_Counter], str]:
    """The counters an attempt for ``email`` from this browser is charged to, and their name.

    A browser with this account's device cookie is charged to its device alone: neither a
    stranger's failures on the account nor a busy shared address can lock it out.
    """
    _, prefix = _redis_and_prefix()
    chosen = limits()
    window = chosen.login_window_seconds or 1
    account = email.strip().lower()
    device = _trusted_device(account)
    if device is not None:
        device_key = f"{prefix}:login:device:{device}"
        return [_Counter(device_key, RateLimit(chosen.login_account_limit, window))], "device"
    return [
        _Counter(
            f"{prefix}:login:address:{_digest(client_address())}",
            RateLimit(chosen.login_address_limit, window),
        ),
        _Counter(
            f"{prefix}:login:account:{_digest(account)}",
            RateLimit(chosen.login_account_limit, window),
        ),
    ], "account and address"


def sign_in_attempt(email: str) -> int | None:
    """Count an attempt for ``email`` before its password is checked; the seconds to wait when
    it is over a limit, else ``None``.

    Counting first (one atomic increment) means a burst of parallel guesses cannot all slip
    under the limit before any of their failures is recorded.
    """
    client, _ = _redis_and_prefix()
    counters, label = _sign_in_counters(email)
    waits = [
        decision.retry_after_seconds
        for counter in counters
        if counter.rate.limit
        and not (decision := ratelimit.hit(client, counter.key, counter.rate)).allowed
    ]
    if not waits:
        return None
    _audit_first_refusal(email, counters, label)
    return max(waits)


def sign_in_succeeded(email: str, response: Response) -> None:
    """Take back this attempt's count, clear the account's (or device's) failures, and remember
    this browser for the account."""
    client, _ = _redis_and_prefix()
    counters, _ = _sign_in_counters(email)
    for counter in counters[:-1]:
        ratelimit.forgive(client, counter.key, counter.rate)
    ratelimit.reset(client, counters[-1].key, counters[-1].rate)
    account = email.strip().lower()
    nonce = _trusted_device(account) or secrets.token_urlsafe(16)
    response.set_cookie(
        DEVICE_COOKIE,
        _device_serializer().dumps({"account": _digest(account), "device": nonce}),
        max_age=DEVICE_COOKIE_MAX_AGE,
        httponly=True,
        secure=request.is_secure,
        samesite="Lax",
    )


def sign_in_attempt_forgiven(email: str) -> None:
    """Take back this attempt's count, and nothing more: for a right password whose sign-in
    still waits for its second factor (the failures so far stay counted, the browser is not
    remembered yet), and for a right code or password confirming a change to two-factor."""
    client, _ = _redis_and_prefix()
    counters, _ = _sign_in_counters(email)
    for counter in counters:
        ratelimit.forgive(client, counter.key, counter.rate)


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_DEVICE_SALT)


def _trusted_device(account: str) -> str | None:
    """This browser's device id when its device cookie is valid and for ``account``."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        value = _device_serializer().loads(raw, max_age=DEVICE_COOKIE_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(value, dict) or value.get("account") != _digest(account):
        return None
    device = value.get("device")
    return device if isinstance(device, str) and device.isascii() and len(device) < 64 else None


def _audit_first_refusal(email: str, counters: list[_Counter], label: str) -> None:
    """One audit entry per throttled window and counters, not one per refused attempt."""
    client, prefix = _redis_and_prefix()
    marker = f"{prefix}:login:audited:{_digest(''.join(c.key for c in counters))}"
    if not client.set(marker, "1", nx=True, ex=counters[-1].rate.window_seconds):
        return
    session = db_session()
    session.add(
        AuditEntry(
            at=clock.now(),
            actor_agent_id=None,
            actor_label="sign-in",
            ip_address=client_address(),
            action="refuse",
            entity_type="sign_in",
            entity_id=email.strip().lower()[:60],
            sub_action=f"throttled ({label} limit)",
            before=None,
            after=None,
        )
    )
    session.commit()


# ------------------------------------------------------------------------------------ REST API


def api_refusal() -> tuple[int, str] | None:
    """Count this API request; ``(retry_after_seconds, which limit)`` when it is over one.

    A bearer request counts against its token and its client address; a browser session's
    request against its agent (not the address: a whole office may share one); anything else
    against the client address.
    """
    client, prefix = _redis_and_prefix()
    chosen = limits()
    window = chosen.api_window_seconds or 1
    per_address = (
        f"{prefix}:api:address:{_digest(client_address())}",
        RateLimit(chosen.api_address_limit, window),
        "client address",
    )
    kind, _, token = request.headers.get("Authorization", "").partition(" ")
    session_agent = session.get("agent_id")
    if kind.lower() == "bearer" and token.strip():
        per_token = (
            f"{prefix}:api:token:{_digest(token.strip())}",
            RateLimit(chosen.api_token_limit, window),
            "token",
        )
        counters = [per_address, per_token]
    elif isinstance(session_agent, int):
        counters = [
            (
                f"{prefix}:api:agent:{session_agent}",
                RateLimit(chosen.api_token_limit, window),
                "session",
            )
        ]
    else:
        counters = [per_address]
    refusals = [
        (decision.retry_after_seconds, label)
        for key, rate, label in counters
        if rate.limit and not (decision := ratelimit.hit(client, key, rate)).allowed
    ]
    return max(refusals) if refusals else None
