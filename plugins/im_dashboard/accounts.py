"""Connecting, changing and removing channel accounts.

Credentials marked secret are installation secrets (encrypted at rest) under
``channel.<account id>.<credential>``; the others are kept on the account as identifiers.
A form is checked whole before anything is written, so a bad value changes nothing.

The webhooks check every delivery against the account's credentials, which each process
remembers for :data:`REMEMBER_SECONDS` (``webhook_credentials``) rather than reading them at
each of hundreds of deliveries a second.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from marshmallow import ValidationError
from sqlalchemy import event, func, select

from hostapi import Context, NotFound
from plugins.im_dashboard.channels import CHANNELS, Channel
from plugins.im_dashboard.models import ChannelAccount, InboundEvent

#: The longest name of an account.
NAME_LENGTH = 100
#: How long a process goes on using the credentials it read for an account's webhook.
REMEMBER_SECONDS = 10.0


@dataclass
class Saved:
    """An account just written, with the secrets made for it (shown to the admin once)."""

    account: ChannelAccount
    generated: dict[str, str] = field(default_factory=dict)


def secret_key(account_id: int, credential: str) -> str:
    """The installation secret holding one credential of an account."""
    return f"channel.{account_id}.{credential}"


def accounts(context: Context) -> list[ChannelAccount]:
    """The installation's channel accounts, by name."""
    return list(
        context.db.scalars(
            select(ChannelAccount)
            .where(ChannelAccount.installation_id == context.installation_id)
            .order_by(ChannelAccount.name, ChannelAccount.id)
        )
    )


def account(context: Context, account_id: int) -> ChannelAccount:
    """One of the installation's accounts.

    :raises NotFound: no such account in this installation.
    """
    found = context.db.get(ChannelAccount, account_id)
    if found is None or found.installation_id != context.installation_id:
        raise NotFound(f"channel account {account_id}")
    return found


@dataclass(frozen=True)
class Deliveries:
    """What an account's webhook has stored: how many events, and when the latest came."""

    events: int
    latest: datetime | None


def deliveries(context: Context, listed: list[ChannelAccount]) -> dict[int, Deliveries]:
    """The deliveries of each account of ``listed``, by id (one query): how an admin sees that
    the platform reaches the webhook."""
    rows = context.db.execute(
        select(
            InboundEvent.channel_account_id,
            func.count(InboundEvent.id),
            func.max(InboundEvent.received_at),
        )
        .where(
            InboundEvent.installation_id == context.installation_id,
            InboundEvent.channel_account_id.in_([account.id for account in listed]),
        )
        .group_by(InboundEvent.channel_account_id)
    )
    found = {account_id: Deliveries(count, latest) for account_id, count, latest in rows}
    return {account.id: found.get(account.id, Deliveries(0, None)) for account in listed}


def channel_of(account: ChannelAccount) -> Channel:
    """The channel an account is on."""
    return CHANNELS[account.kind]


def credentials(context: Context, account: ChannelAccount) -> dict[str, str]:
    """Every credential of an account in full, secrets decrypted: what its channel's API
    client needs."""
    values: dict[str, str] = {}
    for credential in channel_of(account).credentials:
        if credential.secret:
            values[credential.name] = (
                context.secret_get(secret_key(account.id, credential.name)) or ""
            )
        else:
            values[credential.name] = str(account.identifiers.get(credential.name, ""))
    return values


@dataclass(frozen=True)
class WebhookCredentials:
    """What a webhook checks a delivery with: the account's channel and every credential."""

    kind: str
    values: Mapping[str, str]


_remembered: dict[tuple[int, int], tuple[float, WebhookCredentials]] = {}
_remembered_lock = threading.Lock()


def webhook_credentials(
    context: Context, account_id: int, *, fresh: bool = False
) -> WebhookCredentials | None:
    """The credentials of one of the installation's accounts, or ``None`` when it has no such
    account; as this process read them less than :data:`REMEMBER_SECONDS` ago, unless
    ``fresh``.

    A webhook asks again with ``fresh`` before refusing a delivery, so a secret changed in
    another process takes effect at once; the one it replaced is still accepted there for
    up to :data:`REMEMBER_SECONDS`, as are deliveries for an account another process
    disconnected meanwhile (stored, never filed).
    """
    key = (context.installation_id, account_id)
    moment = time.monotonic()
    with _remembered_lock:
        remembered = _remembered.get(key)
    if remembered is not None and not fresh and moment - remembered[0] < REMEMBER_SECONDS:
        return remembered[1]
    found = context.db.get(ChannelAccount, account_id)
    if found is None or found.installation_id != context.installation_id:
        forget_credentials(context.installation_id, account_id)
        return None
    read = WebhookCredentials(found.kind, credentials(context, found))
    with _remembered_lock:
        _remembered[key] = (moment, read)
    return read


def _forget_when_committed(context: Context, account_id: int) -> None:
    """Forget an account's credentials now and again once the change is committed: a delivery
    another thread checks meanwhile would remember what is about to be replaced."""
    forget_credentials(context.installation_id, account_id)
    event.listen(
        context.db,
        "after_commit",
        lambda _session: forget_credentials(context.installation_id, account_id),
        once=True,
    )


def forget_credentials(installation_id: int, account_id: int | None = None) -> None:
    """Make this process read an account's credentials afresh (``None``: every account of
    the installation)."""
    with _remembered_lock:
        for key in list(_remembered):
            if key[0] == installation_id and account_id in (None, key[1]):
                del _remembered[key]


def hints(context: Context, account: ChannelAccount) -> dict[str, str]:
    """What the admin is shown of each credential: identifiers in full, secrets masked."""
    shown: dict[str, str] = {}
    for credential in channel_of(account).credentials:
        if credential.secret:
            hint = context.secret_hint(secret_key(account.id, credential.name))
            shown[credential.name] = hint or ""
        else:
            shown[credential.name] = str(account.identifiers.get(credential.name, ""))
    return shown


def save(
    context: Context,
    channel: Channel,
    form: Mapping[str, str],
    existing: ChannelAccount | None = None,
) -> Saved:
    """Connect an account of ``channel`` (``existing`` None) or change ``existing`` from the
    form's ``name``, ``department_id`` and credentials. A secret left blank keeps the stored
    one when changing, and is made at random where the channel lets us choose it.

    :raises ValidationError: naming every field that is wrong; nothing is written then.
    """
    errors: dict[str, list[str]] = {}
    name = _name(context, form, existing, errors)
    department_id = _department(context, form, errors)
    values: dict[str, str] = {}
    generated: dict[str, str] = {}
    for credential in channel.credentials:
        value = (form.get(credential.name) or "").strip()
        label = context.gettext(credential.label)
        if not value:
            if existing is not None and credential.secret:
                continue  # blank keeps the stored secret
            if credential.generated:
                value = generated[credential.name] = secrets.token_urlsafe(24)
            else:
                errors[credential.name] = [context.gettext("Enter the %(label)s.", label=label)]
                continue
        elif not credential.pattern.fullmatch(value):
            errors[credential.name] = [
                context.gettext(
                    "This is not a %(channel)s %(label)s: check it in the console.",
                    channel=channel.name,
                    label=label,
                )
            ]
            continue
        values[credential.name] = value
    if errors:
        raise ValidationError(errors)
    now = context.now()
    if existing is None:
        existing = ChannelAccount(
            installation_id=context.installation_id,
            kind=channel.code,
            identifiers={},
            created_at=now,
        )
        context.db.add(existing)
    existing.name = name
    existing.department_id = department_id
    existing.updated_at = now
    identifiers = dict(existing.identifiers)
    for credential in channel.credentials:
        if credential.name in values and not credential.secret:
            identifiers[credential.name] = values[credential.name]
    existing.identifiers = identifiers
    context.db.flush()  # the account's id names its secrets
    for credential in channel.credentials:
        if credential.name in values and credential.secret:
            context.secret_set(secret_key(existing.id, credential.name), values[credential.name])
    _forget_when_committed(context, existing.id)
    return Saved(existing, generated)


def remove(context: Context, account: ChannelAccount) -> None:
    """Disconnect an account: its row and its secrets."""
    for credential in channel_of(account).credentials:
        if credential.secret:
            context.secret_delete(secret_key(account.id, credential.name))
    context.db.delete(account)
    context.db.flush()
    _forget_when_committed(context, account.id)


def _name(
    context: Context,
    form: Mapping[str, str],
    existing: ChannelAccount | None,
    errors: dict[str, list[str]],
) -> str:
    name = " ".join((form.get("name") or "").split())
    if not name:
        errors["name"] = [context.gettext("Enter a name.")]
    elif len(name) > NAME_LENGTH:
        errors["name"] = [context.gettext("Use at most %(count)s characters.", count=NAME_LENGTH)]
    else:
        taken = context.db.scalar(
            select(ChannelAccount.id).where(
                ChannelAccount.installation_id == context.installation_id,
                ChannelAccount.name == name,
            )
        )
        if taken is not None and (existing is None or taken != existing.id):
            errors["name"] = [context.gettext("Another channel account has this name.")]
    return name


def _department(context: Context, form: Mapping[str, str], errors: dict[str, list[str]]) -> int:
    raw = (form.get("department_id") or "").strip()
    department_id = int(raw) if raw.isdigit() else 0
    if department_id not in context.department_ids:
        errors["department_id"] = [
            context.gettext("Choose one of the departments this installation covers.")
        ]
    return department_id
